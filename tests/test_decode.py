"""The frames streamed for analysis are decord's, pixel for pixel, whichever frames are picked, and
those that a stream holds when it ends before its index does or when some of its data is damaged."""

import struct
import subprocess

import decord
import numpy as np
import pytest
from media import EXAMPLE, damage_frame, drop_leading_frames, face_frames, ffmpeg, unreadable_after, write_video

from videmo.video.decode import StreamEnd, VideoError, open_video, stream_frames
from videmo.video.probe import mp4_damage, probe_container


def streamed(path, indices, chunk=16):
    info = open_video(path)
    batches = list(stream_frames(info, np.asarray(indices), chunk))
    return (
        np.concatenate([b.indices for b in batches]),
        np.concatenate([b.times for b in batches]),
        np.concatenate([b.frames for b in batches]),
    )


@pytest.mark.parametrize("indices", [range(275), range(0, 275, 7), [0, 1, 2, 150, 274]])
def test_example_frames_and_times_are_decords(indices):
    got_indices, times, frames = streamed(EXAMPLE, list(indices))
    reader = decord.VideoReader(str(EXAMPLE))
    assert list(got_indices) == list(indices)
    assert np.array_equal(frames, reader.get_batch(list(indices)).asnumpy())
    assert np.allclose(times, reader.get_frame_timestamp(list(indices))[:, 0])


@pytest.mark.parametrize(
    "name,extra",
    [
        ("hevc.mp4", ["-c:v", "libx265", "-x265-params", "log-level=none", "-tag:v", "hvc1"]),
        ("vp9.webm", ["-c:v", "libvpx-vp9"]),
        ("rotated.mp4", ["-c", "copy"]),
    ],
)
def test_other_codecs_and_rotation_match_decord(tmp_path, name, extra):
    source = write_video(tmp_path / "source.mp4", face_frames(6, width=322, height=240))
    target = tmp_path / name
    rotation = ["-display_rotation", "90"] if name.startswith("rotated") else []
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", *rotation, "-i", str(source), *extra, str(target)], check=True)
    _, _, frames = streamed(target, range(6), chunk=4)
    assert np.array_equal(frames, decord.VideoReader(str(target)).get_batch(list(range(6))).asnumpy())


@pytest.fixture(scope="module")
def short_stream(tmp_path_factory):
    """20 frames in the index, 17 in the stream (an edit list drops the first 3, whose times are negative)."""
    folder = tmp_path_factory.mktemp("short")
    source = write_video(folder / "source.mp4", face_frames(20), fps=10, extra=["-bf", "0"])
    return drop_leading_frames(source, folder / "short.mp4", 3)


@pytest.mark.parametrize("indices, chunk, delivered", [(range(20), 16, range(17)), (range(0, 20, 3), 2, range(0, 17, 3))])
def test_a_stream_shorter_than_its_index_gives_the_frames_it_holds(short_stream, indices, chunk, delivered):
    info = open_video(short_stream)
    assert info.frame_count == 20  # what the index promises
    end = StreamEnd()
    batches = list(stream_frames(info, np.asarray(list(indices)), chunk, end))
    got = np.concatenate([b.indices for b in batches])
    assert list(got) == list(delivered)
    assert end.frames == 17 and end.missing(info) == {"count": 3, "from_frame": 17}
    # the decoder's times (decord's index keeps the dropped frames' negative times at its start)
    assert np.allclose(np.concatenate([b.times for b in batches]), got / 10)
    frames = np.concatenate([b.frames for b in batches])
    assert np.array_equal(frames, decord.VideoReader(str(short_stream)).get_batch(list(delivered)).asnumpy())


def test_frames_before_the_streams_end_report_no_shortfall(short_stream):
    end = StreamEnd()
    assert sum(len(b.indices) for b in stream_frames(open_video(short_stream), np.arange(0, 17), 4, end)) == 17
    assert end.frames is None and end.missing(open_video(short_stream)) is None


def test_a_stream_without_a_decodable_frame_is_an_error(tmp_path):
    source = write_video(tmp_path / "source.mp4", face_frames(5), fps=10, extra=["-bf", "0"])
    nothing = drop_leading_frames(source, tmp_path / "nothing.mp4", 5)
    with pytest.raises(VideoError, match=r"nothing\.mp4: (no frame decodes|cannot decode)"):  # decord's index already fails
        list(stream_frames(open_video(nothing), np.arange(5), 2))


def test_a_damaged_first_frame_loses_its_group_only(tmp_path):
    source = write_video(tmp_path / "source.mp4", face_frames(30, width=320, height=240), fps=10, extra=["-g", "10"])
    info = open_video(damage_frame(source, tmp_path / "broken.mp4", 0))  # decord cannot decode its first frame
    assert (info.width, info.height, info.frame_count) == (320, 240, 30)
    batches = list(stream_frames(info, np.arange(30), 4))
    got, lost = [int(i) for b in batches for i in b.indices], [n for b in batches for n, _ in b.lost]
    assert 0 in lost and set(range(10, 30)) <= set(got) and sorted(got + lost) == list(range(30))


