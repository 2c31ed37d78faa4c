"""Speed and memory of videmo analyze, stage by stage, on real and long videos.

    python benchmarks/bench.py                      # the example, ../shared/data's crowd video, a 10-minute video
    python benchmarks/bench.py VIDEO... --long-minutes 0 --precision fp32

Each video runs in its own process, so that its peak resident memory is its own. In that process the
stages first run one after another on every analysed frame, each timed alone (decode, detect,
classify); then the whole pipeline runs as ``videmo analyze`` runs it (decoding overlapped in its
thread). ``ratio`` is the pipeline's time over the sum of the stages' times: at most 1.0 means the
overlap pays. The long video (the example clip looped, 640x360) runs the pipeline only and compares
its speed over the first and the last minute of video.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"
CACHE = ROOT / "benchmarks" / ".cache"


def stage_times(analyzer, path: Path) -> dict:
    """Decode, detect and classify run one after another on the same frames, each timed alone."""
    import numpy as np

    from videmo.decode import open_video, select_frames, stream_frames

    reader, info = open_video(path)
    indices = select_frames(info, analyzer.options.fps, analyzer.options.every)
    batches = stream_frames(reader, info, indices, analyzer.options.chunk)
    decode = detect = classify = 0.0
    faces = 0
    while True:
        started = time.perf_counter()
        batch = next(batches, None)
        decode += time.perf_counter() - started
        if batch is None:
            break
        started = time.perf_counter()
        detections = analyzer.detector.detect(batch.frames)
        detect += time.perf_counter() - started
        frame_of_face = np.array([i for i, found in enumerate(detections) for _ in found], dtype=np.int64)
        boxes = np.array([d.box for found in detections for d in found], dtype=np.float64).reshape(-1, 4)
        started = time.perf_counter()
        analyzer.classifier.classify(batch.frames, frame_of_face, boxes)
        classify += time.perf_counter() - started
        faces += len(boxes)
    return {"frames": len(indices), "faces": faces, "decode_s": decode, "detect_s": detect, "classify_s": classify}


def pipeline_times(analyzer, path: Path) -> dict:
    """The whole pipeline; the detector's calls are stamped to see speed over video time."""
    detect = analyzer.detector.detect
    stamps = []  # (wall clock after the chunk's detection, frames in the chunk)

    def stamped(frames):
        found = detect(frames)
        stamps.append((time.perf_counter(), len(frames)))
        return found

    analyzer.detector.detect = stamped
    started = time.perf_counter()
    result = analyzer.analyze_video(path)
    wall = time.perf_counter() - started
    analyzer.detector.detect = detect
    counts = result.summary["counts"]
    return {"frames": counts["frames_analysed"], "faces": counts["faces"], "pipeline_s": wall,
            "fps": result.info.fps, "stamps": [(t - started, n) for t, n in stamps]}


def speed_per_minute(stamps: list, video_fps: float, every: int) -> list[float]:
    """Analysed frames per second of wall time, for each minute of video."""
    minutes: dict[int, list] = {}
    previous, frame = 0.0, 0
    for stamp, n in stamps:
        minutes.setdefault(int(frame * every / video_fps // 60), []).append((stamp - previous, n))
        previous, frame = stamp, frame + n
    return [sum(n for _, n in chunks) / sum(t for t, _ in chunks) for _, chunks in sorted(minutes.items())]


def run_one(path: Path, options: dict, stages: bool) -> dict:
    """Runs in the child process: one video, its figures as a dict."""
    import torch

    from videmo.pipeline import Analyzer, AnalyzeOptions

    analyzer = Analyzer(AnalyzeOptions(**options))
    figures = {"video": path.name, "precision": analyzer.classifier.precision, "device": str(analyzer.device),
               "threads": torch.get_num_threads()}
    if stages:
        figures.update(stage_times(analyzer, path))
    figures.update(pipeline_times(analyzer, path))
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def long_video(minutes: float) -> Path:
    """The example clip (640x360, 30 fps) looped to ``minutes``, stream-copied: real faces, no re-encoding."""
    import imageio_ffmpeg

    source = ROOT / "examples" / "hamilton_clip.mp4"
    path = CACHE / f"long_{minutes:g}min_640x360.mp4"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        loops = max(1, round(minutes * 60 / 9.18)) - 1  # the clip is 9.18 s long
        partial = path.with_suffix(".partial.mp4")
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-stream_loop", str(loops), "-i", str(source),
                        "-c", "copy", "-an", str(partial)], check=True)
        partial.rename(path)
    return path


def header(options: dict) -> str:
    import torch

    import videmo

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    settings = ", ".join(f"{k}={v}" for k, v in options.items() if v is not None)
    return (f"videmo {videmo.__version__}, torch {torch.__version__}, {cpu}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
            f"CUDA {'yes: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no'}\nsettings: {settings}")


def table(rows: list[dict]) -> str:
    columns = ["video", "frames", "faces", "decode fps", "detect fps", "classify fps", "classify faces/s",
               "pipeline fps", "faces/s", "ratio", "peak RSS MB", "precision"]
    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    for r in rows:
        def fps(key):
            return f"{r['frames'] / r[key]:.1f}" if r.get(key) else "-"
        stage_sum = sum(r.get(k, 0.0) for k in ("decode_s", "detect_s", "classify_s"))
        cells = [r["video"], r["frames"], r["faces"], fps("decode_s"), fps("detect_s"), fps("classify_s"),
                 f"{r['faces'] / r['classify_s']:.1f}" if r.get("classify_s") else "-",
                 fps("pipeline_s"), f"{r['faces'] / r['pipeline_s']:.1f}",
                 f"{r['pipeline_s'] / stage_sum:.2f}" if stage_sum else "-", f"{r['peak_rss_mb']:.0f}", r["precision"]]
        lines.append(" | ".join(str(c) for c in cells))
    return "\n".join(lines)


def main() -> None:
    from videmo.pipeline import AnalyzeOptions

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--long-minutes", type=float, default=10.0, help="length of the generated long video; 0 skips it")
    for field in fields(AnalyzeOptions):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default) if field.default is not None else str,
                            default=field.default)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-stages", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    options = {f.name: getattr(args, f.name) for f in fields(AnalyzeOptions)}
    for name in ("fps", "every", "threads"):
        options[name] = None if options[name] in (None, "None") else (float if name == "fps" else int)(options[name])

    if args.one:  # the child process
        print(json.dumps(run_one(args.one, options, stages=not args.no_stages)))
        return

    videos = args.videos or [ROOT / "examples" / "hamilton_clip.mp4", SHARED_VIDEOS / "crowd_walking_1080p.mp4"]
    videos = [v for v in videos if v.is_file()]
    runs = [(v, True) for v in videos] + ([(long_video(args.long_minutes), False)] if args.long_minutes > 0 else [])
    print(header(options), flush=True)
    passed = [f"--{k.replace('_', '-')}={v}" for k, v in options.items() if v is not None]
    rows = []
    for video, stages in runs:
        command = [sys.executable, __file__, "--one", str(video), *passed, *([] if stages else ["--no-stages"])]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{video.name}: failed\n{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        every = options["every"] or (max(1, round(row["fps"] / options["fps"])) if options["fps"] else 1)
        minutes = speed_per_minute(row["stamps"], row["fps"], every)
        if len(minutes) > 1:
            print(f"{video.name}: analysed frames/s per minute of video: {', '.join(f'{m:.1f}' for m in minutes)} "
                  f"(last minute / first: {minutes[-1] / minutes[0]:.2f})", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
