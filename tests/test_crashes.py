"""Crashes and kills. A run killed outright (SIGKILL: no cleanup runs) leaves no folder that claims
to be complete, and the same command again redoes what it had not finished; two runs with different settings into one
output folder never mix their rows; an input deleted or cut short mid-run fails (or shortens) that video alone."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import invoke
from media import blank_frames, entries, face_frames, write_video

import videmo
from videmo.core.options import AnalyzeOptions
from videmo.results.io import OUTPUT_FILES
from videmo.run import pipeline, runner

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "videmo", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )


def assert_complete(folder: Path, annotated: bool = False) -> dict:
    """Every results file there (and annotated.mp4, with ``annotated``), summary.json whole; the summary."""
    assert sorted(os.listdir(folder)) == sorted([*OUTPUT_FILES, *(["annotated.mp4"] if annotated else [])]), folder
    return json.loads((folder / "summary.json").read_text())


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A folder of four copies of a 40-frame clip."""
    folder = tmp_path_factory.mktemp("clips")
    clip = write_video(folder / "clip.mp4", face_frames(40), fps=10)
    videos = folder / "in"
    videos.mkdir()
    for i in range(4):
        (videos / f"clip{i}.mp4").write_bytes(clip.read_bytes())
    clip.unlink()
    return videos


def test_sigkill_mid_video_then_the_same_command_redoes_it(clips, tiny_checkpoint, tmp_path):
    """Killed while the second video's annotated video is being written: that video is redone, whole."""
    out = tmp_path / "out"
    args = ("analyze", clips, "-w", tiny_checkpoint, "-o", out, "-q", "--annotate")
    process = start(*args)
    deadline = time.monotonic() + 300
    while not list(out.glob(".clip1.annotated-*")):  # the second video's analysis is under way
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    visible = [name for name in entries(out) if not name.startswith(".")]
    assert "clip1" not in visible  # what was under way is hidden, and no visible folder is unfinished
    for name in visible:
        assert_complete(out / name, annotated=True)

    again = invoke(*args)
    assert again.exit_code == 0 and again.stderr == "", again.stderr
    assert entries(out) == [f"clip{i}" for i in range(4)]  # the killed run's hidden leftovers are gone
    for i in range(4):
        summary = assert_complete(out / f"clip{i}", annotated=True)
        assert summary["counts"]["frames_analysed"] == 40
        assert list(videmo.read_results(out / f"clip{i}")["frame"]) == list(range(40))
    assert "clip1.mp4: 40 frames analysed" in again.stdout


def every_second_or_all(folder: Path) -> None:
    """The rows of ``folder`` are all made with the settings its summary names: never a mix of two runs'."""
    summary = assert_complete(folder)
    frames = videmo.read_results(folder)
    every = summary["settings"]["every"] or 1
    assert list(frames["frame"]) == list(range(0, 40, every)), (folder, every, list(frames["frame"]))
    assert summary["counts"]["frames_analysed"] == len(frames)


def test_two_runs_with_different_settings_into_one_folder_never_mix_rows(clips, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    runs = [
        start("analyze", clips, "-w", tiny_checkpoint, "-o", out, "-q", "--overwrite", *extra) for extra in ([], ["--every", "2"])
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0 and "Traceback" not in stderr, stderr
    assert entries(out) == [f"clip{i}" for i in range(4)]
    for i in range(4):
        every_second_or_all(out / f"clip{i}")
    index = pd.read_csv(out / "index.csv")
    assert len(index) == 4  # one row per video, whichever run's

    redo = invoke("analyze", clips, "-w", tiny_checkpoint, "-o", out, "-q", "--every", "4")
    assert redo.exit_code == 0 and "frames analysed" not in redo.stdout  # finished videos are not redone silently
    assert redo.stdout.count("(use --overwrite to redo)") == 4
    for i in range(4):
        every_second_or_all(out / f"clip{i}")


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory) -> Path:
    """40 frames of noise: 1.7 MB, more than the demuxer reads ahead, so that a change to the file mid-run is met."""
    return write_video(tmp_path_factory.mktemp("noise") / "noise.mp4", blank_frames(40), fps=10)


@pytest.mark.parametrize("change", ["deleted", "truncated"])
def test_an_input_changed_mid_run_fails_that_video_alone(clips, noisy_clip, tiny_checkpoint, tmp_path, monkeypatch, change):
    """Deleted: the open file keeps its data (Linux), so the video is analysed whole. Cut to a third: one error
    line names it and the cause, it gets no folder, and the videos after it are analysed."""
    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("a", "c"):
        (videos / f"{name}.mp4").write_bytes((clips / "clip0.mp4").read_bytes())
    victim = videos / "b.mp4"
    victim.write_bytes(noisy_clip.read_bytes())
    real = pipeline.stream_frames

    def changed_after_the_first_chunk(info, *args, **kwargs):
        for number, batch in enumerate(real(info, *args, **kwargs)):
            if number == 0 and Path(info.path) == victim:
                if change == "deleted":
                    victim.unlink()
                else:
                    with open(victim, "r+b") as f:
                        f.truncate(victim.stat().st_size // 3)
            yield batch

    monkeypatch.setattr(pipeline, "stream_frames", changed_after_the_first_chunk)
    lines = []
    out = tmp_path / "out"
    failed = runner.analyze_many(
        [str(videos)], out, AnalyzeOptions(weights=str(tiny_checkpoint)), quiet=True, report=lines.append
    )
    for name in ("a", "c"):
        assert_complete(out / name)
        assert list(videmo.read_results(out / name)["frame"]) == list(range(40))
    errors = [line for line in lines if line.startswith("videmo: error:")]
    if change == "deleted":
        assert failed == 0 and errors == [] and assert_complete(out / "b")["counts"]["frames_analysed"] == 40
        assert entries(out) == ["a", "b", "c"]
    else:
        assert (
            failed == 1 and len(errors) == 1 and errors[0].startswith(f"videmo: error: {victim}: ") and "truncated" in errors[0]
        )
        assert entries(out) == ["a", "c"]  # nothing half-written, no hidden leftovers
