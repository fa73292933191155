"""TRELLIS (v1) surface voxels: the occupied cells of its 64³ sparse structure.

Definition (learned from microsoft/TRELLIS ``dataset_toolkits/voxelize.py`` and the behaviour of
Open3D's ``VoxelGrid.create_from_triangle_mesh_within_bounds``; this is our own implementation):

- TRELLIS's render script normalizes the scene (scale ``1 / largest extent``, then the bounding
  box centred on the origin) and exports ``mesh.ply`` (float32 vertices); ``voxelize.py`` clips
  the vertices to ``±(0.5 - 1e-6)`` and asks Open3D for the voxels of the grid over
  [-0.5, 0.5]^3 with ``voxel_size = 1/64`` that each triangle overlaps.
- Open3D visits, for every triangle, the voxels ``floor((min - min_bound) / voxel_size)`` up to
  ``round((max - min) / voxel_size) + 2`` cells per axis, and keeps those that Akenine-Möller's
  triangle/box separating-axis test accepts against the closed box centred at
  ``(min_bound + voxel_size / 2) + i * voxel_size`` (half size ``voxel_size / 2``), all in
  float64.
  A triangle lying exactly on a grid plane therefore marks the cells above the plane, and the
  cells below it only where the visited range reaches them (the range never starts below
  ``floor(min)``).

We visit a subset of that range that provably holds every accepted cell (the cells near the
triangle's plane, column by column along the plane's dominant axis) and run the same test with
the same float64 operations in the same order, so the set is Open3D's, with work proportional to
the surface instead of the triangles' bounding boxes.
"""

from __future__ import annotations

import os

import numba as nb
import numpy as np
import trimesh

from meshprep.errors import InvalidGeometryError

from ._convention import mesh_call

TRELLIS_RESOLUTION = 64
CLIP_MARGIN = 1e-6  # voxelize.py clips to [-0.5 + 1e-6, 0.5 - 1e-6]
DENSE_LIMIT = 256  # up to this resolution the cells are marked in a dense res³ byte grid
COLUMN_MIN_CELLS = 4  # a triangle spanning more cells along its plane's axis is scanned by columns


