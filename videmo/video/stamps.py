"""The times a stream's packets carry: read once per video to number its frames where a container read as a stream (Matroska, WebM, MPEG-TS) loses a damaged stretch without an error."""

from __future__ import annotations

import math
from pathlib import Path

from videmo.video.probe import openable


def frame_stamps(path: Path, start: int | None, step: float | None = None) -> list[int]:
    """The pts of every frame the video stream holds from ``start`` on, in presentation order: one pass
    over its packets, without decoding (as far as the container can be read). Packets before the first
    frame the decoder delivers (an edit list's, or those of a stream cut in mid-GOP) are not frames.
    With ``step`` (the frame duration in pts units), a container read as a stream (not MP4/MOV) that shows
    damage (``skipped_data``) and whose frames lie on that grid but for a few gaps also gets the gaps'
    frames, at their grid times: their packets were lost with the damaged data, which such a demuxer skips
    in silence. Without that sign a gap is frames the recorder skipped, not lost ones."""
    import av

    stamps, packets, corrupt = [], [], False  # the video's pts; every stream's packets' (position, size)
    with openable(path) as name, av.open(name) as container:
        stream = container.streams.best("video")
        streamed = indexed_by_stream(container)
        matroska = "matroska" in container.format.name
        try:
            for packet in container.demux():
                corrupt = corrupt or packet.is_corrupt
                if matroska and packet.size and packet.pos is not None and packet.pos >= 0:
                    packets.append((packet.pos, packet.size))
                if packet.stream is stream and packet.size and packet.pts is not None and (start is None or packet.pts >= start):
                    stamps.append(packet.pts)
        except av.FFmpegError:
            pass
    stamps.sort()
    numbers = grid_numbers(stamps, step) if step and streamed and (corrupt or skipped_data(packets)) else None
    if numbers is None:
        return stamps
    grid = [stamps[0] + round(n * step) for n in range(numbers[-1] + 1)]
    for number, pts in zip(numbers, stamps):
        grid[number] = pts
    return grid


# Bytes between two Matroska blocks: their headers, a cluster's; more is data the demuxer skipped as damaged.
MATROSKA_SLACK = 256


def skipped_data(packets: list[tuple[int, int]]) -> bool:
    """Whether a Matroska file's packets, (position, size) of every stream's, leave bytes between them that no
    element header explains: the demuxer skipped damaged data there (the only sign it gives, besides a log line)."""
    packets = sorted(packets)
    return any(b[0] - (a[0] + a[1]) > MATROSKA_SLACK for a, b in zip(packets, packets[1:]))


def indexed_by_stream(container) -> bool:
    """Whether the container's frames are found by reading its stream (Matroska, MPEG-TS, AVI...), where a
    damaged stretch loses its packets without an error, rather than by an index of every frame (MP4/MOV)."""
    return "mov" not in container.format.name.split(",")


# A stream whose frames lie on its frame rate's grid but for gaps in at most this share of its steps has
# lost those frames (damaged data); more gaps are a variable frame rate.
MOST_GAPS = 0.1


def grid_numbers(stamps, step: float) -> list[int] | None:
    """Each of the ascending ``stamps``' frame number on a grid of ``step`` from the first, where the
    frames lie on it (within a quarter step) and it has gaps, in at most ``MOST_GAPS`` of the steps (and
    at least one), and fewer frames are missing than given; None otherwise: no gap, or a variable frame rate."""
    if len(stamps) < 2 or not step or step <= 0:
        return None
    offsets = [(pts - stamps[0]) / step for pts in stamps]
    numbers = [round(offset) for offset in offsets]
    if any(abs(offset - number) > 0.25 for offset, number in zip(offsets, numbers)):
        return None
    steps = [b - a for a, b in zip(numbers, numbers[1:])]
    gaps = sum(1 for s in steps if s > 1)
    if min(steps) < 1 or gaps == 0 or gaps > max(1, MOST_GAPS * len(steps)) or numbers[-1] >= 2 * len(stamps):
        return None  # more frames lost than kept is no stream on a grid: a wrong time, say
    return numbers


