"""PySceneDetect's ContentDetector and AdaptiveDetector on the corpus videos, scored by the
same rule as nightshift (hard cut ±2 frames; gradual transition anywhere in its span ±2; each
detection matches at most one transition). Run by scripts/bench-scenes.sh."""
import json, sys, time
from pathlib import Path
from scenedetect import open_video, SceneManager, ContentDetector, AdaptiveDetector

corpus = Path(sys.argv[1])
manifest = json.loads((corpus / "manifest.json").read_text())

def f1(dets, trans):
    used, tp = set(), 0
    for t in trans:
        lo, hi = ((t["frame"] - 2, t["frame"] + 2) if t["type"] == "cut"
                  else (t["start_frame"] - 2, t["end_frame"] - 1 + 2))
        for i, d in enumerate(dets):
            if i not in used and lo <= d <= hi:
                used.add(i); tp += 1; break
    p = tp / len(dets) if dets else 0.0
    r = tp / len(trans) if trans else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0

for case in manifest["cases"]:
    if case.get("kind") != "video":
        continue
    for name, make in (("ContentDetector", ContentDetector), ("AdaptiveDetector", AdaptiveDetector)):
        best, dets = 1e9, []
        for _ in range(3):
            video = open_video(str(corpus / case["path"]))
            sm = SceneManager(); sm.add_detector(make())
            t0 = time.perf_counter()
            sm.detect_scenes(video)
            best = min(best, time.perf_counter() - t0)
            dets = [getattr(s[0], "frame_num", None) or s[0].get_frames() for s in sm.get_scene_list()[1:]]
        n = case["expected"]["frame_count"]
        print(f"{case['id']:<20} {name:<17} {n:>6} frames {best:7.3f} s {n / best:8.0f} frames/s  F1 {f1(dets, case['expected']['transitions']):.2f}")
