"""Files cut short with their index whole: an MP4 written with its index in front (``faststart``) or an AVI, copied or
downloaded in part, still lists every frame, and its data ends far before them. The frames that are there are
analysed, and the closing line, summary.json and report.html say how few they are; a couple of frames short stays
silent, as in many whole files."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from conftest import invoke
from media import face_frames, write_video

import videmo
from videmo.results.store import is_complete
from videmo.video.listing import cut_short, short_words
from videmo.video.probe import VideoInfo


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> dict[str, Path]:
    """A 5 s video of 50 frames at 10 fps, its index in front (MP4) or its header's frame count (AVI)."""
    folder = tmp_path_factory.mktemp("whole")
    frames = face_frames(50, 64, 48, face_size=32)
    return {
        "mp4": write_video(folder / "whole.mp4", frames, fps=10, extra=["-bf", "0", "-movflags", "+faststart"]),
        "avi": write_video(folder / "whole.avi", frames, fps=10, codec="mpeg4"),
    }


def packets(video: Path) -> list[tuple[int, int]]:
    """(position, size) of each frame's packet in the file, in frame order."""
    with av.open(str(video)) as container:
        found = sorted((p.pts, p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size)
    return [(position, size) for _, position, size in found]


def cut(video: Path, target: Path, end: int) -> Path:
    target.write_bytes(video.read_bytes()[:end])
    return target


def analysed(video: Path, checkpoint: Path, out: Path, *extra) -> tuple[object, dict, Path]:
    run = invoke("analyze", video, "-w", checkpoint, "-o", out, "-q", *extra)
    assert run.exit_code == 0, run.stderr
    folder = out / video.stem
    return run, json.loads((folder / "summary.json").read_text()), folder


def closing_line(run, video: Path) -> str:
    return next(line for line in run.stdout.splitlines() if line.startswith(f"{video.name}: "))


@pytest.mark.parametrize("extra", [[], ["--every", "10"]])
def test_an_mp4_whose_sample_table_points_past_its_end_is_analysed_and_flagged(whole, tiny_checkpoint, tmp_path, extra):
    """Cut after 15 of its 50 frames: decord indexes the 15 that are there, and without the container's listing
    the loss was silent."""
    video = cut(whole["mp4"], tmp_path / "cut.mp4", packets(whole["mp4"])[15][0])
    run, summary, folder = analysed(video, tiny_checkpoint, tmp_path / "out", *extra)
    note = "(note: only 15 of the 50 frames the file lists are in it: its data ends at 1.5 s of 5.0 s)"
    assert closing_line(run, video).startswith(f"cut.mp4: {2 if extra else 15} frames analysed {note}, ")
    assert summary["frames_short"] == {"frames": 15, "listed": 50, "end_s": 1.5, "listed_s": 5.0}
    assert summary["frames_missing"] is None and summary["frames_unreadable"] is None
    assert is_complete(folder)  # a true analysis of all the file holds: kept, and flagged
    assert list(videmo.read_results(folder)["frame"]) == list(range(0, 15, 10 if extra else 1))
    assert short_words(summary["frames_short"]) in (tmp_path / "out" / "report.html").read_text()


def test_an_mp4_cut_inside_a_frame_gives_the_frames_before_it_not_an_error(whole, tiny_checkpoint, tmp_path):
    """The usual cut: the file ends inside a frame's data. decord refuses the file; PyAV reads it to the cut, and
    the partial frame is a damaged one."""
    position, size = packets(whole["mp4"])[20]
    video = cut(whole["mp4"], tmp_path / "mid.mp4", position + size // 2)
    run, summary, folder = analysed(video, tiny_checkpoint, tmp_path / "out")
    line = closing_line(run, video)
    assert line.startswith("mid.mp4: 20 frames analysed (note: only 21 of the 50 frames the file lists are in it: ")
    assert "its data ends at 2.1 s of 5.0 s)" in line and "damaged data at frame 20" in line
    assert summary["frames_short"]["listed"] == 50 and summary["frames_short"]["frames"] == 21
    assert list(videmo.read_results(folder).query("decoded")["frame"]) == list(range(20))


def test_an_avi_cut_short_is_flagged_from_its_headers_frame_count(whole, tiny_checkpoint, tmp_path):
    video = cut(whole["avi"], tmp_path / "cut.avi", packets(whole["avi"])[25][0])
    run, summary, _ = analysed(video, tiny_checkpoint, tmp_path / "out")
    short = summary["frames_short"]
    assert short is not None and short["listed"] == 50 and short["listed_s"] == 5.0 and short["frames"] < 30
    assert f"(note: only {short['frames']} of the 50 frames the file lists are in it: " in closing_line(run, video)


def test_a_couple_of_frames_short_and_whole_files_stay_silent(whole, tiny_checkpoint, tmp_path):
    video = cut(whole["mp4"], tmp_path / "nearly.mp4", packets(whole["mp4"])[48][0])
    for given in (video, whole["mp4"], whole["avi"]):
        run, summary, _ = analysed(given, tiny_checkpoint, tmp_path / "out")
        assert summary["frames_short"] is None and "note" not in run.stdout, given.name
    assert summary["counts"]["frames_analysed"] == 50


def info(frame_count=50, duration_s=5.0, listed_frames=0, listed_s=0.0, fps=10.0) -> VideoInfo:
    return VideoInfo(Path("v.mp4"), 64, 48, fps, frame_count, duration_s, "h264", 0, "", "", "1:1", listed_frames, listed_s)


def test_how_far_short_is_cut_short():
    # a stream that ends far before its index's last frame (a file changed under the reader, say)
    assert cut_short(info(), 20, False) == {"frames": 20, "listed": 50, "end_s": 2.0, "listed_s": 5.0}
    assert cut_short(info(), 20, True) is None  # said as frames_unreadable, from where on
    assert cut_short(info(), 47, False) is None  # 3 frames, 0.3 s: an edit list's, dropped B-frames
    assert cut_short(info(frame_count=500, fps=100.0), 489, False) is None  # 11 frames, but 0.11 s at 100 fps
    assert cut_short(info(frame_count=500, fps=100.0), 350, False)["end_s"] == 3.5  # 1.5 s: 30% of it
    assert cut_short(info(frame_count=15, duration_s=1.5, listed_frames=50, listed_s=5.0), None, False)["listed"] == 50
    # an edit list that shows part of the samples: its length is the edit's, and nothing is cut
    assert cut_short(info(frame_count=25, duration_s=2.5, listed_frames=50, listed_s=2.5), None, False) is None
    assert (
        short_words({"frames": "?", "end_s": None})
        == "only ? of the None frames the file lists are in it: its data ends at None s of None s"
    )
