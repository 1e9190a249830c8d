#!/usr/bin/env bash
# Build the probe against Intel's prebuilt oneDNN 3.2 (GNU OpenMP) from PyPI instead of
# compiling oneDNN from source: the wheels onednn-cpu-gomp and onednn-devel-cpu-gomp 2023.2.0,
# pinned by sha256, unpacked into ~/.cache/nightshift-onednn (lib/libdnnl.so.3 + include/). It
# writes .cargo/config.toml here (ignored by git) with a `links = "dnnl"` override, so ct2rs's
# onednn-src build script never runs. Run the probe with LD_LIBRARY_PATH=$DEST/lib.
# On 2 cores: ~8 min for the whole probe (CTranslate2 itself), against ~30 min with oneDNN
# built from source; meeting_01 timings are the same (encode 3.4 s, generate 3.0 s).
# Usage: bench/ct2-probe/prebuilt-onednn.sh && (cd bench/ct2-probe && cargo build --release)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="${NIGHTSHIFT_ONEDNN:-$HOME/.cache/nightshift-onednn}"
LIB_SHA=e6376208cf6bacb041c346b504207e3aa1189a13f941c92a4383a55ac27058ae
die() { echo "error: $*" >&2; exit 1; }
if [ ! -f "$DEST/lib/libdnnl.so.3" ] || [ "$(sha256sum "$DEST/lib/libdnnl.so.3" | cut -d' ' -f1)" != "$LIB_SHA" ]; then
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    pip download --quiet --no-deps -d "$TMP" onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0 \
        || die "pip download of the oneDNN wheels failed"
    while read -r sha whl; do
        [ "$(sha256sum "$TMP/$whl" | cut -d' ' -f1)" = "$sha" ] || die "$whl: sha256 mismatch"
        (cd "$TMP" && python3 -m zipfile -e "$whl" unpacked)
    done <<'SUMS'
2f22a54d6a890ed14bfa185d42a4be65d8b5b1df85dc1f0f3a9abe31620416fb onednn_cpu_gomp-2023.2.0-py2.py3-none-manylinux1_x86_64.whl
9763c69e8c907e119056bd52ad918ca84ac9ba939d130a99dfa95ccca3e5e284 onednn_devel_cpu_gomp-2023.2.0-py2.py3-none-manylinux1_x86_64.whl
SUMS
    mkdir -p "$DEST/lib" "$DEST/include"
    cp -r "$TMP"/unpacked/onednn_devel_cpu_gomp-2023.2.0.data/data/include/. "$DEST/include/"
    cp "$TMP"/unpacked/onednn_cpu_gomp-2023.2.0.data/data/lib/libdnnl.so.3 "$DEST/lib/"
    ln -sf libdnnl.so.3 "$DEST/lib/libdnnl.so"
    [ "$(sha256sum "$DEST/lib/libdnnl.so.3" | cut -d' ' -f1)" = "$LIB_SHA" ] || die "libdnnl.so.3: sha256 mismatch"
fi
mkdir -p "$HERE/.cargo"
cat >"$HERE/.cargo/config.toml" <<CONF
# Written by prebuilt-onednn.sh: link the prebuilt oneDNN in $DEST.
[target.x86_64-unknown-linux-gnu.dnnl]
rustc-link-search = ["$DEST/lib"]
rustc-link-lib = ["dnnl"]
include_path = "$DEST/include"
library_path = "$DEST/lib"
CONF
echo "oneDNN 3.2 in $DEST; $HERE/.cargo/config.toml written; run with LD_LIBRARY_PATH=$DEST/lib" >&2
