"""Open a video with decord and stream its frames with PyAV, in chunks; what the container says before a frame
decodes (codec, rotation, size) and why a file cannot be read are ``probe``'s.

decord opens, checks and indexes the video (frame count, timestamps, size). The frames come from PyAV, which decodes
each only when it is asked for: decord's reader decodes ahead of its caller without bound (see ``stream_frames``).
Memory stays bounded whatever the video's length: only ``chunk`` frames are decoded at once, and whoever draws the
chunks (the pipeline's lanes, or ``lanes.prefetch``'s thread) keeps only a few waiting.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from videmo.video.cuts import Shot, luma_of
from videmo.video.indexing import (
    anamorphic,
    indexed_by_pyav,
    is_matroska,
    streamed_frame_count,
    timed_by_order,
)
from videmo.video.listing import cut_in_data, listed, with_tail
from videmo.video.pixels import one_size_runs, rgb_shown, shown_size
from videmo.video.probe import (
    VideoError,
    VideoInfo,
    check_file,
    decoder_cause,
    is_gif,
    openable,
    probe_container,
    quiet_stderr,
    stream_size,
    streams_note,
)
from videmo.video.sampling import chunk_bounds
from videmo.video.stamps import (
    ForwardTimes,
    frame_stamps,
    indexed_by_stream,
)

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts", ".mts", ".gif"}


@dataclass
class FrameBatch:
    indices: np.ndarray  # 0-based frame numbers in the video, of the frames that decoded
    times: np.ndarray  # seconds, the decoder's timestamps (PyAV's frame.time)
    frames: np.ndarray  # uint8 (N, H, W, 3), RGB, displayed orientation (PyAV turns the frames)
    lost: list[tuple[int, float]] = field(default_factory=list)  # (frame, time) of this chunk's frames that did not decode
    # per frame, whether a cut to another shot came since the previous decoded frame of ``indices``, judged between
    # every two consecutive decoded frames of the stream, analysed or not
    cuts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass
class StreamEnd:
    """Where the stream really ended, when it held fewer frames than the container's index lists, and where the
    file could not be read on; ``stream_frames`` fills this in once the stream runs out.

    Containers often promise a few more frames than their stream delivers (edit lists, dropped trailing B-frames,
    muxers that round): decord's index counts them, the decoder reaches the end of the stream before them, as ffmpeg
    does. A read error or a container damaged past its index stops the stream early instead: the frames from there
    are lost, and that is not a short stream.
    """

    frames: int | None = None  # frames the stream delivered; None while no shortfall is known
    unreadable_from: int | None = None  # the first frame lost because the container could not be read on
    cause: str = ""  # why it could not (FFmpeg's message)
    # where the picture's size changed mid-stream (video calls, screen captures): {"frame", "width", "height"} as displayed
    size_changes: list[dict] = field(default_factory=list)
    times_repaired: dict | None = None  # where the times went back or stood still ({"from_frame", "cause"}), or info.times_failed

    def missing(self, info: VideoInfo) -> dict | None:
        """The index's frames that never came: {"count", "from_frame"}, or None."""
        return None if self.frames is None else {"count": info.frame_count - self.frames, "from_frame": self.frames}

    def unreadable(self) -> dict | None:
        """Where the container could not be read on, and why: {"from_frame", "cause"}, or None."""
        return None if self.unreadable_from is None else {"from_frame": self.unreadable_from, "cause": self.cause}


