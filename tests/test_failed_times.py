"""Streams whose own times fail throughout: frames that all carry one time (an MP4 whose timing table is all zeros,
``-bsf:v setts=ts=0``), or that a muxer put one tick apart because they did (``-vf setpts=0`` into MP4, MOV or
MPEG-TS, ``setts=pts=0`` into Matroska). Each frame is then timed by the decoder's order at the frame rate, the
summary and the closing line say so once, and the faces form the tracks they form with good times. Files are made
here with the bundled ffmpeg; the checkpoint is the small untrained one."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from media import face_frames, ffmpeg, write_video

from videmo.video.decode import StreamEnd, open_video, stream_frames
from videmo.video.mp4 import find_box, iter_boxes, nested_box
from videmo.video.sampling import select_frames
from videmo.video.stamps import failed_times

FRAMES = 20  # at 10 fps: two seconds of a face
LOSSLESS = ["-qp", "0"]  # the same pixels whatever the times, so that the results can be compared whole


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return face_frames(FRAMES, 320, 240)


def ticks_apart(path: Path, frames: np.ndarray) -> Path:
    """Frames that all carry time 0 (``setpts=0``, passed through as they are): the muxer puts them one tick apart."""
    return write_video(path, frames, fps=10, extra=[*LOSSLESS, "-vf", "setpts=0", "-fps_mode", "passthrough"])


def all_at_zero(path: Path, source: Path, times: str) -> Path:
    """``source``'s packets copied into Matroska with ``-bsf:v setts=pts=0`` (or ``ts=0``)."""
    command = [ffmpeg(), "-y", "-loglevel", "error", "-i", str(source), "-c", "copy", "-bsf:v", f"setts={times}", str(path)]
    subprocess.run(command, check=True)
    return path


def zero_timing_table(path: Path, source: Path) -> Path:
    """``source`` (an MP4) with every sample's duration in its timing table ('stts') set to 0: one time for every frame."""
    data = bytearray(source.read_bytes())
    with open(source, "rb") as f:
        moov = find_box(f, 0, len(data), b"moov")
        for trak in iter_boxes(f, *moov, b"trak"):
            table = nested_box(f, trak, [b"mdia", b"minf", b"stbl", b"stts"])
            entries = struct.unpack(">I", data[table[0] + 4 : table[0] + 8])[0]
            for i in range(entries):
                data[table[0] + 12 + 8 * i : table[0] + 16 + 8 * i] = bytes(4)
    path.write_bytes(data)
    return path


def analysed(video: Path, checkpoint: Path, out: Path) -> tuple[object, dict, pd.DataFrame]:
    result = invoke("analyze", video, "--weights", checkpoint, "-o", out, "-q")
    folder = out / video.stem
    return result, json.loads((folder / "summary.json").read_text()), pd.read_csv(folder / "frames.csv")


@pytest.mark.parametrize("suffix", ["mp4", "mov", "ts", "mkv-pts", "mkv-ts"])
def test_frames_whose_times_fail_are_timed_by_the_decoders_order(suffix, faces, tmp_path):
    if suffix.startswith("mkv"):
        source = write_video(tmp_path / "source.ts", faces, fps=10)
        video = all_at_zero(tmp_path / "zero.mkv", source, f"{suffix[4:]}=0")
    else:
        video = ticks_apart(tmp_path / f"zero.{suffix}", faces)
    info = open_video(video)
    assert (info.frame_count, info.fps, info.duration_s, info.tail_damage) == (FRAMES, 10.0, 2.0, "")
    cause = "timestamps stand still" if suffix == "mkv-ts" else "timestamps too close together"
    assert info.times_failed == {"from_frame": 0, "cause": cause, "fps": 10.0, "fps_from": "the stream's stated rate"}
    end = StreamEnd()
    times = np.concatenate([batch.times for batch in stream_frames(info, np.arange(FRAMES), 8, end)])
    assert np.allclose(times, np.arange(FRAMES) / 10)
    assert end.times_repaired == info.times_failed and end.frames is None and end.unreadable() is None
    assert select_frames(info, start_s=1.0, end_s=1.5).tolist() == [10, 11, 12, 13, 14]