def normalize_for_trellis(vertices: np.ndarray) -> np.ndarray:
    """Vertices normalized as TRELLIS's render script does before it exports ``mesh.ply``.

    ``normalize_scene`` scales by ``1 / max(bbox_max - bbox_min)`` and then moves the scaled
    bounding box's centre to the origin, i.e. ``(v - (bbox_min + bbox_max) / 2) / extent``.
    Computed in float64 and rounded to float32, the precision of the exported ``mesh.ply``.

    Parameters
    ----------
    vertices : numpy.ndarray
        (V, 3) vertices (all of them count for the bounding box, as in Blender).

    Returns
    -------
    numpy.ndarray
        (V, 3) float32, bounding box centred on 0 with largest extent 1.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise InvalidGeometryError("(V, 3) vertices are needed")
    lo, hi = v.min(axis=0), v.max(axis=0)
    extent = float((hi - lo).max())
    if not np.isfinite(extent) or extent <= 0:
        raise InvalidGeometryError("the mesh has no extent: it cannot be voxelized")
    return ((v - (lo + hi) / 2.0) * (1.0 / extent)).astype(np.float32)


@mesh_call
def surface_voxels(mesh: trimesh.Trimesh | np.ndarray, resolution: int = TRELLIS_RESOLUTION, *,
                   faces: np.ndarray | None = None, normalize: bool = True) -> np.ndarray:
    """The voxels TRELLIS's ``voxelize.py`` gets from Open3D, without Open3D.

    Parameters
    ----------
    mesh : trimesh.Trimesh or numpy.ndarray
        A mesh, or (V, 3) vertices with ``faces``.
    resolution : int
        Cells per axis over [-0.5, 0.5]^3 (TRELLIS: 64; ``voxel_size = 1 / resolution``).
    faces : numpy.ndarray, optional
        (F, 3) vertex indices, by keyword, when ``mesh`` is an array of vertices.
    normalize : bool
        Normalize with :func:`normalize_for_trellis` first (default). With False the vertices
        are taken as they are (those of a ``mesh.ply``). Either way they are then clipped to
        ``±(0.5 - 1e-6)`` in float64, as ``voxelize.py`` does.

    Returns
    -------
    numpy.ndarray
        (N, 3) int32 cell indices in ``[0, resolution)``, unique, sorted lexicographically
        (Open3D returns the same set in hash order). Cell ``i`` has its centre at
        ``(i + 0.5) / resolution - 0.5``.
    """
    v, f = _checked_mesh(mesh, faces, normalize)
    res = int(resolution)
    if res < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    return _voxelize(v, f, res, dense=res <= DENSE_LIMIT)


def _checked_mesh(mesh, faces, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    if faces is None:
        mesh, faces = mesh.vertices, mesh.faces
    v = np.asarray(mesh, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InvalidGeometryError("a triangle mesh with at least one face is needed")
    if f.min() < 0 or f.max() >= len(v):
        raise InvalidGeometryError("face indices out of range")
    if not np.isfinite(v[f]).all():
        raise InvalidGeometryError("the mesh has non-finite vertices")
    if normalize:
        v = normalize_for_trellis(v).astype(np.float64)
    v = np.clip(v, -0.5 + CLIP_MARGIN, 0.5 - CLIP_MARGIN)
    return np.ascontiguousarray(v), np.ascontiguousarray(f.astype(np.int32))


def _voxelize(v: np.ndarray, f: np.ndarray, res: int, dense: bool) -> np.ndarray:
    """Cells overlapped by the triangles: a dense byte grid for small grids, else sorted keys."""
    vs = 1.0 / res
    if dense:
        occ = np.zeros(res * res * res, np.uint8)
        _mark_cells(v, f, vs, res, occ)
        return _occupied_cells(occ, res)
    counts = _count_cells(v, f, vs, res)
    starts = np.zeros(len(f) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    keys = np.unique(_fill_cells(v, f, vs, res, starts))
    i, rest = np.divmod(keys, res * res)
    j, k = np.divmod(rest, res)
    return np.stack([i, j, k], axis=1).astype(np.int32)


@nb.njit(cache=True)
def _occupied_cells(occ, res):
    """(N, 3) int32 indices of the marked cells of a flat res³ grid, in key order."""
    n = 0
    for key in range(len(occ)):
        n += occ[key] != 0
    out = np.empty((n, 3), np.int32)
    n = 0
    for key in range(len(occ)):
        if occ[key]:
            out[n, 0], out[n, 1], out[n, 2] = key // (res * res), (key // res) % res, key % res
            n += 1
    return out


# ---------------------------------------------------------------------------------------------
# the triangle/box test, operation for operation as Open3D's IntersectionTest::TriangleAABB


@nb.njit(cache=True, inline="always")
def _axis_separates(p_a, p_b, rad):
    lo = p_a if p_a < p_b else p_b
    hi = p_b if p_a < p_b else p_a
    return lo > rad or hi < -rad


@nb.njit(cache=True)
def _triangle_box_overlap(cx, cy, cz, h, p, q, r):
    """Akenine-Möller's separating-axis test of the triangle with corners ``p, q, r`` (float64
    3-tuples) against the box of centre ``(cx, cy, cz)`` and half size ``h``; a box that only
    touches the triangle overlaps it."""
    x0, y0, z0 = p[0] - cx, p[1] - cy, p[2] - cz
    x1, y1, z1 = q[0] - cx, q[1] - cy, q[2] - cz
    x2, y2, z2 = r[0] - cx, r[1] - cy, r[2] - cz
    # edges e0 = v1 - v0, e1 = v2 - v1, e2 = v0 - v2 and the nine edge × axis directions
    ex, ey, ez = x1 - x0, y1 - y0, z1 - z0
    fx, fy, fz = abs(ex), abs(ey), abs(ez)
    if _axis_separates(ez * y0 - ey * z0, ez * y2 - ey * z2, fz * h + fy * h):
        return False
    if _axis_separates(-ez * x0 + ex * z0, -ez * x2 + ex * z2, fz * h + fx * h):
        return False
    if _axis_separates(ey * x1 - ex * y1, ey * x2 - ex * y2, fy * h + fx * h):
        return False
    gx, gy, gz = x2 - x1, y2 - y1, z2 - z1
    fx, fy, fz = abs(gx), abs(gy), abs(gz)
    if _axis_separates(gz * y0 - gy * z0, gz * y2 - gy * z2, fz * h + fy * h):
        return False
    if _axis_separates(-gz * x0 + gx * z0, -gz * x2 + gx * z2, fz * h + fx * h):
        return False
    if _axis_separates(gy * x0 - gx * y0, gy * x1 - gx * y1, fy * h + fx * h):
        return False
    kx, ky, kz = x0 - x2, y0 - y2, z0 - z2
    fx, fy, fz = abs(kx), abs(ky), abs(kz)
    if _axis_separates(kz * y0 - ky * z0, kz * y1 - ky * z1, fz * h + fy * h):
        return False
    if _axis_separates(-kz * x0 + kx * z0, -kz * x1 + kx * z1, fz * h + fx * h):
        return False
    if _axis_separates(ky * x1 - kx * y1, ky * x2 - kx * y2, fy * h + fx * h):
        return False
    # the box's own axes
    if _outside(x0, x1, x2, h) or _outside(y0, y1, y2, h) or _outside(z0, z1, z2, h):
        return False
    # the triangle's plane, normal e0 × e1
    nx = ey * gz - ez * gy
    ny = ez * gx - ex * gz
    nz = ex * gy - ey * gx
    return _plane_meets_box(nx, ny, nz, x0, y0, z0, h)


@nb.njit(cache=True, inline="always")
def _outside(a, b, c, h):
    return min(a, min(b, c)) > h or max(a, max(b, c)) < -h


@nb.njit(cache=True, inline="always")
def _plane_meets_box(nx, ny, nz, x0, y0, z0, h):
    ax, bx = (-h - x0, h - x0) if nx > 0.0 else (h - x0, -h - x0)
    ay, by = (-h - y0, h - y0) if ny > 0.0 else (h - y0, -h - y0)
    az, bz = (-h - z0, h - z0) if nz > 0.0 else (h - z0, -h - z0)
    if nx * ax + ny * ay + nz * az > 0.0:
        return False
    return nx * bx + ny * by + nz * bz >= 0.0


# ---------------------------------------------------------------------------------------------
# the cells visited per triangle


@nb.njit(cache=True, inline="always")
def _open3d_range(a, b, c, vs):
    """First cell and cell count Open3D visits along one axis (bounds start at -0.5), from the
    triangle's three coordinates on it."""
    lo = min(a, min(b, c))
    hi = max(a, max(b, c))
    span = (hi - lo) / vs
    rounded = np.floor(span)
    if span - rounded >= 0.5:  # std::round: halves away from zero (the span is >= 0)
        rounded += 1.0
    return int(np.floor((lo - -0.5) / vs)), int(rounded) + 2