def open_video(path: Path) -> VideoInfo:
    """The video's facts, from decord's index; a VideoError naming the cause if it cannot be read."""
    import decord

    check_file(path)
    decord.logging.set_level(decord.logging.QUIET)  # FFmpeg's own log lines would bury the one-line error
    try:
        with quiet_stderr():  # decord prints "ERROR opening" itself before raising
            with openable(path) as name:
                reader = decord.VideoReader(name, ctx=decord.cpu(0), num_threads=1)  # it only indexes: PyAV decodes
        frame_count = len(reader)
        if frame_count == 0:
            if is_matroska(path) and (info := indexed_by_pyav(path)) is not None:  # one frame: decord's index is empty
                return anamorphic(info)
            raise VideoError(f"{path}: the video stream holds no frames (truncated?)")
        end_times = reader.get_frame_timestamp([frame_count - 1])[0]
    except (RuntimeError, decord.DECORDError, IndexError) as e:
        # No index decord can use: a codec its FFmpeg lacks, a GIF, a Matroska/WebM file without cues or a duration
        # (a browser's MediaRecorder, a file written to a pipe), an MP4 cut inside its media data (decord stops at the
        # partial frame): PyAV indexes it by its packets' times.
        unindexed = "cannot find video stream" in str(e) or ("broken metadata" in str(e) and is_matroska(path))
        info = indexed_by_pyav(path) if unindexed or is_gif(path) or cut_in_data(path) else None
        if info is None:
            raise VideoError(f"{path}: {decoder_cause(path, e)}") from None
        return listed(anamorphic(info))  # indexed_by_pyav has timed it (timed_by_order) from the packets it read
    codec, rotation = probe_container(path)
    try:
        height, width = reader[0].shape[:2]
        reader.seek(0)
    except (RuntimeError, decord.DECORDError, IndexError):  # the first frame is damaged: the frames after it may not be
        width, height = stream_size(path, rotation)
    if rotation in (90, 270):  # decord turns an MP4's frames only, PyAV those of every container
        width, height = stream_size(path, rotation)
    fps = float(reader.get_avg_fps())
    fps = fps if math.isfinite(fps) and fps > 0 else 0.0  # NaN where every frame carries one time
    frame_count = max(frame_count, streamed_frame_count(path, reader, fps))
    duration = float(end_times[1]) if end_times[1] > 0 else frame_count / fps if fps else 0.0
    info = VideoInfo(path, int(width), int(height), fps, frame_count, duration, codec, rotation, streams_note(path))
    return timed_by_order(listed(anamorphic(with_tail(info))), reader.get_frame_timestamp(np.arange(len(reader)))[:, 0].tolist())


def stream_frames(info: VideoInfo, indices: np.ndarray, chunk: int, end: StreamEnd | None = None) -> Iterator[FrameBatch]:
    """Decoded frames in chunks of ``chunk`` (the first and last ones smaller: see chunk_bounds), in index order, with
    the decoder's timestamps. A frame whose data does not decode is listed in its chunk's ``lost`` and the frames
    after it still come. A stream that ends before the last of ``indices`` ends the chunks there (the last one
    shorter), and ``end`` says where.

    The times are the decoder's, not decord's index: where an edit list drops a video's first frames, the index
    keeps their (negative) times at its start, and its time for frame n is another frame's.

    Not decord's frames: its reader hands a packet to its decoding thread whenever no decoded frame is waiting, and
    never takes a frame without handing one over, so the lag of the thread's first frame becomes a backlog of
    decoded frames kept to the end (0.3-1.3 GB on a 640x360 video, set at random by thread timing). PyAV decodes in
    the calling thread, one frame at a time; its frames are decord's, pixel for pixel (tested)."""
    frames = decoded_frames(info, indices, end if end is not None else StreamEnd())
    for start, stop in chunk_bounds(len(indices), chunk):
        items = list(itertools.islice(frames, stop - start))
        for part in one_size_runs(items):  # where the picture's size changes mid-chunk, each size is a chunk of its own
            good = [item for item in part if item[2] is not None]
            yield FrameBatch(
                np.array([g[0] for g in good], dtype=np.int64),
                np.array([g[1] for g in good], dtype=np.float64),
                np.stack([g[2] for g in good]) if good else np.empty((0, info.height, info.width, 3), np.uint8),
                [(index, time_s) for index, time_s, image, _ in part if image is None],
                np.array([g[3] for g in good], dtype=bool),
            )
        if len(items) < stop - start:
            return


# Frames a decoder may deliver out of order after damage: H.264's and HEVC's most reordered frames.
REORDER_FRAMES = 16
# Where the times fail throughout, an MP4/MOV's edit list is not applied: it cannot place them, and it would drop frames
NO_EDITS = {"ignore_editlist": "1"}  # that decord's index counts (other demuxers have no such option)


