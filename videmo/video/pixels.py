"""Frames in displayed pixels: non-square pixels scaled to the shown size, and the runs of one picture size that a chunk may hold."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def shown_size(frame, aspect: Fraction) -> tuple[int, int]:
    """A decoded PyAV frame's (width, height) as displayed: its pixels made square (``aspect``, width:height of a
    stored pixel), then turned."""
    width, height = max(1, round(frame.width * aspect)), frame.height
    return (height, width) if frame.rotation in (90, 270) else (width, height)


def rgb_shown(frame, aspect: Fraction) -> np.ndarray:
    """A decoded PyAV frame as RGB, as displayed: its pixels made square, then turned.
    One thread: swscale's default of a thread per core has its helpers queue behind the lanes, and converting the
    example's 275 frames beside them took 0.8 s for 0.07 s of CPU."""
    square = {} if aspect == 1 else {"width": max(1, round(frame.width * aspect)), "height": frame.height}
    return np.rot90(frame.to_ndarray(format="rgb24", threads=1, **square), k=frame.rotation // 90)


def one_size_runs(
    items: list[tuple[int, float, np.ndarray | None, bool]],
) -> list[list[tuple[int, float, np.ndarray | None, bool]]]:
    """``decoded_frames``' items in runs whose decoded frames are all of one size (a frame that did not decode joins
    the run it falls in); none for no items."""
    runs: list[list] = []
    shape = None  # the run's frames' shape
    for item in items:
        if not runs or (item[2] is not None and shape is not None and item[2].shape != shape):
            runs.append([])
        runs[-1].append(item)
        shape = item[2].shape if item[2] is not None else shape
    return runs
