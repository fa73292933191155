"""The narrow band: unsigned distances and surface crossings near the triangles only.

The grid is the reference recipe's: ``res`` points per axis spanning ``[-1, 1]`` (grid
coordinates ``0 .. res - 1``, one unit = one voxel). It is stored sparsely as blocks of
``BLOCK^3`` points; a block exists only where some triangle comes within ``band`` voxels, so the
work and memory grow with the surface area (O(res^2)), not the volume (O(res^3)).

For every stored point we keep
- ``udf``: the exact distance to the nearest triangle, in voxels (``inf`` beyond the band),
- ``crossed``: bit ``a`` set when the grid edge from the point to its ``+a`` neighbour touches a
  triangle. The sign step uses it to never cross the surface between two grid points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from .._jit import njit

BLOCK = 8
SHIFT = 3
MASK = BLOCK - 1
BLOCK_POINTS = BLOCK**3
#: triangles longer than this (in voxels) are split so their bounding boxes stay tight
MAX_EDGE = 2.0 * BLOCK


@dataclass
class SparseBand:
    """A res^3 grid stored as the blocks near the surface.

    Attributes
    ----------
    res : int
        Points per axis.
    band : float
        Distances are exact up to this many voxels from the surface.
    block_index : (nb, nb, nb) int32
        Id of the stored block at each block position, or -1.
    block_origin : (n_blocks, 3) int64
        Grid coordinates of each stored block's first point.
    udf : (n_blocks, BLOCK^3) float32
        Unsigned distance in voxels; ``inf`` where farther than ``band``.
    crossed : (n_blocks, BLOCK^3) uint8
        Bit ``a`` set when the edge to the ``+a`` neighbour touches the surface.
    """

    res: int
    band: float
    block_index: np.ndarray
    block_origin: np.ndarray
    udf: np.ndarray
    crossed: np.ndarray

    @property
    def n_blocks(self) -> int:
        """Number of stored blocks."""
        return len(self.block_origin)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(a.nbytes for a in (self.block_index, self.block_origin, self.udf, self.crossed))


def to_grid(vertices: np.ndarray, res: int) -> np.ndarray:
    """Map coordinates in ``[-1, 1]`` to grid coordinates ``[0, res - 1]``."""
    return (np.asarray(vertices, dtype=np.float64) + 1.0) * (0.5 * (res - 1))


def from_grid(points: np.ndarray, res: int) -> np.ndarray:
    """Map grid coordinates back to ``[-1, 1]`` (the reference's ``v / (res - 1) * 2 - 1``)."""
    return np.asarray(points, dtype=np.float64) / (res - 1) * 2.0 - 1.0


def split_long_triangles(triangles: np.ndarray, max_edge: float = MAX_EDGE) -> np.ndarray:
    """Bisect triangles on their longest edge until no edge exceeds ``max_edge``.

    The pieces cover the original triangle exactly, so distances and crossings are unchanged;
    what changes is that each piece meets only a few blocks, which bounds the work per triangle
    and per block.

    Parameters
    ----------
    triangles : (T, 3, 3) float64
        Corner coordinates.
    max_edge : float
        Longest edge allowed.

    Returns
    -------
    (T', 3, 3) float64
    """
    done, todo = [], triangles
    while len(todo):
        lengths = np.linalg.norm(todo - np.roll(todo, -1, axis=1), axis=2)  # edge i: corner i->i+1
        longest = lengths.argmax(axis=1)
        small = lengths[np.arange(len(todo)), longest] <= max_edge
        done.append(todo[small])
        big, k = todo[~small], longest[~small]
        if not len(big):
            break
        rows = np.arange(len(big))
        a, b, c = big[rows, k], big[rows, (k + 1) % 3], big[rows, (k + 2) % 3]
        mid = 0.5 * (a + b)
        # both halves keep the original orientation: (a, mid, c) and (mid, b, c)
        todo = np.concatenate([np.stack([a, mid, c], 1), np.stack([mid, b, c], 1)])
    return np.concatenate(done) if done else triangles[:0]


@nb.njit(cache=True, error_model="numpy")
def _triangle_frames(triangles, band, res):
    """Per triangle: unit normal and plane offset, dominant normal axis, grown integer box.

    Returns ``planes`` (T, 4) = (nx, ny, nz, d) with ``n . p = d`` on the plane (n = 0 for a
    triangle without area), ``axis`` (T,), and ``boxes`` (T, 6) = inclusive grid index ranges
    of the bounding box grown by ``band``, clipped to the grid.
    """
    n = triangles.shape[0]
    planes = np.zeros((n, 4))
    axis = np.zeros(n, np.int64)
    boxes = np.empty((n, 6), np.int64)
    top = res - 1
    for t in range(n):
        e1x, e1y, e1z = (triangles[t, 1, 0] - triangles[t, 0, 0],
                         triangles[t, 1, 1] - triangles[t, 0, 1],
                         triangles[t, 1, 2] - triangles[t, 0, 2])
        e2x, e2y, e2z = (triangles[t, 2, 0] - triangles[t, 0, 0],
                         triangles[t, 2, 1] - triangles[t, 0, 1],
                         triangles[t, 2, 2] - triangles[t, 0, 2])
        nx, ny, nz = e1y * e2z - e1z * e2y, e1z * e2x - e1x * e2z, e1x * e2y - e1y * e2x
        norm = math.sqrt(nx * nx + ny * ny + nz * nz)
        if norm > 0.0:
            nx, ny, nz = nx / norm, ny / norm, nz / norm
            planes[t, 0], planes[t, 1], planes[t, 2] = nx, ny, nz
            planes[t, 3] = nx * triangles[t, 0, 0] + ny * triangles[t, 0, 1] \
                + nz * triangles[t, 0, 2]
            ax, ay, az = abs(nx), abs(ny), abs(nz)
            axis[t] = 0 if ax >= ay and ax >= az else (1 if ay >= az else 2)
        for a in range(3):
            lo = min(triangles[t, 0, a], triangles[t, 1, a], triangles[t, 2, a]) - band
            hi = max(triangles[t, 0, a], triangles[t, 1, a], triangles[t, 2, a]) + band
            boxes[t, a] = max(0, min(top, int(math.ceil(lo))))
            boxes[t, 3 + a] = max(0, min(top, int(math.floor(hi))))
    return planes, axis, boxes


@nb.njit(cache=True, error_model="numpy", inline="always")
def _slab_range(plane, a, band, u0, u1, v0, v1, lo, hi):
    """Integer range along axis ``a`` where the slab ``|n . p - d| <= band`` meets the column
    over the rectangle ``[u0, u1] x [v0, v1]`` (the other two axes), within ``[lo, hi]``.

    Along the dominant normal axis the slab is at most ``2 * band * sqrt(3)`` thick, so a
    column visits a handful of points however the triangle is slanted.
    """
    na = plane[a]
    if na == 0.0:  # no area: fall back to the whole box
        return lo, hi
    u, v = (a + 1) % 3, (a + 2) % 3
    nu, nv = plane[u], plane[v]
    t0 = min(nu * u0, nu * u1) + min(nv * v0, nv * v1)
    t1 = max(nu * u0, nu * u1) + max(nv * v0, nv * v1)
    x0 = (plane[3] - band - t1) / na
    x1 = (plane[3] + band - t0) / na
    if na < 0.0:
        x0 = (plane[3] + band - t0) / na
        x1 = (plane[3] - band - t1) / na
    return max(lo, int(math.ceil(x0))), min(hi, int(math.floor(x1)))


@nb.njit(cache=True, error_model="numpy")
def _triangle_blocks(plane, a, box, band, out):
    """Block coordinates the slab of one triangle meets inside its box, written to ``out``
    (rows of 3); returns how many."""
    u, v = (a + 1) % 3, (a + 2) % 3
    n = 0
    for bu in range(box[u] >> SHIFT, (box[3 + u] >> SHIFT) + 1):
        for bv in range(box[v] >> SHIFT, (box[3 + v] >> SHIFT) + 1):
            u0, u1 = max(box[u], bu << SHIFT), min(box[3 + u], (bu << SHIFT) + MASK)
            v0, v1 = max(box[v], bv << SHIFT), min(box[3 + v], (bv << SHIFT) + MASK)
            lo, hi = _slab_range(plane, a, band, u0, u1, v0, v1, box[a], box[3 + a])
            if hi < lo:
                continue
            for ba in range(lo >> SHIFT, (hi >> SHIFT) + 1):
                out[n, a], out[n, u], out[n, v] = ba, bu, bv
                n += 1
    return n


@nb.njit(cache=True, error_model="numpy")
def _mark_blocks(planes, axis, boxes, band, n_per_axis):
    """Block index grid (-1 = empty), block origins, and per-block triangle lists (CSR)."""
    index = np.full((n_per_axis, n_per_axis, n_per_axis), -1, np.int32)
    # a triangle's box spans at most (MAX_EDGE + 2 band) / BLOCK + 2 blocks per axis
    span = int((MAX_EDGE + 2 * band) / BLOCK) + 2
    scratch = np.empty((span**3, 3), np.int64)
    count = 0
    origins = np.empty((1024, 3), np.int64)
    n_pairs = 0
    for t in range(planes.shape[0]):
        n = _triangle_blocks(planes[t], axis[t], boxes[t], band, scratch)
        n_pairs += n
        for m in range(n):
            bx, by, bz = scratch[m, 0], scratch[m, 1], scratch[m, 2]
            if index[bx, by, bz] < 0:
                if count == origins.shape[0]:
                    grown = np.empty((2 * count, 3), np.int64)
                    for row in range(count):  # a loop: slice assignment compiles 3 s longer
                        grown[row, 0], grown[row, 1], grown[row, 2] = \
                            origins[row, 0], origins[row, 1], origins[row, 2]
                    origins = grown
                index[bx, by, bz] = count
                origins[count, 0], origins[count, 1], origins[count, 2] = \
                    bx << SHIFT, by << SHIFT, bz << SHIFT
                count += 1
    # triangles of each block, as CSR (the same enumeration again: cheaper than storing it)
    offsets = np.zeros(count + 1, np.int64)
    pairs = np.empty(n_pairs, np.int64)
    owners = np.empty(n_pairs, np.int64)
    p = 0
    for t in range(planes.shape[0]):
        n = _triangle_blocks(planes[t], axis[t], boxes[t], band, scratch)
        for m in range(n):
            b = index[scratch[m, 0], scratch[m, 1], scratch[m, 2]]
            offsets[b + 1] += 1
            pairs[p], owners[p] = b, t
            p += 1
    for b in range(count):
        offsets[b + 1] += offsets[b]
    fill = offsets[:-1].copy()
    members = np.empty(n_pairs, np.int64)
    for p in range(n_pairs):
        members[fill[pairs[p]]] = owners[p]
        fill[pairs[p]] += 1
    return index, origins[:count].copy(), offsets, members


@nb.njit(cache=True, error_model="numpy", inline="always")
def _dot(ax, ay, az, bx, by, bz):
    return ax * bx + ay * by + az * bz


@nb.njit(cache=True, error_model="numpy", inline="always")
def _segment_distance2(px, py, pz, tri, i, j):
    dx, dy, dz = tri[j, 0] - tri[i, 0], tri[j, 1] - tri[i, 1], tri[j, 2] - tri[i, 2]
    qx, qy, qz = px - tri[i, 0], py - tri[i, 1], pz - tri[i, 2]
    length2 = _dot(dx, dy, dz, dx, dy, dz)
    t = 0.0 if length2 == 0.0 else min(1.0, max(0.0, _dot(qx, qy, qz, dx, dy, dz) / length2))
    qx, qy, qz = qx - t * dx, qy - t * dy, qz - t * dz
    return _dot(qx, qy, qz, qx, qy, qz)


@nb.njit(cache=True, error_model="numpy")
def point_triangle_distance2(px, py, pz, tri):
    """Squared distance from a point to a triangle ``tri`` (3, 3).

    Classifies the point against the Voronoi regions of the triangle's vertices, edges and face
    (barycentric tests on the projections), then measures to the closest feature. A triangle
    without area (collinear corners) is measured as its three segments.
    """
    ax, ay, az = tri[0, 0], tri[0, 1], tri[0, 2]
    abx, aby, abz = tri[1, 0] - ax, tri[1, 1] - ay, tri[1, 2] - az
    acx, acy, acz = tri[2, 0] - ax, tri[2, 1] - ay, tri[2, 2] - az
    nx, ny, nz = aby * acz - abz * acy, abz * acx - abx * acz, abx * acy - aby * acx
    scale = _dot(abx, aby, abz, abx, aby, abz) * _dot(acx, acy, acz, acx, acy, acz)
    if _dot(nx, ny, nz, nx, ny, nz) <= 1e-24 * scale:
        return min(_segment_distance2(px, py, pz, tri, 0, 1),
                   _segment_distance2(px, py, pz, tri, 1, 2),
                   _segment_distance2(px, py, pz, tri, 2, 0))
    apx, apy, apz = px - ax, py - ay, pz - az
    d1 = _dot(abx, aby, abz, apx, apy, apz)
    d2 = _dot(acx, acy, acz, apx, apy, apz)
    if d1 <= 0.0 and d2 <= 0.0:  # vertex a
        return _dot(apx, apy, apz, apx, apy, apz)
    bpx, bpy, bpz = px - tri[1, 0], py - tri[1, 1], pz - tri[1, 2]
    d3 = _dot(abx, aby, abz, bpx, bpy, bpz)
    d4 = _dot(acx, acy, acz, bpx, bpy, bpz)
    if d3 >= 0.0 and d4 <= d3:  # vertex b
        return _dot(bpx, bpy, bpz, bpx, bpy, bpz)
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:  # edge ab
        v = d1 / (d1 - d3) if d1 != d3 else 0.0  # a == b: both ends are the same point
        qx, qy, qz = apx - v * abx, apy - v * aby, apz - v * abz
        return _dot(qx, qy, qz, qx, qy, qz)
    cpx, cpy, cpz = px - tri[2, 0], py - tri[2, 1], pz - tri[2, 2]
    d5 = _dot(abx, aby, abz, cpx, cpy, cpz)
    d6 = _dot(acx, acy, acz, cpx, cpy, cpz)
    if d6 >= 0.0 and d5 <= d6:  # vertex c
        return _dot(cpx, cpy, cpz, cpx, cpy, cpz)
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:  # edge ac
        w = d2 / (d2 - d6) if d2 != d6 else 0.0
        qx, qy, qz = apx - w * acx, apy - w * acy, apz - w * acz
        return _dot(qx, qy, qz, qx, qy, qz)
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:  # edge bc
        span = (d4 - d3) + (d5 - d6)
        w = (d4 - d3) / span if span != 0.0 else 0.0
        bcx, bcy, bcz = tri[2, 0] - tri[1, 0], tri[2, 1] - tri[1, 1], tri[2, 2] - tri[1, 2]
        qx, qy, qz = bpx - w * bcx, bpy - w * bcy, bpz - w * bcz
        return _dot(qx, qy, qz, qx, qy, qz)
    denom = va + vb + vc
    if denom == 0.0:  # degenerate (zero-area) triangle: the edge tests above covered it
        return _dot(apx, apy, apz, apx, apy, apz)
    v = vb / denom
    w = vc / denom
    qx, qy, qz = apx - v * abx - w * acx, apy - v * aby - w * acy, apz - v * abz - w * acz
    return _dot(qx, qy, qz, qx, qy, qz)


@nb.njit(cache=True, error_model="numpy")
def _block_distances(tri, plane, a, box, origin, band, out):
    """Lower ``out`` (squared distances of one block) with one triangle, on the grid points of
    the block that lie in the triangle's slab and grown box."""
    u, v = (a + 1) % 3, (a + 2) % 3
    band2 = band * band
    # local index strides of the three roles (a, u, v) in the block's (x, y, z) layout
    stride_a, stride_u, stride_v = 1 << (6 - 3 * a), 1 << (6 - 3 * u), 1 << (6 - 3 * v)
    for gu in range(max(box[u], origin[u]), min(box[3 + u], origin[u] + MASK) + 1):
        for gv in range(max(box[v], origin[v]), min(box[3 + v], origin[v] + MASK) + 1):
            lo, hi = _slab_range(plane, a, band, gu, gu, gv, gv, max(box[a], origin[a]),
                                 min(box[3 + a], origin[a] + MASK))
            column = (gu & MASK) * stride_u + (gv & MASK) * stride_v
            for ga in range(lo, hi + 1):
                if a == 0:
                    d2 = point_triangle_distance2(float(ga), float(gu), float(gv), tri)
                elif a == 1:
                    d2 = point_triangle_distance2(float(gv), float(ga), float(gu), tri)
                else:
                    d2 = point_triangle_distance2(float(gu), float(gv), float(ga), tri)
                local = column + (ga & MASK) * stride_a
                if d2 < band2 and d2 < out[local]:
                    out[local] = d2


@nb.njit(cache=True, error_model="numpy")
def _block_crossings(tri, origin, res, out):
    """Set crossing bits of one block for the grid edges that one triangle touches.

    For each axis ``a``, every grid line along ``a`` that passes through the triangle's
    projection meets the triangle at one coordinate ``s``; the edge ``floor(s) -> floor(s)+1``
    is crossed (both edges when ``s`` is a grid point). Tests are inclusive, so a line through
    a shared edge or vertex is caught by at least one triangle.
    """
    for a in range(3):
        u, v = (a + 1) % 3, (a + 2) % 3
        p0u, p0v = tri[0, u], tri[0, v]
        e1u, e1v = tri[1, u] - p0u, tri[1, v] - p0v
        e2u, e2v = tri[2, u] - p0u, tri[2, v] - p0v
        det = e1u * e2v - e1v * e2u
        if det == 0.0:  # triangle parallel to the lines: no single crossing point
            continue
        tol = 1e-9
        top_u, top_v = origin[u] + BLOCK - 1, origin[v] + BLOCK - 1
        ulo = max(origin[u], int(math.ceil(min(tri[0, u], tri[1, u], tri[2, u]) - tol)))
        uhi = min(top_u, int(math.floor(max(tri[0, u], tri[1, u], tri[2, u]) + tol)))
        vlo = max(origin[v], int(math.ceil(min(tri[0, v], tri[1, v], tri[2, v]) - tol)))
        vhi = min(top_v, int(math.floor(max(tri[0, v], tri[1, v], tri[2, v]) + tol)))
        for gu in range(ulo, uhi + 1):
            for gv in range(vlo, vhi + 1):
                qu, qv = gu - p0u, gv - p0v
                # barycentric coordinates of the line's foot in the projected triangle
                w1 = (qu * e2v - qv * e2u) / det
                w2 = (e1u * qv - e1v * qu) / det
                if w1 < -tol or w2 < -tol or w1 + w2 > 1.0 + tol:
                    continue
                s = tri[0, a] + w1 * (tri[1, a] - tri[0, a]) + w2 * (tri[2, a] - tri[0, a])
                start = int(math.floor(s))
                first = start - 1 if s == start else start
                for g in range(first, start + 1):
                    if g < origin[a] or g > origin[a] + BLOCK - 1 or g + 1 > res - 1:
                        continue
                    if a == 0:
                        i, j, k = g, gu, gv
                    elif a == 1:
                        i, j, k = gv, g, gu
                    else:
                        i, j, k = gu, gv, g
                    local = ((i & MASK) << 6) | ((j & MASK) << 3) | (k & MASK)
                    out[local] |= np.uint8(1 << a)


@njit(cache=True, parallel=True, error_model="numpy")
def _fill_blocks(triangles, planes, axis, boxes, origins, offsets, members, band, res):
    n_blocks = origins.shape[0]
    udf = np.empty((n_blocks, BLOCK_POINTS), np.float32)
    crossed = np.zeros((n_blocks, BLOCK_POINTS), np.uint8)
    for b in nb.prange(n_blocks):
        d2 = np.full(BLOCK_POINTS, np.inf)
        for m in range(offsets[b], offsets[b + 1]):
            t = members[m]
            _block_distances(triangles[t], planes[t], axis[t], boxes[t], origins[b], band, d2)
            _block_crossings(triangles[t], origins[b], res, crossed[b])
        for p in range(BLOCK_POINTS):
            udf[b, p] = math.sqrt(d2[p])
    return udf, crossed


def build_band(vertices: np.ndarray, faces: np.ndarray, res: int, band: float) -> SparseBand:
    """Compute distances and crossings on the grid points within ``band`` voxels of the mesh.

    Parameters
    ----------
    vertices : (N, 3) float
        Vertices in the canonical cube (inside ``[-1, 1]^3``).
    faces : (M, 3) int
    res : int
        Grid points per axis.
    band : float
        Half-width of the band in voxels; distances are exact within it.

    Returns
    -------
    SparseBand
    """
    triangles = to_grid(vertices, res)[np.asarray(faces)]
    triangles = np.ascontiguousarray(split_long_triangles(triangles))
    planes, axis, boxes = _triangle_frames(triangles, band, res)
    n_per_axis = (res + BLOCK - 1) // BLOCK
    index, origins, offsets, members = _mark_blocks(planes, axis, boxes, band, n_per_axis)
    udf, crossed = _fill_blocks(triangles, planes, axis, boxes, origins, offsets, members, band,
                                res)
    # a block whose points are all beyond the band is free space throughout: store it as empty
    keep = np.isfinite(udf).any(axis=1)
    if not keep.all():
        origins, udf, crossed = origins[keep], udf[keep], crossed[keep]
        index.fill(-1)
        index[tuple((origins >> SHIFT).T)] = np.arange(len(origins), dtype=np.int32)
    return SparseBand(res, band, index, origins, udf, crossed)