def test_frames_one_tick_apart_form_the_tracks_of_the_same_video_with_good_times(faces, tiny_checkpoint, tmp_path):
    good = write_video(tmp_path / "good.mp4", faces, fps=10, extra=LOSSLESS)
    _, expected, expected_frames = analysed(good, tiny_checkpoint, tmp_path / "out")
    result, summary, frames = analysed(ticks_apart(tmp_path / "zero.mp4", faces), tiny_checkpoint, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (
        "(timestamps too close together: every frame is timed by the decoder's order at 10 fps, the stream's stated rate)"
        in result.output
    )
    assert "restart" not in result.output and "warning" not in result.output
    assert summary["times_repaired"]["cause"] == "timestamps too close together"
    assert expected["counts"]["tracks"] == summary["counts"]["tracks"] == 1 and summary["counts"]["short_tracks"] == 0
    assert summary["counts"] == expected["counts"] and summary["tracks"] == expected["tracks"]
    assert summary["video"]["duration_s"] == expected["video"]["duration_s"] == 2.0
    pd.testing.assert_frame_equal(frames, expected_frames)


def test_a_matroska_file_whose_times_were_set_to_zero_is_not_called_damaged(faces, tiny_checkpoint, tmp_path):
    video = all_at_zero(tmp_path / "zero.mkv", write_video(tmp_path / "source.ts", faces, fps=10), "pts=0")
    result, summary, frames = analysed(video, tiny_checkpoint, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "damaged" not in result.output and "unreadable" not in result.output
    assert summary["frames_unreadable"] is None and summary["frames_missing"] is None
    assert summary["video"]["frame_count"] == frames["frame"].nunique() == FRAMES
    assert np.allclose(frames.drop_duplicates("frame")["time_s"], np.arange(FRAMES) / 10)
    assert summary["counts"]["tracks"] == 1


@pytest.mark.parametrize("b_frames", [0, 3], ids=["no-b-frames", "b-frames-and-an-edit-list"])
def test_an_mp4_whose_timing_table_is_all_zeros_takes_its_tracks_length(b_frames, faces, tiny_checkpoint, tmp_path):
    source = write_video(tmp_path / "source.mp4", faces, fps=10, extra=["-bf", str(b_frames)])
    video = zero_timing_table(tmp_path / "zeros.mp4", source)
    result, summary, frames = analysed(video, tiny_checkpoint, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (summary["video"]["fps"], summary["video"]["duration_s"], summary["video"]["frame_count"]) == (10.0, 2.0, FRAMES)
    assert summary["times_repaired"] == {
        "from_frame": 0,
        "cause": "timestamps stand still",
        "fps": 10.0,
        "fps_from": "the track's length over its frames",
    }
    assert (
        "(timestamps stand still: every frame is timed by the decoder's order at 10 fps, the track's length over its frames)"
        in result.output
    )
    assert "warning" not in result.output and summary["frames_missing"] is None and summary["frames_short"] is None
    assert np.allclose(frames.drop_duplicates("frame")["time_s"], np.arange(FRAMES) / 10)  # every frame, none dropped
    assert summary["counts"]["tracks"] == 1 and summary["counts"]["short_tracks"] == 0


def test_which_times_fail():
    assert failed_times([]) is None and failed_times([0.0]) is None
    assert failed_times([0.0] * 5) == "timestamps stand still"
    assert failed_times(np.arange(50) / 12800) == "timestamps too close together"  # an MP4 muxer's ticks
    assert failed_times(np.arange(50) / 1000) == "timestamps too close together"  # Matroska's milliseconds
    assert failed_times([0, 0, 0, 0.001, 0.002, 0.003, 0.5]) == "timestamps too close together"
    assert failed_times(np.arange(50) / 30) is None
    assert failed_times(np.arange(50) / 960) is None  # a high-speed camera's frames are real frames
    assert failed_times(np.r_[np.arange(10), np.arange(10)] / 10) is None  # joined segments: ForwardTimes' to repair
    assert failed_times([0.0, 0.04, -1e14, 0.08]) is None  # decord's unknown time


def test_a_stream_that_states_no_usable_rate_is_timed_at_the_stated_default(faces, tmp_path, monkeypatch):
    from videmo.video import stamps

    video = ticks_apart(tmp_path / "zero.mp4", faces)
    assert stamps.order_rate(video, FRAMES, "timestamps too close together") == (10.0, "the stream's stated rate")
    monkeypatch.setattr(stamps, "SANE_FPS", (11.0, 480.0))  # the 10 fps it states taken as a clock's tick
    assert stamps.order_rate(video, FRAMES, "timestamps too close together") == (
        25.0,
        "a default: the file states no usable rate",
    )
