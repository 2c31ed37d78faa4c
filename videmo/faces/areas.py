"""Area resizing (each output pixel the mean of the source pixels its window covers) for detection:
PIL's box filter for whole frames, and summed-area tables for the many small resizes of the MTCNN
pyramid and its candidate boxes, which read four sums per output pixel instead of every pixel, and
give the floats that torch's area interpolation and adaptive average pooling give."""

from __future__ import annotations

import numpy as np
import torch


def shrunk(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` (uint8 H, W, 3) area-resampled to ``size`` (height, width), as uint8.

    On the CPU, PIL's box filter is several times faster than torch's area resize of a float copy at
    1080p (that resize was a large share of detecting a 1080p frame), and a whole factor, such as
    1080p to 640 x 360, it reduces faster still (``shrunk`` in benchmarks/detect_profile.py, see
    benchmarks/results/detect_profile_bf16.txt). Both average the pixels each output pixel covers; at a
    whole factor they agree to rounding, between them PIL weighs the pixels that a
    bin covers in part by the part it covers, where torch's bins take such pixels whole."""
    from PIL import Image

    height, width = frame.shape[:2]
    image = Image.fromarray(np.ascontiguousarray(frame))
    if height % size[0] == 0 and width % size[1] == 0 and height // size[0] == width // size[1]:
        return np.asarray(image.reduce(width // size[1]))
    return np.asarray(image.resize((size[1], size[0]), Image.BOX))


def summed_area_tables(frames: np.ndarray) -> torch.Tensor:
    """(N, H + 1, W + 1, C) sums of the uint8 (N, H, W, C) ``frames`` above and left of each corner: every
    area resize of a frame (its pyramid levels, its boxes' crops) reads four per output pixel, the sums
    exact. int32 where it holds them (up to 4K frames), as it gathers faster than int64.

    Down the columns a row at a time (each add a whole row, vectorised), then along the rows: faster
    than ``np.cumsum`` down axis 1, whose uint8-to-int32 cast runs element by element (see
    benchmarks/results/pairs_bf16.txt)."""
    count, height, width, channels = frames.shape
    dtype = np.int32 if height * width * 255 < 2**31 else np.int64
    table = np.zeros((count, height + 1, width + 1, channels), dtype)
    inner = table[:, 1:, 1:]
    inner[...] = frames
    for row in range(1, height):
        np.add(inner[:, row], inner[:, row - 1], out=inner[:, row])
    np.add.accumulate(inner, axis=2, out=inner)
    return torch.from_numpy(table)


def area_windows(k: torch.Tensor, source: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last-plus-one source pixels of output pixels ``k`` of an area resize from ``source`` to
    ``size`` pixels: adaptive_avg_pool2d's floor(k n / size) to ceil((k + 1) n / size)."""
    return k * source // size, -(-(k + 1) * source // size)


def pixel_records(sums: np.ndarray) -> np.ndarray:
    """``sums`` (..., C) seen as one record a pixel, (..., 1), which numpy's take copies whole: faster
    than index_select copying rows of C."""
    return sums.view(np.dtype((np.void, sums.shape[-1] * sums.itemsize)))


def table_level(tables: torch.Tensor, shape: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """The frames' area resize from ``shape`` to ``size``, (N,3,h,w) channels-last, from their summed-area
    ``tables``: F.interpolate's floats (sums exact, divided as it divides: by the window's height, then its
    width). Rows are gathered first (whole rows), then columns as whole pixel records (numpy's take):
    faster than gathering columns from a turned copy."""
    row_start, row_end = area_windows(torch.arange(size[0]), shape[0], size[0])
    col_start, col_end = area_windows(torch.arange(size[1]), shape[1], size[1])
    rows = (tables.index_select(1, row_end) - tables.index_select(1, row_start)).numpy()  # (N, h, W + 1, C)
    records = pixel_records(rows)  # (N, h, W + 1, 1)

    def columns(index: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(records.take(index.numpy(), axis=2).view(rows.dtype))

    sums = (columns(col_end) - columns(col_start)).float()  # (N, h, w, C)
    means = sums / (row_end - row_start).float()[:, None, None] / (col_end - col_start).float()[:, None]
    return means.permute(0, 3, 1, 2)


def table_parts(tables: torch.Tensor, parts: torch.Tensor, shape: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """The (P,5) equal-sized ``parts`` (image, top, bottom, left, right) of the frames' area resize from
    ``shape`` to ``size``, (P,3,h,w), from their summed-area ``tables``: table_level's floats there."""
    rows = parts[:, 1:2] + torch.arange(int(parts[0, 2] - parts[0, 1]))
    cols = parts[:, 3:4] + torch.arange(int(parts[0, 4] - parts[0, 3]))
    return area_gather(tables, parts[:, 0], *area_windows(rows, shape[0], size[0]), *area_windows(cols, shape[1], size[1]))


def area_gather(
    tables: torch.Tensor,
    image: torch.Tensor,
    row_start: torch.Tensor,
    row_end: torch.Tensor,
    col_start: torch.Tensor,
    col_end: torch.Tensor,
) -> torch.Tensor:
    """(K,C,h,w) means of the pixels of frames ``image`` (K) from (K,h) rows and (K,w) columns ``start``
    to ``end`` (one past the last), from their summed-area ``tables``: the sums exact, divided by the
    window's height, then its width, as ``adaptive_avg_pool2d`` divides them."""
    sums = tables.numpy()
    records = pixel_records(sums.reshape(-1, sums.shape[3])).ravel()
    image = image[:, None]

    def corner(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:  # (K, h, w, C)
        index = ((image * tables.shape[1] + rows)[:, :, None] * tables.shape[2] + cols[:, None, :]).flatten()
        picked = records.take(index.numpy()).view(sums.dtype)
        return torch.from_numpy(picked.reshape(len(rows), rows.shape[1], cols.shape[1], sums.shape[3]))

    total = corner(row_end, col_end) - corner(row_start, col_end) - corner(row_end, col_start) + corner(row_start, col_start)
    # Divided in this (K, h, w, C) order, whose contiguous memory the division runs through faster;
    # returned as (K, C, h, w), channels-last.
    means = total.float() / (row_end - row_start).float()[:, :, None, None] / (col_end - col_start).float()[:, None, :, None]
    return means.permute(0, 3, 1, 2)


def table_crops(tables: torch.Tensor, regions: torch.Tensor, size: int) -> torch.Tensor:
    """``adaptive_avg_pool2d`` of each (image, left, top, right, bottom) region to size x size, from the
    summed-area ``tables``: the same windows (floor(k n / size) to ceil((k + 1) n / size)), their sums
    exact, divided as that kernel divides: the same floats."""
    k = torch.arange(size)
    image, left, top, right, bottom = regions.unbind(1)
    height, width = (bottom - top)[:, None], (right - left)[:, None]
    return area_gather(
        tables,
        image,
        top[:, None] + k * height // size,
        top[:, None] - (-(k + 1) * height // size),
        left[:, None] + k * width // size,
        left[:, None] - (-(k + 1) * width // size),
    )