@pytest.mark.parametrize("damaged", [13, 5, 19])
@pytest.mark.parametrize("b_frames", [0, 3])
def test_a_damaged_frame_is_lost_alone_and_the_frames_after_it_keep_their_numbers(tmp_path, damaged, b_frames):
    source = write_video(tmp_path / "source.mp4", face_frames(20), fps=10, extra=["-bf", str(b_frames), "-g", "10"])
    broken = damage_frame(source, tmp_path / "broken.mp4", damaged)
    info, end = open_video(broken), StreamEnd()
    batches = list(stream_frames(info, np.arange(20), 4, end))
    got = np.concatenate([b.indices for b in batches])
    assert [lost for b in batches for lost in b.lost] == [(damaged, pytest.approx(damaged / 10))]
    assert list(got) == [i for i in range(20) if i != damaged] and end.frames is None
    assert np.allclose(np.concatenate([b.times for b in batches]), got / 10)
    frames, clean = np.concatenate([b.frames for b in batches]), decord.VideoReader(str(source)).get_batch(list(got)).asnumpy()
    before = got < damaged  # frames that refer to the damaged one may differ; those before it are the clean file's
    assert np.array_equal(frames[before], clean[before])


def test_picked_frames_around_a_damaged_one(tmp_path):
    broken = damage_frame(write_video(tmp_path / "source.mp4", face_frames(20), fps=10), tmp_path / "broken.mp4", 12)
    batches = list(stream_frames(open_video(broken), np.arange(0, 20, 3), 2))
    assert list(np.concatenate([b.indices for b in batches])) == [0, 3, 6, 9, 15, 18]
    assert [lost[0] for b in batches for lost in b.lost] == [12]
    assert list(np.concatenate([b.indices for b in stream_frames(open_video(broken), np.arange(0, 20, 5), 2)])) == [0, 5, 10, 15]


@pytest.mark.parametrize("b_frames", [0, 3])
def test_after_a_damaged_keyframe_the_frames_come_back_at_the_next_one(tmp_path, b_frames):
    source = write_video(tmp_path / "source.mp4", face_frames(30), fps=10, extra=["-bf", str(b_frames), "-g", "10"])
    batches = list(stream_frames(open_video(damage_frame(source, tmp_path / "broken.mp4", 10)), np.arange(30), 4))
    got, lost = [int(i) for b in batches for i in b.indices], [n for b in batches for n, _ in b.lost]
    assert sorted(got + lost) == list(range(30)) and not set(got) & set(lost)  # every frame once, delivered or lost
    assert 10 in lost and set(range(20, 30)) <= set(got)  # the next keyframe's group decodes
    # With B-frames the decoder delivers frame 9 after frame 18: it still comes, as the clean file's frame 9.
    assert set(range(10)) <= set(got)
    frames, clean = (
        np.concatenate([b.frames for b in batches]),
        decord.VideoReader(str(source)).get_batch(list(range(10))).asnumpy(),
    )
    assert np.array_equal(frames[:10], clean)


def test_damage_in_a_stream_cut_mid_group_counts_from_the_first_frame_delivered(tmp_path):
    """A stream that starts without its keyframe (a cut file): the decoder drops the 9 frames before the next
    keyframe without an error, so frame 0 is the first it delivers; damage later loses only its own frame."""
    import av

    source = write_video(tmp_path / "source.mp4", face_frames(30), fps=10, extra=["-bf", "0", "-g", "10"])
    cut = tmp_path / "cut.mp4"
    with av.open(str(source)) as given, av.open(str(cut), "w") as written:
        copy = written.add_stream_from_template(given.streams.video[0])
        for number, packet in enumerate(given.demux(given.streams.video[0])):
            if packet.dts is not None and number > 0:
                packet.stream = copy
                written.mux(packet)
    clean = [int(i) for b in stream_frames(open_video(cut), np.arange(29), 4) for i in b.indices]
    assert clean == list(range(20))  # 29 packets, 20 frames delivered
    batches = list(stream_frames(open_video(damage_frame(cut, tmp_path / "broken.mp4", 14)), np.arange(29), 4))
    got, lost = [int(i) for b in batches for i in b.indices], [n for b in batches for n, _ in b.lost]
    assert lost == [5] and got == [i for i in range(20) if i != 5]


def test_a_container_that_cannot_be_read_on_loses_the_rest_and_says_from_where(tmp_path, monkeypatch):
    info = open_video(write_video(tmp_path / "source.mp4", face_frames(20), fps=10, extra=["-bf", "0"]))
    unreadable_after(monkeypatch, 12)
    end = StreamEnd()
    batches = list(stream_frames(info, np.arange(20), 4, end))
    got, lost = [int(i) for b in batches for i in b.indices], [n for b in batches for n, _ in b.lost]
    assert got == list(range(12)) and lost == list(range(12, 20))
    assert end.unreadable() == {"from_frame": 12, "cause": "Input/output error"} and end.missing(info) is None


