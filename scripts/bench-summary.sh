#!/usr/bin/env bash
# Summary quality and speed: every corpus meeting through add → run --profile notes → show, its
# decisions and action items scored against the manifest by meaning (all-MiniLM-L6-v2), owners
# and due dates checked; prints each meeting's summary, the score table, pooled figures, and
# the wall time of the summary steps with tokens in/out. Run it on an otherwise idle machine.
# (--workspace: the features the workspace build unifies, so nothing is rebuilt for the bench)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
claim_target_dir
./scripts/fetch-summary-model.sh >/dev/null
./scripts/fetch-ct2-model.sh base
./scripts/fetch-whisper-base.sh >/dev/null   # NIGHTSHIFT_SUMMARY_ASR=base: whisper.cpp
./scripts/fetch-embedding-model.sh >/dev/null
NIGHTSHIFT_SUMMARY_MEETINGS="${NIGHTSHIFT_SUMMARY_MEETINGS:-meeting_01,meeting_02,meeting_03}" \
    cargo test --release --workspace --test summary_quality -- --nocapture
