"""Speed and memory of videmo analyze, stage by stage, on real and long videos.

    python benchmarks/bench.py                      # the example, ../shared/data's crowd video, a 10-minute video
    python benchmarks/bench.py VIDEO... --long-minutes 0 --precision fp32

Each video runs in a fresh process, so that its peak memory is its own. After one warm-up run of
the whole pipeline, the process alternates ``--repeat`` (3) times between the whole pipeline, as
``videmo analyze`` runs it (chunks decoded, detected and classified in parallel lanes, each lane
decoding its next chunk itself), and its stages one after another over every analysed frame, each
timed alone (decode; detect and classify in the same lanes). Alternating pairs see the same state
of this shared machine, so ``ratio``, the pipeline's time over the sum of the stages' times (at
most 1.0: the overlap pays), is the median of the pairs' ratios; the speeds are medians too.
``cores busy`` is the pipeline's CPU time over its wall time; ``peak RSS`` the most any pipeline
run held, warm-up included (the stages, which hold every decoded frame at once, are left out). The
long video (the example clip looped, 640x360) runs the pipeline once and compares its speed over
the first and the last minute of video. With ``--detect-every`` above 1 (the default), each short
video is also analysed once searching every frame whole (``--detect-every 1``), and ``vs every
frame`` gives, as ``benchmarks/follow.py`` does, the share of those face-frames the fast path found
(box overlap 0.5 or more), their median box overlap and the share with the same ``emotion``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"
CACHE = ROOT / "benchmarks" / ".cache"


def stage_times(analyzer, path: Path) -> dict:
    """Decode, detect and classify run one after another over every analysed frame, each timed alone;
    detect and classify in the pipeline's lanes, so that each stage gets the machine as it does there."""
    from videmo.run.pipeline import faces_of
    from videmo.video.decode import open_video, stream_frames
    from videmo.video.sampling import select_frames

    info = open_video(path)
    indices = select_frames(info, analyzer.options.fps, analyzer.options.every)
    started = time.perf_counter()
    batches = list(stream_frames(info, indices, analyzer.options.chunk))
    decode = time.perf_counter() - started

    started = time.perf_counter()
    detections = list(analyzer.in_lanes(lambda batch: analyzer.detector.detect(batch.frames), batches))
    detect = time.perf_counter() - started

    faces = [(batch.frames, *faces_of(found)) for batch, found in zip(batches, detections)]
    model, images = analyzer.classifier.model, []  # the images the classifier ran: faces, and the close calls mirrored
    analyzer.classifier.model = lambda batch: (images.append(len(batch)), model(batch))[1]
    try:
        started = time.perf_counter()
        list(analyzer.in_lanes(lambda work: analyzer.classifier.classify(*work), faces))
        classify = time.perf_counter() - started
    finally:
        analyzer.classifier.model = model
    return {
        "frames": len(indices),
        "faces": sum(len(boxes) for _, _, boxes in faces),
        "classifier_images": sum(images),
        "decode_s": decode,
        "detect_s": detect,
        "classify_s": classify,
    }


def pipeline_times(analyzer, path: Path) -> tuple[dict, object]:
    """The whole pipeline, and its frames table; each labelled chunk is stamped as the pipeline takes
    it, in video order, to see the speed over video time."""
    in_lanes = analyzer.in_lanes
    stamps = []  # (wall clock when the chunk reached the tracker, its last frame, frames in it)

    def stamped(work, items):
        for chunk in in_lanes(work, items):
            stamps.append((time.perf_counter(), int(chunk.batch.indices[-1]), len(chunk.batch.indices)))
            yield chunk

    analyzer.in_lanes = stamped
    cpu_started, started = process_cpu_s(), time.perf_counter()
    result = analyzer.analyze_video(path)
    wall, cpu = time.perf_counter() - started, process_cpu_s() - cpu_started
    analyzer.in_lanes = in_lanes
    counts = result.summary.counts
    return (
        {
            "frames": counts["frames_analysed"],
            "faces": counts["faces"],
            "pipeline_s": wall,
            "cores_busy": cpu / wall,
            "fps": result.info.fps,
            "stamps": [(t - started, frame, n) for t, frame, n in stamps],
        },
        result.frames,
    )


