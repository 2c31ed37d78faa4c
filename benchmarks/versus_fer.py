"""videmo's speed against the ``fer`` package's (PyPI ``fer``: MTCNN, then a small emotion CNN) on the same videos.

    python benchmarks/versus_fer.py VIDEO... --fer-python /work/fer-venv/bin/python --repeat 3
    python benchmarks/versus_fer.py VIDEO... --fer-python /work/fer-venv/bin/python --fer-keras

``fer`` needs TensorFlow and lives in its own virtual environment (``--fer-python``: its
interpreter), made by ``python -m venv /work/fer-venv``, ``/work/fer-venv/bin/pip install fer
tensorflow-cpu 'setuptools<81'`` (fer 25.10 imports ``pkg_resources``, which setuptools 81 dropped)
and ``/work/fer-venv/bin/pip uninstall -y triton`` (torch's triton segfaults when loaded after
TensorFlow; the CPU needs neither). This script uses only the standard library and runs under
videmo's interpreter.

For each video it alternates ``--repeat`` (3) times between
(a) ``videmo analyze VIDEO -o TMP --quiet --overwrite --no-report --no-plots``, a subprocess of
    this interpreter, every frame analysed, with its defaults otherwise; and
(b) fer's documented per-video analysis, ``Video(path).analyze(FER(mtcnn=True), display=False,
    ...)``, in a subprocess of ``--fer-python``, every frame analysed (``frequency=1``, its default),
    nothing written (no frames, video, zip or data.csv).
Alternating pairs see the same state of this shared machine. fer's time is that of ``analyze``
alone, measured in its process (imports and model loads left out); videmo's "in-process" time is
summary.json's ``wall_time_s``, from opening the video to the last frame labelled (likewise
without imports, model load or writing the results), and its "command" time is the whole
subprocess's wall time. ``videmo/fer`` is the median of the pairs' in-process speed ratios.
Neither side gets a warm-up run. The settings differ as each package ships them: videmo detects on
frames shrunk to 640 wide with faces from 40 px; fer's MTCNN (facenet-pytorch's, on torch) runs on
the whole frame with faces from 20 px, and labels each face one by one with a quantized TFLite model
(``--fer-keras``: the Keras mini-Xception, ``FER(use_tflite=False)``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs under --fer-python: argv = video, outdir, "tflite" or "keras"; its last stdout line is JSON.
FER_CHILD = r"""
import json, sys, time
try:
    from fer import FER, Video  # fer < 25 exported them here
except ImportError:
    from fer.fer import FER
    from fer.classes import Video
import fer

path, outdir, model = sys.argv[1:4]
detector = FER(mtcnn=True) if model == "tflite" else FER(mtcnn=True, use_tflite=False)
counted = {"faces": 0, "frames_with_faces": 0}
detect_emotions = detector.detect_emotions

def counting(img, *args, **kwargs):
    found = detect_emotions(img, *args, **kwargs)
    counted["faces"] += len(found)
    counted["frames_with_faces"] += bool(found)
    return found

detector.detect_emotions = counting
video = Video(path, outdir=outdir)
started = time.perf_counter()
video.analyze(detector, display=False, output="pandas", frequency=1, save_frames=False, save_video=False,
              annotate_frames=False, zip_images=False)
seconds = time.perf_counter() - started
print(json.dumps({"fer_version": fer.__version__, "frames": video.frameCount, "seconds": seconds, **counted}))
"""


def cpu_header() -> str:
    """The CPU's model name, its cores and whether it has native bf16 (AVX512-BF16 or AMX-BF16)."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    bf16 = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags]
    return f"{name}, {os.cpu_count()} cores, native bf16: {'yes (' + ', '.join(bf16) + ')' if bf16 else 'no'}"


def run_videmo(video: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="versus_fer_videmo_") as out:
        command = [
            sys.executable,
            "-m",
            "videmo",
            "analyze",
            str(video),
            "-o",
            out,
            "--quiet",
            "--overwrite",
            "--no-report",
            "--no-plots",
        ]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"videmo analyze failed on {video} ({done.returncode}):\n{done.stderr[-3000:]}")
        summaries = list(Path(out).glob("*/summary.json"))
        if len(summaries) != 1:
            sys.exit(f"videmo analyze wrote {len(summaries)} summary.json files under its output for {video}")
        summary = json.loads(summaries[0].read_text(encoding="utf-8"))
    frames = summary["counts"]["frames_analysed"]
    inner = summary.get("wall_time_s")  # recorded by videmo 0.1 on; without it, the command's time stands in
    return {
        "frames": frames,
        "faces": summary["counts"]["faces"],
        "command_s": wall,
        "in_process_s": inner if inner else wall,
        "in_process_recorded": bool(inner),
        "version": summary.get("videmo_version"),
        "precision": summary["settings"].get("precision"),
        "runtime": summary["settings"].get("runtime"),
    }


def run_fer(video: Path, python: str, model: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory(prefix="versus_fer_fer_") as out:  # its cwd too: fer writes beside it if asked
        done = subprocess.run(
            [python, "-c", FER_CHILD, str(video.resolve()), out, model], capture_output=True, text=True, cwd=out, env=env
        )
    if done.returncode != 0:
        sys.exit(f"fer failed on {video} ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--fer-python", required=True, help="the Python of a virtual environment with fer and TensorFlow")
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs per video (medians shown)")
    parser.add_argument(
        "--fer-keras", action="store_true", help="fer's Keras mini-Xception instead of its default quantized TFLite model"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    model = "keras" if args.fer_keras else "tflite"

    print(f"# {cpu_header()}; python {platform.python_version()}; {args.repeat} alternating pair(s) per video")
    rows = []
    for video in args.videos:
        pairs = []
        for i in range(args.repeat):
            ours, theirs = run_videmo(video), run_fer(video, args.fer_python, model)
            pairs.append((ours, theirs))
            print(
                f"#   {video.name} pair {i + 1}: videmo {ours['frames']} frames in {ours['in_process_s']:.2f} s "
                f"({ours['command_s']:.2f} s command), {ours['faces']} faces; fer {theirs['frames']} frames in "
                f"{theirs['seconds']:.2f} s, {theirs['faces']} faces",
                file=sys.stderr,
            )
        ours, theirs = pairs[-1]
        videmo_fps = [o["frames"] / o["in_process_s"] for o, _ in pairs]
        command_fps = [o["frames"] / o["command_s"] for o, _ in pairs]
        fer_fps = [t["frames"] / t["seconds"] for _, t in pairs]
        rows.append(
            {
                "video": video.name,
                "frames": f"{ours['frames']} / {theirs['frames']}",
                "faces": f"{ours['faces']} / {theirs['faces']}",
                "videmo fps": statistics.median(videmo_fps),
                "videmo command fps": statistics.median(command_fps),
                "fer fps": statistics.median(fer_fps),
                "videmo/fer": statistics.median(v / f for v, f in zip(videmo_fps, fer_fps)),
            }
        )
        if not ours["in_process_recorded"]:
            print(f"# {video.name}: summary.json records no wall_time_s: its 'videmo fps' is the whole command's")
    print(
        f"# videmo {ours['version']} ({ours['runtime']} {ours['precision']}), every frame, defaults; "
        f"fer {theirs['fer_version']} (FER(mtcnn=True), {'Keras' if args.fer_keras else 'TFLite'} classifier), every frame"
    )
    print(
        "# frames and faces: videmo / fer; fps: frames per second, median; videmo fps: its in-process time "
        "(summary.json wall_time_s), command fps: the whole 'videmo analyze' subprocess"
    )
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
