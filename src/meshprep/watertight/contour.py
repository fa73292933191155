"""Marching cubes on the sparse band, with the consistent tables of :mod:`.tables`.

Only blocks that store band points can hold a sign change (empty blocks are uniformly inside or
outside), so both passes run over stored blocks, in parallel, in two rounds each (count, then
fill at prefix-summed offsets) so the output order is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .._jit import njit
from .band import BLOCK, BLOCK_POINTS, MASK, SHIFT, SparseBand
from .tables import CORNERS, EDGE_AXIS, EDGES, marching_cubes_tables

_FAR = np.float32(1e6)


@nb.njit(cache=True, inline="always")
def _value(index, field, empty_outside, i, j, k):
    """Signed value at grid point (i, j, k), stored or from its empty block."""
    b = index[i >> SHIFT, j >> SHIFT, k >> SHIFT]
    if b >= 0:
        return field[b, ((i & MASK) << 6) | ((j & MASK) << 3) | (k & MASK)]
    nbx = index.shape[0]
    code = ((i >> SHIFT) * nbx + (j >> SHIFT)) * nbx + (k >> SHIFT)
    return _FAR if empty_outside[code] else -_FAR


@njit(cache=True, parallel=True)
def _count_edge_vertices(index, origins, field, empty_outside, res):
    """Per stored point, bit ``a`` set when its edge to the ``+a`` neighbour changes sign; and
    the prefix sum of those counts per block (where each block's vertices start)."""
    crossing = np.zeros((origins.shape[0], BLOCK_POINTS), np.uint8)
    counts = np.zeros(origins.shape[0] + 1, np.int64)
    for b in nb.prange(origins.shape[0]):
        n = 0
        for p in range(BLOCK_POINTS):
            i, j, k = origins[b, 0] + (p >> 6), origins[b, 1] + ((p >> 3) & MASK), \
                origins[b, 2] + (p & MASK)
            if i >= res or j >= res or k >= res:
                continue
            inside = field[b, p] < 0
            bits = 0
            for axis in range(3):
                ni, nj, nk = i + (axis == 0), j + (axis == 1), k + (axis == 2)
                if ni < res and nj < res and nk < res:
                    if (_value(index, field, empty_outside, ni, nj, nk) < 0) != inside:
                        bits |= 1 << axis
                        n += 1
            crossing[b, p] = bits
        counts[b + 1] = n
    return crossing, np.cumsum(counts)


@njit(cache=True, parallel=True)
def _place_edge_vertices(index, origins, field, empty_outside, res, crossing, offsets):
    """One vertex per sign-changing edge, where the linear interpolant crosses zero."""
    # float32 grid coordinates: 6e-5 voxel apart at 1024, half the memory of float64
    vertices = np.empty((offsets[-1], 3), np.float32)
    vertex_id = np.empty((origins.shape[0], BLOCK_POINTS, 3), np.int32)
    for b in nb.prange(origins.shape[0]):
        n = offsets[b]
        for p in range(BLOCK_POINTS):
            bits = crossing[b, p]
            if bits == 0:
                continue
            i, j, k = origins[b, 0] + (p >> 6), origins[b, 1] + ((p >> 3) & MASK), \
                origins[b, 2] + (p & MASK)
            v0 = field[b, p]
            for axis in range(3):
                if (bits >> axis) & 1 == 0:
                    continue
                v1 = _value(index, field, empty_outside, i + (axis == 0), j + (axis == 1),
                            k + (axis == 2))
                t = v0 / (v0 - v1)
                # keep vertices strictly inside their edge so no two coincide
                t = min(max(t, 0.01), 0.99)
                vertices[n, 0] = i + t * (axis == 0)
                vertices[n, 1] = j + t * (axis == 1)
                vertices[n, 2] = k + t * (axis == 2)
                vertex_id[b, p, axis] = n
                n += 1
    return vertices, vertex_id


@nb.njit(cache=True, inline="always")
def _cell_case(index, field, empty_outside, b, p, i, j, k):
    """Case index of the cell whose lowest corner is point ``p`` of block ``b``."""
    case = 0
    if b >= 0 and (p >> 6) < MASK and ((p >> 3) & MASK) < MASK and (p & MASK) < MASK:
        # the whole cell is in this block: read the corners directly
        for c in range(8):
            if field[b, p + ((c & 1) << 6) + (((c >> 1) & 1) << 3) + ((c >> 2) & 1)] < 0:
                case |= 1 << c
        return case
    for c in range(8):
        if _value(index, field, empty_outside, i + (c & 1), j + ((c >> 1) & 1),
                  k + ((c >> 2) & 1)) < 0:
            case |= 1 << c
    return case


@njit(cache=True, parallel=True)
def _active_blocks(index, origins, field, empty_outside, res):
    """Block positions whose cells may change sign (cells belong to their lowest corner).

    Per position: 0 all outside, 1 all inside, 2 mixed. A position is active when it is mixed
    or one of the 7 positions above it differs; that includes empty positions just below the
    surface, whose top cells reach into stored blocks.
    """
    nbx = index.shape[0]
    n_positions = nbx * nbx * nbx
    summary = np.empty(n_positions, np.uint8)
    for code in nb.prange(n_positions):
        summary[code] = 0 if empty_outside[code] else 1
    for b in nb.prange(origins.shape[0]):
        n_inside, n_valid = 0, 0
        for p in range(BLOCK_POINTS):
            i, j, k = origins[b, 0] + (p >> 6), origins[b, 1] + ((p >> 3) & MASK), \
                origins[b, 2] + (p & MASK)
            if i < res and j < res and k < res:
                n_valid += 1
                n_inside += field[b, p] < 0
        code = ((origins[b, 0] >> SHIFT) * nbx + (origins[b, 1] >> SHIFT)) * nbx \
            + (origins[b, 2] >> SHIFT)
        summary[code] = 0 if n_inside == 0 else (1 if n_inside == n_valid else 2)
    active = np.zeros(n_positions, np.bool_)
    for code in nb.prange(n_positions):
        bx, by, bz = code // (nbx * nbx), (code // nbx) % nbx, code % nbx
        own = summary[code]
        mixed = own == 2
        for c in range(1, 8):
            cx, cy, cz = bx + (c & 1), by + ((c >> 1) & 1), bz + ((c >> 2) & 1)
            if cx < nbx and cy < nbx and cz < nbx and summary[(cx * nbx + cy) * nbx + cz] != own:
                mixed = True
        active[code] = mixed
    return np.flatnonzero(active)


@nb.njit(cache=True, inline="always")
def _position(index, code):
    """Block id (-1 when empty) and first grid point of the block at position ``code``."""
    nbx = index.shape[0]
    bx, by, bz = code // (nbx * nbx), (code // nbx) % nbx, code % nbx
    return index[bx, by, bz], bx << SHIFT, by << SHIFT, bz << SHIFT


@njit(cache=True, parallel=True)
def _count_triangles(index, origins, field, empty_outside, res, active, n_triangles):
    """Case of every cell of the active blocks, and where each block's triangles start."""
    cases = np.zeros((active.shape[0], BLOCK_POINTS), np.uint8)
    counts = np.zeros(active.shape[0] + 1, np.int64)
    for a in nb.prange(active.shape[0]):
        b, oi, oj, ok = _position(index, active[a])
        n = 0
        for p in range(BLOCK_POINTS):
            i, j, k = oi + (p >> 6), oj + ((p >> 3) & MASK), ok + (p & MASK)
            if i + 1 >= res or j + 1 >= res or k + 1 >= res:
                continue
            case = _cell_case(index, field, empty_outside, b, p, i, j, k)
            cases[a, p] = case
            n += n_triangles[case]
        counts[a + 1] = n
    return cases, np.cumsum(counts)


@njit(cache=True, parallel=True)
def _emit_triangles(index, active, cases, offsets, vertex_id, triangles, n_triangles, corners,
                    edges, edge_axis):
    # int32 vertex ids (vertex_id is int32 already): half the memory of int64 on huge outputs
    faces = np.empty((offsets[-1], 3), np.int32)
    for a in nb.prange(active.shape[0]):
        _, oi, oj, ok = _position(index, active[a])
        n = offsets[a]
        for p in range(BLOCK_POINTS):
            case = cases[a, p]
            if n_triangles[case] == 0:
                continue
            i, j, k = oi + (p >> 6), oj + ((p >> 3) & MASK), ok + (p & MASK)
            for t in range(n_triangles[case]):
                for m in range(3):
                    e = triangles[case, t, m]
                    c = edges[e, 0]
                    ci, cj, ck = i + corners[c, 0], j + corners[c, 1], k + corners[c, 2]
                    cb = index[ci >> SHIFT, cj >> SHIFT, ck >> SHIFT]
                    cl = ((ci & MASK) << 6) | ((cj & MASK) << 3) | (ck & MASK)
                    faces[n, m] = vertex_id[cb, cl, edge_axis[e]]
                n += 1
    return faces


@dataclass
class ContourPlan:
    """Everything the triangles need once the band itself may be freed (see :func:`plan_contour`).
    """

    block_index: np.ndarray
    active: np.ndarray
    cases: np.ndarray
    face_offsets: np.ndarray
    vertex_id: np.ndarray
    vertices: np.ndarray


def plan_contour(band: SparseBand, field: np.ndarray, empty_outside: np.ndarray) -> ContourPlan:
    """Place the vertices and classify the cells: the part of contouring that reads the field.

    Split from :func:`emit_faces` so a caller can drop the band (distances and signs, often
    the largest arrays of a run) before the faces are allocated.
    """
    assert BLOCK == 8, "local indices assume 8^3 blocks"
    _, n_triangles = marching_cubes_tables()
    args = (band.block_index, band.block_origin, field, empty_outside, band.res)
    crossing, vertex_offsets = _count_edge_vertices(*args)
    if vertex_offsets[-1] >= np.iinfo(np.int32).max:
        raise ValueError("more than 2^31 output vertices: use a lower resolution")
    vertices, vertex_id = _place_edge_vertices(*args, crossing, vertex_offsets)
    del crossing
    active = _active_blocks(*args)
    cases, face_offsets = _count_triangles(*args, active, n_triangles)
    return ContourPlan(band.block_index, active, cases, face_offsets, vertex_id, vertices)


def emit_faces(plan: ContourPlan) -> np.ndarray:
    """The triangles of a planned contour, (F, 3) int32, counter-clockwise from outside."""
    triangles, n_triangles = marching_cubes_tables()
    return _emit_triangles(plan.block_index, plan.active, plan.cases, plan.face_offsets,
                           plan.vertex_id, triangles, n_triangles, CORNERS, EDGES, EDGE_AXIS)


def contour_band(
    band: SparseBand, field: np.ndarray, empty_outside: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Extract the zero level of a signed band field as a closed, oriented triangle mesh.

    Parameters
    ----------
    band : SparseBand
        The block layout (``block_index``, ``block_origin``, ``res``).
    field : (n_blocks, BLOCK^3) float32
        Signed values, negative inside, never exactly zero.
    empty_outside : (nb^3,) uint8
        Whether each empty block is outside (1) or inside (0).

    Returns
    -------
    vertices : (V, 3) float32
        In grid coordinates (``0 .. res - 1``).
    faces : (F, 3) int32
        Counter-clockwise seen from outside.
    """
    plan = plan_contour(band, field, empty_outside)
    return plan.vertices, emit_faces(plan)
