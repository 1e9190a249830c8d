# Shared settings for the setup and test scripts (sourced, not run).
# The cargo target dir lives outside the clone so rebuilds (and CI runs) reuse the C++ engine
# builds, which take minutes.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nightshift-target}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The shared target dir may last have been used by another checkout. Cargo keys workspace crates
# by their path inside the workspace and decides freshness by mtime, so it would reuse binaries
# built there (with that checkout's `env!("CARGO_MANIFEST_DIR")` compiled in) whenever our
# sources are older than that build. When the checkout changes, our Rust sources are touched so
# the workspace crates are rebuilt; the C++ engines in dependencies are not.
claim_target_dir() {
    local stamp="$CARGO_TARGET_DIR/.nightshift-checkout"
    mkdir -p "$CARGO_TARGET_DIR"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$REPO_ROOT" ]; then
        find "$REPO_ROOT/crates" -name '*.rs' -exec touch {} +
        echo "$REPO_ROOT" > "$stamp"
    fi
}
SHARED="${NIGHTSHIFT_SHARED:-$REPO_ROOT/../shared}"
export NIGHTSHIFT_MODELS="${NIGHTSHIFT_MODELS:-$SHARED/models}"
export PATH="$HOME/.cargo/bin:$PATH"

# System packages: C++ toolchain for whisper.cpp/llama.cpp, ffmpeg for decoding, espeak-ng and
# sox for tests that synthesise speech, ALSA headers for microphone capture (cpal), Tesseract for
# OCR, python3 + numpy to convert the diarization weights (and pip for the Whisper base wheels), FFmpeg's library headers for the frames
# worker (in-process video decoding for scene detection), and any packages given as arguments (the
# tests add Chromium for the web app). Idempotent: installs only what is missing.
install_system_packages() {
    local pkgs=(cmake clang libclang-dev pkg-config ffmpeg espeak-ng sox curl libasound2-dev tesseract-ocr tesseract-ocr-eng python3 python3-numpy python3-pip libavcodec-dev libavformat-dev libavutil-dev libswscale-dev "$@")
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! command -v cargo >/dev/null; then
        echo "error: cargo not found: install Rust (https://rustup.rs) and run this again" >&2
        exit 1
    fi
}

require_shared() {
    if [ ! -d "$SHARED/models" ] || [ ! -d "$SHARED/corpus" ]; then
        echo "error: $SHARED: test models and corpus not found (expected ../shared beside the repo, or set NIGHTSHIFT_SHARED)" >&2
        exit 1
    fi
}
