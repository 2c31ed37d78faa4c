"""An MP4's own boxes, read without a decoder: the track header's rotation, and whether a file is one."""

from __future__ import annotations

import math
import struct
from pathlib import Path


def is_mp4(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8)[4:8] == b"ftyp"
    except OSError:
        return False


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


# Samples past which a timing table is not read (a damaged count): 10 million frames, 46 hours at 60 fps.
MOST_SAMPLES = 10_000_000


def mp4_sample_times(path: Path) -> list[float]:
    """Each sample's decoding time in seconds, in the order stored, from an MP4/MOV's first video track's timing
    table ('stts', over its 'mdhd' timescale): the stream's own times, which decord's index replaces with times of
    its own making where they all are one; [] where there is none (not an MP4/MOV, a fragmented one) or it is damaged."""
    import numpy as np

    try:
        with open(path, "rb") as f:
            moov = find_box(f, 0, path.stat().st_size, b"moov")
            for trak in iter_boxes(f, *moov, b"trak") if moov is not None else ():
                handler = nested_box(f, trak, [b"mdia", b"hdlr"])
                if handler is None:
                    continue
                f.seek(handler[0] + 8)
                if f.read(4) != b"vide":
                    continue
                header = nested_box(f, trak, [b"mdia", b"mdhd"])
                table = nested_box(f, trak, [b"mdia", b"minf", b"stbl", b"stts"])
                if header is None or table is None:
                    return []
                f.seek(header[0])
                version = f.read(1)[0]
                f.seek(header[0] + (12 if version == 0 else 20))
                scale = struct.unpack(">I", f.read(4))[0]
                f.seek(table[0] + 4)
                entries = struct.unpack(">I", f.read(4))[0]
                if 8 * entries > table[1] - table[0] - 8:  # more entries than the box holds: damaged
                    return []
                pairs = np.frombuffer(f.read(8 * entries), dtype=">u4").reshape(-1, 2).astype(np.int64)
                if not scale or len(pairs) < entries or pairs[:, 0].sum() > MOST_SAMPLES:
                    return []
                steps = np.repeat(pairs[:, 1], pairs[:, 0])
                return (np.concatenate([[0], np.cumsum(steps)[:-1]]) / scale).tolist() if len(steps) else []
    except (OSError, struct.error, IndexError, ValueError):  # cut short: read() returned too few bytes
        pass
    return []


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
