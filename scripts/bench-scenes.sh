#!/usr/bin/env bash
# Scene detection: nightshift vs PySceneDetect (ContentDetector, AdaptiveDetector) on the corpus
# videos, F1 by the same rule and frames per second, best of 3. PySceneDetect is installed from
# PyPI into a venv under ~/.cache (a benchmark tool, never a dependency of nightshift).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
claim_target_dir
venv="$HOME/.cache/nightshift-bench/scenes-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q scenedetect opencv-python-headless
fi
echo "== nightshift"
# The frames worker decodes in process; without it the example falls back to the ffmpeg CLI.
cargo build --release -q -p nightshift-frames-worker
cargo run --release -q -p nightshift-video --example bench_scenes
echo "== PySceneDetect"
"$venv/bin/python" scripts/bench_scenes_psd.py "$(cd .. && pwd)/shared/corpus"
