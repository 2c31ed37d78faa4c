"""Hard to break: bad inputs give one clear line each and spare the other videos; odd but valid videos
give correct results; an interrupted run leaves only complete results folders and resumes.

Every input is made here with the bundled ffmpeg; the checkpoint is the small untrained one.
"""

import errno
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import invoke, make_checkpoint
from media import encode as ffmpeg_frames
from media import entries, face_boxes, face_frames, ffmpeg, write_video
from PIL import Image
from test_data import save_image, write_folders

import videmo
from videmo import cli
from videmo.cli import main
from videmo.core.options import AnalyzeOptions
from videmo.model.checkpoint import load_checkpoint, read_payload
from videmo.results import store as folders
from videmo.results.io import OUTPUT_FILES
from videmo.run import pipeline, runner
from videmo.video import decode, probe

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def videmo_command(*args) -> list[str]:
    return [sys.executable, "-m", "videmo", *map(str, args)]


def run_videmo(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real command, as a user runs it; a hang fails the test instead of stalling the suite."""
    return subprocess.run(videmo_command(*args), capture_output=True, text=True, env=ENV, timeout=timeout)


def encode(
    path: Path,
    frames: np.ndarray,
    fps: float = 10,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    filters: list[str] | None = None,
) -> Path:
    """Like media.write_video, with any pixel format and output options (odd sizes, grey, VFR)."""
    ffmpeg_frames(frames, fps, [*(filters or []), "-c:v", codec, "-pix_fmt", pix_fmt, str(path)])
    return path


def top_level_boxes(path: Path) -> dict[str, tuple[int, int]]:
    """MP4 top-level boxes: kind -> (start, end) in bytes."""
    data, position, boxes = path.read_bytes(), 0, {}
    while position + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        boxes[kind.decode()] = (position, position + size)
        position += size
    return boxes


def cut(source: Path, target: Path, at: int) -> Path:
    target.write_bytes(source.read_bytes()[:at])
    return target


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("videmo: error:")]


def assert_complete(folder: Path) -> None:
    assert sorted(os.listdir(folder)) == sorted(OUTPUT_FILES), folder
    assert all((folder / name).stat().st_size > 0 for name in OUTPUT_FILES)
    json.loads((folder / "summary.json").read_text())


def assert_faces_inside(frames: pd.DataFrame, sprites: np.ndarray) -> None:
    """Each face row's box centre lies in the square where the face was pasted in that frame."""
    faces = frames[frames["face_id"].notna()]
    for row in faces.itertuples():
        x1, y1, x2, y2 = sprites[row.frame, 0]
        cx, cy = (row.x1 + row.x2) / 2, (row.y1 + row.y2) / 2
        assert x1 <= cx <= x2 and y1 <= cy <= y2, (row.frame, (row.x1, row.y1, row.x2, row.y2), (x1, y1, x2, y2))


# ---------------------------------------------------------------------------------------------
# Bad inputs: one line each, naming the file and the cause; the good video still runs.


@pytest.fixture(scope="module")
def good_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("good") / "good.mp4", face_frames(8), fps=10)


