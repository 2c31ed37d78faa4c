"""Damaged data in a container read as a stream keeps its good frames, numbered and timed
by their timestamps; odd but real videos (variable frame rate, rotation in any container, 10-bit, 4:4:4 and grey
pixels, tiny and 8K frames, AV1, VP8/VP9, two video streams, negative or huge start times) are analysed; what is
not a video (audio only, a still image named as one) is one line naming the file and the cause.

Every file is made here with PyAV; the checkpoint is the small untrained one.
"""

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from media import EXAMPLE, damage_frame, entries, face_boxes, face_frames
from PIL import Image

import videmo
from videmo.results.io import OUTPUT_FILES
from videmo.video import decode
from videmo.video.decode import StreamEnd, VideoError, open_video, stream_frames
from videmo.video.stamps import grid_numbers


def encode(
    path: Path,
    frames: np.ndarray,
    fps: int = 10,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    times: list[float] | None = None,
    start_s: float = 0.0,
    rotation: int | None = None,
    options: dict | None = None,
    muxer: dict | None = None,
) -> Path:
    """``frames`` (RGB) encoded with PyAV into ``path`` (its suffix names the container); ``times`` in seconds
    (a variable frame rate), all shifted by ``start_s``; ``rotation``: the display matrix's angle, counter-clockwise;
    ``options`` the encoder's, ``muxer`` the container's."""
    with av.open(str(path), "w", options=muxer or {}) as out:
        stream = out.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        base = Fraction(1, 90000) if path.suffix == ".ts" else Fraction(1, 1000)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if times is not None or start_s:
                frame.time_base = base
                frame.pts = round(((times[i] if times is not None else i / fps) + start_s) / base)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def has_codec(name: str, mode: str) -> bool:
    try:
        av.codec.Codec(name, mode)
        return True
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False


def zero_span(source: Path, target: Path, frame: int, size: int) -> Path:
    """A copy of ``source`` with ``size`` bytes zeroed from the packet of ``frame`` on: a damaged stretch of disk
    or download, over which a Matroska or MPEG-TS demuxer loses its packets without an error."""
    with av.open(str(source)) as given:
        packets = sorted((p.pts, p.pos) for p in given.demux(given.streams.video[0]) if p.size)
    position = packets[frame][1]
    data = bytearray(source.read_bytes())
    data[position : position + size] = bytes(size)
    target.write_bytes(bytes(data))
    return target


def decoded(path: Path) -> tuple[list[int], list[float], list[int], np.ndarray]:
    """Frame numbers, times, lost frame numbers and the frames of every frame of ``path`` streamed."""
    info = open_video(path)
    batches = list(stream_frames(info, np.arange(info.frame_count), 8, StreamEnd()))
    return (
        [int(i) for b in batches for i in b.indices],
        [float(t) for b in batches for t in b.times],
        [lost for b in batches for lost, _ in b.lost],
        np.concatenate([b.frames for b in batches]),
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("videmo: error:")]


# ---------------------------------------------------------------------------------------------
# Class 1: a damaged stretch near the end of a container read as a stream.

DAMAGED_FPS, DAMAGED_FRAMES, DAMAGED_AT = 10, 100, 83


