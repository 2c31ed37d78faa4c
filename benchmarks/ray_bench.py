"""videmo analyze with and without Ray on this machine: wall time, and Ray's overhead per video.

    python benchmarks/ray_bench.py                     # 4 copies of the example clip, --every 3, 2 local workers
    python benchmarks/ray_bench.py --copies 8 --every 1 --workers 2

The same folder of videos is analysed four ways, each by the real command in a fresh process:

  plain           videmo analyze, one process, torch on every CPU (as a user runs it)
  plain, 1 thread the same with one torch thread: what one Ray worker does, without Ray
  ray x1          --ray --workers 1 --cpus-per-worker 1
  ray xN          --ray --workers N --cpus-per-worker 1

``analysis s`` sums the per-video times of summary.json (the work proper); ``start-up s`` is the
rest of the wall time (Python, models, Ray and its actors, writing), taking the workers as running
side by side. Ray's cost is ray x1 against plain, 1 thread (the same work on one thread): a fixed
start-up and a per-video part. The CSVs of every run are compared with those of the plain run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(videos: Path, out: Path, args: list[str], env: dict | None = None) -> float:
    command = [sys.executable, "-m", "videmo.cli", "analyze", str(videos), "-o", str(out), "-q", *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return wall


def analysis_seconds(out: Path) -> float:
    return sum(json.loads(p.read_text())["wall_time_s"] for p in out.glob("*/summary.json"))


def same_csvs(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.glob("*/*.csv"))
    return (
        bool(files)
        and files == sorted(p.relative_to(b) for p in b.glob("*/*.csv"))
        and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=ROOT / "examples" / "hamilton_clip.mp4")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--weights", help="default: the shipped model")
    args = parser.parse_args()

    import ray
    import torch

    import videmo

    work = Path(tempfile.mkdtemp(prefix="videmo-ray-bench-"))
    try:
        videos = work / "videos"
        videos.mkdir()
        for i in range(args.copies):
            shutil.copy(args.video, videos / f"{args.video.stem}_{i}{args.video.suffix}")
        common = ["--every", str(args.every), *(["--weights", args.weights] if args.weights else [])]
        one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        cases = [
            ("plain", [], None),
            ("plain, 1 thread", [], one_thread),
            ("ray x1", ["--ray", "--workers", "1", "--cpus-per-worker", "1"], None),
            (f"ray x{args.workers}", ["--ray", "--workers", str(args.workers), "--cpus-per-worker", "1"], None),
        ]
        print(
            f"videmo {videmo.__version__}, torch {torch.__version__}, ray {ray.__version__}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs; {args.copies} x {args.video.name}, --every {args.every}",
            flush=True,
        )
        rows = []
        for name, extra, env in cases:
            out = work / name.replace(" ", "").replace(",", "_")
            wall = run(videos, out, [*common, *extra], env)
            rows.append((name, wall, analysis_seconds(out), out))
            print(f"  {name}: {wall:.1f} s", flush=True)
        plain_wall, plain_out = rows[0][1], rows[0][3]
        parallel = {"plain": 1, "plain, 1 thread": 1, "ray x1": 1, f"ray x{args.workers}": args.workers}
        print()
        print("run | wall s | analysis s | start-up s | videos/min | vs plain | same CSVs")
        print("--- | --- | --- | --- | --- | --- | ---")
        for name, wall, analysis, out in rows:
            print(
                f"{name} | {wall:.1f} | {analysis:.1f} | {wall - analysis / parallel[name]:.1f} | {args.copies / wall * 60:.1f} | "
                f"{plain_wall / wall:.2f}x | {'yes' if out == plain_out or same_csvs(plain_out, out) else 'NO'}"
            )
        (_, one_wall, one_analysis, _), (_, ray_wall, ray_analysis, _) = rows[1], rows[2]
        print(
            f"\nRay's cost (ray x1 - plain, 1 thread): {(ray_wall - ray_analysis) - (one_wall - one_analysis):+.1f} s at start-up, "
            f"{(ray_analysis - one_analysis) / args.copies:+.2f} s per video; "
            f"ray x{args.workers} over plain: {plain_wall / rows[3][1]:.2f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
