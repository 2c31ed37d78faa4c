"""Frames per second of this checkout against another, alternating, in the process: before/after
figures on a machine whose speed drifts.

    python benchmarks/paired_fps.py OTHER_CHECKOUT [VIDEO...] [--rounds 4] [--one-lane]

Each round runs the other checkout, then this one, each in a fresh process that imports its own
``videmo`` (its folder first on the path), analyses each video once to warm up and then twice,
timing ``Analyzer.analyze_video`` alone (no imports, model loads or writing). ``--one-lane``: one
lane and one torch thread. Prints every run, then each side's median per video and their ratio.
Default videos: the example clip and ../shared/data's crowd video.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = [ROOT.parent / "shared" / "data" / "videos" / "crowd_walking_1080p.mp4", ROOT / "examples" / "hamilton_clip.mp4"]

MEASURE = """
import json, sys, time
from pathlib import Path
import torch
from videmo.options import AnalyzeOptions
from videmo.pipeline import Analyzer
one_lane = sys.argv[1] == "1"
if one_lane:
    torch.set_num_threads(1)
analyzer = Analyzer(AnalyzeOptions(threads=1, lanes=1) if one_lane else AnalyzeOptions())
result = {}
for video in map(Path, sys.argv[2:]):
    analyzer.analyze_video(video)
    rates = []
    for _ in range(2):
        started = time.perf_counter()
        frames = analyzer.analyze_video(video).frames["frame"].nunique()
        rates.append(frames / (time.perf_counter() - started))
    result[video.name] = rates
print(json.dumps(result))
"""


def measure(checkout: Path, videos: list[Path], one_lane: bool) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, "1" if one_lane else "0", *map(str, videos)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="the checkout to compare with (a git worktree of another commit)")
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--one-lane", action="store_true", help="one lane and one torch thread")
    args = parser.parse_args()
    videos = [v.resolve() for v in (args.videos or VIDEOS) if v.is_file()]
    sides = {"B": args.other.resolve(), "A": ROOT}
    rates = {side: {} for side in sides}
    for _ in range(args.rounds):
        for side, checkout in sides.items():
            found = measure(checkout, videos, args.one_lane)
            print(
                side,
                checkout,
                " ".join(f"{name} {' '.join(f'{r:.1f}' for r in runs)}" for name, runs in found.items()),
                flush=True,
            )
            for name, runs in found.items():
                rates[side].setdefault(name, []).extend(runs)
    for video in videos:
        a, b = statistics.median(rates["A"][video.name]), statistics.median(rates["B"][video.name])
        print(f"{video.name}: median B {b:.2f} -> A {a:.2f} frames/s ({a / b:.2f}x)")


if __name__ == "__main__":
    main()