@pytest.fixture(scope="module", params=["mkv", "ts"])
def damaged(request, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("damaged")
    source = encode(folder / f"source.{request.param}", face_frames(DAMAGED_FRAMES), fps=DAMAGED_FPS, options={"g": "10"})
    return zero_span(source, folder / f"damaged.{request.param}", DAMAGED_AT, 200)


def test_frames_after_a_lost_stretch_are_numbered_and_timed_by_their_timestamps(damaged):
    numbers, times, lost, _ = decoded(damaged)
    assert open_video(damaged).frame_count == DAMAGED_FRAMES  # the gap's frames counted, though their packets are gone
    assert lost and DAMAGED_AT <= lost[0] and lost[-1] < DAMAGED_AT + 10  # the damaged frame and those that refer to it
    assert numbers[-1] == DAMAGED_FRAMES - 1 and sorted(numbers + lost) == list(range(DAMAGED_FRAMES))
    np.testing.assert_allclose(times, np.array(numbers) / DAMAGED_FPS, atol=1e-3)  # each frame at its own time


def test_the_command_lists_the_lost_frames_and_analyses_those_after_them(damaged, tiny_checkpoint, tmp_path):
    result = invoke("analyze", damaged, "-w", tiny_checkpoint, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    frames = videmo.read_results(tmp_path / "out" / "damaged")
    summary = json.loads((tmp_path / "out" / "damaged" / "summary.json").read_text())
    lost = summary["frames_undecodable"]
    assert sorted(frames["frame"].unique()) == list(range(DAMAGED_FRAMES))
    assert set(frames.loc[~frames["decoded"], "frame"]) == set(lost) and DAMAGED_AT <= lost[0] and lost[-1] < DAMAGED_AT + 10
    after = frames[frames["frame"] > lost[-1]]
    assert len(after) and after["decoded"].all() and (after["face_id"].notna()).all()
    np.testing.assert_allclose(after["time_s"], after["frame"] / DAMAGED_FPS, atol=1e-3)
    assert f"did not decode: damaged data at frame{'s' if len(lost) > 1 else ''} {lost[0]}" in result.stdout


def test_the_reported_case_a_damaged_packet_at_frame_226_of_the_example_loses_that_frame_alone(tmp_path):
    """One bad packet at frame 226 of 275, which once lost the whole video, loses that frame alone. The frames
    after it keep the clean file's numbers and times."""
    clean_numbers, clean_times, _, _ = decoded(EXAMPLE)
    numbers, times, lost, _ = decoded(damage_frame(EXAMPLE, tmp_path / "damaged.mp4", 226))
    assert lost == [226] and numbers == [n for n in clean_numbers if n != 226]
    np.testing.assert_allclose(times, [t for n, t in zip(clean_numbers, clean_times) if n != 226], atol=1e-6)


def test_grid_numbers_tell_lost_frames_from_a_variable_frame_rate():
    kept = [*range(20), *range(25, 40)]  # frames 20-24 lost
    assert grid_numbers([round(n * 33.37) for n in kept], 33.37) == kept
    assert grid_numbers([0, 100, 200, 300, 400, 500, 800, 1100, 1400, 1700], 100) is None  # gaps in 4 of 9 steps: VFR
    assert grid_numbers([0, 100, 200, 300], 100) is None  # no gap
    assert grid_numbers([0, 100, 250, 300], 100) is None  # off the grid


VFR_TIMES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 1.1, 1.4, 1.7]


def test_a_variable_frame_rate_matroska_file_is_not_taken_for_damage(tmp_path):
    numbers, times, lost, _ = decoded(encode(tmp_path / "vfr.mkv", face_frames(len(VFR_TIMES)), times=VFR_TIMES))
    assert numbers == list(range(len(VFR_TIMES))) and lost == []
    np.testing.assert_allclose(times, VFR_TIMES, atol=2e-3)


# ---------------------------------------------------------------------------------------------
# Class 2: odd but valid videos, analysed in one command and checked one by one.

SMALL = face_frames(6)
DISPLAYED = SMALL  # what the player shows of a rotated file


def stored_for(rotation: int) -> np.ndarray:
    """The frames to store so that a player turning them ``rotation`` degrees clockwise shows DISPLAYED."""
    return np.ascontiguousarray(np.rot90(DISPLAYED, k=rotation // 90, axes=(1, 2)))


ODDITIES = {
    "rot90.mkv": lambda p: encode(p, stored_for(90), rotation=-90),
    "rot180.mkv": lambda p: encode(p, stored_for(180), rotation=180),
    "rot270.webm": lambda p: encode(p, stored_for(270), codec="libvpx-vp9", rotation=90),
    "rot90.mp4": lambda p: encode(p, stored_for(90), rotation=-90),
    "h264_10bit.mp4": lambda p: encode(p, SMALL, pix_fmt="yuv420p10le"),
    "hevc_10bit.mkv": lambda p: encode(
        p, SMALL, codec="libx265", pix_fmt="yuv420p10le", options={"x265-params": "log-level=none"}
    ),
    "yuv444.mp4": lambda p: encode(p, SMALL, pix_fmt="yuv444p"),
    "grey.mkv": lambda p: encode(p, SMALL, codec="ffv1", pix_fmt="gray"),
    "grey10.mkv": lambda p: encode(p, SMALL, codec="ffv1", pix_fmt="gray10le"),
    "tiny.mp4": lambda p: encode(p, face_frames(4, width=16, height=16, face_size=8)),
    "huge.mp4": lambda p: encode(p, face_frames(2, width=7680, height=4320, face_size=960, moving=False)),
    "vp9.webm": lambda p: encode(p, SMALL, codec="libvpx-vp9"),
    "vp8.webm": lambda p: encode(p, SMALL, codec="libvpx"),
    "av1.mkv": lambda p: encode(p, SMALL, codec="libsvtav1"),
    "av1.mp4": lambda p: encode(p, SMALL, codec="libsvtav1"),
    "vfr.mp4": lambda p: encode(p, face_frames(len(VFR_TIMES)), times=VFR_TIMES),
    "negative_start.mkv": lambda p: encode(p, SMALL, start_s=-2.0),
    "huge_start.mkv": lambda p: encode(p, SMALL, start_s=36000.0),
    "huge_start.ts": lambda p: encode(p, SMALL, start_s=36000.0),
    "huge_start.mp4": lambda p: encode(p, SMALL, start_s=36000.0),
}
NEEDS = {
    "av1.mkv": ("libsvtav1", "libdav1d"),
    "av1.mp4": ("libsvtav1", "libdav1d"),
    "hevc_10bit.mkv": ("libx265", "hevc"),
    "vp9.webm": ("libvpx-vp9", "vp9"),
    "rot270.webm": ("libvpx-vp9", "vp9"),
    "vp8.webm": ("libvpx", "vp8"),
}


def two_video_streams(path: Path) -> Path:
    """A Matroska file with two video streams: SMALL first, then a bigger one without a face."""
    with av.open(str(path), "w") as out:
        first, second = out.add_stream("libx264", rate=10), out.add_stream("libx264", rate=10)
        for stream, (width, height) in ((first, (320, 240)), (second, (640, 480))):
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in SMALL:
            out.mux(first.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(second.encode(av.VideoFrame.from_ndarray(np.zeros((480, 640, 3), np.uint8), format="rgb24")))
        out.mux(first.encode(None)), out.mux(second.encode(None))
    return path


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=8000)
        for i in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 800
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def not_videos(folder: Path) -> dict[Path, str]:
    """Files that are no video, each with the cause its error line must give."""
    Image.fromarray(SMALL[0]).save(folder / "still_png.mp4", format="PNG")
    Image.fromarray(SMALL[0]).save(folder / "still_jpeg.mov", format="JPEG")
    return {
        audio_only(folder / "sound.mkv"): "no video stream in the file (audio only?)",
        folder / "still_png.mp4": "a PNG image, not a video",
        folder / "still_jpeg.mov": "a JPEG image, not a video",
    }


@pytest.fixture(scope="module")
def odd_run(tiny_checkpoint, tmp_path_factory):
    """Every oddity (that this PyAV can write and decode) and every non-video in one command."""
    folder = tmp_path_factory.mktemp("oddities")
    made = []
    for name, make in ODDITIES.items():
        encoder, decoder = NEEDS.get(name, ("libx264", "h264"))
        if has_codec(encoder, "w") and has_codec(decoder, "r"):
            try:
                made.append(make(folder / name))
            except av.error.FFmpegError as e:  # an encoder that is listed but will not open here: that case skips
                (folder / name).unlink(missing_ok=True)
                (folder / f"{name}.unwritable").write_text(str(e))
    made.append(two_video_streams(folder / "two_streams.mkv"))
    refused = not_videos(folder)
    out = folder / "out"
    result = invoke("analyze", *made, *refused, "-w", tiny_checkpoint, "-o", out, "-q")
    return out, result, refused


def results_of(odd_run, name: str) -> tuple[pd.DataFrame, dict]:
    """frames.csv and summary.json of the oddity ``name`` (same-stem files get folders with a hash)."""
    for folder in sorted(odd_run[0].iterdir()):
        summary = folder / "summary.json"
        if summary.is_file() and json.loads(summary.read_text())["video"]["path"].endswith(f"/{name}"):
            assert sorted(p.name for p in folder.iterdir()) == sorted(OUTPUT_FILES)
            return videmo.read_results(folder), json.loads(summary.read_text())
    encoder, decoder = NEEDS.get(name, ("libx264", "h264"))
    if not (has_codec(encoder, "w") and has_codec(decoder, "r")):
        pytest.skip(f"this PyAV lacks {encoder} or {decoder}")
    unwritable = odd_run[0].parent / f"{name}.unwritable"
    if unwritable.is_file():
        pytest.skip(f"this PyAV could not write {name}: {unwritable.read_text()}")
    raise AssertionError(f"no results for {name}: {odd_run[1].stdout} {odd_run[1].stderr}")


def assert_face_in_every_frame(frames: pd.DataFrame, boxes: np.ndarray) -> None:
    """One face per frame, its box centre inside the square where it was pasted (displayed pixels)."""
    assert frames["face_id"].notna().all() and frames["frame"].is_unique, frames
    for row in frames.itertuples():
        x1, y1, x2, y2 = boxes[row.frame, 0]
        assert x1 <= (row.x1 + row.x2) / 2 <= x2 and y1 <= (row.y1 + row.y2) / 2 <= y2, (
            row.frame,
            row.x1,
            row.y1,
            row.x2,
            row.y2,
        )


def test_the_oddities_run_exits_1_for_the_non_videos_alone(odd_run):
    out, result, refused = odd_run
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert len(error_lines(result.stderr)) == len(refused) and result.stderr.splitlines()[-1] == "videmo: 3 inputs failed"


@pytest.mark.parametrize("name", ["sound.mkv", "still_png.mp4", "still_jpeg.mov"])
def test_what_is_not_a_video_is_one_line_naming_the_file_and_the_cause(odd_run, name):
    out, result, refused = odd_run
    path = next(p for p in refused if p.name == name)
    mine = [line for line in error_lines(result.stderr) if line.startswith(f"videmo: error: {path}: ")]
    assert len(mine) == 1 and refused[path] in mine[0], result.stderr
    assert Path(name).stem not in entries(out)


@pytest.mark.parametrize("name, rotation", [("rot90.mkv", 90), ("rot180.mkv", 180), ("rot270.webm", 270), ("rot90.mp4", 90)])
def test_rotation_in_any_container_gives_boxes_in_displayed_pixels(odd_run, name, rotation):
    frames, summary = results_of(odd_run, name)
    video = summary["video"]
    assert (video["width"], video["height"], video["rotation"]) == (320, 240, rotation)
    assert frames["x2"].max() <= 320 and frames["y2"].max() <= 240
    assert_face_in_every_frame(frames, face_boxes(6))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_rotated_matroska_frame_is_the_displayed_picture(tmp_path, rotation):
    """The frames are turned once, to what the player shows, and the size says so (before: rotation 0, and
    the frames of a 90 degree file were turned while the size was the stored one)."""
    path = encode(tmp_path / "rotated.mkv", stored_for(rotation), rotation=-rotation)
    info = open_video(path)
    _, _, _, images = decoded(path)
    assert info.rotation == rotation and (info.width, info.height) == (320, 240) and images.shape == DISPLAYED.shape
    assert np.abs(images.astype(int) - DISPLAYED).mean() < 6  # a wrong turn differs by far more


CODECS = {
    "h264_10bit.mp4": "h264",
    "hevc_10bit.mkv": "hevc",
    "yuv444.mp4": "h264",
    "grey.mkv": "ffv1",
    "grey10.mkv": "ffv1",
    "vp9.webm": "vp9",
    "vp8.webm": "vp8",
    "av1.mkv": "av1",
    "av1.mp4": "av1",
}


@pytest.mark.parametrize("name", list(CODECS))
def test_pixel_formats_and_codecs_are_analysed(odd_run, name):
    frames, summary = results_of(odd_run, name)
    video = summary["video"]
    assert (video["width"], video["height"], video["frame_count"], video["codec"]) == (320, 240, 6, CODECS[name])
    assert_face_in_every_frame(frames, face_boxes(6))


def test_av1_is_decoded_though_decord_has_no_decoder_for_it(odd_run):
    """decord's FFmpeg lacks an AV1 decoder and found 'no video stream (audio only?)'; PyAV's dav1d decodes it."""
    frames, summary = results_of(odd_run, "av1.mkv")
    assert summary["video"]["codec"] == "av1" and summary["counts"]["frames_analysed"] == 6
    np.testing.assert_allclose(frames["time_s"], np.arange(6) / 10, atol=1e-3)


def test_frames_smaller_than_the_minimum_face_give_empty_rows(odd_run):
    frames, summary = results_of(odd_run, "tiny.mp4")
    assert list(frames["frame"]) == [0, 1, 2, 3] and frames["face_id"].isna().all() and frames["decoded"].all()
    assert summary["counts"]["frames_analysed"] == 4 and summary["counts"]["faces"] == 0


def test_8k_frames(odd_run):
    frames, summary = results_of(odd_run, "huge.mp4")
    assert (summary["video"]["width"], summary["video"]["height"]) == (7680, 4320)
    assert_face_in_every_frame(frames, face_boxes(2, width=7680, height=4320, face_size=960, moving=False))


def test_variable_frame_rate_times_come_from_the_timestamps(odd_run):
    frames, _ = results_of(odd_run, "vfr.mp4")
    assert list(frames["frame"]) == list(range(len(VFR_TIMES)))
    np.testing.assert_allclose(frames["time_s"], VFR_TIMES, atol=2e-3)


@pytest.mark.parametrize("name", ["negative_start.mkv", "huge_start.mkv", "huge_start.ts", "huge_start.mp4"])
def test_start_timestamps_far_from_zero_give_times_from_the_start(odd_run, name):
    frames, summary = results_of(odd_run, name)
    assert list(frames["frame"]) == list(range(6)) and frames["decoded"].all()
    np.testing.assert_allclose(frames["time_s"], np.arange(6) / 10, atol=2e-3)
    assert summary["video"]["duration_s"] == pytest.approx(0.6, abs=0.05)


def test_two_video_streams_analyse_the_first_and_say_so(odd_run):
    frames, summary = results_of(odd_run, "two_streams.mkv")
    assert (summary["video"]["width"], summary["video"]["height"]) == (320, 240)
    assert_face_in_every_frame(frames, face_boxes(6))
    note = "videmo: note: two_streams.mkv: holds 2 video streams: the first (320x240) is analysed, the others are not"
    assert note in odd_run[1].stdout.splitlines()


def test_a_codec_that_nothing_here_decodes_is_named(tmp_path, monkeypatch):
    """decord's error for a codec its FFmpeg lacks is 'cannot find video stream': the cause names the codec, not
    'audio only?' (as an AV1 file was told before PyAV indexed it; here PyAV is made to fail too)."""
    if not (has_codec("libsvtav1", "w") and has_codec("libdav1d", "r")):
        pytest.skip("this PyAV lacks libsvtav1 or libdav1d")
    path = encode(tmp_path / "av1.mkv", SMALL[:2], codec="libsvtav1")
    monkeypatch.setattr(decode, "indexed_by_pyav", lambda path: None)
    with pytest.raises(VideoError, match=r"av1\.mkv: no decoder here for its av1 video stream$"):
        open_video(path)


def test_a_recording_that_skipped_a_frame_is_not_taken_for_damage(tmp_path):
    """A recorder under load skips frames, leaving a gap in the times of an intact file: no frame is lost there,
    and the frames keep their numbers (only damage, bytes the demuxer had to skip, makes a gap lost frames)."""
    times = [i / 10 for i in range(40) if i != 20]
    numbers, got, lost, _ = decoded(encode(tmp_path / "skipped.mkv", face_frames(39), times=times, options={"g": "10"}))
    assert numbers == list(range(39)) and lost == []
    np.testing.assert_allclose(got, times, atol=2e-3)
