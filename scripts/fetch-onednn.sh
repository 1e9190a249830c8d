#!/usr/bin/env bash
# Intel's prebuilt oneDNN 3.2 (GNU OpenMP), the GEMM library the CTranslate2 ASR worker
# (crates/ct2-worker) links, from PyPI: the wheels onednn-cpu-gomp and onednn-devel-cpu-gomp
# 2023.2.0, pinned by sha256, unpacked into $NIGHTSHIFT_ONEDNN (default ~/.cache/nightshift-onednn:
# lib/libdnnl.so.3 and include/). `vendor/onednn-prebuilt` (a [patch] for the onednn-src crate)
# links it, so oneDNN is never compiled from source: ~30 min on 2 cores, against ~8 min for
# CTranslate2 alone. Idempotent: nothing is downloaded when the library has its pinned hash.
# Needs pip (python3-pip) and python3. Usage: scripts/fetch-onednn.sh
set -euo pipefail
DEST="${NIGHTSHIFT_ONEDNN:-$HOME/.cache/nightshift-onednn}"
LIB_SHA=e6376208cf6bacb041c346b504207e3aa1189a13f941c92a4383a55ac27058ae
die() { echo "error: $*" >&2; exit 1; }
if [ ! -f "$DEST/lib/libdnnl.so.3" ] || [ "$(sha256sum "$DEST/lib/libdnnl.so.3" | cut -d' ' -f1)" != "$LIB_SHA" ]; then
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    python3 -m pip download --quiet --no-deps -d "$TMP" onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0 \
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
echo "oneDNN 3.2 in $DEST" >&2
