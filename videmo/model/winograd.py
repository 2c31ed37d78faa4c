"""Winograd's minimal filtering F(m, 3) (Lavin and Gray, 2016): the transforms that give m outputs
of a 3-tap correlation from m + 2 inputs by m + 2 products, and the tile size that does a layer's
work in the fewest. ``runtime`` builds the classifier's 3x3 convolutions on them (F(m x m, 3 x 3),
the transforms applied along rows and columns)."""

from __future__ import annotations

import math

import numpy as np

# Winograd tile sizes m and their interpolation points (the last one, infinity, is implicit): small
# integers and halves, whose powers fp32 holds exactly, as in Lavin and Gray and in NNPACK's F(6x6, 3x3).
WINOGRAD_POINTS = {2: (0, 1, -1), 3: (0, 1, -1, 2), 4: (0, 1, -1, 2, -2), 6: (0, 1, -1, 2, -2, 0.5, -0.5)}


def winograd_matrices(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F(m, 3)'s input, filter and output transforms (B^T, G, A^T), float64: the correlation of an
    (m+2)-vector d with a 3-tap filter g is A^T [(G g) * (B^T d)]. G and A^T evaluate the filter and
    the output polynomials at the points (Toom-Cook); B^T is then the one matrix that makes the identity
    hold, solved for here rather than copied from a table."""
    points = np.array(WINOGRAD_POINTS[m], dtype=np.float64)
    size = m + 2
    spread = np.array([np.prod([p - q for q in np.delete(points, i)]) for i, p in enumerate(points)])
    at = np.zeros((m, size))
    at[:, :-1] = points[None, :] ** np.arange(m)[:, None]
    at[-1, -1] = 1
    g = np.zeros((size, 3))
    g[:-1] = points[:, None] ** np.arange(3)[None, :] / spread[:, None]
    g[-1, -1] = 1
    # sum_k A^T[i, k] G[k, j] B^T[k, l] = 1 where l = i + j, else 0: linear in B^T
    system = np.zeros((m, 3, size, size, size))
    for i in range(m):
        for j in range(3):
            for l in range(size):
                system[i, j, l, :, l] = at[i] * g[:, j]
    target = np.zeros((m, 3, size))
    for i in range(m):
        for j in range(3):
            target[i, j, i + j] = 1
    bt = np.linalg.lstsq(system.reshape(-1, size * size), target.ravel(), rcond=None)[0].reshape(size, size)
    return np.round(bt, 9), g, at  # least squares leaves ~1e-15 off B^T's small dyadic entries: snap them back


def winograd_tile(side: int, out_channels: int) -> int:
    """The tile size m with the least work for a layer of this side: the products ((m+2)^2 per tile,
    channel pair) and the input transform ((m+2)^4 per tile and input channel), padding included."""

    def work(m: int) -> int:
        tiles, size = math.ceil(side / m) ** 2, (m + 2) ** 2
        return tiles * size * (out_channels + size)

    return min(WINOGRAD_POINTS, key=work)
