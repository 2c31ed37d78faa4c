"""From per-frame probabilities to episodes: stretches of time in which one face shows one emotion.

Per-frame labels flicker whenever two emotions are close. Each track's probabilities are smoothed
with a centred window of ``smooth_s`` seconds (centred, so a change is not shifted later in time),
labelled by the smoothed top emotion, and cut into runs of one label. A run shorter than
``min_episode_s`` is merged into the neighbour whose emotion it shows more (by its smoothed
probabilities), shortest first, until every episode is long enough or has no neighbour. A gap in
a track longer than ``gap_frames`` analysed frames (and than the window) ends its episode: nothing
is said about time when the face was not seen. All durations are in seconds, so the settings mean
the same at any frame rate, ``--fps`` or ``--every``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from videmo.core.emotions import CLASSES
from videmo.core.options import MIN_EPISODE_S, SMOOTH_S, words

EPISODE_COLUMNS = [
    "face_id",
    "emotion",
    "t_start",
    "t_end",
    "duration_s",
    "n_frames",
    "mean_probability",
    "peak_probability",
    "t_peak",
]
EPISODE_DTYPES = {
    "face_id": "Int64",
    "emotion": "string",
    "t_start": "float64",
    "t_end": "float64",
    "duration_s": "float64",
    "n_frames": "int64",
    "mean_probability": "float64",
    "peak_probability": "float64",
    "t_peak": "float64",
}
GAP_FRAMES = 2.5  # a track gap of more than this many analysed frames ends an episode
# A track seen for less than this (first to last frame, plus one frame's step) is taken for a spurious
# detection: on the example clip and the 1080p crowd, analysed at every frame, the only such tracks are
# one frame long and no face (a hand, a coat), while the shortest real ones last several frames
# (benchmarks/tracks.py's "short" column, see benchmarks/results/tracks.txt). 0.15 s lies between: at
# 10 analysed frames a second a single frame is too short.
MIN_TRACK_S = 0.15


def frame_step(frames: pd.DataFrame) -> float:
    """The analysed frames' time step (median over the video): how long one analysed frame stands for."""
    times = np.unique(frames["time_s"].dropna().to_numpy())
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0


def sampling_warning(frames: pd.DataFrame, smooth_s: float, min_episode_s: float, video: str) -> str | None:
    """The warning for a video whose analysed frames lie too far apart for its episode settings, or None:
    a centred window of ``smooth_s`` holds one frame where the frames are more than ``smooth_s / 2``
    apart (it smooths nothing), and a one-frame episode is long enough where they are ``min_episode_s``
    or more apart (``--fps 2``: frames 0.5 s apart, so the defaults, 0.5 s, smooth nothing and every
    episode may be one frame). A setting of 0 (switched off) is never warned of."""
    times = np.unique(frames["time_s"].dropna().to_numpy())
    if len(times) < 2:
        return None
    step = frame_step(frames)
    smooths_nothing = smooth_s > 0 and step > smooth_s / 2 + 1e-9
    keeps_single = min_episode_s > 0 and step >= min_episode_s - 1e-9
    if not (smooths_nothing or keeps_single):
        return None
    said = [f"--smooth {words(smooth_s)} s smooths nothing"] if smooths_nothing else []
    said += [f"--min-episode {words(min_episode_s)} s keeps one-frame episodes"] if keeps_single else []
    raise_ = " and ".join(name for name, bad in (("--smooth", smooths_nothing), ("--min-episode", keeps_single)) if bad)
    least = words(float(np.ceil(2 * step * 100 - 1e-6) / 100))
    return (
        f"{video}: the analysed frames are {words(round(step, 3))} s apart, so {' and '.join(said)}: raise {raise_} to at least "
        f"{least} s (videmo episodes redoes them without the video), or sample more frames (a higher --fps or a lower --every)"
    )


def smooth(times: np.ndarray, probabilities: np.ndarray, window_s: float) -> np.ndarray:
    """Each frame's mean probabilities over the frames within ``window_s / 2`` of it (a centred window)."""
    if window_s <= 0 or len(times) < 2:
        return probabilities
    low = np.searchsorted(times, times - window_s / 2 - 1e-9, side="left")
    high = np.searchsorted(times, times + window_s / 2 + 1e-9, side="right")
    sums = np.vstack([np.zeros((1, probabilities.shape[1])), np.cumsum(probabilities, axis=0)])
    return (sums[high] - sums[low]) / (high - low)[:, None]


