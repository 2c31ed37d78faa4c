"""What ``--detect-every K`` costs against searching every frame, on the same videos in one run.

    python benchmarks/follow.py                       # K = 4 and 8, the example and ../shared/data's videos
    python benchmarks/follow.py --every 4 VIDEO...

For each video and K: the frames per second of both analyses (a warm-up run first), the share of the
face-frames that the full search finds which the fast path finds too (a face matched by box overlap
of 0.5 or more in the same frame), the median overlap of those boxes, and the share of them whose
``emotion`` (and ``emotion_smoothed``) is the same; ``extra``: the fast path's faces the full search
has not. The README's Speed section quotes these figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"
BOX = ["x1", "y1", "x2", "y2"]


def analysed(video: Path, every: int):
    """The video's frames table at --detect-every ``every`` (after a warm-up run), and its frames per second."""
    from videmo.core.options import AnalyzeOptions
    from videmo.run.pipeline import Analyzer

    analyzer = Analyzer(AnalyzeOptions(detect_every=every))
    analyzer.analyze_video(video)
    started = time.perf_counter()
    frames = analyzer.analyze_video(video).frames
    return frames, frames["frame"].nunique() / (time.perf_counter() - started)


def agree(a, b) -> bool:
    """The same label, or none on both sides (a track too short to smooth is NA)."""
    return bool(pd.isna(a) and pd.isna(b)) or (not pd.isna(a) and not pd.isna(b) and a == b)


def compare(full, fast) -> dict:
    from videmo.faces.track import iou

    full, fast = full[full["face_id"].notna()], fast[fast["face_id"].notna()]
    found, overlaps, same, same_smoothed = 0, [], 0, 0
    by_frame = dict(tuple(fast.groupby("frame")))
    for frame, faces in full.groupby("frame"):
        others = by_frame.get(frame)
        if others is None:
            continue
        overlap = iou(faces[BOX].to_numpy(), others[BOX].to_numpy())
        for i, j in enumerate(overlap.argmax(axis=1)):
            if overlap[i, j] >= 0.5:
                found += 1
                overlaps.append(overlap[i, j])
                same += agree(faces["emotion"].iloc[i], others["emotion"].iloc[j])
                same_smoothed += agree(faces["emotion_smoothed"].iloc[i], others["emotion_smoothed"].iloc[j])
    return {
        "faces": len(full),
        "found": found / max(len(full), 1),
        "iou": float(np.median(overlaps)) if overlaps else 0.0,
        "same": same / max(found, 1),
        "same_smoothed": same_smoothed / max(found, 1),
        "extra": len(fast) - found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--every", type=int, nargs="+", default=[4, 8], help="the values of --detect-every to compare with 1")
    args = parser.parse_args()
    videos = args.videos or [ROOT / "examples" / "hamilton_clip.mp4", *sorted(SHARED_VIDEOS.glob("*.mp4"))]
    print("video | K | fps (K=1 -> K) | faces found | median box IoU | same emotion | same emotion_smoothed | extra faces")
    print("--- | --- | --- | --- | --- | --- | --- | ---")
    for video in (v for v in videos if v.is_file()):
        full, full_fps = analysed(video, 1)
        for every in args.every:
            fast, fast_fps = analysed(video, every)
            c = compare(full, fast)
            print(
                f"{video.name} ({c['faces']} face-frames) | {every} | {full_fps:.1f} -> {fast_fps:.1f} | {c['found']:.1%} | "
                f"{c['iou']:.3f} | {c['same']:.1%} | {c['same_smoothed']:.1%} | {c['extra']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
