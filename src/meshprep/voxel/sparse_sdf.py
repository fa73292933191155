"""Sparse SDF band: signed distances to the watertight surface at the grid nodes near it.

The input of Direct3D-S2- and Sparc3D-style sparse SDF VAEs. The grid is the watertight step's:
``res`` nodes per axis over ``[-1, 1]``, node ``i`` at ``i / (res - 1) * 2 - 1`` (the frame of
the asset's ``watertight.ply``), one unit = one voxel. Stored are the nodes within
``truncation`` voxels of the watertight output surface, with ``sdf = distance / truncation``
(so in ``[-1, 1]``), negative inside.

Where the values come from
--------------------------
- **Signs** are the watertight step's own: the signed field it contoured (flood fill, shell
  descent and slivers of :mod:`meshprep.watertight.floodfill`). They are recovered exactly from
  its output, without keeping anything from the step: every output vertex lies strictly inside
  the grid edge whose ends the field signs differently, and the grid border is outside, so the
  sign of a node is the parity of the output vertices on its x grid line below it. That is the
  sign of every node, stored in the step's band or in one of its empty blocks, and it equals the
  output's winding number (marching cubes separates the corners of opposite sign).
- **Values** are recomputed: the step's band holds distances to the *input* (not to the output,
  which differs where interior parts were removed, holes closed, sheets turned into slivers, and
  by the contour's own approximation), and only ``eps + 1`` (about 2) voxels out. Here they are
  exact point-triangle distances to output triangles: the corners of each output cell are
  measured to the triangles in it (every output triangle lies in one grid cell), then ring by
  ring each node is measured to the nearest triangles of its 26 neighbours (closest-triangle
  propagation, visiting only the neighbours of the last ring), then sideways passes (each node
  against its 6 axial neighbours' triangles, in place, the blocks in two colours so that the
  result does not depend on threads) move the nodes whose nearest triangle the rings missed.
  On corpus assets at 512³ one pass puts 99.4-99.9 % of the nodes within 0.1 voxel of the exact
  distance, two passes 99.99 % (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numba as nb
import numpy as np
import trimesh

from ..io import atomic_write
from ..watertight import WatertightResult, make_watertight
from ..watertight.band import BLOCK, BLOCK_POINTS, MASK, SHIFT, to_grid
from ._convention import mesh_call

__all__ = ["SparseSDF", "read_sparse_sdf", "sparse_sdf"]

_UNSET = np.uint8(255)  # not measured yet
_FAR = np.uint8(254)  # measured, too far to pass its triangle on
_OFF = np.uint8(253)  # past the last grid node (blocks overhang the grid)
_TOL = 1e-4  # a grid coordinate this close to an integer is on the grid line
#: what both paths say of a mesh whose vertices are not one per grid edge
NOT_A_CONTOUR = ("the mesh is not a contour of the band method (a vertex is not inside exactly "
                 "one grid edge): pass an undecimated WatertightResult or the input mesh")


@dataclass
class SparseSDF:
    """Signed distances at the grid nodes within ``truncation`` voxels of the surface.

    Attributes
    ----------
    sparse_index : (N, 3) uint16
        Node indices ``(i, j, k)``; node ``i`` is at ``i / (resolution - 1) * 2 - 1``. Ordered by
        8^3 block of the grid, then x, y, z within the block (deterministic, not sorted).
    sparse_sdf : (N,) float16
        Signed distance divided by ``truncation`` (distances in voxels), in ``[-1, 1]``,
        negative inside.
    resolution : int
        Grid nodes per axis over ``[-1, 1]``.
    truncation : float
        Band half-width in voxels.
    stats : dict
        ``time_sparse_sdf`` (seconds), ``nodes``, ``blocks``, ``bytes`` (working arrays), and
        ``watertight`` (the step's stats when this call ran it).
    """

    sparse_index: np.ndarray
    sparse_sdf: np.ndarray
    resolution: int
    truncation: float
    stats: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        """The layout's file name, ``sparse_sdf_<resolution>.npz``."""
        return f"sparse_sdf_{self.resolution}.npz"

    def points(self) -> np.ndarray:
        """Node positions in the canonical cube, (N, 3) float64."""
        return self.sparse_index.astype(np.float64) / (self.resolution - 1) * 2.0 - 1.0

    def distances(self) -> np.ndarray:
        """Signed distances in voxels, (N,) float32."""
        return self.sparse_sdf.astype(np.float32) * np.float32(self.truncation)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the npz atomically (uncompressed) and return its path.

        Parameters
        ----------
        path : str or os.PathLike
            File path, or an existing folder to write :attr:`filename` into.

        Returns
        -------
        pathlib.Path
        """
        target = Path(path)
        if target.is_dir():
            target = target / self.filename
        with atomic_write(target) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, sparse_index=self.sparse_index, sparse_sdf=self.sparse_sdf,
                     resolution=np.int32(self.resolution),
                     truncation=np.float32(self.truncation))
        return target


def read_sparse_sdf(path: str | os.PathLike[str]) -> SparseSDF:
    """Read a file written by :meth:`SparseSDF.save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    SparseSDF
    """
    with np.load(path) as data:
        return SparseSDF(np.asarray(data["sparse_index"]), np.asarray(data["sparse_sdf"]),
                         int(data["resolution"]), float(data["truncation"]))


# ---------------------------------------------------------------------------------------------
# signs: the parity of the output vertices on x grid lines


@nb.njit(cache=True)
def _x_lines(gv, res):
    """Output vertices on x grid edges, grouped by line ``j * res + k`` and sorted along x.

    Returns ``(offsets, xs, ok)``; ``ok`` is False when some vertex is not inside exactly one
    grid edge (not a contour of the band method).
    """
    n = gv.shape[0]
    line = np.full(n, -1, np.int64)
    counts = np.zeros(res * res + 1, np.int64)
    ok = True
    for v in range(n):
        x, y, z = gv[v, 0], gv[v, 1], gv[v, 2]
        fx = abs(x - np.rint(x)) >= _TOL
        fy = abs(y - np.rint(y)) >= _TOL
        fz = abs(z - np.rint(z)) >= _TOL
        if fx + fy + fz != 1:
            ok = False
            continue
        if fx:
            code = int(np.rint(y)) * res + int(np.rint(z))
            line[v] = code
            counts[code + 1] += 1
    for c in range(res * res):
        counts[c + 1] += counts[c]
    xs = np.empty(counts[-1], np.float64)
    fill = counts[:-1].copy()
    for v in range(n):
        if line[v] >= 0:
            xs[fill[line[v]]] = gv[v, 0]
            fill[line[v]] += 1
    for c in range(res * res):  # lines hold a few crossings: insertion sort
        for a in range(counts[c] + 1, counts[c + 1]):
            x = xs[a]
            b = a - 1
            while b >= counts[c] and xs[b] > x:
                xs[b + 1] = xs[b]
                b -= 1
            xs[b + 1] = x
    return counts, xs, ok


# ---------------------------------------------------------------------------------------------
# values: exact distances to the output triangles, seeded in their cells and propagated


@nb.njit(cache=True)
def _bin_triangles(gv, faces, res, nbx):
    """Triangles grouped by the block of their lowest cell (CSR over block positions), and the
    largest extent of a triangle's bounding box along any axis."""
    n = faces.shape[0]
    code = np.empty(n, np.int64)
    start = np.zeros(nbx * nbx * nbx + 1, np.int64)
    extent = 0.0
    for t in range(n):
        c = 0
        for a in range(3):
            p, q, r = gv[faces[t, 0], a], gv[faces[t, 1], a], gv[faces[t, 2], a]
            lo, hi = min(p, q, r), max(p, q, r)
            extent = max(extent, hi - lo)
            cell = min(max(int(math.floor(lo)), 0), res - 1)
            c = c * nbx + (cell >> SHIFT)
        code[t] = c
        start[c + 1] += 1
    for c in range(nbx * nbx * nbx):
        start[c + 1] += start[c]
    order = np.empty(n, np.int32)
    fill = start[:-1].copy()
    for t in range(n):
        order[fill[code[t]]] = t
        fill[code[t]] += 1
    return start, order, extent


@nb.njit(cache=True, parallel=True)
def _triangle_boxes(gv, faces, order, res):
    """The grid nodes each triangle's bounding box spans, in bin order: ``boxes[m]`` = lowest
    and highest node per axis of triangle ``order[m]``, clipped to the grid (the seeds read
    them one after another)."""
    boxes = np.empty((order.shape[0], 6), np.int16)
    for m in nb.prange(order.shape[0]):
        t = order[m]
        for a in range(3):
            p, q, r = gv[faces[t, 0], a], gv[faces[t, 1], a], gv[faces[t, 2], a]
            boxes[m, a] = min(max(int(math.floor(min(p, q, r))), 0), res - 1)
            boxes[m, 3 + a] = min(max(int(math.ceil(max(p, q, r))), 0), res - 1)
    return boxes


@nb.njit(cache=True)
def _band_blocks(start, nbx, reach):
    """Block positions within ``reach`` blocks of a block holding triangles: id grid, origins."""
    near = np.zeros(nbx * nbx * nbx, np.bool_)
    for c in range(nbx * nbx * nbx):
        if start[c + 1] == start[c]:
            continue
        bx, by, bz = c // (nbx * nbx), (c // nbx) % nbx, c % nbx
        for x in range(max(bx - reach, 0), min(bx + reach, nbx - 1) + 1):
            for y in range(max(by - reach, 0), min(by + reach, nbx - 1) + 1):
                for z in range(max(bz - reach, 0), min(bz + reach, nbx - 1) + 1):
                    near[(x * nbx + y) * nbx + z] = True
    index = np.full((nbx, nbx, nbx), -1, np.int32)
    origins = np.empty((near.sum(), 3), np.int64)
    n = 0
    for c in range(nbx * nbx * nbx):
        if near[c]:
            bx, by, bz = c // (nbx * nbx), (c // nbx) % nbx, c % nbx
            index[bx, by, bz] = n
            origins[n, 0], origins[n, 1], origins[n, 2] = bx << SHIFT, by << SHIFT, bz << SHIFT
            n += 1
    return index, origins


@nb.njit(cache=True, inline="always", error_model="numpy")
def _segment2(qx, qy, qz, dx, dy, dz, length2):
    """Squared distance from ``q`` (relative to the segment's start) to the segment ``d``."""
    t = (qx * dx + qy * dy + qz * dz) / length2 if length2 > 0.0 else 0.0
    t = min(1.0, max(0.0, t))
    qx, qy, qz = qx - t * dx, qy - t * dy, qz - t * dz
    return qx * qx + qy * qy + qz * qz


@nb.njit(cache=True, inline="always", error_model="numpy")
def _distance2(px, py, pz, gv, faces, t):
    """Squared distance from a point to triangle ``t`` of the output.

    Without branches on the geometry (about 2x Ericson's classification here, where most
    candidates are not the nearest and which region the point is in is a coin toss): the
    projection onto the plane when it falls inside the triangle, else the nearest of the three
    edges, which is where the closest point is then. A triangle without area is its edges.
    """
    a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
    ax, ay, az = gv[a, 0], gv[a, 1], gv[a, 2]
    abx, aby, abz = gv[b, 0] - ax, gv[b, 1] - ay, gv[b, 2] - az
    acx, acy, acz = gv[c, 0] - ax, gv[c, 1] - ay, gv[c, 2] - az
    apx, apy, apz = px - ax, py - ay, pz - az
    d00 = abx * abx + aby * aby + abz * abz
    d01 = abx * acx + aby * acy + abz * acz
    d11 = acx * acx + acy * acy + acz * acz
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    det = d00 * d11 - d01 * d01
    area = det > 1e-12 * d00 * d11
    scale = 1.0 / det if area else 0.0
    u = (d11 * d1 - d01 * d2) * scale
    v = (d00 * d2 - d01 * d1) * scale
    qx, qy, qz = apx - u * abx - v * acx, apy - u * aby - v * acy, apz - u * abz - v * acz
    face = qx * qx + qy * qy + qz * qz
    bcx, bcy, bcz = acx - abx, acy - aby, acz - abz
    edge = min(_segment2(apx, apy, apz, abx, aby, abz, d00),
               _segment2(apx, apy, apz, acx, acy, acz, d11),
               _segment2(apx - abx, apy - aby, apz - abz, bcx, bcy, bcz,
                         bcx * bcx + bcy * bcy + bcz * bcz))
    inside = area & (u >= 0.0) & (v >= 0.0) & (u + v <= 1.0)
    return face if inside else edge


@nb.njit(cache=True, inline="always")
def _add_candidate(cand, nc, t):
    """Append triangle ``t`` to the first ``nc`` candidates unless it is there; the new count."""
    for c in range(nc):
        if cand[c] == t:
            return nc
    cand[nc] = t
    return nc + 1


@nb.njit(cache=True, inline="always")
def _nearest(gv, faces, cand, nc, i, j, k, best, best_t):
    """The nearest of ``nc`` candidate triangles to node (i, j, k) when nearer than ``best``
    (squared distance; ``best_t`` its triangle): (squared distance, triangle)."""
    for c in range(nc):
        d2 = _distance2(float(i), float(j), float(k), gv, faces, cand[c])
        if d2 < best:
            best, best_t = d2, cand[c]
    return best, best_t


@nb.njit(cache=True, parallel=True)
def _seed(gv, faces, start, order, boxes, origins, res, nbx, far):
    """Level 0: every corner of the cells a triangle's bounding box meets, measured to it."""
    n_blocks = origins.shape[0]
    dist = np.empty((n_blocks, BLOCK_POINTS), np.float32)
    tri_id = np.full((n_blocks, BLOCK_POINTS), -1, np.int32)
    level = np.full((n_blocks, BLOCK_POINTS), _UNSET, np.uint8)
    for b in nb.prange(n_blocks):
        best = np.full(BLOCK_POINTS, np.inf)
        ox, oy, oz = origins[b, 0], origins[b, 1], origins[b, 2]
        bx, by, bz = ox >> SHIFT, oy >> SHIFT, oz >> SHIFT
        for sx in range(max(bx - 1, 0), bx + 1):
            for sy in range(max(by - 1, 0), by + 1):
                for sz in range(max(bz - 1, 0), bz + 1):
                    c = (sx * nbx + sy) * nbx + sz
                    for m in range(start[c], start[c + 1]):
                        # the box's part inside this block (triangles of a lower bin reach
                        # into it across its lower faces)
                        box = boxes[m]
                        i0, i1 = max(box[0], ox), min(box[3], ox + MASK)
                        j0, j1 = max(box[1], oy), min(box[4], oy + MASK)
                        k0, k1 = max(box[2], oz), min(box[5], oz + MASK)
                        if i1 < i0 or j1 < j0 or k1 < k0:
                            continue
                        t = order[m]
                        for i in range(i0, i1 + 1):
                            for j in range(j0, j1 + 1):
                                for k in range(k0, k1 + 1):
                                    d2 = _distance2(float(i), float(j), float(k), gv, faces, t)
                                    p = ((i - ox) << 6) | ((j - oy) << 3) | (k - oz)
                                    if d2 < best[p]:
                                        best[p] = d2
                                        tri_id[b, p] = t
        for p in range(BLOCK_POINTS):
            i, j, k = ox + (p >> 6), oy + ((p >> 3) & MASK), oz + (p & MASK)
            if i >= res or j >= res or k >= res:
                level[b, p] = _OFF
            elif tri_id[b, p] >= 0:
                d = math.sqrt(best[p])
                dist[b, p] = d
                level[b, p] = 0 if d <= far else _FAR
    return dist, tri_id, level


@nb.njit(cache=True, inline="always")
def _neighbour(index, b, p, i, j, k, dx, dy, dz, res, inner):
    """(block, local index) of node (i+dx, j+dy, k+dz), the node being local index ``p`` of
    block ``b``; block -1 when the neighbour is off the grid or in no stored block."""
    if inner:  # the neighbour is in the same block
        return np.int64(b), p + (dx << 6) + (dy << 3) + dz
    ni, nj, nk = i + dx, j + dy, k + dz
    if ni < 0 or nj < 0 or nk < 0 or ni >= res or nj >= res or nk >= res:
        return np.int64(-1), 0
    qb = np.int64(index[ni >> SHIFT, nj >> SHIFT, nk >> SHIFT])
    return qb, ((ni & MASK) << 6) | ((nj & MASK) << 3) | (nk & MASK)


@nb.njit(cache=True, parallel=True)
def _mark_front(index, origins, level, res, ring, touched):
    """Flag the unmeasured neighbours of the nodes measured in ring ``ring - 1``.

    Only those can be measured in ring ``ring``; flagging them first keeps :func:`_propagate`
    from looking at the 26 neighbours of every unmeasured node of every block on every ring
    (most of them are still far from anything measured). Several threads may flag one node:
    they all write 1.
    """
    previous = ring - 1
    for b in nb.prange(origins.shape[0]):
        ox, oy, oz = origins[b, 0], origins[b, 1], origins[b, 2]
        for p in range(BLOCK_POINTS):
            if level[b, p] != previous:
                continue
            li, lj, lk = p >> 6, (p >> 3) & MASK, p & MASK
            i, j, k = ox + li, oy + lj, oz + lk
            inner = 0 < li < MASK and 0 < lj < MASK and 0 < lk < MASK
            for dx in range(-1, 2):
                for dy in range(-1, 2):
                    for dz in range(-1, 2):
                        qb, ql = _neighbour(index, b, p, i, j, k, dx, dy, dz, res, inner)
                        if qb >= 0 and level[qb, ql] == _UNSET:
                            touched[qb, ql] = 1


@nb.njit(cache=True, parallel=True)
def _propagate(gv, faces, index, origins, dist, tri_id, level, res, ring, far, touched):
    """Ring ``ring``: each node :func:`_mark_front` flagged is measured to the closest
    triangles of its measured neighbours (earlier rings). Returns how many were measured."""
    n_blocks = origins.shape[0]
    measured = np.zeros(n_blocks, np.int64)
    for b in nb.prange(n_blocks):
        cand = np.empty(26, np.int32)
        ox, oy, oz = origins[b, 0], origins[b, 1], origins[b, 2]
        for p in range(BLOCK_POINTS):
            if touched[b, p] == 0:
                continue
            touched[b, p] = 0
            li, lj, lk = p >> 6, (p >> 3) & MASK, p & MASK
            i, j, k = ox + li, oy + lj, oz + lk
            inner = 0 < li < MASK and 0 < lj < MASK and 0 < lk < MASK
            nc = 0
            for dx in range(-1, 2):
                for dy in range(-1, 2):
                    for dz in range(-1, 2):
                        if dx == 0 and dy == 0 and dz == 0:
                            continue
                        qb, ql = _neighbour(index, b, p, i, j, k, dx, dy, dz, res, inner)
                        if qb < 0:
                            continue
                        if level[qb, ql] >= ring:
                            continue
                        nc = _add_candidate(cand, nc, tri_id[qb, ql])
            if nc == 0:
                continue
            best, best_t = _nearest(gv, faces, cand, nc, i, j, k, np.inf, -1)
            d = math.sqrt(best)
            dist[b, p] = d
            tri_id[b, p] = best_t
            level[b, p] = ring if d <= far else _FAR
            measured[b] += 1
    return measured.sum()


_AXES = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))


@nb.njit(cache=True, parallel=True)
def _relax(gv, faces, index, origins, dist, tri_id, level, res, limit, colour, changed, stamp):
    """One sideways pass over the blocks of one ``colour``: every measured node within
    ``limit`` is measured to the closest triangles of its 6 axial neighbours and keeps the
    nearest. Returns how many nodes changed triangle; they get ``changed = stamp``.

    The rings only pass each node's triangle outwards; this pass also passes them sideways,
    which is what moves a node off a triangle that is near but not nearest (the seeds measure
    a cell's corners to the triangles of that cell only).

    In place and deterministic: a block's colour is the parity of its block coordinates, and a
    node's axial neighbours lie in its own block (updated by this thread, in order) or in a
    face-adjacent block, of the other colour, which this pass does not write. A node is skipped
    when no neighbour changed since the pass before (``changed < stamp - 1``): it has already
    chosen among exactly these candidates, so it could not move. That makes a second pass cost
    a fraction of the first.
    """
    n_blocks = origins.shape[0]
    moved = np.zeros(n_blocks, np.int64)
    for b in nb.prange(n_blocks):
        ox, oy, oz = origins[b, 0], origins[b, 1], origins[b, 2]
        if ((ox + oy + oz) >> SHIFT) & 1 != colour:
            continue
        cand = np.empty(6, np.int32)
        for p in range(BLOCK_POINTS):
            own = tri_id[b, p]
            if level[b, p] >= _OFF or dist[b, p] > limit:
                continue
            li, lj, lk = p >> 6, (p >> 3) & MASK, p & MASK
            i, j, k = ox + li, oy + lj, oz + lk
            inner = 0 < li < MASK and 0 < lj < MASK and 0 < lk < MASK
            nc = 0
            fresh = stamp == 1
            for a in range(6):
                dx, dy, dz = _AXES[a]
                qb, ql = _neighbour(index, b, p, i, j, k, dx, dy, dz, res, inner)
                if qb < 0 or level[qb, ql] >= _OFF:
                    continue
                fresh = fresh or changed[qb, ql] >= stamp - 1
                if tri_id[qb, ql] != own:
                    nc = _add_candidate(cand, nc, tri_id[qb, ql])
            if not fresh:
                continue
            best, best_t = _nearest(gv, faces, cand, nc, i, j, k, np.float64(dist[b, p]) ** 2,
                                    own)
            if best_t != own:
                tri_id[b, p] = best_t
                dist[b, p] = math.sqrt(best)
                changed[b, p] = stamp
                moved[b] += 1
    return moved.sum()


@nb.njit(cache=True, parallel=True)
def _count_kept(dist, level, truncation):
    n_blocks = dist.shape[0]
    counts = np.zeros(n_blocks + 1, np.int64)
    for b in nb.prange(n_blocks):
        n = 0
        for p in range(BLOCK_POINTS):
            if level[b, p] < _OFF and dist[b, p] <= truncation:
                n += 1
        counts[b + 1] = n
    return np.cumsum(counts)


@nb.njit(cache=True, parallel=True)
def _emit(dist, level, origins, offsets, line_start, xs, res, truncation):
    """Node indices and signed, truncated values; the sign from the x-line parity."""
    n = offsets[-1]
    index = np.empty((n, 3), np.uint16)
    value = np.empty(n, np.float32)  # numba has no float16: narrowed by the caller
    for b in nb.prange(dist.shape[0]):
        m = offsets[b]
        if offsets[b + 1] == m:
            continue
        ox, oy, oz = origins[b, 0], origins[b, 1], origins[b, 2]
        parity = np.zeros(BLOCK * BLOCK, np.bool_)
        ptr = np.zeros(BLOCK * BLOCK, np.int64)
        for c in range(BLOCK * BLOCK):  # crossings below the block on each x line
            j, k = oy + (c >> 3), oz + (c & MASK)
            if j >= res or k >= res:
                continue
            line = j * res + k
            lo, hi = line_start[line], line_start[line + 1]
            q = lo + np.searchsorted(xs[lo:hi], float(ox))
            ptr[c], parity[c] = q, (q - lo) & 1
        for p in range(BLOCK_POINTS):
            i, c = ox + (p >> 6), p & (BLOCK * BLOCK - 1)
            if level[b, p] >= _OFF or dist[b, p] > truncation:
                continue
            line = (oy + (c >> 3)) * res + oz + (c & MASK)
            hi = line_start[line + 1]
            while ptr[c] < hi and xs[ptr[c]] < i:  # p runs along x fastest within a column
                ptr[c] += 1
                parity[c] = not parity[c]
            v = min(dist[b, p] / truncation, 1.0)
            index[m, 0], index[m, 1], index[m, 2] = i, oy + (c >> 3), oz + (c & MASK)
            value[m] = -v if parity[c] else v
            m += 1
    return index, value


def _from_grid_mesh(grid_vertices: np.ndarray, faces: np.ndarray, res: int,
                    truncation: float, passes: int) -> tuple[np.ndarray, np.ndarray, dict]:
    gv = np.ascontiguousarray(grid_vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    line_start, xs, ok = _x_lines(gv, res)
    if not ok:
        raise ValueError(NOT_A_CONTOUR)
    nbx = (res + BLOCK - 1) // BLOCK
    start, order, extent = _bin_triangles(gv, faces, res, nbx)
    if extent > BLOCK - 1:
        raise ValueError(f"an output triangle spans {extent:.1f} voxels: not a contour output")
    # nodes within truncation + 1 of a triangle's cells are at most this many blocks away
    reach = max(1, math.ceil((truncation + 2.0) / BLOCK))
    index, origins = _band_blocks(start, nbx, reach)
    dist, level, stats = _propagated_distances(gv, faces, start, order, index, origins, res,
                                               nbx, truncation, passes)
    offsets = _count_kept(dist, level, np.float32(truncation))
    sparse_index, values = _emit(dist, level, origins, offsets, line_start, xs, res,
                                 np.float32(truncation))
    return sparse_index, values.astype(np.float16), stats


def _propagated_distances(gv, faces, start, order, index, origins, res, nbx, truncation,
                          passes):
    """Seeds, rings and sideways passes (the CPU path): distances and levels of the nodes."""
    far = np.float32(truncation + 1.0)  # a node farther than this passes nothing on
    boxes = _triangle_boxes(gv, faces, order, res)
    dist, tri_id, level = _seed(gv, faces, start, order, boxes, origins, res, nbx, far)
    del boxes
    rings = 0
    touched = np.zeros(level.shape, np.uint8)
    for ring in range(1, math.ceil(truncation) + 1):
        rings = ring
        _mark_front(index, origins, level, res, ring, touched)
        if _propagate(gv, faces, index, origins, dist, tri_id, level, res, ring, far,
                      touched) == 0:
            break
    del touched
    changed = np.zeros(level.shape, np.uint8)  # the last pass that moved each node
    for stamp in range(1, passes + 1):
        for colour in (0, 1):
            _relax(gv, faces, index, origins, dist, tri_id, level, res, far, colour, changed,
                   np.uint8(stamp))
    del changed
    stats = {"blocks": len(origins), "rings": rings, "passes": passes, "device": "cpu",
             "bytes": dist.nbytes + tri_id.nbytes + level.nbytes + index.nbytes}
    return dist, level, stats


@mesh_call
def sparse_sdf(
    mesh: trimesh.Trimesh | WatertightResult,
    resolution: int | None = None,
    *,
    truncation: float = 4,
    passes: int = 2,
    eps: float | None = None,
    device: str = "cpu",
) -> SparseSDF:
    """Signed distances to the watertight surface at the nodes within ``truncation`` voxels.

    Parameters
    ----------
    mesh : trimesh.Trimesh or WatertightResult
        A :class:`~meshprep.watertight.WatertightResult` of ``make_watertight(..., method="band")``
        without ``target_faces`` (its signs are reused, nothing is recomputed but distances), or
        a mesh in the canonical cube, made watertight here first.
    resolution : int, optional
        Grid nodes per axis. For a result it must match the result's (default: the result's);
        for a mesh the default is :func:`~meshprep.make_watertight`'s.
    truncation : float
        Band half-width in voxels (one voxel = ``2 / (resolution - 1)``).
    passes : int
        Sideways relaxation passes after the outward rings (see :func:`_relax`); 0 is fastest
        and least exact (~93 % of nodes within 0.1 voxel), 1 meets 99 %, 2 gives 99.99 %.
    eps : float, optional
        Passed to :func:`~meshprep.make_watertight` when given a mesh.
    device : str
        ``"cpu"``: the values by closest-triangle propagation in numba. A Warp device
        (``"cuda"``, ``"auto"``, or Warp's CPU backend as ``"warp-cpu"``): every step on that
        device (:mod:`meshprep.voxel.sparse_sdf_warp`), one exact closest-point query per node
        on Warp's mesh BVH of the output (``meshprep[gpu]``). Also passed to
        :func:`~meshprep.make_watertight` when given a mesh. The signs are the same either
        way, and so is the order of the nodes.

    Returns
    -------
    SparseSDF

    Raises
    ------
    ValueError
        A decimated or reference-method result, a resolution that does not match the result,
        or a truncation not in ``(0, 64]``.

    Examples
    --------
    >>> import trimesh
    >>> sdf = sparse_sdf(trimesh.creation.icosphere(2, radius=0.5), 64, truncation=3)
    >>> bool((sdf.sparse_sdf < 0).any() and (sdf.sparse_sdf > 0).any())
    True
    """
    if not 0 < truncation <= 64:
        raise ValueError(f"truncation must be in (0, 64] voxels, got {truncation}")
    stats: dict = {}
    if isinstance(mesh, WatertightResult):
        result = mesh
        res = int(result.stats.get("resolution", 0))
        if resolution is not None and int(resolution) != res:
            raise ValueError(f"the result is at resolution {res}, not {resolution}")
        if result.stats.get("method", "band") != "band" or result.stats.get("decimated"):
            raise ValueError("sparse_sdf needs an undecimated result of method='band'")
    else:
        kwargs = {} if resolution is None else {"resolution": int(resolution)}
        result = make_watertight(mesh, eps=eps, device=device, **kwargs)
        res = int(result.stats["resolution"])
        stats["watertight"] = result.stats
    started = time.perf_counter()
    grid_vertices = to_grid(result.mesh.vertices, res)
    if device == "cpu":
        sparse_index, values, band_stats = _from_grid_mesh(
            grid_vertices, result.mesh.faces, res, float(truncation), int(passes))
    else:  # every step on the device: blocks, signs, values, compaction
        from .sparse_sdf_warp import sparse_sdf_warp

        sparse_index, values, band_stats = sparse_sdf_warp(
            grid_vertices, result.mesh.faces, res, float(truncation),
            "cpu" if device == "warp-cpu" else device)
    stats.update(band_stats, nodes=len(values), time_sparse_sdf=time.perf_counter() - started)
    return SparseSDF(sparse_index, values, res, float(truncation), stats)
