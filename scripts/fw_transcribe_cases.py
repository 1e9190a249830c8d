#!/usr/bin/env python3
"""faster-whisper transcripts of every speech case in a corpus manifest, one text file per case
(OUT_DIR/<case id>.txt), for the yardstick in scripts/bench-corpus.sh. Run inside the bench venv.

Settings as the corpus yardstick: the same tiny.en weights (CTranslate2, int8), beam 1, no VAD,
on CPU. WER is not computed here: crates/eval's pooled_wer example scores both systems with the
normaliser the tests use.
"""

import argparse
import json
import os


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--kinds", default="tts,format,real_speech,meeting")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from faster_whisper import WhisperModel

    model = WhisperModel(args.model_dir, device="cpu", compute_type="int8", cpu_threads=args.threads)
    manifest = json.load(open(os.path.join(args.corpus, "manifest.json"), encoding="utf-8"))
    kinds = set(args.kinds.split(","))
    os.makedirs(args.out_dir, exist_ok=True)
    for case in manifest["cases"]:
        if case["kind"] not in kinds or "reference_transcript" not in case.get("expected", {}):
            continue
        segments, _ = model.transcribe(os.path.join(args.corpus, case["path"]), beam_size=1, language="en")
        text = " ".join(s.text.strip() for s in segments)
        with open(os.path.join(args.out_dir, case["id"] + ".txt"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(case["id"], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
