"""What the container says about a video before any frame decodes (``VideoInfo``'s codec, rotation and size, the
frames' timestamps), and why a file cannot be read: ``VideoError`` and its cause messages, alone on stderr.

PyAV reads the codec, the size and the timestamps for every container. The rest is read here by hand, because
PyAV cannot tell it: the rotation (PyAV 18 writes a stream's display matrix but reads it only off decoded frames,
``frame.rotation``), and how a file is damaged (``av.open`` raises the same InvalidDataError for a text file, an
MP4 without its moov box and one cut inside its mdat box). ``decode`` opens, indexes and streams.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import VidemoError

# The first bytes of the containers, other than MP4/MOV ('ftyp' at offset 4), that decord may open:
# Matroska/WebM, RIFF (AVI), MPEG program stream, FLV, MPEG transport stream.
CONTAINER_MAGIC = (b"\x1aE\xdf\xa3", b"RIFF", b"\x00\x00\x01\xba", b"FLV", b"G")


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
    rotation: int  # degrees clockwise that the player (and decord) turns the stored frames


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
    kinds = [(stat.S_ISFIFO, "a FIFO, a named pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket")]
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
            head = f.read(64)
        damage = mp4_damage(path) if head[4:8] == b"ftyp" else None
    except OSError as e:  # gone or unreadable since it was opened
        return f"cannot read the file ({e.strerror or e})"
    if head[4:8] != b"ftyp" and not head.startswith(CONTAINER_MAGIC):
        return "not a video file (unrecognised container)"
    if damage:
        return damage
    if "cannot find video stream" in str(error):
        return "no video stream in the file (audio only?)"
    return "cannot decode: truncated or corrupt video data"


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
    """Codec (any container) and rotation (MP4/MOV) of the video stream, which decord reports neither of;
    'unknown' and 0 where they cannot be read."""
    return codec_name(path), mp4_rotation(path)


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


def frame_stamps(path: Path, start: int | None) -> list[int]:
    """The pts of every frame the video stream holds from ``start`` on, in presentation order: one pass
    over its packets, without decoding (as far as the container can be read). Packets before the first
    frame the decoder delivers (an edit list's, or those of a stream cut in mid-GOP) are not frames."""
    import av

    stamps = []
    with openable(path) as name, av.open(name) as container:
        stream = container.streams.best("video")
        try:
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None and (start is None or packet.pts >= start):
                    stamps.append(packet.pts)
        except av.FFmpegError:
            pass
    return sorted(stamps)


def mp4_rotation(path: Path) -> int:
    """Degrees clockwise that the player turns an MP4/MOV's video track (its tkhd matrix); 0 otherwise."""
    try:
        with open(path, "rb") as f:
            moov = find_box(f, 0, path.stat().st_size, b"moov")
            if moov is None:
                return 0
            for trak in iter_boxes(f, *moov, b"trak"):
                handler = nested_box(f, trak, [b"mdia", b"hdlr"])
                if handler is None:
                    continue
                f.seek(handler[0] + 8)
                if f.read(4) == b"vide":
                    return track_rotation(f, trak)
    except (OSError, struct.error, IndexError):  # cut short: read() returned too few bytes
        pass
    return 0


def track_rotation(f, trak: tuple[int, int]) -> int:
    tkhd = nested_box(f, trak, [b"tkhd"])
    if tkhd is None:
        return 0
    f.seek(tkhd[0])
    version = f.read(1)[0]
    f.seek(tkhd[0] + (40 if version == 0 else 52))
    a, b, _, c, d = struct.unpack(">iiiii", f.read(20))
    angle = round(math.degrees(math.atan2(b / 65536, a / 65536))) % 360
    return angle if angle in (90, 180, 270) else 0


def boxes(f, start: int, end: int):
    """(kind, payload start, end as the box's header declares it) of each box in [start, end); the
    end may lie past ``end`` where the data is cut short. Stops at a header too small to be one."""
    position = start
    while position + 8 <= end:
        f.seek(position)
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1 and position + 16 <= end:
            size, header = struct.unpack(">Q", f.read(8))[0], 16
        elif size == 0:  # runs to the end
            size = end - position
        if size < header:
            return
        yield kind, position + header, position + size
        position += size


def iter_boxes(f, start: int, end: int, kind: bytes | None = None):
    """(payload start, payload end) of each box in [start, end), optionally of one kind."""
    for box_kind, payload, box_end in boxes(f, start, end):
        if kind is None or box_kind == kind:
            yield payload, min(box_end, end)


def find_box(f, start: int, end: int, kind: bytes):
    return next(iter_boxes(f, start, end, kind), None)


def nested_box(f, box: tuple[int, int], path: list[bytes]):
    for kind in path:
        box = find_box(f, *box, kind)
        if box is None:
            return None
    return box
