#!/usr/bin/env python3
"""faster-whisper side of scripts/bench-asr.sh (run inside the bench venv, not the system Python).

For each mode (plain `WhisperModel.transcribe`, `BatchedInferencePipeline.transcribe`, and
`batched_words`: the batched pipeline with `word_timestamps=True`, timing every word as
nightshift always does) and each
repetition: load the model (timed on its own), transcribe the file (timed: decoding the input,
VAD where the pipeline uses it, and draining the lazy segment generator; with --warm, the
second transcription in the process is the one timed), and write the
hypothesis text to OUT_DIR/fw_<mode>_<rep>.txt (reps numbered from --first-rep). Prints one
JSON object on stdout:

    {"plain": {"load_s": [...], "transcribe_s": [...], "hyp_files": [...], "peak_rss_kb": N}, ...}

peak_rss_kb is this process's peak resident memory when the mode is done: the mode's own only
when it is the one mode of the run (scripts/bench-asr.sh runs one mode per process).

WER is not computed here: the shell script scores every hypothesis with the Rust normaliser
(crates/eval), the same one the tests use.
"""

import argparse
import gc
import json
import os
import resource
import sys
import time


def transcribe(pipe, audio, kwargs):
    """The segments' texts and the seconds it took to draw them (the generator does the work)."""
    t0 = time.perf_counter()
    segments, _info = pipe.transcribe(audio, **kwargs)
    texts = [s.text.strip() for s in segments]
    return texts, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--audio", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--first-rep", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--modes", default="plain,batched,batched_words")
    ap.add_argument(
        "--warm",
        action="store_true",
        help="transcribe the file once before the timed run, in the same process (its time "
        "is reported as first_s): the timed run then finds oneDNN's kernels generated, "
        "the VAD model loaded and the allocator warm",
    )
    args = ap.parse_args()

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    result = {}
    for mode in [m for m in args.modes.split(",") if m]:
        if mode not in ("plain", "batched", "batched_words"):
            print(f"unknown mode {mode!r}", file=sys.stderr)
            return 2
        loads, walls, firsts, hyps, nsegs = [], [], [], [], []
        for rep in range(args.first_rep, args.first_rep + args.reps):
            t0 = time.perf_counter()
            model = WhisperModel(
                args.model_dir,
                device="cpu",
                compute_type="int8",
                cpu_threads=args.threads,
                num_workers=1,
            )
            pipe = BatchedInferencePipeline(model) if mode.startswith("batched") else model
            loads.append(time.perf_counter() - t0)

            kwargs = {"beam_size": 1}
            if mode.startswith("batched"):
                kwargs["batch_size"] = args.batch_size
            if mode == "batched_words":
                kwargs["word_timestamps"] = True
            if args.warm:
                _, first_s = transcribe(pipe, args.audio, kwargs)
                firsts.append(first_s)
            texts, wall_s = transcribe(pipe, args.audio, kwargs)
            walls.append(wall_s)

            path = os.path.join(args.out_dir, f"fw_{mode}_{rep}.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(" ".join(texts) + "\n")
            hyps.append(path)
            nsegs.append(len(texts))
            print(
                f"faster-whisper {mode} rep {rep}: load {loads[-1]:.2f} s, "
                f"transcribe {walls[-1]:.2f} s, {len(texts)} segments",
                file=sys.stderr,
            )
            del pipe, model
            gc.collect()
        result[mode] = {
            "load_s": loads,
            "first_s": firsts,
            "transcribe_s": walls,
            "segments": nsegs,
            "hyp_files": hyps,
            "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