def decoded_frames(info: VideoInfo, indices: np.ndarray, end: StreamEnd) -> Iterator[tuple[int, float, np.ndarray | None, bool]]:
    """(frame, time in seconds, RGB frame as displayed, cut) at ``indices`` (ascending), the frame None where its data
    does not decode, cut True where a cut to another shot came since the previous decoded frame yielded (every
    decoded frame is compared with the one before it, so that a cut is found the same way at every sampling rate),
    until the stream ends (``end`` then says after how many frames, if before the last of ``indices``). A VideoError if the stream holds no frame that decodes.

    Frame n is the n-th frame the decoder delivers, as long as every packet decodes. A packet that fails (damaged
    data) is skipped, as ffmpeg does; from then on each frame is numbered by its timestamp's place among the
    stream's packets (``frame_stamps``), because after damage a decoder also drops the frames that refer to the lost
    one, and delivers others out of order (with B-frames, a damaged keyframe's predecessor came after the next
    group's first frame): a frame not yet come counts as lost only once ``REORDER_FRAMES`` later ones have. In a
    container read as a stream (Matroska, MPEG-TS), a damaged stretch loses its packets without an error: a jump
    in the times then numbers the frames by their timestamps too, and the frames of the gap are lost. Where the
    container itself can no longer be read, the index's remaining frames are lost."""
    import av

    wanted, picked = iter(indices.tolist()), set(indices.tolist())
    position = next(wanted, None)
    number, decoded, first_pts = 0, 0, None  # the number of the stream's next frame; frames delivered; the first one's pts
    numbers: dict[int, int] | None = None  # pts -> frame number, once a packet has failed or the times jumped
    stamps: list[int] = []  # the stream's packets' pts, in order (with ``numbers``)

    held: dict[
        int, tuple[float, Callable[[], np.ndarray] | None, Shot, tuple[int, int]]
    ] = {}  # frames delivered, waiting for an earlier one
    window = 1  # how many later frames make a missing one lost: 1 until damage, REORDER_FRAMES after it with B-frames
    last_shot, cut = None, False  # the last frame's shot, in the order shown; whether a cut came since the last yielded

    forward = ForwardTimes(1 / info.fps if info.fps else 0.04, info.times_failed)  # the frame rate where the times fail
    size, aspect = None, Fraction(info.pixel_aspect.replace(":", "/"))  # the last frame's displayed size

    def at(
        n: int,
        time_s: float,
        image: Callable[[], np.ndarray] | None,
        shot: Shot | None = None,
        shown: tuple[int, int] | None = None,
    ) -> Iterator[tuple[int, float, np.ndarray | None, bool]]:
        nonlocal position, last_shot, cut, size
        time_s = forward(n, time_s)
        end.times_repaired = forward.repaired
        if shown is not None and shown != size and size is not None:  # a new size: the boxes before are in other pixels
            end.size_changes.append({"frame": int(n), "width": shown[0], "height": shown[1]})
            cut, last_shot = True, None
        size = shown or size
        if shot is not None:
            cut = cut or (last_shot is not None and shot.is_cut_from(last_shot))
            last_shot = shot
        if n == position:
            yield n, time_s, image() if image is not None else None, cut
            cut = cut and image is None  # a lost frame passes its cut on to the next frame that decoded
            position = next(wanted, None)

    def release(after: int) -> Iterator[tuple[int, float, np.ndarray | None, bool]]:
        """The held frames in order; a missing one is lost once a frame ``after`` frames or more later has come."""
        nonlocal number
        while held and position is not None:
            if number in held:
                yield from at(number, *held.pop(number))
            elif max(held) - number >= after:
                yield from at(number, time_of(number, stamps[number] if number < len(stamps) else None), None)
            else:
                return
            number += 1

    try:
        with openable(info.path) as name, av.open(name, options=NO_EDITS if info.times_failed else None) as container:
            stream = container.streams.best("video")
            stream.thread_count = 1  # the lanes have the cores; decoding is a few percent of the work
            # Times from the stream's start, as decord's index (and players) count them: the example clip starts at 0.85 s.
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            base = float(stream.time_base) if stream.time_base is not None else None
            rate = stream.guessed_rate or stream.average_rate
            step = 1 / float(rate * stream.time_base) if rate and stream.time_base else None  # a frame's duration in pts
            streamed = step is not None and indexed_by_stream(container) and not info.times_failed  # damage skipped in silence
            last_pts = None  # the last delivered frame's, while frames are counted

            def number_by_stamps() -> None:
                """From now on, number each frame by its pts's place among the stream's frames (``frame_stamps``)."""
                nonlocal stamps, numbers, window
                if info.times_failed:  # times that fail throughout place no frame: the decoder's order numbers them
                    return
                stamps = frame_stamps(info.path, first_pts if first_pts is not None else stream.start_time, step)
                numbers = {pts: n for n, pts in enumerate(stamps)}
                window = REORDER_FRAMES if stream.codec_context.has_b_frames else 1

            def time_of(n: int, pts: int | None) -> float:
                return pts * base - start if pts is not None and base is not None else n / info.fps if info.fps else 0.0

            def lost_until(stop: int) -> Iterator[tuple[int, float, None, bool]]:
                nonlocal number
                for n in range(number, stop):
                    yield from at(n, time_of(n, stamps[n] if n < len(stamps) else None), None)
                number = max(number, stop)

            packets, broken = container.demux(stream), None
            while position is not None:
                try:
                    packet = next(packets, None)
                except av.FFmpegError as e:  # the container cannot be read on: stop
                    broken = e
                    if stream.codec_context.has_b_frames:  # no flush: the frames it holds follow frames never read,
                        break  # and numbered as they come they would take those frames' numbers
                    packet = None
                try:
                    out = packet.decode() if packet is not None else stream.codec_context.decode(None)
                except av.FFmpegError:  # this packet's data is damaged: its frame is lost, the stream goes on
                    if numbers is None:  # counted from the first frame delivered, as until now
                        number_by_stamps()
                    out = []
                for frame in out:
                    if (
                        numbers is None
                        and streamed
                        and last_pts is not None
                        and frame.pts is not None
                        and frame.pts > last_pts + 1.5 * step
                    ):  # a jump: frames lost with their packets, or a variable rate
                        number_by_stamps()
                    last_pts = frame.pts if numbers is None else None
                    n = number if numbers is None else numbers.get(frame.pts, -1)
                    if n < number or n in held:  # after damage: later than the window, or a time no packet had
                        continue
                    decoded += 1
                    first_pts = frame.pts if first_pts is None else first_pts
                    time_s = frame.time - start if frame.time is not None else time_of(n, None)
                    held[n] = (
                        time_s,
                        (lambda f=frame: rgb_shown(f, aspect))
                        if n in picked
                        else None,  # only the picked frames are kept, while held after damage
                        Shot.of_luma(luma_of(frame)),
                        shown_size(frame, aspect),
                    )
                    yield from release(window)
                    if position is None:
                        return
                if packet is None or (packet.size == 0 and packet.dts is None):  # the flush packet: the stream is over
                    break
            yield from release(0)
            if decoded:
                yield from lost_until(len(stamps))  # frames after the damage that never came
                if broken is not None and position is not None:
                    end.unreadable_from, end.cause = number, getattr(broken, "strerror", None) or str(broken)
                    yield from lost_until(info.frame_count)  # the index's frames past the unreadable part
                elif info.tail_damage and position is not None and number < info.frame_count:  # the header's, past resync
                    end.unreadable_from, end.cause = number, info.tail_damage
                    yield from lost_until(info.frame_count)
    except (av.FFmpegError, OSError) as e:
        raise VideoError(f"{info.path}: decoding failed near frame {position}: {decoder_cause(info.path, e)}") from None
    if position is not None:
        if decoded == 0:
            raise VideoError(f"{info.path}: no frame decodes: {decoder_cause(info.path, EOFError())}")
        end.frames = number
