"""A video's index made by PyAV where decord cannot make one: a codec decord's FFmpeg lacks (AV1), a GIF, a Matroska/WebM
file without an index or a duration (a browser's MediaRecorder, a file written to a pipe); and the frames of a container
read as a stream counted on its frame rate's grid where damage lost packets; the displayed size of stored pixels
that are not square."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from videmo.video.mp4 import mp4_sample_times
from videmo.video.probe import (
    VideoInfo,
    openable,
    pixel_aspect,
    probe_container,
    stream_size,
    streams_note,
)
from videmo.video.stamps import failed_times, frame_stamps, grid_numbers, indexed_by_stream, order_rate


def indexed_by_pyav(path: Path) -> VideoInfo | None:
    """The video's facts from PyAV, for a video stream whose codec decord's FFmpeg cannot decode (it has no
    AV1 decoder, PyAV's has dav1d), so that decord finds no video stream, and for a GIF, which decord cannot
    index; None where PyAV cannot decode it either. The frames are counted by one pass over the stream's
    packets. A GIF's frames last their own delays: it lasts as long as they add up to, and its rate is their
    average (none for a still GIF, one frame)."""
    import av

    try:
        with openable(path) as name, av.open(name) as container:
            stream = container.streams.best("video")
            if stream is None or stream.codec_context is None or stream.time_base is None:
                return None
            rate, base, start = stream.average_rate or stream.guessed_rate, stream.time_base, stream.start_time
            codec, length = stream.codec_context.codec.canonical_name, stream.duration
            if container.format.name == "gif":
                rate = stream.average_rate
    except (av.FFmpegError, OSError, AttributeError):
        return None
    stamps = frame_stamps(path, start)
    if not stamps:
        return None
    fps = float(rate) if rate else 0.0
    rotation = probe_container(path)[1]
    width, height = stream_size(path, rotation)
    duration = float((stamps[-1] - stamps[0]) * base) + (1 / fps if fps else 0.0)
    if codec == "gif" and length:
        duration = float(length * base)  # to the end of the last frame's delay
    info = VideoInfo(path, width, height, fps, len(stamps), duration, codec, rotation, streams_note(path))
    return timed_by_order(info, times=[float((pts - stamps[0]) * base) for pts in stamps])


def streamed_frame_count(path: Path, reader, fps: float) -> int:
    """The frames of a container read as a stream whose index (decord's, made by demuxing) has gaps where damaged
    data lost packets: counted on the frame rate's grid, the frames of the gaps included (``frame_stamps``); 0
    where there is none."""
    import av

    times = reader.get_frame_timestamp(np.arange(len(reader)))[:, 0]
    if not fps or grid_numbers(np.sort(times[times >= 0]).tolist(), 1 / fps) is None:  # decord's unknown time is -1e14
        return 0
    try:
        with openable(path) as name, av.open(name) as container:
            stream = container.streams.best("video")
            if not indexed_by_stream(container) or stream is None or not stream.time_base:
                return 0
            start, step = stream.start_time, 1 / (fps * float(stream.time_base))
    except (av.FFmpegError, OSError):
        return 0
    return len(frame_stamps(path, start, step))


def timed_by_order(info: VideoInfo, times: list[float]) -> VideoInfo:
    """``info`` timed by the decoder's order where the stream's own times fail throughout (``failed_times``: frames
    that all carry one time, or that a muxer put one tick apart, as ``-vf setpts=0`` or ``-bsf:v setts=ts=0`` leave
    them): its frame rate is then ``order_rate``'s, its length its frames at that rate, and ``times_failed`` says so.
    The times judged are an MP4/MOV's timing table's (decord's index makes up its own where that table is all
    zeros), else ``times``, the index's the caller made (decord's or the packets')."""
    times = mp4_sample_times(info.path) or times
    cause = failed_times(times) if info.frame_count > 1 else None
    if cause is None:
        return info
    fps, source = order_rate(info.path, info.frame_count, cause)
    info.fps, info.duration_s = fps, info.frame_count / fps
    info.times_failed = {"from_frame": 0, "cause": cause, "fps": round(fps, 3), "fps_from": source}
    return info


def is_matroska(path: Path) -> bool:
    """Whether the file starts as Matroska and WebM do (their EBML header)."""
    try:
        with open(path, "rb") as file:
            return file.read(4) == b"\x1a\x45\xdf\xa3"
    except OSError:
        return False


def anamorphic(info: VideoInfo) -> VideoInfo:
    """``info`` with the displayed size where the stored pixels are not square (``decoded_frames`` scales the frames
    to it, so that boxes are in displayed pixels, as for a turned video)."""
    aspect = pixel_aspect(info.path)
    if aspect != 1:
        info.pixel_aspect = f"{aspect.numerator}:{aspect.denominator}"
        if info.rotation in (90, 270):  # the stored width is displayed upright
            info.height = max(1, round(info.height * aspect))
        else:
            info.width = max(1, round(info.width * aspect))
    return info
