"""The classifier's labels and speed on ONNX Runtime (the fp32-only CPUs' default) against torch fp32,
on the same videos in one run.

    python benchmarks/runtimes.py                    # the example and ../shared/data's videos
    python benchmarks/runtimes.py VIDEO...

Detection does not depend on the runtime, so both analyses find the same boxes; each face-frame is
matched by its frame and box. Printed per video: face-frames, the share whose ``emotion`` (and
``emotion_smoothed``) is the same, the largest difference of any emotion's probability, and the
frames per second of each analysis (a warm-up run first). Issue 36 asks for the same ``emotion`` on
at least 99% of face-frames.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"
BOX = ["frame", "x1", "y1", "x2", "y2"]


def analysed(video: Path, runtime: str):
    """The video's frames table with the classifier on ``runtime`` (fp32), after a warm-up run, and its frames per second."""
    from videmo.options import AnalyzeOptions
    from videmo.pipeline import Analyzer

    analyzer = Analyzer(AnalyzeOptions(runtime=runtime, precision="fp32"))
    analyzer.analyze_video(video)
    started = time.perf_counter()
    frames = analyzer.analyze_video(video).frames
    return frames, frames["frame"].nunique() / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    args = parser.parse_args()
    from videmo import EMOTIONS

    videos = args.videos or list({v.name: v for v in [ROOT / "examples" / "hamilton_clip.mp4", *sorted(SHARED_VIDEOS.glob("*.mp4"))]}.values())
    print(f"{'video':28s} {'face-frames':>11s} {'same emotion':>12s} {'smoothed':>9s} {'max prob diff':>13s} {'torch fps':>9s} {'onnx fps':>9s}")
    for video in videos:
        torch_frames, torch_fps = analysed(video, "torch")
        onnx_frames, onnx_fps = analysed(video, "onnx")
        faces = torch_frames[torch_frames["face_id"].notna()].merge(onnx_frames[onnx_frames["face_id"].notna()], on=BOX, suffixes=("_t", "_o"))
        if len(faces) == 0:
            print(f"{video.name:28s} {0:11d} {'-':>12s} {'-':>9s} {'-':>13s} {torch_fps:9.1f} {onnx_fps:9.1f}")
            continue
        same = (faces["emotion_t"] == faces["emotion_o"]).mean()
        smoothed = (faces["emotion_smoothed_t"] == faces["emotion_smoothed_o"]).mean()
        diff = max((faces[f"{e}_t"] - faces[f"{e}_o"]).abs().max() for e in EMOTIONS)
        print(f"{video.name:28s} {len(faces):11d} {same:12.2%} {smoothed:9.2%} {diff:13.2e} {torch_fps:9.1f} {onnx_fps:9.1f}")


if __name__ == "__main__":
    main()
