"""O-Voxel shape: TRELLIS.2's flexible dual grid, on the CPU in numba.

Definition (learned from microsoft/TRELLIS.2 ``o-voxel/src/convert/flexible_dual_grid.cpp``,
``o-voxel/o_voxel/convert/flexible_dual_grid.py`` and ``data_toolkit/dual_grid.py``; this is our
own implementation of it):

- The mesh is normalized as ``dual_grid.py`` does, in float32: bounding-box centre to 0, scale
  ``0.99999 / largest extent``; the grid covers the box [-0.5, 0.5]^3 with ``res`` voxels per
  axis, voxel ``i`` spanning [-0.5 + i/res, -0.5 + (i+1)/res].
- A grid edge along axis ``a`` crossed by a triangle activates the four voxels around it; the
  voxel whose upper corner the edge runs through owns it (its ``intersected[a]`` flag). The
  crossings are found by the same scan lines as the reference (rows of one axis, columns of the
  next, float32 grid lines, float64 interpolation), so the active set is the same bit for bit.
- Each active voxel's dual vertex minimizes a quadric error: the planes of the triangles crossing
  its edges (once per crossing), the planes of the triangles overlapping its box (the
  reference's ``face_weight`` only switches this term on), the lines of the mesh's boundary edges
  through it (``boundary_weight``), and a pull toward the mean crossing point
  (``regularization_weight`` × crossings). Outside its voxel, the best point on the voxel's
  faces, edges and corners is taken, as the reference does.

The work is proportional to the surface: crossings are found per triangle (in parallel), the
active voxels are kept in 8³ blocks under a dense map of blocks (``res/8`` per axis), never in a
``res³`` array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import trimesh

from meshprep.errors import InvalidGeometryError

from ._convention import mesh_arrays, mesh_call
from ._scanline import corner_voxel as _corner_voxel
from ._scanline import count_crossings as _count_crossings
from ._scanline import fill_crossings as _fill_crossings

BLOCK_SHIFT = 3
BLOCK = 1 << BLOCK_SHIFT
BLOCK_MASK = BLOCK - 1
QEF_SIZE = 10  # upper triangle of a symmetric 4x4 matrix: 00 01 02 03 11 12 13 22 23 33


@dataclass
class DualGrid:
    """The O-Voxel shape of a mesh at one resolution.

    Attributes
    ----------
    resolution : int
        Voxels per axis over the box [-0.5, 0.5]^3.
    coords : numpy.ndarray
        (N, 3) int32 voxel indices of the active voxels (block order: sorted by 8³ block, then
        by position inside the block).
    dual_vertices : numpy.ndarray
        (N, 3) float32 dual vertices in grid units measured from the box corner (-0.5)^3, i.e.
        ``(p + 0.5) * res``; each lies in its voxel ``[coords, coords + 1]``.
    intersected : numpy.ndarray
        (N, 3) bool: the grid edge along x / y / z that the voxel owns is crossed.
    """

    resolution: int
    coords: np.ndarray
    dual_vertices: np.ndarray
    intersected: np.ndarray

    def __len__(self) -> int:
        return len(self.coords)

    @property
    def positions(self) -> np.ndarray:
        """(N, 3) float32 dual vertices in the normalized frame [-0.5, 0.5]^3."""
        return self.dual_vertices / np.float32(self.resolution) - np.float32(0.5)

    def vertices_u8(self) -> np.ndarray:
        """Dual vertices as TRELLIS.2 stores them: offset in the voxel, clamped to [0, 1], ×255,
        truncated to uint8 (``data_toolkit/dual_grid.py``)."""
        offset = self.dual_vertices - self.coords.astype(np.float32)
        return (np.clip(offset, 0, 1) * np.float32(255)).astype(np.uint8)

    def intersected_u8(self) -> np.ndarray:
        """(N, 1) uint8 bit mask of the crossed edges: x = 1, y = 2, z = 4."""
        bits = self.intersected.astype(np.uint8) << np.arange(3, dtype=np.uint8)
        return bits.sum(axis=1, dtype=np.uint8)[:, None]


def normalize_for_dual_grid(vertices: np.ndarray) -> np.ndarray:
    """Vertices normalized as ``data_toolkit/dual_grid.py`` does, in float32.

    Box centre to 0, scale ``0.99999 / largest extent``; the result lies in [-0.5, 0.5]^3.
    """
    v = np.asarray(vertices, dtype=np.float32)
    lo, hi = v.min(axis=0), v.max(axis=0)
    center = (lo + hi) / np.float32(2)
    extent = np.float32((hi - lo).max())
    if not np.isfinite(extent) or extent <= 0:
        raise InvalidGeometryError("the mesh has no extent: it cannot be voxelized")
    # ``0.99999 / tensor`` in torch is ``tensor.reciprocal() * 0.99999`` (two float32 roundings)
    scale = (np.float32(1) / extent) * np.float32(0.99999)
    return ((v - center) * scale).astype(np.float32)


@mesh_call
def flexible_dual_grid(
    mesh: trimesh.Trimesh | np.ndarray,
    resolution: int = 256,
    *,
    faces: np.ndarray | None = None,
    normalize: bool = True,
    face_weight: float = 1.0,
    boundary_weight: float = 0.2,
    regularization_weight: float = 1e-2,
) -> DualGrid:
    """TRELLIS.2's O-Voxel shape (flexible dual grid) of a triangle mesh.

    Parameters
    ----------
    mesh : trimesh.Trimesh or numpy.ndarray
        A mesh, or (V, 3) vertices with ``faces``.
    resolution : int
        Voxels per axis.
    faces : numpy.ndarray, optional
        (F, 3) vertex indices, by keyword, when ``mesh`` is an array of vertices.
    normalize : bool
        Normalize as TRELLIS.2's ``dual_grid.py`` does first (default). With False the vertices
        must already lie in [-0.5, 0.5]^3.
    face_weight, boundary_weight, regularization_weight : float
        The quadric's terms, TRELLIS.2's data-toolkit values by default.

    Returns
    -------
    DualGrid
    """
    return flexible_dual_grids(
        mesh, [resolution], faces=faces, normalize=normalize, face_weight=face_weight,
        boundary_weight=boundary_weight, regularization_weight=regularization_weight,
    )[resolution]


@mesh_call
def flexible_dual_grids(
    mesh: trimesh.Trimesh | np.ndarray,
    resolutions: list[int],
    *,
    faces: np.ndarray | None = None,
    normalize: bool = True,
    face_weight: float = 1.0,
    boundary_weight: float = 0.2,
    regularization_weight: float = 1e-2,
) -> dict[int, DualGrid]:
    """O-Voxel shapes at several resolutions, sharing the per-triangle work.

    See :func:`flexible_dual_grid` for the parameters; returns ``{resolution: DualGrid}``.
    """
    v, f = _checked_mesh(*mesh_arrays(mesh, faces), normalize)
    # the reference works in the box's frame, shifted so that its corner is the origin
    shifted = (v - np.float32(-0.5)).astype(np.float32)
    tris = shifted[f]
    planes = _triangle_quadrics(tris)
    boundary = _boundary_segments(shifted, f) if boundary_weight > 0 else np.empty((0, 2, 3),
                                                                                   np.float32)
    grids = {}
    for res in resolutions:
        grids[res] = _dual_grid_at(tris, planes, boundary, int(res), face_weight,
                                   boundary_weight, regularization_weight)
    return grids


def _checked_mesh(vertices, faces, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InvalidGeometryError("a triangle mesh with at least one face is needed")
    if f.min() < 0 or f.max() >= len(v):
        raise InvalidGeometryError("face indices out of range")
    if not np.isfinite(v).all():
        raise InvalidGeometryError("the mesh has non-finite vertices")
    if normalize:
        v = normalize_for_dual_grid(v)
    elif v.min() < -0.5 or v.max() > 0.5:
        raise InvalidGeometryError("vertices must lie in [-0.5, 0.5]^3 (or pass normalize=True)")
    return v, f.astype(np.int32)


#: layers of voxels worked on at once: the per-voxel quadrics (about 130 bytes a voxel) exist
#: for one such z-range at a time, so memory stays bounded at high resolutions
PASS_LAYERS = 128


def _dual_grid_at(tris, planes, boundary, res, face_weight, boundary_weight, reg_weight):
    """The dual grid at one resolution, computed in z-ranges of ``PASS_LAYERS`` layers."""
    if res < 2:
        raise ValueError(f"resolution must be at least 2, got {res}")
    vs = np.float32(1.0) / np.float32(res)
    z_lo = np.floor(tris[:, :, 2].min(axis=1) / vs).astype(np.int64) - 1
    z_hi = np.floor(tris[:, :, 2].max(axis=1) / vs).astype(np.int64) + 1
    seg_lo = np.floor(boundary[:, :, 2].min(axis=1) / vs).astype(np.int64) - 1
    seg_hi = np.floor(boundary[:, :, 2].max(axis=1) / vs).astype(np.int64) + 1
    parts = []
    for start in range(0, res, PASS_LAYERS):
        end = min(res, start + PASS_LAYERS)
        chosen = np.flatnonzero((z_hi >= start) & (z_lo < end))
        if len(chosen) == 0:
            continue
        segments = boundary[(seg_hi >= start) & (seg_lo < end)]
        parts.append(_dual_grid_layers(tris[chosen], planes[chosen], segments, res, vs, start,
                                       end, face_weight, boundary_weight, reg_weight))
    if not parts:
        return DualGrid(res, np.zeros((0, 3), np.int32), np.zeros((0, 3), np.float32),
                        np.zeros((0, 3), bool))
    coords, dual, flags = (np.concatenate(p) for p in zip(*parts, strict=True))
    return DualGrid(res, coords, dual, flags.astype(bool))


def _dual_grid_layers(tris, planes, boundary, res, vs, z_start, z_end, face_weight,
                      boundary_weight, reg_weight):
    """Coordinates, dual vertices (grid units) and flags of the voxels with z in
    [z_start, z_end) (multiples of the block size), from the triangles that reach them."""
    counts = _count_crossings(tris, vs, res)
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    cross_idx, cross_pt, cross_tri = _fill_crossings(tris, vs, res, offsets)
    nb_axis = (res + BLOCK - 1) >> BLOCK_SHIFT
    block_of = _mark_blocks(cross_idx, nb_axis, z_start, z_end)
    slots, coords = _number_voxels(cross_idx, block_of, z_start, z_end)
    order, bounds = _slab_schedule(tris, vs, res)
    qef, mean, count, flags = _quadric_terms(order, bounds, offsets, cross_idx, cross_pt, planes,
                                             block_of, slots, len(coords), tris, vs, res,
                                             face_weight > 0, z_start, z_end)
    del cross_idx, cross_pt, cross_tri, slots
    if boundary_weight > 0 and len(boundary):
        slots = _mark_slots_of(coords, block_of)
        _boundary_terms(boundary, np.float32(boundary_weight), vs, res, block_of, slots, qef)
        del slots
    dual = _solve_vertices(qef, mean, count, coords, vs, np.float32(reg_weight))
    return coords, (dual * np.float32(res)).astype(np.float32), flags


# ---------------------------------------------------------------------------------------------
# per-triangle quantities


@nb.njit(cache=True, parallel=True)
def _triangle_quadrics(tris):
    """The plane quadric of every triangle (10 unique entries, float64).

    The normal is ``normalize((v1 - v0) × (v2 - v1))`` in float32 (zero for a degenerate
    triangle, whose quadric is then zero) and the plane ``n·p - n·v0``, as the reference.
    """
    out = np.zeros((len(tris), QEF_SIZE), np.float64)
    for t in nb.prange(len(tris)):
        v0, v1, v2 = tris[t, 0], tris[t, 1], tris[t, 2]
        e0 = v1 - v0
        e1 = v2 - v1
        n = np.empty(3, np.float32)
        n[0] = e0[1] * e1[2] - e0[2] * e1[1]
        n[1] = e0[2] * e1[0] - e0[0] * e1[2]
        n[2] = e0[0] * e1[1] - e0[1] * e1[0]
        length = np.float32(np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]))
        if length > 0:
            n /= length
        p = np.empty(4, np.float64)
        p[0], p[1], p[2] = n[0], n[1], n[2]
        p[3] = -(np.float64(n[0]) * v0[0] + np.float64(n[1]) * v0[1] + np.float64(n[2]) * v0[2])
        _add_outer(out[t], p, 1.0)
    return out


@nb.njit(cache=True, inline="always")
def _add_outer(q, p, w):
    k = 0
    for i in range(4):
        for j in range(i, 4):
            q[k] += w * p[i] * p[j]
            k += 1


def _boundary_segments(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(B, 2, 3) float32 end points of the edges used by exactly one face (by vertex index,
    as the reference counts them), in the reference's order (sorted by index pair)."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges.sort(axis=1)
    keys = edges[:, 0].astype(np.int64) * (len(vertices) + 1) + edges[:, 1]
    unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
    once = edges[first[counts == 1]]
    return vertices[once]


# ---------------------------------------------------------------------------------------------
# the active voxels in 8³ blocks


@nb.njit(cache=True, parallel=True)
def _mark_blocks(cross_idx, nb_axis, z_start, z_end):
    """Dense map of 8³ blocks: -1 empty, else the block's number (in x, y, z order); only the
    voxels with z in [z_start, z_end) count."""
    marks = np.zeros((nb_axis, nb_axis, nb_axis), np.uint8)
    for n in nb.prange(len(cross_idx)):
        for corner in range(4):
            i, j, k = _corner_voxel(cross_idx[n], corner)
            if z_start <= k < z_end:
                marks[i >> BLOCK_SHIFT, j >> BLOCK_SHIFT, k >> BLOCK_SHIFT] = 1
    block_of = np.full((nb_axis, nb_axis, nb_axis), -1, np.int32)
    count = 0
    for a in range(nb_axis):
        for b in range(nb_axis):
            for c in range(nb_axis):
                if marks[a, b, c]:
                    block_of[a, b, c] = count
                    count += 1
    return block_of


@nb.njit(cache=True, inline="always")
def _slot(block_of, i, j, k):
    b = block_of[i >> BLOCK_SHIFT, j >> BLOCK_SHIFT, k >> BLOCK_SHIFT]
    if b < 0:
        return -1
    return (b << 9) | ((i & BLOCK_MASK) << 6) | ((j & BLOCK_MASK) << 3) | (k & BLOCK_MASK)


@nb.njit(cache=True, parallel=True)
def _mark_slots(cross_idx, block_of, z_start, z_end):
    n_blocks = block_of.max() + 1
    slots = np.full(n_blocks << 9, -1, np.int32)
    for n in nb.prange(len(cross_idx)):  # every writer stores the same value
        for corner in range(4):
            i, j, k = _corner_voxel(cross_idx[n], corner)
            if z_start <= k < z_end:
                slots[_slot(block_of, i, j, k)] = 0
    return slots


@nb.njit(cache=True, parallel=True)
def _mark_slots_of(coords, block_of):
    """The slot table again (voxel numbers per block slot) from the voxels' coordinates."""
    slots = np.full((block_of.max() + 1) << 9, -1, np.int32)
    for v in nb.prange(len(coords)):
        slots[_slot(block_of, coords[v, 0], coords[v, 1], coords[v, 2])] = v
    return slots


