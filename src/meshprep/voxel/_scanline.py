"""The scan lines that find where triangles cross the grid's edges (TRELLIS.2's converters).

Both of TRELLIS.2's converters find a triangle's voxels the same way
(``o-voxel/src/convert/flexible_dual_grid.cpp`` ``intersect_qef`` and ``volumetic_attr.cpp``):
for each axis, rows along the next-but-one axis and columns along the next, grid lines as float32
products ``(i + 1) * voxel_size``, interpolation in float64; a crossing activates the four voxels
around its edge. The O-Voxel shape (``dual_grid.py``) and the PBR attributes (``pbr.py``) share
this module so that their voxel sets are the same bit for bit.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always")
def _lerp(a, b, t, va, vb):
    if a == b:
        return va
    alpha = (t - a) / (b - a)
    return (1.0 - alpha) * va + alpha * vb


@nb.njit(cache=True, inline="always")
def _clamp_index(value, res):
    i = int(value)
    return min(max(i, 0), res - 1)


@nb.njit(cache=True)
def _scan_triangle(tri, ax2, vs, res, out_idx, out_pt, out_tri, t_id, pos, write):
    """Crossings of triangle ``tri`` with the grid edges along ``ax2``; returns how many.

    Rows step along ``ax1 = ax2 + 2``, columns along ``ax0 = ax2 + 1`` (mod 3). Grid lines are
    float32 products ``(i + 1) * voxel_size``; interpolation is in float64.
    """
    ax0 = (ax2 + 1) % 3
    ax1 = (ax2 + 2) % 3
    tx = np.empty(3, np.float64)
    ty = np.empty(3, np.float64)
    tz = np.empty(3, np.float64)
    for k in range(3):
        tx[k], ty[k], tz[k] = tri[k, ax0], tri[k, ax1], tri[k, ax2]
    # stable sort of the three corners by their row coordinate
    for i in range(1, 3):
        j = i
        while j > 0 and ty[j] < ty[j - 1]:
            tx[j], tx[j - 1] = tx[j - 1], tx[j]
            ty[j], ty[j - 1] = ty[j - 1], ty[j]
            tz[j], tz[j - 1] = tz[j - 1], tz[j]
            j -= 1
    vs64 = np.float64(vs)
    start = _clamp_index(ty[0] / vs64, res)
    mid = _clamp_index(ty[1] / vs64, res)
    end = _clamp_index(ty[2] / vs64, res)
    n = 0
    for half in range(2):
        a, b, c = (0, 1, 2) if half == 0 else (2, 1, 0)
        row0, row1 = (start, mid) if half == 0 else (mid, end)
        for y_idx in range(row0, row1):
            y = np.float64(np.float32(y_idx + 1) * vs)
            px = _lerp(ty[a], ty[b], y, tx[a], tx[b])
            pz = _lerp(ty[a], ty[b], y, tz[a], tz[b])
            qx = _lerp(ty[a], ty[c], y, tx[a], tx[c])
            qz = _lerp(ty[a], ty[c], y, tz[a], tz[c])
            if px > qx:
                px, qx = qx, px
                pz, qz = qz, pz
            line0 = _clamp_index(px / vs64, res)
            line1 = _clamp_index(qx / vs64, res)
            for x_idx in range(line0, line1):
                x = np.float64(np.float32(x_idx + 1) * vs)
                z = _lerp(px, qx, x, pz, qz)
                z_idx = int(z / vs64)
                if z_idx < 0 or z_idx >= res:
                    continue
                if write:
                    k = pos + n
                    out_idx[k, ax0] = x_idx
                    out_idx[k, ax1] = y_idx
                    out_idx[k, ax2] = z_idx
                    out_idx[k, 3] = ax2
                    out_pt[k, ax0] = np.float32(x)
                    out_pt[k, ax1] = np.float32(y)
                    out_pt[k, ax2] = np.float32(z)
                    out_tri[k] = t_id
                n += 1
    return n


@nb.njit(cache=True, parallel=True)
def count_crossings(tris, vs, res):
    counts = np.zeros(len(tris), np.int64)
    dummy_i = np.empty((0, 4), np.int32)
    dummy_p = np.empty((0, 3), np.float32)
    dummy_t = np.empty(0, np.int32)
    for t in nb.prange(len(tris)):
        n = 0
        for ax2 in range(3):
            n += _scan_triangle(tris[t], ax2, vs, res, dummy_i, dummy_p, dummy_t, t, 0, False)
        counts[t] = n
    return counts


@nb.njit(cache=True, parallel=True)
def fill_crossings(tris, vs, res, offsets):
    """Every crossing: (i, j, k of the owning voxel, axis), its point (float32), its triangle;
    in triangle order, then axis x, y, z, as the reference meets them."""
    total = offsets[-1]
    idx = np.empty((total, 4), np.int32)
    pts = np.empty((total, 3), np.float32)
    tri_of = np.empty(total, np.int32)
    for t in nb.prange(len(tris)):
        pos = offsets[t]
        for ax2 in range(3):
            pos += _scan_triangle(tris[t], ax2, vs, res, idx, pts, tri_of, t, pos, True)
    return idx, pts, tri_of


@nb.njit(cache=True, inline="always")
def corner_voxel(idx_row, corner):
    """Voxel ``corner`` (0..3) of the four around a crossing's edge."""
    ax2 = idx_row[3]
    d0 = corner & 1
    d1 = corner >> 1
    i, j, k = idx_row[0], idx_row[1], idx_row[2]
    if ax2 == 0:  # columns along y, rows along z
        return i, j + d0, k + d1
    if ax2 == 1:  # columns along z, rows along x
        return i + d1, j, k + d0
    return i + d0, j + d1, k  # columns along x, rows along y
