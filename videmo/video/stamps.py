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
            tag, base, first = stream.metadata.get("DURATION"), stream.time_base, stream.start_time
            start = first or 0
            if tag:
                hours, minutes, seconds = tag.split(":")
                length = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            elif container.duration and len(container.streams) == 1:
                length = container.duration / 1e6
            else:
                return None
        stamps = frame_stamps(path, first) if base else []
    except (av.FFmpegError, OSError, AttributeError, ValueError):
        return None
    tick = float(base) if base else 0.0
    if len(stamps) < 2 or failed_times([pts * tick for pts in stamps]) is not None:
        return None  # frames all at one time or ticks apart (-bsf setts=pts=0) measure no damage against the header
    times = [float(pts * base) for pts in stamps[-9:]]
    step = sorted(b - a for a, b in zip(times, times[1:]))[(len(times) - 1) // 2]
    # FFmpeg's tag is where the track ends, the Segment's duration how long it lasts: counted both ways, the fewer
    ends = min(length - times[-1], length - (times[-1] - float(start * base)))
    owed = round((ends - step) / step) if step > 0 else 0
    return (len(stamps) + owed, length) if owed >= TAIL_SLACK else None


# Frames this close together or closer are no real frame rate (1000 a second and more): a muxer given frames that all
# carry one time puts them one tick apart (1/12800 s in MP4, 1/90000 s in MPEG-TS, 1 ms in Matroska).
LEAST_STEP_S = 0.001
# The frame rates a container may state that are taken as the stream's own where its times fail: outside them it is
# a clock's tick (12800, 90000, 1000) or an average of the failed times.
SANE_FPS = (0.5, 480.0)
DEFAULT_FPS = 25.0  # the rate frames are timed at where neither the stream nor its container gives a sane one


def failed_times(times) -> str | None:
    """Why a stream's own frame times (seconds, one a frame, in any order) cannot time its frames, where they cannot:
    'timestamps stand still' (every frame carries one time) or 'timestamps too close together' (the frames lie
    ``LEAST_STEP_S`` apart or closer: as a rule, the steps between their distinct times, or their whole span over
    the frames); None where they can. Equal times here and there (segments joined end to end, whose times
    restart) are ``ForwardTimes``' to repair."""
    import numpy as np

    times = np.asarray(times, dtype=np.float64)
    times = np.round(times[np.isfinite(times) & (np.abs(times) < 1e12)], 6)  # decord's unknown time is -1e14
    if len(times) < 2:
        return None
    distinct = np.unique(times)
    if len(distinct) == 1:
        return "timestamps stand still"
    close = LEAST_STEP_S + 1e-6
    if distinct[-1] - distinct[0] <= close * (len(times) - 1) or np.median(np.diff(distinct)) <= close:
        return "timestamps too close together"
    return None


def order_rate(path: Path, frames: int, cause: str) -> tuple[float, str]:
    """The frame rate that frames whose times fail (``failed_times``' ``cause``) are timed at, in the decoder's order,
    and where it comes from: where the times stand still, an MP4/MOV track's length over its frames (a length not made
    of those times: the length of a file whose timing table is all zeros, as players show it); else the rate the
    stream states (FFmpeg's guess from the codec's and the container's headers); else ``DEFAULT_FPS``. A rate
    outside ``SANE_FPS`` is none."""
    import av

    def sane(rate) -> bool:
        return bool(rate) and SANE_FPS[0] <= float(rate) <= SANE_FPS[1]

    try:
        with openable(path) as name, av.open(name) as container:
            stream = container.streams.best("video")
            mov = "mov" in container.format.name.split(",")
            length = float(stream.duration * stream.time_base) if mov and stream.duration and stream.time_base else 0.0
            stated = stream.guessed_rate
    except (av.FFmpegError, OSError, AttributeError):
        length, stated = 0.0, None
    if cause == "timestamps stand still" and length > 0 and sane(frames / length):
        return frames / length, "the track's length over its frames"
    if sane(stated):
        return float(stated), "the stream's stated rate"
    return DEFAULT_FPS, "a default: the file states no usable rate"


class ForwardTimes:
    """Frame times that only move forward: where a stream's times go back (segments joined end to end, such as
    MPEG-TS files whose times restart at 0) or stand still (frames that all carry one time), each frame from there
    is placed ``step_s`` after the one before it and the frames after it keep their own spacing; ``repaired``
    says from which frame and why (None while the stream's own times hold). With ``failed`` (``VideoInfo.times_failed``:
    the stream's times fail throughout), every frame is timed by its number, ``step_s`` apart, and ``repaired`` is it."""

    def __init__(self, step_s: float, failed: dict | None = None):
        self.step_s, self.offset, self.last = step_s, 0.0, None
        self.repaired: dict | None = failed
        self.by_order = failed is not None

    def __call__(self, frame: int, time_s: float) -> float:
        """The time of ``frame`` (the next in the decoder's order), its stream time ``time_s`` moved where needed."""
        if self.by_order:
            return frame * self.step_s
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
