#!/usr/bin/env bash
# Quality figures on a whole corpus: the shared one, or one made by scripts/gen_corpus.py.
#
#   ./scripts/bench-corpus.sh [CORPUS_DIR]      (default: $NIGHTSHIFT_CORPUS, else ../shared/corpus)
#   SEED=3 ./scripts/bench-corpus.sh --generate  (make ~/.cache/nightshift-corpus/gen-3 first, then score it)
#
# Prints, for that corpus:
#   - pooled WER per set: nightshift (the default profile: tiny.en on CTranslate2, `run --only audio`,
#     2 threads) and faster-whisper
#     (the same tiny.en weights, int8, beam 1: the corpus yardstick) on the same cases;
#   - diarization DER (0.25 s collar) and found/true speaker count per meeting at the default
#     clustering threshold and at ±20 % around it;
#   - on-screen text recall per video and pooled;
#   - every input the manifest says must fail, refused with one line (the cli_contract test).
# Environment: THREADS=2, SKIP_FW=1 (nightshift only), KEEP=1 (keep the work dir), NS_MODEL=NAME
# (`run --model`, e.g. tiny.en for whisper.cpp), SPEECH_ONLY=1 (stop after WER).
# Run it on an otherwise idle machine; a generated corpus of the default size takes ~5 min (its
# generation included, with the espeak cache warm).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
claim_target_dir
REPO_ROOT="$(pwd)"
SHARED="${NIGHTSHIFT_SHARED:-$(cd .. && pwd)/shared}"
log() { echo "bench-corpus: $*" >&2; }
die() { log "$*"; exit 1; }

if [ "${1:-}" = "--generate" ]; then
    SEED="${SEED:-1}"
    CORPUS="$HOME/.cache/nightshift-corpus/gen-$SEED"
    if [ ! -f "$CORPUS/manifest.json" ]; then
        /usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null && command -v espeak-ng sox >/dev/null \
            || die "the generator needs: apt-get install -y python3-numpy python3-pil espeak-ng sox fonts-dejavu fonts-liberation"
        mkdir -p "$(dirname "$CORPUS")"
        log "generating $CORPUS (seed $SEED)"
        /usr/bin/python3 scripts/gen_corpus.py --seed "$SEED" --out "$CORPUS" >"$CORPUS.log" 2>&1 \
            || { tail -20 "$CORPUS.log" >&2; die "gen_corpus.py failed (log: $CORPUS.log)"; }
    fi
else
    CORPUS="${1:-${NIGHTSHIFT_CORPUS:-$SHARED/corpus}}"
fi
CORPUS="$(cd "$CORPUS" && pwd)"
[ -f "$CORPUS/manifest.json" ] || die "$CORPUS: no manifest.json"
export NIGHTSHIFT_CORPUS="$CORPUS"
export NIGHTSHIFT_MODELS="$SHARED/models"
THREADS="${THREADS:-2}"
WORK="$(mktemp -d)"
# KEEP=1 keeps the hypotheses (ns/, fw/), the nightshift home and the logs for a per-case look.
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
log "corpus $CORPUS, work $WORK"

cargo build --release -q -p nightshift-cli --bins
cargo build --release -q -p nightshift-eval --example pooled_wer
cargo build --release -q -p nightshift-video --example ocr_recall
cargo build --release -q -p nightshift-diarize-worker --example tune
BIN="$CARGO_TARGET_DIR/release/nightshift"
EX="$CARGO_TARGET_DIR/release/examples"

# --- speech: nightshift ----------------------------------------------------------------------
home="$WORK/home"
mkdir -p "$WORK/ns" "$WORK/fw"
/usr/bin/python3 - "$CORPUS" >"$WORK/speech.tsv" <<'EOF'
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], "manifest.json"), encoding="utf-8"))
for c in m["cases"]:
    if c["kind"] in ("tts", "format", "real_speech", "meeting") and "reference_transcript" in c["expected"]:
        print(c["id"] + "\t" + os.path.join(sys.argv[1], c["path"]))
EOF
log "nightshift: $(wc -l <"$WORK/speech.tsv") speech cases"
: >"$WORK/ids.tsv"
while IFS=$'\t' read -r id path; do
    mid="$("$BIN" --home "$home" add "$path")" || die "$id: add failed"
    printf '%s\t%s\n' "$id" "$mid" >>"$WORK/ids.tsv"
done <"$WORK/speech.tsv"
t0=$EPOCHREALTIME
"$BIN" --home "$home" run --until-idle --only audio --threads "$THREADS" ${NS_MODEL:+--model "$NS_MODEL"} \
    </dev/null >/dev/null 2>"$WORK/run.log" \
    || { tail -20 "$WORK/run.log" >&2; die "nightshift run failed"; }
log "nightshift run: $(/usr/bin/python3 -c "print(round($EPOCHREALTIME - $t0, 1))") s"
while IFS=$'\t' read -r id mid; do
    "$BIN" --home "$home" show "$mid" --format json \
        | /usr/bin/python3 -c 'import json,sys; print(" ".join(s["text"] for s in json.load(sys.stdin)["segments"]))' \
        >"$WORK/ns/$id.txt"
done <"$WORK/ids.tsv"

# --- speech: faster-whisper ------------------------------------------------------------------
source scripts/fw-env.sh
if [ "${SKIP_FW:-0}" != 1 ]; then
    fw_setup
    "$VENV/bin/python" scripts/fw_transcribe_cases.py --model-dir "$FW_MODEL" --corpus "$CORPUS" \
        --out-dir "$WORK/fw" --threads "$THREADS" >/dev/null
fi
echo "== pooled WER (dir, set, WER, cases, words, missing)"
"$EX/pooled_wer" "$WORK/ns" "$WORK/fw" | sed "s#$WORK/##"
[ "${SPEECH_ONLY:-0}" = 1 ] && exit 0

# --- diarization -----------------------------------------------------------------------------
DIAR="${NIGHTSHIFT_DIARIZATION_MODELS:-$HOME/.cache/nightshift-models/diarization}"
if [ -f "$DIAR/campplus.safetensors" ]; then
    echo "== diarization: DER and speakers found/true per meeting at thresholds 0.092 / 0.115 (default) / 0.138, timbre split/merge at their defaults (tune: SPLITS=, MERGES= sweep them)"
    NIGHTSHIFT_DIARIZATION_MODELS="$DIAR" "$EX/tune" 0.092 0.115 0.138
else
    log "no diarization models in $DIAR (scripts/fetch-diarization-models.sh): diarization skipped"
fi

# --- on-screen text --------------------------------------------------------------------------
echo "== on-screen text"
"$EX/ocr_recall" 2>"$WORK/ocr-missed.log" || true
[ -s "$WORK/ocr-missed.log" ] && { echo "missed:"; cat "$WORK/ocr-missed.log"; }

# --- inputs that must fail -------------------------------------------------------------------
echo "== inputs the manifest says must fail"
cargo test --release -q -p nightshift-cli --test cli_contract every_input_the_manifest_says_must_fail \
    -- --nocapture 2>&1 | grep -vE '^(running|test result|$)' || true