def against_every_frame(analyzer, path: Path, frames) -> dict:
    """``frames`` (the fast path's table) against the same analysis searching every frame whole:
    follow.py's shares (faces found, median box IoU, same emotion)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # follow.py lies beside this script
    from follow import compare

    every = analyzer.detector.every
    analyzer.detector.every = 1
    try:
        full = analyzer.analyze_video(path).frames
    finally:
        analyzer.detector.every = every
    return compare(full, frames)


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def speed_per_minute(stamps: list, video_fps: float) -> list[float]:
    """Analysed frames per second of wall time, for each minute of video."""
    minutes: dict[int, list] = {}
    previous = 0.0
    for stamp, frame, n in stamps:
        minutes.setdefault(int(frame / video_fps // 60), []).append((stamp - previous, n))
        previous = stamp
    return [sum(n for _, n in chunks) / sum(t for t, _ in chunks) for _, chunks in sorted(minutes.items())]


def run_one(path: Path, options: dict, repeat: int) -> dict:
    """Runs in a child process: a warm-up pipeline run, then ``repeat`` pairs of a pipeline run and a
    stages run (none for ``repeat`` 0: the pipeline once, the long video's case); the figures as a
    dict, each the median of the runs."""
    from videmo.core.options import AnalyzeOptions
    from videmo.run.pipeline import Analyzer

    analyzer = Analyzer(AnalyzeOptions(**options))
    figures, frames = pipeline_times(analyzer, path)
    pipelines, peaks = [figures], [peak_rss_mb()]
    stages = []
    for _ in range(repeat):
        reset_peak_rss()
        pipelines.append(pipeline_times(analyzer, path)[0])
        peaks.append(peak_rss_mb())
        stages.append(stage_times(analyzer, path))
    measured = pipelines[1:] or pipelines
    figures = {
        **measured[-1],
        **{key: statistics.median(run[key] for run in measured) for key in ("pipeline_s", "cores_busy")},
        "video": path.name,
        "precision": analyzer.classifier.precision,
        "runtime": analyzer.classifier.runtime,
        "device": str(analyzer.device),
        "peak_rss_mb": max(peaks),
        "gflop_per_image": classifier_gflop(analyzer),
        "peak_gflops": matmul_peak(analyzer.threads, analyzer.classifier.precision, analyzer.classifier.runtime),
    }
    if stages:
        figures.update({key: statistics.median(run[key] for run in stages) for key in ("decode_s", "detect_s", "classify_s")})
        figures["classifier_images"] = stages[-1]["classifier_images"]
        figures["ratio"] = statistics.median(
            p["pipeline_s"] / (s["decode_s"] + s["detect_s"] + s["classify_s"]) for p, s in zip(measured, stages)
        )
        if analyzer.detector.every > 1:  # after the timed runs, so that its memory is not theirs
            figures["vs_every_frame"] = against_every_frame(analyzer, path, frames)
    return figures


def classifier_gflop(analyzer) -> float:
    """The classifier's GFLOP per image (torch.utils.flop_counter: a multiply-add counts two)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    meta = analyzer.checkpoint.meta
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        analyzer.checkpoint.model.float()(torch.zeros(1, meta["channels"], meta["image_size"], meta["image_size"]))
    return counter.get_total_flops() / 1e9


def matmul_peak(threads: int, precision: str, runtime: str) -> float:
    """GFLOP/s of a 2048 x 2048 matmul on ``threads`` threads in the classifier's precision and runtime:
    the limit its figures are a share of. ONNX Runtime's own matmul where it runs the classifier: on
    AMD CPUs torch's fp32 matmul (MKL's) is not the machine's limit, and the share passed 100%."""
    if runtime == "onnx":
        return onnx_matmul_peak(threads)
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.rand(2048, 2048).to(dtype), torch.rand(2048, 2048).to(dtype)
        a @ b
        best = min(timed(lambda: a @ b) for _ in range(5))
    finally:
        torch.set_num_threads(before)
    return 2 * 2048**3 / best / 1e9


def onnx_matmul_peak(threads: int) -> float:
    """GFLOP/s of a 2048 x 2048 fp32 MatMul on ONNX Runtime with ``threads`` threads."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from videmo.model.onnx import import_onnxruntime

    onnxruntime = import_onnxruntime()  # as the classifier imports it: telemetry off
    n = 2048
    weight = numpy_helper.from_array(np.random.default_rng(0).random((n, n), dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        [weight],
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )
    a = np.random.default_rng(1).random((n, n), dtype=np.float32)
    session.run(None, {"a": a})
    best = min(timed(lambda: session.run(None, {"a": a})) for _ in range(5))
    return 2 * n**3 / best / 1e9


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    """The process's peak resident memory since it started or since ``reset_peak_rss``."""
    status = Path("/proc/self/status")
    if status.exists():
        return next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:")) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start counting the peak anew (Linux: ``5`` in /proc/self/clear_refs), so that the stages'
    frames held in memory do not count as the pipeline's; elsewhere the peak counts every run."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def run_child(video: Path, passed: list[str], repeat: int) -> dict | None:
    """``run_one`` in a fresh process, so that each video's peak memory is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(video), "--repeat", str(repeat), *passed], capture_output=True, text=True
    )
    if done.returncode != 0:
        print(f"{video.name}: failed\n{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def long_video(minutes: float) -> Path:
    """The example clip (640x360, 30 fps) looped to ``minutes``, stream-copied: real faces, no re-encoding."""
    import imageio_ffmpeg

    source = ROOT / "examples" / "hamilton_clip.mp4"
    path = CACHE / f"long_{minutes:g}min_640x360.mp4"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        loops = max(1, round(minutes * 60 / 9.18)) - 1  # the clip is 9.18 s long
        partial = path.with_suffix(".partial.mp4")
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-y",
                "-loglevel",
                "error",
                "-stream_loop",
                str(loops),
                "-i",
                str(source),
                "-c",
                "copy",
                "-an",
                str(partial),
            ],
            check=True,
        )
        partial.rename(path)
    return path


def header(options: dict) -> str:
    import torch

    import videmo
    from videmo.model.device import cpu_has_fast_bf16, resolve_device
    from videmo.run.lanes import default_lanes

    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    cpu += f" ({'native bf16' if cpu_has_fast_bf16() else 'no native bf16: fp32 only'})"
    settings = ", ".join(f"{k}={v}" for k, v in options.items() if v is not None)
    threads = options["threads"] or torch.get_num_threads()
    return (
        f"videmo {videmo.__version__}, torch {torch.__version__}, {cpu}, {os.cpu_count()} CPUs, torch threads {threads}, "
        f"lanes {options['lanes'] or default_lanes(resolve_device(options['device']), threads)}, "
        f"CUDA {'yes: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no'}\nsettings: {settings}"
    )


def table(rows: list[dict]) -> str:
    columns = [
        "video",
        "frames",
        "faces",
        "decode fps",
        "detect fps",
        "classify fps",
        "classify faces/s",
        "classify GFLOP/s (share of matmul peak)",
        "pipeline fps",
        "faces/s",
        "ratio",
        "cores busy",
        "peak RSS MB",
        "classifier",
        "vs every frame: found (IoU, same emotion)",
    ]
    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    for r in rows:

        def fps(key):
            return f"{r['frames'] / r[key]:.1f}" if r.get(key) else "-"

        cells = [
            r["video"],
            r["frames"],
            r["faces"],
            fps("decode_s"),
            fps("detect_s"),
            fps("classify_s"),
            f"{r['faces'] / r['classify_s']:.1f}" if r.get("classify_s") else "-",
            f"{r['classifier_images'] * r['gflop_per_image'] / r['classify_s']:.0f} ({r['classifier_images'] * r['gflop_per_image'] / r['classify_s'] / r['peak_gflops']:.0%}"
            f" of {r['peak_gflops']:.0f})"
            if r.get("classify_s")
            else "-",
            fps("pipeline_s"),
            f"{r['faces'] / r['pipeline_s']:.1f}",
            f"{r['ratio']:.2f}" if "ratio" in r else "-",
            f"{r['cores_busy']:.2f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['precision']} {r['runtime']}",
            versus(r.get("vs_every_frame")),
        ]
        lines.append(" | ".join(str(c) for c in cells))
    return "\n".join(lines)


def versus(shares: dict | None) -> str:
    if not shares or not shares["faces"]:
        return "-"
    return f"{shares['found']:.1%} of {shares['faces']} ({shares['iou']:.3f}, {shares['same']:.1%})"


def boolean(text: str) -> bool:
    words = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
    if text.lower() not in words:
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
    return words[text.lower()]


def main() -> None:
    from videmo.core.options import AnalyzeOptions

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--long-minutes", type=float, default=10.0, help="length of the generated long video; 0 skips it")
    parser.add_argument(
        "--repeat", type=int, default=3, help="pipeline and stages runs of each video but the long one, after a warm-up"
    )
    for field in fields(AnalyzeOptions):
        kind = type(field.default) if field.default is not None else str
        if kind is bool:  # --mirror=False, --annotate=True: bool("False") would be True
            kind = boolean
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=field.default)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    options = {f.name: getattr(args, f.name) for f in fields(AnalyzeOptions)}
    for name in ("fps", "every", "threads", "lanes"):
        options[name] = None if options[name] in (None, "None") else (float if name == "fps" else int)(options[name])

    if args.one:  # the child process
        print(json.dumps(run_one(args.one, options, args.repeat)))
        return

    videos = args.videos or [ROOT / "examples" / "hamilton_clip.mp4", SHARED_VIDEOS / "crowd_walking_1080p.mp4"]
    videos = [v for v in videos if v.is_file()]
    runs = [(v, True) for v in videos] + ([(long_video(args.long_minutes), False)] if args.long_minutes > 0 else [])
    print(
        header(options),
        f"\neach video but the long one: medians of {args.repeat} alternating pipeline and stages runs, after a warm-up",
        flush=True,
    )
    passed = [f"--{k.replace('_', '-')}={v}" for k, v in options.items() if v is not None]
    rows = []
    for video, stages in runs:
        row = run_child(video, passed, args.repeat if stages else 0)
        if row is None:
            continue
        rows.append(row)
        minutes = speed_per_minute(row["stamps"], row["fps"])
        if len(minutes) > 1:
            print(
                f"{video.name}: analysed frames/s per minute of video: {', '.join(f'{m:.1f}' for m in minutes)} "
                f"(last minute / first: {minutes[-1] / minutes[0]:.2f})",
                flush=True,
            )
    print(table(rows))


if __name__ == "__main__":
    main()