def runs(labels: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each stretch of equal labels."""
    edges = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = np.concatenate([[0], edges, [len(labels)]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def merge_short(labels: np.ndarray, ends: np.ndarray, times: np.ndarray, smoothed: np.ndarray, min_s: float) -> np.ndarray:
    """Relabel runs shorter than ``min_s`` (shortest first) with the neighbour's emotion they show more."""
    labels = labels.copy()
    while True:
        spans = runs(labels)
        if len(spans) < 2:
            return labels
        durations = [ends[stop - 1] - times[start] for start, stop in spans]
        k = int(np.argmin(durations))
        if durations[k] >= min_s - 1e-9:
            return labels
        start, stop = spans[k]
        neighbours = [labels[spans[j][0]] for j in (k - 1, k + 1) if 0 <= j < len(spans)]
        labels[start:stop] = max(neighbours, key=lambda c: smoothed[start:stop, c].mean())


def track_labels(
    times: np.ndarray,
    probabilities: np.ndarray,
    step: float,
    smooth_s: float,
    min_episode_s: float,
    gap_frames: float = GAP_FRAMES,
) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray]:
    """For one track's frames (ascending times): the smoothed label of each frame, the (start, stop)
    of each episode, and each frame's end time (the next frame's time, or one step after the last
    frame of a stretch without gaps)."""
    gap = max(gap_frames * step, smooth_s)
    breaks = np.flatnonzero(np.diff(times) > gap) + 1
    labels = np.zeros(len(times), dtype=np.int64)
    ends = np.empty(len(times))
    spans = []
    for piece in np.split(np.arange(len(times)), breaks):
        t = times[piece]
        ends[piece] = np.append(t[1:], t[-1] + step)
        smoothed = smooth(t, probabilities[piece], smooth_s)
        piece_labels = merge_short(smoothed.argmax(axis=1), ends[piece], t, smoothed, min_episode_s)
        labels[piece] = piece_labels
        spans += [(piece[0] + a, piece[0] + b) for a, b in runs(piece_labels)]
    return labels, spans, ends


@dataclass(frozen=True)
class Readable:
    """Which face-frames can be read: turned at most ``max_yaw`` degrees, at least ``min_sharpness`` sharp
    and ``min_brightness`` bright (frames.csv's columns; None: no limit). Where a column is not measured
    (results of an older videmo), its limit does not apply."""

    max_yaw: float | None = None
    min_sharpness: float | None = None
    min_brightness: float | None = None

    def unreadable(self, frames: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(frames), dtype=bool)
        faces = frames["face_id"].notna().to_numpy()
        for column, limit, above in (
            ("yaw", self.max_yaw, True),
            ("sharpness", self.min_sharpness, False),
            ("brightness", self.min_brightness, False),
        ):
            if limit is None or column not in frames:
                continue
            values = frames[column].to_numpy(dtype=np.float64, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                out |= faces & ((np.abs(values) > limit) if above else (values < limit))
        return out


def add_episodes(
    frames: pd.DataFrame,
    smooth_s: float = SMOOTH_S,
    min_episode_s: float = MIN_EPISODE_S,
    min_track_s: float = MIN_TRACK_S,
    readable: Readable = Readable(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frames`` with its ``emotion_smoothed``, ``short_track`` and ``unreadable`` columns, and the
    episodes table (EPISODE_COLUMNS). A track shorter than ``min_track_s`` seconds keeps its rows,
    ``short_track`` True, without smoothed labels or episodes; so do the face-frames ``readable`` finds
    unreadable (``unreadable`` True): a track's episodes are cut from its readable frames alone."""
    frames = frames.copy()
    smoothed = np.full(len(frames), None, dtype=object)
    short = np.zeros(len(frames), dtype=bool)
    unreadable = readable.unreadable(frames)
    rows = []
    step = frame_step(frames)
    faces = frames[frames["face_id"].notna()]
    for face_id, track in faces.groupby("face_id", sort=True):
        track = track.sort_values("time_s", kind="stable")
        times, probabilities = track["time_s"].to_numpy(), track[list(CLASSES)].to_numpy()
        if times[-1] - times[0] + step < min_track_s - 1e-9:
            short[frames.index.get_indexer(track.index)] = True
            continue
        readable_rows = ~unreadable[frames.index.get_indexer(track.index)]
        track, times, probabilities = track[readable_rows], times[readable_rows], probabilities[readable_rows]
        if len(track) == 0:
            continue
        labels, spans, ends = track_labels(times, probabilities, step, smooth_s, min_episode_s)
        smoothed[frames.index.get_indexer(track.index)] = np.array(CLASSES, dtype=object)[labels]
        for start, stop in spans:
            emotion = int(labels[start])
            values = probabilities[start:stop, emotion]
            peak = int(np.argmax(values))
            rows.append(
                {
                    "face_id": int(face_id),
                    "emotion": CLASSES[emotion],
                    "t_start": times[start],
                    "t_end": ends[stop - 1],
                    "duration_s": ends[stop - 1] - times[start],
                    "n_frames": stop - start,
                    "mean_probability": float(values.mean()),
                    "peak_probability": float(values[peak]),
                    "t_peak": times[start + peak],
                }
            )
    frames["emotion_smoothed"] = pd.array(smoothed, dtype="string")
    frames["short_track"] = short
    frames["unreadable"] = unreadable
    episodes = pd.DataFrame(rows, columns=EPISODE_COLUMNS).astype(EPISODE_DTYPES)
    return frames, episodes


def readable_of(options) -> Readable:
    """The ``Readable`` limits an options object (AnalyzeOptions) sets."""
    return Readable(options.max_yaw, options.min_sharpness, options.min_brightness)