@nb.njit(cache=True, inline="always")
def _corner(v, f, t, k):
    i = f[t, k]
    return (v[i, 0], v[i, 1], v[i, 2])


@nb.njit(cache=True, inline="always")
def _unpermute(c, ia, ib, kc):
    """Cell index from column ``(ia, ib)`` on axes ``(c + 1, c + 2) % 3`` and ``kc`` on ``c``."""
    if c == 0:
        return kc, ia, ib
    if c == 1:
        return ib, kc, ia
    return ia, ib, kc


@nb.njit(cache=True)
def _scan_triangle(v, f, t, vs, res, occ, keys, pos, mode):
    """Visit the cells of triangle ``t`` that Open3D would accept; returns how many.

    ``mode`` 0 marks them in ``occ`` (flat res³), 1 only counts, 2 writes flat keys at ``pos``.
    Cells outside the grid (impossible after clipping) are left out.
    """
    p, q, r = _corner(v, f, t, 0), _corner(v, f, t, 1), _corner(v, f, t, 2)
    ranges = (_open3d_range(p[0], q[0], r[0], vs), _open3d_range(p[1], q[1], r[1], vs),
              _open3d_range(p[2], q[2], r[2], vs))
    c, normal, columns = _column_axis(p, q, r, vs)
    if ranges[c][1] <= COLUMN_MIN_CELLS:
        columns = False
    a, b = (c + 1) % 3, (c + 2) % 3
    h = vs / 2.0
    found = 0
    for ia in range(ranges[a][0], ranges[a][0] + ranges[a][1]):
        for ib in range(ranges[b][0], ranges[b][0] + ranges[b][1]):
            k0, k1 = ranges[c][0], ranges[c][0] + ranges[c][1]
            if columns:
                lo, hi = _plane_span(p, normal, vs, a, b, c, ia, ib)
                k0 = max(k0, int(np.floor(lo - 1e-3)) - 1)
                k1 = min(k1, int(np.floor(hi + 1e-3)) + 2)
            for kc in range(k0, k1):
                i, j, k = _unpermute(c, ia, ib, kc)
                # Open3D's order: (min_bound + half size) + grid_index * voxel_size, which
                # matters where 1 / resolution is inexact (checked at 37 and 50)
                if not _triangle_box_overlap((-0.5 + h) + i * vs, (-0.5 + h) + j * vs,
                                             (-0.5 + h) + k * vs, h, p, q, r):
                    continue
                if min(i, min(j, k)) < 0 or max(i, max(j, k)) >= res:
                    continue
                key = (i * res + j) * res + k
                if mode == 0:
                    occ[key] = 1
                elif mode == 2:
                    keys[pos + found] = key
                found += 1
    return found


