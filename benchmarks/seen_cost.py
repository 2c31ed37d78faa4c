"""What saying how each face was seen costs: head pose from the five points and the crop's sharpness and
brightness, timed on a video's own faces, against the whole analysis of that video.

    python benchmarks/seen_cost.py [--video examples/hamilton_clip.mp4]

Analyses the video once (every frame, default settings, one process), then times ``faces.pose.head_pose``
on its faces' points and ``faces.classify.seen_measures`` on crops of the model's input size, each the
best of five runs, and prints both beside the analysis's wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

import videmo
from videmo.faces.classify import seen_measures
from videmo.faces.pose import head_pose
from videmo.results.tables import LANDMARK_COLUMNS


def best_of(work, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "hamilton_clip.mp4")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as out:
        analysis = videmo.analyze(args.video, out, plots=False)
    faces = analysis.frames[analysis.frames["face_id"].notna()]
    points = faces[LANDMARK_COLUMNS].to_numpy().reshape(-1, 5, 2)
    size = analysis.summary["model"]["image_size"]
    crops = torch.randint(0, 256, (len(faces), 1, size, size), dtype=torch.uint8).float()
    pose_s = best_of(lambda: head_pose(points))
    measures_s = best_of(lambda: seen_measures(crops))
    wall = analysis.summary["wall_time_s"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
    print(f"# measured {date.today()} at commit {commit} on {cpu}")
    print(f"{args.video.name}: {len(faces)} face-frames, analysis {wall:.2f} s")
    print(f"head pose: {1000 * pose_s:.2f} ms ({100 * pose_s / wall:.2f}% of the analysis)")
    print(f"sharpness and brightness: {1000 * measures_s:.2f} ms ({100 * measures_s / wall:.2f}% of the analysis)")


if __name__ == "__main__":
    main()
