"""Streams whose picture or times change under way: a size that changes mid-stream (video calls, screen captures),
times that restart (segments joined end to end) or stand still, recordings without an index or a duration (a browser's
MediaRecorder, Matroska written to a pipe), and stored pixels that are not square. Each is analysed, and summary.json
and the closing line say what was found. Files are made here with the bundled ffmpeg; the checkpoint is the small
untrained one."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import invoke
from media import encode, face_frames, ffmpeg, write_video

from videmo.video.decode import StreamEnd, open_video, stream_frames
from videmo.video.stamps import ForwardTimes


def piped(path: Path, frames: np.ndarray, muxer: str, codec: str, fps: int = 10) -> Path:
    """``frames`` encoded by ffmpeg to a pipe (no seeking back: no index, no duration), saved as ``path``."""
    out = encode(frames, fps, ["-c:v", codec, "-pix_fmt", "yuv420p", "-f", muxer, "pipe:1"])
    path.write_bytes(out)
    return path


def joined_ts(path: Path, *parts: np.ndarray) -> Path:
    """MPEG-TS segments, each encoded on its own (times from its own start), joined byte for byte."""
    data = b""
    for i, frames in enumerate(parts):
        data += write_video(path.with_name(f"{path.stem}-{i}.ts"), frames, fps=10, extra=["-f", "mpegts"]).read_bytes()
    path.write_bytes(data)
    return path


def analysed(video: Path, checkpoint: Path, out: Path, *extra) -> tuple[object, dict, pd.DataFrame]:
    result = invoke("analyze", video, "--weights", checkpoint, "-o", out, "-q", *extra)
    folder = out / video.stem
    return result, json.loads((folder / "summary.json").read_text()), pd.read_csv(folder / "frames.csv")


def test_a_picture_size_that_changes_mid_stream_is_analysed_in_each_frames_own_pixels(tiny_checkpoint, tmp_path):
    video = joined_ts(tmp_path / "call.ts", face_frames(10, 320, 240), face_frames(10, 480, 360))
    result, summary, frames = analysed(video, tiny_checkpoint, tmp_path / "out", "--annotate")
    assert result.exit_code == 0, result.output
    assert summary["size_changes"] == [{"frame": 10, "width": 480, "height": 360}]
    assert "size changed at frame 10 to 480x360" in result.output
    assert sorted(frames["frame"].unique()) == list(range(20))
    early, late = (frames[part].dropna(subset=["x1"]) for part in (frames["frame"] < 10, frames["frame"] >= 10))
    assert len(late) and late["x1"].min() > 180 > early["x1"].max()  # the face's place in the larger frames' own pixels
    assert (tmp_path / "out" / "call" / "annotated.mp4").is_file()


def test_chunks_are_of_one_size_each(tmp_path):
    video = joined_ts(tmp_path / "sizes.ts", face_frames(5, 320, 240), face_frames(5, 480, 360))
    end = StreamEnd()
    batches = list(stream_frames(open_video(video), np.arange(10), 4, end))
    assert sum(len(b.indices) for b in batches) == 10
    assert {b.frames.shape[1:3] for b in batches} == {(240, 320), (360, 480)}
    assert end.size_changes == [{"frame": 5, "width": 480, "height": 360}]
    first_large = next(b for b in batches if b.frames.shape[1] == 360)
    assert first_large.cuts[0]  # the tracker starts anew: the boxes before are in other pixels


def test_segments_whose_times_restart_are_timed_forward(tiny_checkpoint, tmp_path):
    video = joined_ts(tmp_path / "joined.ts", face_frames(10, 320, 240), face_frames(10, 320, 240, seed=1))
    result, summary, frames = analysed(video, tiny_checkpoint, tmp_path / "out")
    assert result.exit_code == 0, result.output
    times = frames.drop_duplicates("frame")["time_s"].to_numpy()
    assert np.all(np.diff(times) > 0) and times[-1] > 1.8
    assert summary["times_repaired"] == {"from_frame": 10, "cause": "timestamps restart"}
    assert "timestamps restart at frame 10" in result.output


def test_frames_that_share_one_timestamp_are_placed_at_the_frame_rate(tiny_checkpoint, tmp_path):
    source = write_video(tmp_path / "source.ts", face_frames(10, 320, 240), fps=10, extra=["-f", "mpegts"])
    video = tmp_path / "still.mkv"
    subprocess.run(
        [ffmpeg(), "-loglevel", "error", "-i", str(source), "-c", "copy", "-bsf:v", "setts=ts=0", str(video)], check=True
    )
    result, summary, frames = analysed(video, tiny_checkpoint, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert np.allclose(frames.drop_duplicates("frame")["time_s"], np.arange(10) / 10)
    assert summary["times_repaired"]["cause"] == "timestamps stand still"
    assert summary["counts"]["tracks"] == 1  # a face seen for a second, not for no time at all


def test_forward_times():
    forward = ForwardTimes(0.1)
    assert [round(forward(n, t), 6) for n, t in enumerate([0, 0.1, 0.2, 0.0, 0.1, 0.1, float("nan"), 0.5])] == [
        0,
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
        0.6,
        0.9,
    ]  # after a repair the stream's own spacing again
    assert forward.repaired == {"from_frame": 3, "cause": "timestamps restart"}


def test_recordings_without_an_index_or_a_duration_are_analysed(tiny_checkpoint, tmp_path):
    frames = face_frames(10, 320, 240)
    videos = [
        piped(tmp_path / "browser.webm", frames, "webm", "libvpx"),
        piped(tmp_path / "piped.mkv", frames, "matroska", "libx264"),
        piped(tmp_path / "one.webm", frames[:1], "webm", "libvpx"),
    ]
    result = invoke("analyze", *videos, "--weights", tiny_checkpoint, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    for video, count in zip(videos, (10, 10, 1)):
        table = pd.read_csv(tmp_path / "out" / video.stem / "frames.csv")
        assert table["frame"].nunique() == count
        assert np.allclose(table.drop_duplicates("frame")["time_s"], np.arange(count) / 10)


def test_non_square_pixels_give_boxes_in_displayed_pixels(tiny_checkpoint, tmp_path):
    frames = face_frames(6, 320, 240)
    video = write_video(tmp_path / "dv.mp4", frames, fps=10, extra=["-vf", "setsar=64/45"])
    info = open_video(video)
    assert (info.width, info.height, info.pixel_aspect) == (455, 240, "64:45")
    batch = next(iter(stream_frames(info, np.arange(6), 8)))
    assert batch.frames.shape[1:3] == (240, 455)
    result, summary, table = analysed(video, tiny_checkpoint, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert summary["video"]["pixel_aspect"] == "64:45" and summary["video"]["width"] == 455
    assert not summary["size_changes"]


def test_a_file_overwritten_while_it_is_read_leaves_no_complete_folder(tmp_path, tiny_checkpoint, monkeypatch):
    """A recorder still writing, or a copy over the file mid-analysis: the results would be of neither the
    old file nor the new one, so the video fails in one line and its folder is not written; the next run
    analyses the file as it then is."""
    from media import face_frames, write_video

    from videmo.core.options import AnalyzeOptions
    from videmo.run import pipeline, runner

    video = write_video(tmp_path / "growing.mp4", face_frames(40, 160, 120, face_size=64), fps=10)
    real = pipeline.stream_frames

    def appended_to_after_the_first_chunk(info, *args, **kwargs):
        for number, batch in enumerate(real(info, *args, **kwargs)):
            if number == 0:
                with open(video, "ab") as f:
                    f.write(b"\0" * 1024)
            yield batch

    monkeypatch.setattr(pipeline, "stream_frames", appended_to_after_the_first_chunk)
    lines = []
    out = tmp_path / "out"
    failed = runner.analyze_many([str(video)], out, AnalyzeOptions(weights=str(tiny_checkpoint)), quiet=True, report=lines.append)
    errors = [line for line in lines if line.startswith("videmo: error:")]
    assert failed == 1 and len(errors) == 1 and "the file changed while it was read" in errors[0] and str(video) in errors[0]
    assert not (out / "growing" / "summary.json").exists()
    monkeypatch.setattr(pipeline, "stream_frames", real)
    assert (
        runner.analyze_many([str(video)], out, AnalyzeOptions(weights=str(tiny_checkpoint)), quiet=True, report=lines.append) == 0
    )
    assert (out / "growing" / "summary.json").is_file()