@nb.njit(cache=True, inline="always")
def _column_axis(p, q, r, vs):
    """The plane's dominant axis, its normal in grid units, and whether the plane is known well
    enough to bound the cells of each column (not for a sliver or a degenerate triangle)."""
    ex, ey, ez = (q[0] - p[0]) / vs, (q[1] - p[1]) / vs, (q[2] - p[2]) / vs
    gx, gy, gz = (r[0] - q[0]) / vs, (r[1] - q[1]) / vs, (r[2] - q[2]) / vs
    n = (ey * gz - ez * gy, ez * gx - ex * gz, ex * gy - ey * gx)
    c = 0
    if abs(n[1]) > abs(n[c]):
        c = 1
    if abs(n[2]) > abs(n[c]):
        c = 2
    norm = np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
    scale = np.sqrt((ex * ex + ey * ey + ez * ez) * (gx * gx + gy * gy + gz * gz))
    return c, n, norm > 1e-6 * scale


@nb.njit(cache=True, inline="always")
def _plane_span(p, n, vs, a, b, c, ia, ib):
    """Range in grid units, along the dominant axis ``c``, of the triangle's plane (through
    ``p``, normal ``n`` in grid units) over the column ``[ia, ia + 1] × [ib, ib + 1]``."""
    pa, pb, pc = (p[a] + 0.5) / vs, (p[b] + 0.5) / vs, (p[c] + 0.5) / vs
    lo, hi = np.inf, -np.inf
    for da in range(2):
        for db in range(2):
            z = pc - (n[a] * (ia + da - pa) + n[b] * (ib + db - pb)) / n[c]
            lo, hi = min(lo, z), max(hi, z)
    return lo, hi


@nb.njit(cache=True, parallel=True)
def _mark_cells(v, f, vs, res, occ):
    dummy = np.empty(0, np.int64)
    for t in nb.prange(len(f)):
        _scan_triangle(v, f, t, vs, res, occ, dummy, 0, 0)


