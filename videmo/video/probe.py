"""What the container says about a video before its frames are streamed (``VideoInfo``'s codec, rotation, size and
video streams, the frames' timestamps and their grid), and why a file cannot be read: ``VideoError`` and its cause
messages, alone on stderr.

PyAV reads the codec, the size and the timestamps for every container. The rest is read here by hand, because
PyAV cannot tell it: the rotation (PyAV 18 writes a stream's display matrix but reads it only off decoded frames,
``frame.rotation``: an MP4's is read from its track header, another container's off its first frame), and how a
file is damaged (``av.open`` raises the same InvalidDataError for a text file, an image, an MP4 without its moov
box and one cut inside its mdat box). ``decode`` opens, indexes and streams.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from videmo.core.errors import VidemoError
from videmo.video.mp4 import boxes, is_mp4, mp4_rotation

# The first bytes of the containers, other than MP4/MOV ('ftyp' at offset 4) and MPEG-TS (see is_transport_stream),
# that decord may open: Matroska/WebM, RIFF (AVI), MPEG program stream, FLV; and GIF, which PyAV reads as a video.
GIF_MAGIC = b"GIF8"
CONTAINER_MAGIC = (b"\x1aE\xdf\xa3", b"RIFF", b"\x00\x00\x01\xba", b"FLV", GIF_MAGIC)
# The first bytes of still images, which a user may have named as a video.
IMAGE_MAGIC = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
TS_PACKET = 188


class VideoError(VidemoError):
    pass


@dataclass
class VideoInfo:
    path: Path
    width: int  # as displayed: the rotation is applied to the frames
    height: int
    fps: float
    frame_count: int
    duration_s: float
    codec: str
    rotation: int  # degrees clockwise that the player (and PyAV) turns the stored frames
    streams_note: str = ""  # where the file holds more than one video stream: which one is analysed
    tail_damage: str = ""  # why the frames from the last one the stream holds to frame_count cannot be read (Matroska)
    # width:height of a stored pixel where it is not square (anamorphic video, "16:15"): the frames are scaled to the
    # displayed shape before analysis, and width and height are the displayed ones
    pixel_aspect: str = "1:1"
    # what the container's header lists for the video (an MP4's sample table, an AVI's header; 0 where it lists no
    # count): a file cut short still lists the frames past its end (``listing.cut_short``)
    listed_frames: int = 0
    listed_s: float = 0.0
    # where the stream's own times fail throughout (all one time, or ticks apart: ``stamps.failed_times``), so that every
    # frame is timed by the decoder's order at ``fps``: summary.json's ``times_repaired``, {"from_frame": 0, "cause",
    # "fps", "fps_from"}
    times_failed: dict | None = None


@contextlib.contextmanager
def openable(path: Path) -> Iterator[str]:
    """A name of ``path`` that decord and PyAV can open: the path itself, or, for a name that is not
    valid UTF-8 (legal on Linux; both libraries encode names strictly), the ``/proc/self/fd``
    (``/dev/fd``) name of a descriptor held open meanwhile."""
    try:
        str(path).encode("utf-8")
        yield str(path)
        return
    except UnicodeEncodeError:
        pass
    descriptor = os.open(path, os.O_RDONLY)
    try:
        yield f"{'/proc/self/fd' if os.path.isdir('/proc/self/fd') else '/dev/fd'}/{descriptor}"
    finally:
        os.close(descriptor)


def check_file(path: Path) -> None:
    """A VideoError if ``path`` is not a file that a decoder may open, checked without opening it."""
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video")
    if not path.is_file():  # never opened: reading a FIFO or a device could block for ever
        raise VideoError(f"{path}: not a regular file ({special_kind(path)}), not a video")
    if not os.access(path, os.R_OK):
        raise VideoError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")


def special_kind(path: Path) -> str:
    mode = path.stat().st_mode
    kinds = [
        (stat.S_ISFIFO, "a FIFO, a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C++ code's std::cerr) for the block; Python's stderr is flushed first."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def decoder_cause(path: Path, error: Exception) -> str:
    """Why decord failed, in the user's terms: its messages name its own source lines, not the file's fault."""
    try:
        with open(path, "rb") as f:
            head = f.read(2 * TS_PACKET + 1)
        damage = mp4_damage(path) if head[4:8] == b"ftyp" else None
    except OSError as e:  # gone or unreadable since it was opened
        return f"cannot read the file ({e.strerror or e})"
    image = next((kind for magic, kind in IMAGE_MAGIC.items() if head.startswith(magic)), None)
    if image is not None or head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return f"a {image or 'WebP'} image, not a video (convert it to a video file first)"
    if head[4:8] != b"ftyp" and not head.startswith(CONTAINER_MAGIC) and not is_transport_stream(head):
        return "not a video file (unrecognised container)"
    if damage:
        return damage
    if "cannot find video stream" in str(error):
        codec = codec_name(path)
        return (
            "no video stream in the file (audio only?)" if codec == "unknown" else f"no decoder here for its {codec} video stream"
        )
    return "cannot decode: truncated or corrupt video data"


def is_gif(path: Path) -> bool:
    """Whether ``path`` is a GIF (animated or still): decord cannot index one, PyAV's gif demuxer gives its frames and delays."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == GIF_MAGIC
    except OSError:
        return False


