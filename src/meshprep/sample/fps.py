"""Farthest point sampling of large point clouds (fpsample's bucket kd-line, seeded)."""

from __future__ import annotations

import math

import fpsample
import numpy as np


def default_height(n_points: int) -> int:
    """kd-tree height for fpsample's bucket methods: buckets of about 512 points, 3 to 11.

    Measured here on 70k to 1M points, buckets of a few hundred points are fastest; fpsample's
    own advice (3 for small, 5 to 7 for medium, 9 for large clouds) is the same curve.
    """
    return int(min(11, max(3, round(math.log2(max(n_points, 1))) - 9)))


def farthest_point_sampling(
    points: np.ndarray,
    count: int,
    *,
    start: int | None = None,
    seed: int | np.random.Generator | None = 0,
    height: int | None = None,
    exact_start: bool = False,
) -> np.ndarray:
    """Indices of ``count`` points chosen by farthest point sampling.

    Uses ``fpsample.bucket_fps_kdline_sampling`` (QuickFPS with a kd-line tree), the fastest
    exact FPS available on the CPU. The result is deterministic: the start index is ``start``
    if given, else drawn from ``seed``.

    fpsample 1.0.2's kd-line sampler reads its ``start_idx`` as a position in its internal
    (kd-tree) order, so the first index it returns is a fixed function of ``start`` but not
    ``start`` itself; every later point is the exact farthest point from those before it.
    With ``exact_start=True`` the sequence starts at ``start`` exactly, through fpsample's plain
    O(N * count) sampler: fine for small clouds, far slower for large ones.

    Parameters
    ----------
    points : (N, D) array_like
        The cloud (converted to float32, as fpsample requires).
    count : int
        Number of indices, ``0 <= count <= N``.
    start : int, optional
        Start index. Default: drawn uniformly with ``seed``.
    seed : int, numpy.random.Generator or None
        Seed for the start index when ``start`` is None.
    height : int, optional
        kd-tree height (buckets of ``N / 2**height`` points); default :func:`default_height`.
    exact_start : bool
        Make ``indices[0] == start`` (slow plain FPS, see above).

    Returns
    -------
    (count,) int64
        Distinct indices into ``points``, in sampling order.

    Examples
    --------
    >>> pts = np.random.default_rng(0).random((10_000, 3))
    >>> farthest_point_sampling(pts, 512, seed=0).shape
    (512,)
    >>> int(farthest_point_sampling(pts, 16, start=7, exact_start=True)[0])
    7
    """
    cloud = np.ascontiguousarray(points, dtype=np.float32)
    if cloud.ndim != 2:
        raise ValueError(f"points must be (N, D), got {cloud.shape}")
    n = len(cloud)
    if not 0 <= count <= n:
        raise ValueError(f"count must be in [0, {n}], got {count}")
    if start is None:
        start = int(np.random.default_rng(seed).integers(n)) if n else 0
    elif not 0 <= start < max(n, 1):
        raise ValueError(f"start must be in [0, {n}), got {start}")
    if count == 0:
        return np.zeros(0, np.int64)
    if exact_start or count == 1 or n < 8:
        # fpsample's plain sampler honours the start index; one point needs no search at all
        if count == 1:
            return np.array([start], np.int64)
        return np.asarray(fpsample.fps_sampling(cloud, count, start_idx=start), dtype=np.int64)
    h = default_height(n) if height is None else int(height)
    # fpsample requires 2**h <= N
    h = max(1, min(h, int(math.log2(n))))
    return np.asarray(
        fpsample.bucket_fps_kdline_sampling(cloud, count, h, start_idx=start), dtype=np.int64
    )