@nb.njit(cache=True, parallel=True)
def _count_cells(v, f, vs, res):
    out = np.zeros(len(f), np.int64)
    dummy_occ = np.empty(0, np.uint8)
    dummy = np.empty(0, np.int64)
    for t in nb.prange(len(f)):
        out[t] = _scan_triangle(v, f, t, vs, res, dummy_occ, dummy, 0, 1)
    return out


@nb.njit(cache=True, parallel=True)
def _fill_cells(v, f, vs, res, starts):
    keys = np.empty(starts[-1], np.int64)
    dummy_occ = np.empty(0, np.uint8)
    for t in nb.prange(len(f)):
        _scan_triangle(v, f, t, vs, res, dummy_occ, keys, starts[t], 2)
    return keys


# ---------------------------------------------------------------------------------------------
# TRELLIS's voxels/<sha256>.ply


def write_voxel_ply(path: str | os.PathLike[str], indices: np.ndarray,
                    resolution: int = TRELLIS_RESOLUTION) -> None:
    """Write cell centres ``(i + 0.5) / resolution - 0.5`` as TRELLIS stores its voxels.

    Binary little-endian PLY with one ``vertex`` element of float32 ``x, y, z`` (what
    ``voxelize.py`` writes through ``utils3d.io.write_ply``).

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    indices : numpy.ndarray
        (N, 3) integer cell indices.
    resolution : int
        Cells per axis over [-0.5, 0.5]^3.
    """
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.shape[1] != 3:
        raise ValueError("indices must be (N, 3)")
    centres = ((idx.astype(np.float64) + 0.5) / resolution - 0.5).astype("<f4")
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(centres)}\n"
              "property float x\nproperty float y\nproperty float z\nend_header\n")
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(np.ascontiguousarray(centres).tobytes())


_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2",
              "int16": "i2", "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4",
              "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4", "double": "f8",
              "float64": "f8"}


def read_voxel_ply(path: str | os.PathLike[str],
                   resolution: int = TRELLIS_RESOLUTION) -> np.ndarray:
    """Read a TRELLIS voxel PLY back to cell indices, as TRELLIS's dataset loader does.

    The loader computes ``int((p + 0.5) * resolution)`` in float32 (truncation).

    Parameters
    ----------
    path : str or os.PathLike
        A binary little-endian PLY whose first element is ``vertex`` with scalar properties
        including ``x, y, z``.
    resolution : int
        Cells per axis the file was written with.

    Returns
    -------
    numpy.ndarray
        (N, 3) int32 cell indices, in file order.
    """
    xyz = _read_ply_points(path)
    scaled = (xyz + np.float32(0.5)) * np.float32(resolution)
    return np.trunc(scaled).astype(np.int32)


def _read_ply_points(path) -> np.ndarray:
    with open(path, "rb") as fh:
        data = fh.read()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError(f"{path}: not a PLY file")
    lines = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise ValueError(f"{path}: only binary little-endian PLY is read")
    count, fields = _vertex_layout(lines, path)
    body = np.frombuffer(data, np.dtype(fields), count=count, offset=end + len(b"end_header\n"))
    return np.stack([body["x"], body["y"], body["z"]], axis=1).astype(np.float32)


def _vertex_layout(lines: list[str], path) -> tuple[int, list[tuple[str, str]]]:
    count, fields, in_vertex = -1, [], False
    for line in lines:
        words = line.split()
        if words[:1] == ["element"]:
            if count >= 0:
                break
            if words[1] != "vertex":
                raise ValueError(f"{path}: the vertex element must come first")
            count, in_vertex = int(words[2]), True
        elif words[:1] == ["property"] and in_vertex:
            if words[1] == "list" or words[1] not in _PLY_TYPES:
                raise ValueError(f"{path}: unsupported vertex property {line!r}")
            fields.append((words[2], "<" + _PLY_TYPES[words[1]]))
    names = {name for name, _ in fields}
    if count < 0 or not {"x", "y", "z"} <= names:
        raise ValueError(f"{path}: no vertex element with x, y, z")
    return count, fields