@pytest.fixture(scope="module")
def bad_run(tiny_checkpoint, good_video, tmp_path_factory):
    """One command over many broken files and one good video; (files and their expected causes, run, output)."""
    folder = tmp_path_factory.mktemp("bad")
    plain = write_video(folder / "source.mp4", face_frames(16), fps=10)  # moov at the end
    fast = write_video(folder / "source_fast.mp4", face_frames(16), fps=10, extra=["-movflags", "+faststart"])
    plain_boxes, fast_boxes = top_level_boxes(plain), top_level_boxes(fast)
    assert plain_boxes["mdat"][0] < plain_boxes["moov"][0] and fast_boxes["moov"][0] < fast_boxes["mdat"][0]
    mdat = plain_boxes["mdat"]
    expected = {
        cut(plain, folder / "header_only.mp4", 24): "truncated",  # shorter than the ftyp box
        cut(plain, folder / "no_moov.mp4", plain_boxes["moov"][0]): "truncated: the file has no 'moov' index box",
        cut(plain, folder / "inside_moov.mp4", plain_boxes["moov"][0] + 60): "truncated: the file ends inside its 'moov' box",
        cut(plain, folder / "mid_mdat.mp4", (mdat[0] + mdat[1]) // 2): "truncated: the file ends inside its 'mdat' box",
        cut(fast, folder / "after_moov.mp4", fast_boxes["moov"][1]): "truncated: the file has no media data",
    }
    for kind in ("m4a", "mp4"):
        audio = folder / f"audio_only.{kind}"
        subprocess.run(
            [
                ffmpeg(),
                "-y",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=1",
                "-c:a",
                "aac",
                str(audio),
            ],
            check=True,
        )
        expected[audio] = "no video stream"
    # moov at the front and the media data cut mid-stream: results for the readable frames or a clear error
    maybe = cut(fast, folder / "fast_mid_mdat.mp4", (fast_boxes["mdat"][0] + fast_boxes["mdat"][1]) // 2)
    out = folder / "out"
    run = run_videmo("analyze", *expected, maybe, good_video, "-w", tiny_checkpoint, "-o", out, "-q")
    return expected, maybe, run, out


def test_broken_files_each_get_one_line_and_the_good_video_runs(bad_run):
    expected, maybe, run, out = bad_run
    assert run.returncode == 1 and "Traceback" not in run.stderr
    errors = error_lines(run.stderr)
    for path, cause in expected.items():
        mine = [line for line in errors if line.startswith(f"videmo: error: {path}: ")]
        assert len(mine) == 1 and cause in mine[0], (path, cause, errors)
        assert not re.search(r"\.cc:\d+|Check failed", mine[0])  # decord's internals mean nothing to a user
    assert_complete(out / "good")
    assert "good.mp4: 8 frames analysed" in run.stdout


def test_no_decoder_noise_on_stderr(bad_run):
    """FFmpeg's and decord's own log lines would bury the one-line errors."""
    run = bad_run[2]
    assert all(line.startswith("videmo:") for line in run.stderr.splitlines()), run.stderr


def test_cut_mid_stream_with_the_index_in_front_gives_results_or_one_error(bad_run):
    _, maybe, run, out = bad_run
    mine = [line for line in error_lines(run.stderr) if str(maybe) in line]
    if (out / maybe.stem).exists():
        assert_complete(out / maybe.stem)
        assert not mine and set(videmo.read_results(out / maybe.stem)["frame"]) <= set(range(16))
    else:
        assert len(mine) == 1 and "truncated" in mine[0]
    assert entries(out) in (["good"], ["fast_mid_mdat", "good"])  # nothing half-written


def test_unreadable_file_is_reported(good_video, tiny_checkpoint, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions; test_unreadable_file_simulated covers the message")
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(good_video.read_bytes())
    locked.chmod(0)
    run = run_videmo("analyze", locked, good_video, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q")
    assert run.returncode == 1 and error_lines(run.stderr) == [f"videmo: error: {locked}: permission denied"]
    assert entries(tmp_path / "out") == ["good"]


def test_unreadable_file_simulated(good_video, tiny_checkpoint, tmp_path, monkeypatch):
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(good_video.read_bytes())
    real_access = os.access
    monkeypatch.setattr(probe.os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    lines = []
    failed = runner.analyze_many(
        [str(locked), str(good_video)],
        tmp_path / "out",
        AnalyzeOptions(weights=str(tiny_checkpoint)),
        quiet=True,
        report=lines.append,
    )
    assert failed == 1 and f"videmo: error: {locked}: permission denied" in lines
    assert entries(tmp_path / "out") == ["good"]


def test_a_read_error_mid_run_fails_that_video_alone(good_video, tiny_checkpoint, tmp_path, monkeypatch):
    failing = tmp_path / "failing.mp4"
    failing.write_bytes(good_video.read_bytes())
    real = pipeline.open_video

    def open_video(path, *args, **kwargs):  # a disk or share failing once the video is under way
        if Path(path) == failing:
            raise OSError(errno.EIO, "Input/output error")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "open_video", open_video)
    lines = []
    failed = runner.analyze_many(
        [str(failing), str(good_video)],
        tmp_path / "out",
        AnalyzeOptions(weights=str(tiny_checkpoint)),
        quiet=True,
        report=lines.append,
    )
    assert failed == 1 and f"videmo: error: {failing}: cannot read or write (Input/output error)" in lines
    assert entries(tmp_path / "out") == ["good"]


def test_a_file_gone_before_its_cause_is_read_is_named_so(tmp_path):
    assert (
        decode.decoder_cause(tmp_path / "gone.mp4", RuntimeError("decord")) == "cannot read the file (No such file or directory)"
    )


def test_what_killed_runs_on_this_machine_left_is_removed_whatever_video_it_was_for(good_video, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    host = socket.gethostname()
    stale = [
        out / f".good.partial-{host}-{dead.pid}",
        out / f".good.annotated-{host}-{dead.pid}.mp4",
        out / f".other.partial-{host}-{dead.pid}",
        out / f".other.mp4.annotated-{host}-{dead.pid}.mp4",
    ]  # a video not run again
    kept = [
        out / f".good.partial-{host}-{os.getppid()}",
        out / f".good.partial-another-host-{dead.pid}",  # alive; another machine's
        out / f".other.old-{host}-{dead.pid}",
    ]  # a retired folder may hold a user's own files after a crash
    for path in stale + kept:
        if not path.name.endswith(".mp4"):
            path.mkdir()
        else:
            path.write_bytes(b"half")
    failed = runner.analyze_many(
        [str(good_video)], out, AnalyzeOptions(weights=str(tiny_checkpoint), every=4), quiet=True, report=print
    )
    assert failed == 0 and (out / "good" / "summary.json").is_file()
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)


def test_output_path_that_is_a_file_fails_at_once(good_video, tiny_checkpoint, tmp_path):
    taken = tmp_path / "results"
    taken.write_text("not a folder")
    result = CliRunner().invoke(main, ["analyze", str(good_video), "-w", str(tiny_checkpoint), "-o", str(taken), "-q"])
    assert (
        result.exit_code == 1
        and result.stderr == f"videmo: error: {taken}: cannot write results there: it is a file, not a folder\n"
    )
    assert taken.read_text() == "not a folder"


def test_full_disk_keeps_earlier_results_and_leaves_no_half_folder(good_video, tiny_checkpoint, tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        (tmp_path / "in" / f"{name}.mp4").parent.mkdir(exist_ok=True)
        (tmp_path / "in" / f"{name}.mp4").write_bytes(good_video.read_bytes())
    real_write = folders.write_summary_json
    calls = []

    def disk_full_at_the_second(summary, path):
        calls.append(path)
        if len(calls) == 2:
            path.write_text('{"half": ')  # the disk filled up mid-file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(summary, path)

    monkeypatch.setattr(folders, "write_summary_json", disk_full_at_the_second)
    lines = []
    out = tmp_path / "out"
    failed = runner.analyze_many(
        [str(tmp_path / "in")], out, AnalyzeOptions(weights=str(tiny_checkpoint)), quiet=True, report=lines.append
    )
    assert failed == 1
    assert [line for line in lines if line.startswith("videmo: error:")] == [
        f"videmo: error: {out / 'b'}: cannot write results (No space left on device)"
    ]
    assert entries(out) == ["a", "c"]  # no b, no hidden .b.partial-*
    assert_complete(out / "a"), assert_complete(out / "c")


def test_bad_checkpoints_through_analyze(good_video, tmp_path):
    good = make_checkpoint(tmp_path / "good.pt")
    payload = torch.load(good, weights_only=True)
    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = {
        tmp_path / "code.pt": "refused to load",
        tmp_path / "newer.pt": "newer than this videmo reads",
        tmp_path / "other.pt": "weights do not match",
        tmp_path / "random.pt": "truncated or corrupt",
        tmp_path / "truncated.pt": "truncated or corrupt",
    }
    torch.save({**payload, "meta": {**payload["meta"], "extra": RunsCode()}}, tmp_path / "code.pt")
    torch.save({**payload, "format_version": 2}, tmp_path / "newer.pt")
    torch.save({**payload, "meta": {**payload["meta"], "image_size": 64, "arch": "cnn"}}, tmp_path / "other.pt")
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "truncated.pt").write_bytes(good.read_bytes()[:1000])
    for path, cause in bad.items():
        result = CliRunner().invoke(main, ["analyze", str(good_video), "-w", str(path), "-o", str(tmp_path / "out"), "-q"])
        assert result.exit_code == 1 and result.stderr.startswith(f"videmo: error: {path}: ") and cause in result.stderr, (
            result.stderr
        )
        assert result.stderr.count("\n") == 1
    assert not marker.exists() and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# Odd but valid videos: analysed in one command, checked one by one.

ROTATED = face_frames(10, width=240, height=320)  # portrait, as displayed
MIDDLE = np.concatenate([face_frames(3, faces=0), face_frames(12)[3:9], face_frames(3, faces=0, seed=2)])
VFR_TIMES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 1.1, 1.4, 1.7]


@pytest.fixture(scope="module")
def odd_run(tiny_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd")
    videos = folder / "in"
    videos.mkdir()
    write_video(videos / "one_frame.mp4", face_frames(1))
    write_video(videos / "short.mp4", face_frames(5))
    write_video(videos / "hevc.mp4", face_frames(10), codec="libx265", extra=["-x265-params", "log-level=none", "-tag:v", "hvc1"])
    # stored landscape; the player turns it 90 degrees counter-clockwise (clockwise 270) to portrait
    stored = write_video(folder / "stored.mp4", np.ascontiguousarray(np.rot90(ROTATED, k=-1, axes=(1, 2))))
    subprocess.run(
        [
            ffmpeg(),
            "-y",
            "-loglevel",
            "error",
            "-display_rotation",
            "90",
            "-i",
            str(stored),
            "-c",
            "copy",
            str(videos / "rotated.mp4"),
        ],
        check=True,
    )
    encode(videos / "grey.mp4", face_frames(6), pix_fmt="gray")
    encode(videos / "odd_h264.mp4", face_frames(4, width=853, height=479, face_size=160), pix_fmt="yuv444p")
    encode(videos / "odd_vp9.webm", face_frames(4, width=853, height=479, face_size=160), codec="libvpx-vp9")
    steps = "+".join(f"eq(N,{n})*{t}" for n, t in enumerate(VFR_TIMES))
    encode(
        videos / "vfr.mp4",
        face_frames(len(VFR_TIMES)),
        fps=100,
        filters=["-vf", f"setpts='({steps})/TB'", "-fps_mode", "passthrough", "-video_track_timescale", "1000"],
    )
    write_video(videos / "uhd.mp4", face_frames(2, width=3840, height=2160, face_size=480))
    write_video(videos / "middle.mp4", MIDDLE)
    write_video(videos / "my vidéo ü.mp4", face_frames(4))
    out = folder / "out"
    run = run_videmo("analyze", videos, "-w", tiny_checkpoint, "-o", out, "-q")
    assert run.returncode == 0 and run.stderr == "", run.stderr
    return out, run


def results(odd_run, name: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    folder = odd_run[0] / name
    assert_complete(folder)
    return videmo.read_results(folder), pd.read_csv(folder / "timeline.csv"), json.loads((folder / "summary.json").read_text())


def test_one_frame_video(odd_run):
    frames, timeline, summary = results(odd_run, "one_frame")
    assert list(frames["frame"]) == [0] and list(frames["face_id"]) == [0]
    assert summary["counts"] == {
        "frames_analysed": 1,
        "frames_undecodable": 0,
        "frames_with_faces": 1,
        "faces": 1,
        "tracks": 1,
        "short_tracks": 0,
        "unreadable_face_frames": 0,
        "episodes": 1,
    }
    assert list(timeline["n_frames"]) == [1] and timeline["t_start"][0] == 0 and 0 < timeline["t_end"][0] <= 0.11


def test_video_shorter_than_one_chunk(odd_run):
    frames, timeline, summary = results(odd_run, "short")
    assert list(frames["frame"]) == list(range(5)) and (frames["face_id"] == 0).all()
    assert timeline["n_frames"].sum() == 5 and summary["counts"]["frames_analysed"] == 5
    assert_faces_inside(frames, face_boxes(5))


def test_hevc(odd_run):
    frames, _, summary = results(odd_run, "hevc")
    assert summary["video"]["codec"] == "hevc" and summary["video"]["frame_count"] == 10
    assert (frames["face_id"] == 0).all()
    assert_faces_inside(frames, face_boxes(10))


def test_rotation_metadata_gives_the_displayed_orientation(odd_run):
    frames, _, summary = results(odd_run, "rotated")
    video = summary["video"]
    assert (video["width"], video["height"], video["rotation"]) == (240, 320, 270)
    assert len(frames) == 10 and (frames["face_id"] == 0).all()  # an upright face, found in every frame
    assert frames["x2"].max() <= 240 and frames["y2"].max() <= 320
    assert_faces_inside(frames, face_boxes(10, width=240, height=320))


def test_rotation_is_applied_once(tmp_path):
    """The frames decoded from a rotated file are the frames the player shows (ffmpeg's own decode)."""
    stored = write_video(tmp_path / "stored.mp4", np.ascontiguousarray(np.rot90(ROTATED[:2], k=-1, axes=(1, 2))))
    for angle in (90, 180, -90):
        rotated = tmp_path / f"rotated{angle}.mp4"
        subprocess.run(
            [
                ffmpeg(),
                "-y",
                "-loglevel",
                "error",
                "-display_rotation",
                str(angle),
                "-i",
                str(stored),
                "-c",
                "copy",
                str(rotated),
            ],
            check=True,
        )
        shown = subprocess.run(
            [ffmpeg(), "-loglevel", "error", "-i", str(rotated), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            capture_output=True,
            check=True,
        ).stdout
        info = decode.open_video(rotated)
        batch = next(decode.stream_frames(info, np.arange(2), 2))
        assert batch.frames.shape == (2, info.height, info.width, 3) and info.rotation == (-angle) % 360
        difference = np.abs(batch.frames.astype(int) - np.frombuffer(shown, np.uint8).reshape(batch.frames.shape))
        assert difference.mean() < 3  # a wrong turn differs by about 27


def test_grey_video(odd_run):
    frames, _, _ = results(odd_run, "grey")
    assert len(frames) == 6 and (frames["face_id"] == 0).all()


@pytest.mark.parametrize("name", ["odd_h264", "odd_vp9"])
def test_odd_dimensions(odd_run, name):
    frames, _, summary = results(odd_run, name)
    assert (summary["video"]["width"], summary["video"]["height"]) == (853, 479)
    assert summary["video"]["codec"] == {"odd_h264": "h264", "odd_vp9": "vp9"}[name]
    assert list(frames["frame"]) == [0, 1, 2, 3] and (frames["face_id"] == 0).all()
    assert frames["x2"].max() <= 853 and frames["y2"].max() <= 479
    assert_faces_inside(frames, face_boxes(4, width=853, height=479, face_size=160))


def test_variable_frame_rate_uses_the_decoders_timestamps(odd_run):
    frames, timeline, summary = results(odd_run, "vfr")
    np.testing.assert_allclose(frames["time_s"], VFR_TIMES, atol=2e-3)
    assert summary["video"]["duration_s"] >= VFR_TIMES[-1]
    assert list(timeline["t_start"]) == [0.0, 1.0] and list(timeline["n_frames"]) == [7, 3]


def test_4k_frames(odd_run):
    frames, _, summary = results(odd_run, "uhd")
    assert (summary["video"]["width"], summary["video"]["height"]) == (3840, 2160)
    assert list(frames["face_id"]) == [0, 0]
    assert_faces_inside(frames, face_boxes(2, width=3840, height=2160, face_size=480))


def test_faces_only_in_the_middle_frames(odd_run, tiny_checkpoint, tmp_path):
    """Searching every frame whole, the face is on exactly its frames; by default (--detect-every 4) a
    face that appears between keyframes is found at the next one at the latest."""
    exact = tmp_path / "exact"
    run = run_videmo(
        "analyze", odd_run[0].parent / "in" / "middle.mp4", "-w", tiny_checkpoint, "-o", exact, "-q", "--detect-every", "1"
    )
    assert run.returncode == 0, run.stderr
    frames, timeline, summary = results((exact,), "middle")
    assert list(frames["frame"]) == list(range(12))
    empty = frames[frames["frame"].isin([0, 1, 2, 9, 10, 11])]
    assert (
        empty["face_id"].isna().all()
        and empty[["x1", "det_score", "happiness"]].isna().all().all()
        and empty["emotion"].isna().all()
    )
    assert (frames[frames["frame"].between(3, 8)]["face_id"] == 0).all()
    assert summary["counts"] == {
        "frames_analysed": 12,
        "frames_undecodable": 0,
        "frames_with_faces": 6,
        "faces": 6,
        "tracks": 1,
        "short_tracks": 0,
        "unreadable_face_frames": 0,
        "episodes": 1,
    }
    assert timeline["n_frames"].sum() == 6 and summary["tracks"][0]["first_s"] == pytest.approx(0.3)
    default = results(odd_run, "middle")[0]
    assert list(default["frame"]) == list(range(12))
    assert set(default.loc[default["face_id"].notna(), "frame"]) <= set(range(3, 9))
    assert (default[default["frame"].between(6, 8)]["face_id"] == 0).all()  # by the next keyframe at the latest


def test_sparse_sampling_keeps_a_still_face_in_one_track(tiny_checkpoint, tmp_path):
    """At --fps 0.5 analysed frames are 2 s apart, more than the tracker's usual 1 s memory."""
    video = write_video(tmp_path / "still.mp4", face_frames(60, moving=False), fps=29.97)
    for fps in (1, 0.5):
        frames = videmo.analyze(video, weights=str(tiny_checkpoint), fps=fps).frames
        assert len(frames) == (3 if fps == 1 else 2)
        assert list(frames["face_id"].unique()) == [0], frames


def test_file_name_with_spaces_and_accents(odd_run):
    frames, _, summary = results(odd_run, "my vidéo ü")
    assert summary["video"]["path"].endswith("my vidéo ü.mp4") and len(frames) == 4
    assert "my vidéo ü.mp4: 4 frames analysed" in odd_run[1].stdout


# ---------------------------------------------------------------------------------------------
# Interruption: Ctrl-C (SIGINT) or SIGTERM mid-run, then the same command again.


def start(*args) -> subprocess.Popen:
    # A shell that started the tests in the background may have set SIGINT to ignored; a user's terminal does not.
    return subprocess.Popen(
        videmo_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupted_analyze_leaves_complete_folders_and_resumes(good_video, tiny_checkpoint, tmp_path, signum, status):
    videos = tmp_path / "in"
    videos.mkdir()
    clip = write_video(tmp_path / "clip.mp4", face_frames(20), fps=10)
    names = [f"clip{i}" for i in range(6)]
    for name in names:
        (videos / f"{name}.mp4").write_bytes(clip.read_bytes())
    out = tmp_path / "out"
    args = ("analyze", videos, "-w", tiny_checkpoint, "-o", out, "-q")
    process = start(*args)
    wait_for(lambda: (out / "clip0").is_dir(), process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1] == ("videmo: interrupted" if signum == signal.SIGINT else "videmo: terminated")
    done = entries(out)
    assert done and set(done) < set(names)  # no hidden partial folders
    for name in done:
        assert_complete(out / name)

    again = invoke(*args)  # resuming is no matter of signals: in this process
    assert again.exit_code == 0, again.stderr
    assert all(f"{name}.mp4: already done" in again.stdout for name in done)
    assert sum("frames analysed" in line for line in again.stdout.splitlines()) == len(names) - len(done)
    assert entries(out) == names
    for name in names:
        assert_complete(out / name)


class SignalInFinalizer:
    """Sends a signal from ``__del__``, where Python cannot raise it: as a Ctrl-C that lands while
    decord's VideoReader frees its handle (a CI run went on to the end and exited 0)."""

    def __init__(self, signum: int):
        self.signum = signum

    def __del__(self):
        signal.raise_signal(self.signum)


def run_wrapped(command) -> int:
    """The exit status of ``command`` under the CLI's wrapper, Ctrl-C raising (a background shell may have set it to ignored)."""
    sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as exit:
            cli.one_line_errors(command)()
    finally:
        signal.signal(signal.SIGINT, sigint)
    return exit.value.code


@pytest.mark.parametrize(
    "signum, status, line",
    [(signal.SIGINT, 130, "videmo: interrupted"), (signal.SIGTERM, 143, "videmo: terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_swallowed_by_a_finalizer_still_stops_the_command(capsys, signum, status, line):
    steps = []
    hook, sigterm = sys.unraisablehook, signal.getsignal(signal.SIGTERM)

    def command():
        SignalInFinalizer(signum)  # freed at once: the signal's exception is raised inside __del__
        for _ in range(300):
            steps.append(None)
            time.sleep(0.01)

    assert run_wrapped(command) == status
    assert len(steps) < 300
    err = capsys.readouterr().err
    assert err.splitlines() == [line], err  # no "Exception ignored in ... __del__" traceback
    assert sys.unraisablehook is hook and signal.getsignal(signal.SIGTERM) is sigterm


def test_a_swallowed_signal_just_before_the_command_returns_is_not_lost(capsys):
    def command():
        SignalInFinalizer(signal.SIGINT)
        return "finished"

    assert run_wrapped(command) == 130
    assert capsys.readouterr().err.splitlines() == ["videmo: interrupted"]


def test_a_swallowed_signal_does_not_land_in_the_cleanup_of_the_next_one(capsys):
    cleanup = []

    def command():
        try:
            SignalInFinalizer(signal.SIGTERM)  # swallowed: to be raised again 50 ms later...
            signal.raise_signal(signal.SIGINT)  # ...but a Ctrl-C comes first, and its cleanup runs undisturbed
        finally:
            for _ in range(20):
                cleanup.append(None)
                time.sleep(0.01)

    assert run_wrapped(command) == 130
    assert len(cleanup) == 20
    assert capsys.readouterr().err.splitlines() == ["videmo: interrupted"]


@pytest.fixture(scope="module")
def odd_dataset(tmp_path_factory) -> Path:
    """Folders layout with an empty class, a corrupt JPEG, a PNG with alpha, a grey image, and a file name used twice."""
    root = write_folders(
        tmp_path_factory.mktemp("data"),
        {"train": {"happy": 12, "sad": 12, "neutral": 12, "fear": 0}, "test": {"happy": 3, "sad": 3, "neutral": 3}},
    )
    (root / "train/happy/corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.new("RGBA", (32, 32), (200, 200, 200, 0)).save(root / "train/sad/alpha.png")
    save_image(root / "train/sad/grey.png", kind=1, mode="L")
    save_image(root / "train/neutral/train_happy_0.jpg", kind=2)
    return root


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupted_training_resumes_from_last(odd_dataset, tmp_path, signum, status):
    out = tmp_path / "run/best.pt"
    last = tmp_path / "run/best.last.pt"
    common = [
        "--data",
        odd_dataset,
        "--arch",
        "cnn",
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--augment",
        "none",
        "--rgb",
        "--decode-threads",
        "1",
    ]
    process = start("train", *common, "--epochs", "500", "--out", out)
    wait_for(last.is_file, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status and "Traceback" not in stderr, stderr
    assert "skipped 1 unreadable images" in stdout  # the corrupt JPEG; the other odd images train
    epoch = read_payload(last)["train_state"]["epoch"]
    assert 1 <= epoch < 500

    resumed = run_videmo("train", *common, "--resume", last, "--epochs", epoch + 1, "--quiet")
    assert resumed.returncode == 0 and resumed.stderr == "", resumed.stderr
    assert read_payload(last)["train_state"]["epoch"] == epoch + 1
    metrics = pd.read_csv(tmp_path / "run/metrics.csv")
    assert list(metrics["epoch"]) == list(range(1, epoch + 2))
    assert sorted(os.listdir(tmp_path / "run")) == ["best.last.pt", "best.pt", "metrics.csv"]
    load_checkpoint(out)
