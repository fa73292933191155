"""Inside or outside: flood fill the exterior, then sign every band point.

Three steps, each touching every grid point at most once:

1. **Exterior** (the reference's flood fill, done once per point): from the grid boundary,
   spread through points that are not in the *shell* ``udf < eps``. Blocks of the sparse grid
   that hold no band point are single nodes of the same search, so empty space costs one visit
   per block, not per point.
2. **Descent into the shell** (what removes the reference's eps dilation): from the exterior,
   continue into the shell along grid edges that do not touch the surface and that strictly
   decrease the distance. This reaches the outer side of every surface down to the surface
   itself, but cannot pass through a hole narrower than ``2 * eps`` (past the narrowest point of
   a hole the distance grows again), so the holes the shell closed stay closed.
3. **Slivers**: a grid edge that touches the surface with both ends outside crosses a thin sheet
   (a single quad, a flag, a leaf) or an unclosed part. Its end nearer the surface is turned
   inside, so the sheet comes out as a closed sliver about half a voxel thick instead of
   vanishing. Afterwards every edge that touches the surface has an inside end, so no 6-connected
   path of outside points passes through any surface.

Everything not reached in steps 1-2, or turned in step 3, is inside.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .._jit import njit
from .band import BLOCK, BLOCK_POINTS, MASK, SHIFT, SparseBand

OUTSIDE = np.uint8(1)


@nb.njit(cache=True, inline="always")
def _locate(index, res, i, j, k):
    """(block id or -1, local index) of grid point (i, j, k); block id -2 when off the grid."""
    if i < 0 or j < 0 or k < 0 or i >= res or j >= res or k >= res:
        return -2, 0
    b = index[i >> SHIFT, j >> SHIFT, k >> SHIFT]
    return b, ((i & MASK) << 6) | ((j & MASK) << 3) | (k & MASK)


@nb.njit(cache=True, inline="always")
def _may_enter(udf, crossed, eps, pb, pl, p_udf, axis, forward, qb, ql):
    """Can the outside spread from a fine point p (or an empty block, pb < 0) to fine point q?"""
    q_udf = udf[qb, ql]
    if q_udf >= eps:  # step 1: free space
        return p_udf >= eps
    # step 2: descend into the shell without touching the surface
    if not q_udf < p_udf:
        return False
    if pb < 0:
        return True
    if forward:
        return (crossed[pb, pl] >> axis) & 1 == 0
    return (crossed[qb, ql] >> axis) & 1 == 0


@nb.njit(cache=True, inline="always")
def _neighbour(index, res, pb, pl, i, j, k, axis, step):
    """Block id (-1 empty, -2 off the grid) and local index of the neighbour of a point."""
    shift = 6 - 3 * axis
    local = (pl >> shift) & MASK
    qi = i + step * (axis == 0)
    qj = j + step * (axis == 1)
    qk = k + step * (axis == 2)
    if 0 <= local + step <= MASK:  # same block: no lookup
        if qi >= res or qj >= res or qk >= res:
            return -2, 0
        return pb, pl + step * (1 << shift)
    return _locate(index, res, qi, qj, qk)


@nb.njit(cache=True)
def _spread_outside(index, origins, udf, crossed, res, eps):
    """Steps 1 and 2 as one depth-first search over fine points and empty blocks.

    Node codes: ``b * BLOCK_POINTS + local`` for a stored point, ``-(block position + 1)`` for an
    empty block. Every node is labelled when pushed, so it is pushed at most once and the stack
    never holds more than all the nodes. Returns the outside flags of stored points and of block
    positions.
    """
    nbx = index.shape[0]
    label = np.zeros(udf.shape, np.uint8)
    block_out = np.zeros(nbx * nbx * nbx, np.uint8)
    stack = np.empty(udf.size + block_out.size, np.int64)
    top = 0
    # seeds: every grid point on the boundary of the grid (the reference starts at one corner),
    # shell or not: the border is outside by definition, which keeps every contour inside the
    # grid and so closed, even when the mesh comes within eps of the border
    for bx in range(nbx):
        for by in range(nbx):
            for bz in range(nbx):
                if not (bx == 0 or by == 0 or bz == 0 or bx == nbx - 1 or by == nbx - 1
                        or bz == nbx - 1):
                    continue
                b = index[bx, by, bz]
                if b < 0:
                    code = (bx * nbx + by) * nbx + bz
                    block_out[code] = OUTSIDE
                    stack[top] = -(code + 1)
                    top += 1
                    continue
                for p in range(BLOCK_POINTS):
                    i = (bx << SHIFT) + (p >> 6)
                    j = (by << SHIFT) + ((p >> 3) & MASK)
                    k = (bz << SHIFT) + (p & MASK)
                    on_border = i == 0 or j == 0 or k == 0 or i == res - 1 or j == res - 1 \
                        or k == res - 1
                    if on_border and i < res and j < res and k < res:
                        label[b, p] = OUTSIDE
                        stack[top] = b * BLOCK_POINTS + p
                        top += 1
    while top > 0:
        top -= 1
        node = stack[top]
        if node < 0:
            top = _spread_from_block(index, udf, crossed, res, eps, label, block_out, -node - 1,
                                     stack, top)
            continue
        pb, pl = node // BLOCK_POINTS, node % BLOCK_POINTS
        i = origins[pb, 0] + (pl >> 6)
        j = origins[pb, 1] + ((pl >> 3) & MASK)
        k = origins[pb, 2] + (pl & MASK)
        p_udf = udf[pb, pl]
        for axis in range(3):
            for step in (-1, 1):
                qb, ql = _neighbour(index, res, pb, pl, i, j, k, axis, step)
                if qb == -2:
                    continue
                if qb == -1:  # an empty block: all free space, outside as a whole
                    if p_udf < eps:
                        continue
                    ni = i + step * (axis == 0)
                    nj = j + step * (axis == 1)
                    nk = k + step * (axis == 2)
                    code = ((ni >> SHIFT) * nbx + (nj >> SHIFT)) * nbx + (nk >> SHIFT)
                    if block_out[code] == 0:
                        block_out[code] = OUTSIDE
                        stack[top] = -(code + 1)
                        top += 1
                    continue
                if label[qb, ql] == 0 and _may_enter(udf, crossed, eps, pb, pl, p_udf, axis,
                                                     step > 0, qb, ql):
                    label[qb, ql] = OUTSIDE
                    stack[top] = qb * BLOCK_POINTS + ql
                    top += 1
    return label, block_out


@nb.njit(cache=True)
def _spread_from_block(index, udf, crossed, res, eps, label, block_out, code, stack, top):
    """Push what an empty outside block touches: empty blocks whole, stored points one by one
    on the face beside it. Returns the new stack top."""
    nbx = index.shape[0]
    bx, by, bz = code // (nbx * nbx), (code // nbx) % nbx, code % nbx
    for axis in range(3):
        for step in (-1, 1):
            cx, cy, cz = bx + step * (axis == 0), by + step * (axis == 1), bz + step * (axis == 2)
            if cx < 0 or cy < 0 or cz < 0 or cx >= nbx or cy >= nbx or cz >= nbx:
                continue
            qb = index[cx, cy, cz]
            if qb < 0:
                ncode = (cx * nbx + cy) * nbx + cz
                if block_out[ncode] == 0:
                    block_out[ncode] = OUTSIDE
                    stack[top] = -(ncode + 1)
                    top += 1
                continue
            fixed = 0 if step > 0 else BLOCK - 1
            for s in range(BLOCK):
                for t in range(BLOCK):
                    if axis == 0:
                        li, lj, lk = fixed, s, t
                    elif axis == 1:
                        li, lj, lk = s, fixed, t
                    else:
                        li, lj, lk = s, t, fixed
                    if (cx << SHIFT) + li >= res or (cy << SHIFT) + lj >= res \
                            or (cz << SHIFT) + lk >= res:
                        continue
                    ql = (li << 6) | (lj << 3) | lk
                    if label[qb, ql] == 0 and _may_enter(udf, crossed, eps, -1, 0, np.inf,
                                                         axis, step > 0, qb, ql):
                        label[qb, ql] = OUTSIDE
                        stack[top] = qb * BLOCK_POINTS + ql
                        top += 1
    return top


@njit(cache=True, parallel=True)
def _mark_slivers(index, origins, udf, crossed, label, res):
    """Step 3: for each surface-touching edge with both ends outside, turn the nearer end in."""
    sliver = np.zeros(label.shape, np.uint8)
    for pb in nb.prange(origins.shape[0]):
        for pl in range(BLOCK_POINTS):
            bits = crossed[pb, pl]
            if bits == 0 or label[pb, pl] != OUTSIDE:
                continue
            i = origins[pb, 0] + (pl >> 6)
            j = origins[pb, 1] + ((pl >> 3) & MASK)
            k = origins[pb, 2] + (pl & MASK)
            for axis in range(3):
                if (bits >> axis) & 1 == 0:
                    continue
                qb, ql = _locate(index, res, i + (axis == 0), j + (axis == 1), k + (axis == 2))
                if qb < 0 or label[qb, ql] != OUTSIDE:
                    continue
                if udf[qb, ql] < udf[pb, pl]:
                    sliver[qb, ql] = 1
                else:
                    sliver[pb, pl] = 1
    return sliver


@njit(cache=True, parallel=True)
def _signed_field(origins, udf, label, sliver, floor, cap, res):
    """Signed distance in voxels: positive outside, negative inside, |value| in [floor, cap].

    Grid points on the border of the grid are always outside (a sliver never turns them).
    """
    field = np.empty(udf.shape, np.float32)
    for b in nb.prange(udf.shape[0]):
        for p in range(udf.shape[1]):
            d = min(max(udf[b, p], floor), cap)
            inside = label[b, p] != OUTSIDE or sliver[b, p] != 0
            i = origins[b, 0] + (p >> 6)
            j = origins[b, 1] + ((p >> 3) & MASK)
            k = origins[b, 2] + (p & MASK)
            if i == 0 or j == 0 or k == 0 or i >= res - 1 or j >= res - 1 or k >= res - 1:
                inside = False
            field[b, p] = -d if inside else d
    return field


def sign_band(band: SparseBand, eps: float, floor: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Signed distances on the band points and the outside flag of every empty block.

    Parameters
    ----------
    band : SparseBand
        Distances and crossings from :func:`~meshprep.watertight.band.build_band`.
    eps : float
        Shell half-width in voxels: gaps and holes narrower than about ``2 * eps`` are closed.
    floor : float
        Smallest magnitude of a signed value, in voxels. Keeps grid points off the zero level so
        that every contour vertex is strictly inside its edge (no zero-length edges).

    Returns
    -------
    field : (n_blocks, BLOCK^3) float32
        Signed distance in voxels (negative inside), clamped to ``[floor, band.band]``.
    empty_outside : (nb^3,) uint8
        1 where an empty block is outside, 0 where it is enclosed.
    """
    if not eps < band.band:
        raise ValueError("the band must be wider than eps")
    label, block_out = _spread_outside(band.block_index, band.block_origin, band.udf,
                                       band.crossed, band.res, np.float32(eps))
    sliver = _mark_slivers(band.block_index, band.block_origin, band.udf, band.crossed, label,
                           band.res)
    field = _signed_field(band.block_origin, band.udf, label, sliver, np.float32(floor),
                          np.float32(band.band), band.res)
    return field, block_out