def frame_times(path: Path) -> list[float]:
    """Each frame's time in seconds from the stream's start, as decoding reports it (``time_s``): the pts of its
    packets, in presentation order (with the frames a damaged stretch lost, where decoding numbers them so);
    [] where the container cannot be read. A variable-frame-rate video's frames are not frame / fps."""
    import av

    try:
        with openable(path) as name, av.open(name) as container:
            stream = container.streams.best("video")
            start, base, rate = stream.start_time, stream.time_base, stream.guessed_rate or stream.average_rate
        step = 1 / float(rate * base) if rate and base else None
        stamps = frame_stamps(path, start, step)
    except (av.FFmpegError, OSError, AttributeError):
        return []
    return [float((pts - (start or 0)) * base) for pts in stamps] if base else []


# Frames short of what its header promises before a Matroska file counts as damaged past its end: rounding aside.
TAIL_SLACK = 2


def promised_tail(path: Path) -> tuple[int, float] | None:
    """(frames, seconds) that a Matroska/WebM file's header says its video holds, where that is ``TAIL_SLACK``
    frames or more past its last frame that can be read: its data is damaged past where the demuxer can resync, and the demuxer
    ends the stream there in silence. The header's word is the track's own duration (the DURATION tag FFmpeg's
    muxer writes), or the file's (Segment) duration where the video is its only stream; the frames it still
    owes are counted at the interval of the last frames read (so a variable frame rate is no matter). None
    where nothing is owed, or the file says nothing (not Matroska, no duration, or other streams beside it)."""
    import av

    try:
        with openable(path) as name, av.open(name) as container:
            if "matroska" not in container.format.name:
                return None
            stream = container.streams.best("video")
            tag, base, start = stream.metadata.get("DURATION"), stream.time_base, stream.start_time or 0
            if tag:
                hours, minutes, seconds = tag.split(":")
                length = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            elif container.duration and len(container.streams) == 1:
                length = container.duration / 1e6
            else:
                return None
        stamps = frame_stamps(path, stream.start_time) if base else []
    except (av.FFmpegError, OSError, AttributeError, ValueError):
        return None
    if len(stamps) < 2:
        return None
    times = [float(pts * base) for pts in stamps[-9:]]
    step = sorted(b - a for a, b in zip(times, times[1:]))[(len(times) - 1) // 2]
    # FFmpeg's tag is where the track ends, the Segment's duration how long it lasts: counted both ways, the fewer
    ends = min(length - times[-1], length - (times[-1] - float(start * base)))
    owed = round((ends - step) / step) if step > 0 else 0
    return (len(stamps) + owed, length) if owed >= TAIL_SLACK else None


class ForwardTimes:
    """Frame times that only move forward: where a stream's times go back (segments joined end to end, such as
    MPEG-TS files whose times restart at 0) or stand still (frames that all carry one time), each frame from there
    is placed ``step_s`` after the one before it and the frames after it keep their own spacing; ``repaired``
    says from which frame and why (None while the stream's own times hold)."""

    def __init__(self, step_s: float):
        self.step_s, self.offset, self.last = step_s, 0.0, None
        self.repaired: dict | None = None

    def __call__(self, frame: int, time_s: float) -> float:
        """The time of ``frame`` (the next in the decoder's order), its stream time ``time_s`` moved where needed."""
        moved = time_s + self.offset
        if self.last is not None and not moved > self.last:  # back, equal, or not a number
            if self.repaired is None:
                self.repaired = {
                    "from_frame": int(frame),
                    "cause": "timestamps restart" if moved < self.last else "timestamps stand still",
                }
            moved = self.last + self.step_s
            if math.isfinite(time_s):
                self.offset = moved - time_s
        elif self.last is None and not math.isfinite(moved):
            moved = 0.0
        self.last = moved
        return moved