def is_transport_stream(head: bytes) -> bool:
    """Whether ``head`` starts as an MPEG transport stream does: a sync byte every 188 bytes (one alone is a 'G')."""
    return bool(head) and all(head[i] == 0x47 for i in range(0, len(head), TS_PACKET))


def mp4_damage(path: Path) -> str | None:
    """How an MP4/MOV file is cut short, from its top-level boxes: the mark of an unfinished copy or recording."""
    size = path.stat().st_size
    kinds, walked = set(), 0
    with open(path, "rb") as f:
        for kind, _, walked in boxes(f, 0, size):
            if walked > size:
                return f"truncated: the file ends inside its '{kind.decode('latin-1')}' box"
            kinds.add(kind)
    if walked + 8 <= size:  # a header that cannot be one: not the mark of a cut
        return None
    if b"moov" not in kinds:
        return "truncated: the file has no 'moov' index box"
    if b"mdat" not in kinds and b"moof" not in kinds:
        return "truncated: the file has no media data ('mdat' box)"
    return None


def probe_container(path: Path) -> tuple[str, int]:
    """Codec and rotation of the video stream, which decord reports neither of; 'unknown' and 0 where they
    cannot be read. An MP4/MOV's rotation is its track header's; another container's (Matroska's, WebM's)
    is read off its first frame, where FFmpeg puts the stream's display matrix."""
    if is_mp4(path):
        return codec_name(path), mp4_rotation(path)
    return codec_name(path), first_frame_rotation(path)


def pixel_aspect(path: Path) -> Fraction:
    """The width:height of the video stream's stored pixels (its sample aspect ratio); 1 where square or not given."""
    import av

    try:
        with openable(path) as name, av.open(name) as container:
            ratio = container.streams.best("video").sample_aspect_ratio
    except (av.FFmpegError, OSError, AttributeError):
        return Fraction(1)
    return Fraction(ratio) if ratio and 0.1 <= ratio <= 10 else Fraction(1)


def streams_note(path: Path) -> str:
    """Which video stream is analysed, where the file holds several: the one decord and PyAV both pick
    (FFmpeg's best, the first unless another is marked as the default); '' where it holds one."""
    import av

    try:
        with openable(path) as name, av.open(name) as container:
            videos, best = list(container.streams.video), container.streams.best("video")
            if len(videos) < 2 or best is None:
                return ""
            which = "the first" if best is videos[0] else f"video stream {videos.index(best) + 1}"
            size = f"{best.codec_context.width}x{best.codec_context.height}"  # a closed container's streams cannot be read
    except (av.FFmpegError, OSError):
        return ""
    return f"holds {len(videos)} video streams: {which} ({size}) is analysed, the others are not"


# Packets read for the first frame's rotation: past a damaged start, the frames' rotation is 0 as unknown.
ROTATION_PACKETS = 64


def first_frame_rotation(path: Path) -> int:
    """Degrees clockwise that the player turns the video stream's frames, from the first that decodes; 0
    where none does within ``ROTATION_PACKETS`` packets."""
    import av

    try:
        with openable(path) as name, av.open(name) as container:
            stream = container.streams.best("video")
            stream.thread_count = 1
            for packet in itertools.islice(container.demux(stream), ROTATION_PACKETS):
                try:
                    for frame in packet.decode():
                        return (-frame.rotation) % 360  # PyAV's angle is counter-clockwise
                except av.FFmpegError:
                    continue
    except (av.FFmpegError, OSError, AttributeError):
        pass
    return 0


def codec_name(path: Path) -> str:
    """The video stream's codec as FFmpeg names the format ('h264', 'hevc', 'av1'), not its decoder
    ('libdav1d'); 'unknown' if the container cannot be read."""
    import av

    try:
        with openable(path) as name, av.open(name) as container:
            return container.streams.best("video").codec_context.codec.canonical_name
    except (av.FFmpegError, OSError, AttributeError):
        return "unknown"


def stream_size(path: Path, rotation: int) -> tuple[int, int]:
    """Width and height of the video as displayed, from the stream's header (no frame decoded)."""
    import av

    try:
        with openable(path) as name, av.open(name) as container:
            context = container.streams.best("video").codec_context
            width, height = context.width, context.height
    except (av.FFmpegError, OSError, AttributeError):
        width = height = 0
    if not width or not height:
        raise VideoError(f"{path}: {decoder_cause(path, EOFError())}")
    return (height, width) if rotation in (90, 270) else (width, height)
