"""Which of a video's frames are analysed: every Nth, about so many a second, inside a window of time, and in chunks that grow at the start and shrink at the end."""

from __future__ import annotations

import numpy as np

from videmo.core.errors import VidemoError
from videmo.video.probe import VideoInfo
from videmo.video.stamps import frame_times


def select_frames(
    info: VideoInfo, fps: float | None = None, every: int | None = None, start_s: float | None = None, end_s: float | None = None
) -> np.ndarray:
    """Indices of the frames to analyse: all, every Nth, or about ``fps`` per second of video; with
    ``start_s`` or ``end_s``, those whose own time (frames.csv's ``time_s``, from the stream's timestamps,
    so that a variable frame rate is no matter) lies in [start_s, end_s); the index's frames past the last
    timestamp are counted on at the frame rate. The sampling keeps its grid from the video's first frame."""
    picks = sampled_frames(info, fps, every)
    if start_s is None and end_s is None:
        return picks
    if info.times_failed:  # the stream's own times fail throughout: its frames are timed by their order, as decoded
        stamped = np.arange(info.frame_count) / info.fps
    else:
        stamped = np.array(frame_times(info.path), dtype=np.float64)
    if not info.fps and len(stamped) < info.frame_count:
        raise VidemoError(f"{info.path}: --start and --end need the video's frame rate, which its container does not give")

    def within(frames: np.ndarray) -> np.ndarray:
        last = stamped[-1] if len(stamped) else -1 / info.fps
        times = np.where(
            frames < len(stamped),
            stamped[np.minimum(frames, max(len(stamped) - 1, 0))] if len(stamped) else 0.0,
            last + (frames - len(stamped) + 1) / (info.fps or np.inf),
        )
        return frames[(times >= (start_s or 0.0) - 1e-9) & (times < (end_s if end_s is not None else np.inf) - 1e-9)]

    kept = within(picks)
    if not len(kept):
        window = f"from {start_s or 0:g} s to {f'{end_s:g} s' if end_s is not None else 'the end'}"
        if len(within(np.arange(info.frame_count))):  # the window holds frames, but none of the sampling's
            raise VidemoError(
                f"{info.path}: no frame to analyse {window}: the {'--fps' if fps is not None else '--every'} "
                "sampling counts from the video's first frame and picks none of the frames there; "
                "widen the window or sample more often"
            )
        raise VidemoError(f"{info.path}: no frame to analyse {window} (the video lasts {info.duration_s:.3g} s)")
    return kept


def sampled_frames(info: VideoInfo, fps: float | None = None, every: int | None = None) -> np.ndarray:
    """Indices of all frames, every Nth, or about ``fps`` per second of video."""
    if fps is not None and every is not None:
        raise VidemoError("--fps and --every cannot be used together")
    if every is not None:
        if every < 1:
            raise VidemoError("--every must be at least 1")
        return np.arange(0, info.frame_count, every)
    if fps is not None:
        if fps <= 0:
            raise VidemoError("--fps must be positive")
        if not info.fps or fps >= info.fps:
            return np.arange(info.frame_count)
        step = info.fps / fps
        picks = np.floor(np.arange(0, info.frame_count / step) * step + 1e-6).astype(np.int64)
        return np.unique(picks[picks < info.frame_count])
    return np.arange(info.frame_count)


def chunk_bounds(count: int, chunk: int) -> list[tuple[int, int]]:
    """(start, stop) of each chunk of ``count`` frames: ``chunk`` frames each, except that the first ones grow 2, 4,
    8... up to ``chunk`` and the last ones shrink the same way. Parallel lanes then start after a few frames are
    decoded, not after a whole chunk each (on 1080p a chunk of 16 takes a quarter second to decode), and finish
    together: a lane given the last whole chunk would leave the others idle for as long as it takes (2 s at 1080p)."""
    head, tail, left, size = [], [], count, min(2, chunk)
    while left > 0:
        for sizes in (head, tail):
            if left > 0:
                sizes.append(min(size, left))
                left -= sizes[-1]
        size = min(2 * size, chunk)
    sizes = head + tail[::-1]
    return [(int(stop - size), int(stop)) for stop, size in zip(np.cumsum(sizes), sizes)]