@pytest.mark.parametrize("packets", [9, 13])
def test_a_read_error_amid_b_frames_keeps_each_delivered_frame_at_its_number(tmp_path, monkeypatch, packets):
    """Packets come in decode order: at a cut, the decoder holds frames that follow B-frames never read.
    Flushed, they came numbered as delivered, taking those frames' numbers (frame 11 as frame 8)."""
    source = write_video(tmp_path / "source.mp4", face_frames(20), fps=10, extra=["-bf", "3", "-g", "10"])
    info = open_video(source)
    unreadable_after(monkeypatch, packets)
    end = StreamEnd()
    batches = list(stream_frames(info, np.arange(20), 4, end))
    got, lost = [int(i) for b in batches for i in b.indices], [n for b in batches for n, _ in b.lost]
    assert 0 < len(got) <= packets and got == list(range(len(got))) and lost == list(range(len(got), 20))
    assert end.unreadable() == {"from_frame": len(got), "cause": "Input/output error"}
    assert np.array_equal(np.concatenate([b.frames for b in batches]), decord.VideoReader(str(source)).get_batch(got).asnumpy())
    assert np.allclose(np.concatenate([b.times for b in batches]), np.array(got) / 10)


def test_damage_before_a_read_error_is_not_taken_for_it(tmp_path, monkeypatch):
    source = write_video(tmp_path / "source.mp4", face_frames(20), fps=10, extra=["-bf", "0", "-g", "10"])
    info = open_video(damage_frame(source, tmp_path / "broken.mp4", 10))  # frames 10-14 read, their keyframe damaged
    unreadable_after(monkeypatch, 15)
    end = StreamEnd()
    batches = list(stream_frames(info, np.arange(20), 4, end))
    got, lost = [int(i) for b in batches for i in b.indices], [n for b in batches for n, _ in b.lost]
    assert got == list(range(10)) and lost == list(range(10, 20))
    assert end.unreadable() == {"from_frame": 15, "cause": "Input/output error"}


def box(kind: bytes, payload: bytes = b"", declared: int | None = None, wide: bool = False) -> bytes:
    size = declared if declared is not None else len(payload) + (16 if wide else 8)
    return (struct.pack(">I4sQ", 1, kind, size) if wide else struct.pack(">I4s", size, kind)) + payload


@pytest.mark.parametrize(
    "parts, cause",
    [
        ([box(b"ftyp", b"isom"), box(b"moov", b"x" * 8), box(b"mdat", b"y" * 8)], None),
        ([box(b"ftyp", b"isom"), box(b"moov", b"x" * 8), box(b"mdat", b"y" * 8, wide=True)], None),
        ([box(b"ftyp", b"isom"), box(b"moov", b"x" * 8), box(b"mdat", b"y" * 8, declared=400)], "ends inside its 'mdat' box"),
        (
            [box(b"ftyp", b"isom"), box(b"moov", b"x" * 8), box(b"mdat", b"y" * 8, declared=400, wide=True)],
            "ends inside its 'mdat' box",
        ),
        ([box(b"ftyp", b"isom"), box(b"mdat", b"y" * 8)], "no 'moov' index box"),
        ([box(b"ftyp", b"isom"), box(b"moov", b"x" * 8)], "no media data"),
        ([box(b"ftyp", b"isom"), box(b"moov", b"x" * 8, declared=3), b"z" * 16], None),  # not a box: no verdict
    ],
)
def test_how_an_mp4_is_cut_is_read_from_its_top_level_boxes(tmp_path, parts, cause):
    path = tmp_path / "made.mp4"
    path.write_bytes(b"".join(parts))
    found = mp4_damage(path)
    assert found == cause if cause is None else cause in found


@pytest.mark.parametrize("tkhd", [b"", b"\x00" * 30])
def test_a_header_cut_inside_a_track_gives_unknown_not_a_crash(tmp_path, tkhd):
    handler = box(b"hdlr", b"\x00" * 8 + b"vide")
    trak = box(b"trak", box(b"mdia", handler) + box(b"tkhd", tkhd))
    path = tmp_path / "cut_track.mp4"
    path.write_bytes(box(b"ftyp", b"isom") + box(b"moov", trak))
    assert probe_container(path) == ("unknown", 0)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj444p", "nv12", "gray", "yuv420p10le", "rgb24"])
def test_the_luma_the_cut_test_reads_is_the_frames_grey_whatever_its_format(pix_fmt):
    """luma_of reads 8-bit luma planes as they are and converts the other formats: either way the grey levels that
    Shot compares are the frame's own, so that a cut scores alike in every format."""
    import av

    from videmo.video.decode import luma_of

    rgb = face_frames(1, 320, 180)[0]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
    luma = luma_of(frame).astype(float)
    grey = (rgb.astype(float) @ [0.299, 0.587, 0.114])[:: 320 // luma.shape[1], :: 320 // luma.shape[1]]
    assert luma.shape[1] >= 160 and abs(luma.mean() - grey.mean()) < 12  # limited-range luma (16-235) is near full range's
    assert np.corrcoef(luma.ravel(), grey[: luma.shape[0], : luma.shape[1]].ravel())[0, 1] > 0.98