@nb.njit(cache=True)
def _number_slots(slots, block_of):
    """Number the marked slots in order; the (N, 3) coordinates of the voxels."""
    origin = np.empty((len(slots) >> 9, 3), np.int32)
    nb_axis = block_of.shape[0]
    for a in range(nb_axis):
        for b in range(nb_axis):
            for c in range(nb_axis):
                blk = block_of[a, b, c]
                if blk >= 0:
                    origin[blk, 0], origin[blk, 1], origin[blk, 2] = a * BLOCK, b * BLOCK, c * BLOCK
    count = 0
    for s in range(len(slots)):
        if slots[s] == 0:
            slots[s] = count
            count += 1
    coords = np.empty((count, 3), np.int32)
    for s in range(len(slots)):
        v = slots[s]
        if v >= 0:
            blk = s >> 9
            coords[v, 0] = origin[blk, 0] + ((s >> 6) & BLOCK_MASK)
            coords[v, 1] = origin[blk, 1] + ((s >> 3) & BLOCK_MASK)
            coords[v, 2] = origin[blk, 2] + (s & BLOCK_MASK)
    return coords


def _number_voxels(cross_idx: np.ndarray, block_of: np.ndarray, z_start: int, z_end: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Voxel numbers per block slot (-1 inactive) and the (N, 3) coordinates, in slot order."""
    slots = _mark_slots(cross_idx, block_of, z_start, z_end)
    return slots, _number_slots(slots, block_of)


@nb.njit(cache=True, inline="always")
def _voxel_id(block_of, slots, i, j, k, res):
    if i < 0 or j < 0 or k < 0 or i >= res or j >= res or k >= res:
        return -1
    s = _slot(block_of, i, j, k)
    return -1 if s < 0 else slots[s]


# ---------------------------------------------------------------------------------------------
# the quadric's terms


SLABS = (32, 64, 128, 256)  # candidate thicknesses (voxels) of the z-slabs of triangles
TALL_SHARE = 0.05  # largest share of the surface left to the serial pass


def _slab_schedule(tris: np.ndarray, vs: np.float32, res: int):
    """Triangles grouped by the z-slab of their lowest voxel, for race-free parallel updates.

    A triangle whose voxels span less than ``slab - 2`` layers touches only its own slab and
    the next one, so the even slabs can run in parallel, then the odd ones. Taller triangles
    run serially afterwards; the slab is the thinnest that leaves them at most ``TALL_SHARE``
    of the surface (and at least four slabs).
    """
    z = tris[:, :, 2]
    z0 = np.clip((z.min(axis=1) / vs).astype(np.int64), 0, res - 1)
    z1 = np.clip((z.max(axis=1) / vs).astype(np.int64), 0, res - 1)
    area = np.linalg.norm(np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]), axis=1)
    total = max(float(area.sum()), 1e-30)
    slab = SLABS[0]
    for slab in SLABS:
        if 4 * slab >= res or area[(z1 - z0) >= slab - 2].sum() <= TALL_SHARE * total:
            break
    tall = (z1 - z0) >= slab - 2
    group = np.where(tall, -1, z0 // slab)
    order = np.argsort(group, kind="stable").astype(np.int32)
    n_slabs = (res + slab - 1) // slab
    bounds = np.searchsorted(group[order], np.arange(-1, n_slabs + 1)).astype(np.int64)
    return order, bounds


@nb.njit(cache=True, inline="always")
def _triangle_terms(t, offsets, cross_idx, cross_pt, planes, block_of, slots, qef, mean,
                    count, flags, tris, vs, res, with_faces, z_start, z_end):
    plane = planes[t]
    for n in range(offsets[t], offsets[t + 1]):
        for corner in range(4):
            i, j, k = _corner_voxel(cross_idx[n], corner)
            if k < z_start or k >= z_end:
                continue
            v = slots[_slot(block_of, i, j, k)]
            for q in range(QEF_SIZE):
                qef[v, q] += plane[q]
            mean[v, 0] += cross_pt[n, 0]
            mean[v, 1] += cross_pt[n, 1]
            mean[v, 2] += cross_pt[n, 2]
            count[v] += 1.0
            if corner == 0:
                flags[v, cross_idx[n, 3]] = 1
    if with_faces:
        _face_term(tris[t], plane, vs, res, block_of, slots, qef, z_start, z_end)


@nb.njit(cache=True, parallel=True)
def _quadric_terms(order, bounds, offsets, cross_idx, cross_pt, planes, block_of, slots,
                   n_voxels, tris, vs, res, with_faces, z_start, z_end):
    """Per voxel: the planes of the crossings around it (and, ``with_faces``, of the triangles
    overlapping its box), the sum and count of its crossing points, the flags of its edges."""
    qef = np.zeros((n_voxels, QEF_SIZE), np.float64)
    mean = np.zeros((n_voxels, 3), np.float64)
    count = np.zeros(n_voxels, np.float64)
    flags = np.zeros((n_voxels, 3), np.uint8)
    n_slabs = len(bounds) - 2
    for parity in range(2):
        for g in nb.prange((n_slabs + 1 - parity) // 2):
            slab = 2 * g + parity
            for r in range(bounds[slab + 1], bounds[slab + 2]):
                _triangle_terms(order[r], offsets, cross_idx, cross_pt, planes, block_of,
                                slots, qef, mean, count, flags, tris, vs, res, with_faces,
                                z_start, z_end)
    for r in range(bounds[0], bounds[1]):  # the tall triangles
        _triangle_terms(order[r], offsets, cross_idx, cross_pt, planes, block_of, slots, qef,
                        mean, count, flags, tris, vs, res, with_faces, z_start, z_end)
    return qef, mean, count, flags


@nb.njit(cache=True)
def _face_term(tri, plane, vs, res, block_of, slots, qef, z_start, z_end):
    """Add a triangle's plane to the active voxels whose box it overlaps (the plane/box and
    three projected edge tests of Schwarz & Seidel, as the reference's ``face_qef``)."""
    vs64 = np.float64(vs)
    v0x, v0y, v0z = np.float64(tri[0, 0]), np.float64(tri[0, 1]), np.float64(tri[0, 2])
    v1x, v1y, v1z = np.float64(tri[1, 0]), np.float64(tri[1, 1]), np.float64(tri[1, 2])
    v2x, v2y, v2z = np.float64(tri[2, 0]), np.float64(tri[2, 1]), np.float64(tri[2, 2])
    ex = (v1x - v0x, v2x - v1x, v0x - v2x)
    ey = (v1y - v0y, v2y - v1y, v0y - v2y)
    ez = (v1z - v0z, v2z - v1z, v0z - v2z)
    nx = ey[0] * ez[1] - ez[0] * ey[1]
    ny = ez[0] * ex[1] - ex[0] * ez[1]
    nz = ex[0] * ey[1] - ey[0] * ex[1]
    length = np.sqrt(nx * nx + ny * ny + nz * nz)
    if length > 0:
        nx, ny, nz = nx / length, ny / length, nz / length
    x0 = max(int(min(v0x, v1x, v2x) / vs64), 0)
    y0 = max(int(min(v0y, v1y, v2y) / vs64), 0)
    z0 = max(int(min(v0z, v1z, v2z) / vs64), 0, z_start)
    x1 = min(int(max(v0x, v1x, v2x) / vs64 + 1.0), res)
    y1 = min(int(max(v0y, v1y, v2y) / vs64 + 1.0), res)
    z1 = min(int(max(v0z, v1z, v2z) / vs64 + 1.0), res, z_end)
    cx = vs64 if nx > 0 else 0.0
    cy = vs64 if ny > 0 else 0.0
    cz = vs64 if nz > 0 else 0.0
    d1 = nx * (cx - v0x) + ny * (cy - v0y) + nz * (cz - v0z)
    d2 = nx * (vs64 - cx - v0x) + ny * (vs64 - cy - v0y) + nz * (vs64 - cz - v0z)
    px = (v0x, v1x, v2x)
    py = (v0y, v1y, v2y)
    pz = (v0z, v1z, v2z)
    # edge k's normal in the xy, yz and zx projections and its offset (vertex k on the edge)
    mxy = -1.0 if nz < 0 else 1.0
    myz = -1.0 if nx < 0 else 1.0
    mzx = -1.0 if ny < 0 else 1.0
    exy = np.empty((3, 3), np.float64)
    eyz = np.empty((3, 3), np.float64)
    ezx = np.empty((3, 3), np.float64)
    for k in range(3):
        a, b = -mxy * ey[k], mxy * ex[k]
        exy[k, 0], exy[k, 1] = a, b
        exy[k, 2] = -(a * px[k] + b * py[k]) + (max(a, 0.0) + max(b, 0.0)) * vs64
        a, b = -myz * ez[k], myz * ey[k]
        eyz[k, 0], eyz[k, 1] = a, b
        eyz[k, 2] = -(a * py[k] + b * pz[k]) + (max(a, 0.0) + max(b, 0.0)) * vs64
        a, b = -mzx * ex[k], mzx * ez[k]
        ezx[k, 0], ezx[k, 1] = a, b
        ezx[k, 2] = -(a * pz[k] + b * px[k]) + (max(a, 0.0) + max(b, 0.0)) * vs64
    # Candidates: instead of the whole bounding box, walk the columns along the normal's
    # dominant axis and keep the cells the plane passes through over each column's square (one
    # cell of margin); the exact test below decides, so the result is the bounding box's.
    lo = (x0, y0, z0)
    hi = (x1, y1, z1)
    nrm = (nx, ny, nz)
    dom = 0
    if abs(ny) > abs(nrm[dom]):
        dom = 1
    if abs(nz) > abs(nrm[dom]):
        dom = 2
    ua = (dom + 1) % 3
    wa = (dom + 2) % 3
    offset = -(nx * v0x + ny * v0y + nz * v0z)  # plane: n·p + offset = 0
    cell = np.empty(3, np.int64)
    for u in range(lo[ua], hi[ua]):
        for w in range(lo[wa], hi[wa]):
            if nrm[dom] == 0.0:
                k0, k1 = lo[dom], hi[dom]
            else:
                dmin, dmax = np.inf, -np.inf
                for cu in (u, u + 1):
                    for cw in (w, w + 1):
                        dcoord = -(nrm[ua] * cu * vs64 + nrm[wa] * cw * vs64 + offset) / nrm[dom]
                        dmin = min(dmin, dcoord)
                        dmax = max(dmax, dcoord)
                k0 = max(int(np.floor(dmin / vs64)) - 1, lo[dom])
                k1 = min(int(np.floor(dmax / vs64)) + 2, hi[dom])
            for kk in range(k0, k1):
                cell[dom], cell[ua], cell[wa] = kk, u, w
                x, y, z = cell[0], cell[1], cell[2]
                qx, qy, qz = x * vs64, y * vs64, z * vs64
                ndp = nx * qx + ny * qy + nz * qz
                if (ndp + d1) * (ndp + d2) > 0.0:
                    continue
                hit = True
                for k in range(3):
                    if (exy[k, 0] * qx + exy[k, 1] * qy + exy[k, 2] < 0.0
                            or eyz[k, 0] * qy + eyz[k, 1] * qz + eyz[k, 2] < 0.0
                            or ezx[k, 0] * qz + ezx[k, 1] * qx + ezx[k, 2] < 0.0):
                        hit = False
                        break
                if not hit:
                    continue
                v = _voxel_id(block_of, slots, x, y, z, res)
                if v >= 0:
                    for q in range(QEF_SIZE):
                        qef[v, q] += plane[q]


@nb.njit(cache=True)
def _boundary_terms(segments, weight, vs, res, block_of, slots, qef):
    """Add ``weight`` × the line quadric of every boundary edge to the active voxels it passes
    through (a 3D DDA from one end, stopping after the edge's length, as the reference)."""
    vs64 = np.float64(vs)
    q = np.empty(QEF_SIZE, np.float64)
    for s in range(len(segments)):
        a = segments[s, 0].astype(np.float64)
        d = segments[s, 1].astype(np.float64) - a
        length = np.sqrt((d * d).sum())
        if length < 1e-6:
            continue
        d /= length
        # (I - d d^T), -(I - d d^T) a, a^T (I - d d^T) a packed as a 4x4 quadric
        m = np.eye(3) - np.outer(d, d)
        b = -(m @ a)
        k = 0
        for i in range(3):
            for j in range(i, 3):
                q[k] = m[i, j]
                k += 1
            q[k] = b[i]
            k += 1
        q[9] = a @ (m @ a)
        cur = np.empty(3, np.int64)
        step = np.empty(3, np.int64)
        t_max = np.empty(3, np.float64)
        t_delta = np.empty(3, np.float64)
        for ax in range(3):
            cur[ax] = int(np.floor(segments[s, 0, ax] / vs))
            step[ax] = 1 if d[ax] > 0 else -1
            if d[ax] == 0.0:
                t_max[ax] = np.inf
                t_delta[ax] = np.inf
            else:
                border = np.float32(vs * np.float32(cur[ax] + (1 if step[ax] > 0 else 0)))
                t_max[ax] = np.float64(np.float32(border - segments[s, 0, ax])) / d[ax]
                t_delta[ax] = vs64 / abs(d[ax])
        while True:
            v = _voxel_id(block_of, slots, cur[0], cur[1], cur[2], res)
            if v >= 0:
                for k in range(QEF_SIZE):
                    qef[v, k] += weight * q[k]
            if t_max[0] < t_max[1]:
                ax = 0 if t_max[0] < t_max[2] else 2
            else:
                ax = 1 if t_max[1] < t_max[2] else 2
            if t_max[ax] > length:
                break
            cur[ax] += step[ax]
            t_max[ax] += t_delta[ax]


# ---------------------------------------------------------------------------------------------
# the dual vertices


#: index into the packed upper triangle of entry (i, j) of a symmetric 4x4 matrix
_PACK = np.array([[0, 1, 2, 3], [1, 4, 5, 6], [2, 5, 7, 8], [3, 6, 8, 9]], np.int64)


@nb.njit(cache=True, inline="always")
def _error(q, x, y, z):
    """``p^T Q p`` for ``p = (x, y, z, 1)``."""
    return (q[0] * x * x + q[4] * y * y + q[7] * z * z + q[9]
            + 2.0 * (q[1] * x * y + q[2] * x * z + q[5] * y * z
                     + q[3] * x + q[6] * y + q[8] * z))


@nb.njit(cache=True, inline="always")
def _inside(x, lo, hi):
    return x >= lo and x <= hi


@nb.njit(cache=True, inline="always")
def _solve3(q):
    """Solve ``Q[:3, :3] x = -Q[:3, 3]`` by Cramer's rule; (False, ...) when singular."""
    a, b, c = q[0], q[1], q[2]
    e, f, i = q[4], q[5], q[7]
    d, g, h = b, c, f
    r0, r1, r2 = -q[3], -q[6], -q[8]
    c00 = e * i - f * h
    c01 = f * g - d * i
    c02 = d * h - e * g
    det = a * c00 + b * c01 + c * c02
    scale = abs(a) + abs(e) + abs(i)
    if scale == 0.0 or abs(det) <= 1e-12 * scale * scale * scale:
        return False, 0.0, 0.0, 0.0
    x0 = (r0 * c00 + b * (f * r2 - r1 * i) + c * (r1 * h - e * r2)) / det
    x1 = (a * (r1 * i - f * r2) + r0 * c01 + c * (d * r2 - r1 * g)) / det
    x2 = (a * (e * r2 - r1 * h) + b * (r1 * g - d * r2) + r0 * c02) / det
    return True, x0, x1, x2


@nb.njit(cache=True)
def _solve_one(q, lx, ly, lz, hx, hy, hz):
    """Minimize the quadric ``q`` over the box [l, h] as the reference does: the free minimum
    if it lies inside, else the best of the minima on faces, edges and corners."""
    ok, x0, x1, x2 = _solve3(q)
    if ok and _inside(x0, lx, hx) and _inside(x1, ly, hy) and _inside(x2, lz, hz):
        return x0, x1, x2
    lo = (lx, ly, lz)
    hi = (hx, hy, hz)
    best = np.inf
    bx, by, bz = 0.5 * (lx + hx), 0.5 * (ly + hy), 0.5 * (lz + hz)
    # one coordinate on a face of the box
    for fixed in range(3):
        a1 = (fixed + 1) % 3
        a2 = (fixed + 2) % 3
        s11, s12, s22 = q[_PACK[a1, a1]], q[_PACK[a1, a2]], q[_PACK[a2, a2]]
        det2 = s11 * s22 - s12 * s12
        if det2 == 0.0:
            continue
        for side in range(2):
            bound = lo[fixed] if side == 0 else hi[fixed]
            r1 = -(q[_PACK[a1, fixed]] * bound + q[_PACK[a1, 3]])
            r2 = -(q[_PACK[a2, fixed]] * bound + q[_PACK[a2, 3]])
            u = (s22 * r1 - s12 * r2) / det2
            w = (s11 * r2 - s12 * r1) / det2
            if _inside(u, lo[a1], hi[a1]) and _inside(w, lo[a2], hi[a2]):
                p = [0.0, 0.0, 0.0]
                p[fixed], p[a1], p[a2] = bound, u, w
                err = _error(q, p[0], p[1], p[2])
                if err < best:
                    best, bx, by, bz = err, p[0], p[1], p[2]
    # two coordinates on an edge of the box
    for free in range(3):
        a1 = (free + 1) % 3
        a2 = (free + 2) % 3
        diag = q[_PACK[free, free]]
        if diag == 0.0:
            continue
        for s1 in range(2):
            c1 = lo[a1] if s1 == 0 else hi[a1]
            for s2 in range(2):
                c2 = lo[a2] if s2 == 0 else hi[a2]
                t = -(q[_PACK[free, a1]] * c1 + q[_PACK[free, a2]] * c2 + q[_PACK[free, 3]]) / diag
                if _inside(t, lo[free], hi[free]):
                    p = [0.0, 0.0, 0.0]
                    p[free], p[a1], p[a2] = t, c1, c2
                    err = _error(q, p[0], p[1], p[2])
                    if err < best:
                        best, bx, by, bz = err, p[0], p[1], p[2]
    # the corners
    for sx in range(2):
        cx = hx if sx == 0 else lx
        for sy in range(2):
            cy = hy if sy == 0 else ly
            for sz in range(2):
                cz = hz if sz == 0 else lz
                err = _error(q, cx, cy, cz)
                if err < best:
                    best, bx, by, bz = err, cx, cy, cz
    return bx, by, bz


@nb.njit(cache=True, parallel=True)
def _solve_vertices(qef, mean, count, coords, vs, reg_weight):
    """(N, 3) float32 dual vertices in the shifted box frame (corner at the origin)."""
    out = np.empty((len(coords), 3), np.float32)
    for v in nb.prange(len(coords)):
        q = qef[v].copy()
        if reg_weight > 0:
            w = np.float64(reg_weight) * count[v]
            px, py, pz = mean[v, 0] / count[v], mean[v, 1] / count[v], mean[v, 2] / count[v]
            q[0] += w
            q[4] += w
            q[7] += w
            q[3] -= w * px
            q[6] -= w * py
            q[8] -= w * pz
            q[9] += w * (px * px + py * py + pz * pz)
        i, j, k = coords[v, 0], coords[v, 1], coords[v, 2]
        x, y, z = _solve_one(q, np.float32(i * vs), np.float32(j * vs), np.float32(k * vs),
                             np.float32((i + 1) * vs), np.float32((j + 1) * vs),
                             np.float32((k + 1) * vs))
        out[v, 0], out[v, 1], out[v, 2] = x, y, z
    return out
