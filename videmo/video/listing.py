"""What a video's container lists against what its data holds: the frames and length its header gives (an MP4's
sample table, an AVI's header, a Matroska file's duration), and where the data ends far before them.

A file cut short with its index in front (a download or copy stopped part way, an MP4 written with ``faststart``)
still lists every frame, and the demuxer ends the stream at the last sample the file holds, in silence: decord's
index then counts only the frames that are there. A few frames short is common in whole files (edit lists, dropped
trailing B-frames, muxers that round) and is said apart, as ``frames_missing``; only a shortfall of more than
``SHORT_FRAMES`` frames and ``SHORT_S`` seconds is a file cut short, said in the closing line and ``frames_short``.
"""

from __future__ import annotations

from pathlib import Path

from videmo.video.mp4 import is_mp4
from videmo.video.probe import VideoInfo, mp4_damage, openable
from videmo.video.stamps import promised_tail

# A stream short of its listing by more than both of these is a file cut short: a whole file's missing frames are a
# few at most (an edit list's, dropped B-frames), well under a second at any usual rate.
SHORT_FRAMES = 2
SHORT_S = 1.0


def listed(info: VideoInfo) -> VideoInfo:
    """``info`` with the frames and seconds its container's header lists for the video (``listed_frames``,
    ``listed_s``), where it lists a count: an MP4/MOV's sample table (its length is the track's, edit lists
    applied), an AVI's header (its length the frames at the frame rate: FFmpeg's own is what the data holds)."""
    import av

    try:
        with openable(info.path) as name, av.open(name) as container:
            stream = container.streams.best("video")
            frames, length, base = stream.frames, stream.duration, stream.time_base
            mov = "mov" in container.format.name.split(",")
    except (av.FFmpegError, OSError, AttributeError):
        return info
    if frames > 0:
        info.listed_frames = int(frames)
        info.listed_s = float(length * base) if mov and length and base else frames / info.fps if info.fps else 0.0
    return info


def with_tail(info: VideoInfo) -> VideoInfo:
    """``info`` with a Matroska/WebM file's frames that its header gives past the last one that can be read (its data
    damaged past where the demuxer can resync; ``promised_tail``): counted in its frames and length, as unreadable."""
    tail = promised_tail(info.path)
    if tail is not None:  # damaged past resync: the header's frames after the last readable one are listed, unreadable
        promised, length = tail
        info.tail_damage = f"its data is damaged past where it can be resynchronised; its header gives the video {length:.3g} s, {promised} frames"
        info.frame_count, info.duration_s = max(info.frame_count, promised), max(info.duration_s, length)
    return info


def cut_in_data(path: Path) -> bool:
    """Whether ``path`` is an MP4/MOV file that ends inside its media data ('mdat' box): with its index in front,
    the frames before the cut can be read (decord refuses the file, PyAV reads it to there)."""
    try:
        return is_mp4(path) and (mp4_damage(path) or "").endswith("inside its 'mdat' box")
    except OSError:
        return False


def cut_short(info: VideoInfo, delivered: int | None, unreadable: bool) -> dict | None:
    """summary.json's ``frames_short``: {"frames", "listed", "end_s", "listed_s"}, the frames the video's data holds
    of those its container lists and the seconds where the data ends of those listed, where it ends more than
    ``SHORT_FRAMES`` frames and ``SHORT_S`` seconds early; else None. ``delivered``: the frames the stream gave
    where it ended before the index's last (None: it gave them all); ``unreadable``: the file could not be read on,
    said as ``frames_unreadable`` instead."""
    listed_frames = max(info.frame_count, info.listed_frames)
    frames = info.frame_count if delivered is None else delivered
    if unreadable or listed_frames - frames <= SHORT_FRAMES:
        return None
    listed_s = max(info.listed_s, info.duration_s)
    if delivered is None:  # the index holds only the frames that are there: its length is theirs
        end_s = info.duration_s
    else:
        end_s = frames / info.fps if info.fps else info.duration_s * frames / max(info.frame_count, 1)
    if listed_s - end_s <= SHORT_S:
        return None
    return {"frames": int(frames), "listed": int(listed_frames), "end_s": round(end_s, 3), "listed_s": round(listed_s, 3)}


def short_words(short: dict) -> str:
    """What the closing line and report.html say of ``frames_short`` (as summary.json holds it, edited or not)."""

    def seconds(value) -> str:
        return f"{value:.1f} s" if isinstance(value, (int, float)) else f"{value} s"

    return (
        f"only {short.get('frames')} of the {short.get('listed')} frames the file lists are in it: "
        f"its data ends at {seconds(short.get('end_s'))} of {seconds(short.get('listed_s'))}"
    )
