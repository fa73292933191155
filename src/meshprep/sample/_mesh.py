"""Small mesh helpers shared by the samplers: arrays out of a mesh, face normals, welding."""

from __future__ import annotations

import numba as nb
import numpy as np
import trimesh

MeshLike = trimesh.Trimesh | tuple[np.ndarray, np.ndarray]

# trimesh's zero tolerance for unit vectors (util.TOL_ZERO)
_TOL_ZERO = np.finfo(np.float64).resolution * 100
_ONES3 = np.ones(3)


def mesh_arrays(mesh: MeshLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(vertices float64 (N, 3), faces int64 (M, 3))`` as C-contiguous arrays.

    Accepts a :class:`trimesh.Trimesh` or a ``(vertices, faces)`` pair, so the samplers can be
    used on plain arrays without building a trimesh object.
    """
    if isinstance(mesh, trimesh.Trimesh):
        vertices, faces = mesh.vertices, mesh.faces
    else:
        vertices, faces = mesh
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (N, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (M, 3) triangles, got {faces.shape}")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("face index out of range of the vertex array")
    return vertices, faces


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit face normals (zero rows for zero-area faces) and face areas.

    Computed with the same operations as trimesh (``(b - a) x (c - b)``, multiplied by the
    reciprocal norm, faces with a cross product norm below 1e-13 get a zero normal), so that angle
    thresholds agree with trimesh-based references bit for bit.
    """
    tri = vertices[faces]
    edges = tri[:, 1:, :] - tri[:, :2, :]
    cross = np.cross(edges[:, 0], edges[:, 1])
    norm = np.sqrt(np.dot(cross * cross, _ONES3))
    valid = norm > _TOL_ZERO
    scale = np.zeros_like(norm)
    scale[valid] = norm[valid] ** -1
    return cross * scale[:, None], norm / 2.0


@nb.njit(cache=True)
def _hash_rows(bits: np.ndarray) -> np.ndarray:
    # mix the three 64-bit coordinate patterns into one key (splitmix-style multipliers)
    out = np.empty(bits.shape[0], np.uint64)
    for i in range(bits.shape[0]):
        h = np.uint64(0x9E3779B97F4A7C15)
        for a in range(3):
            h = (h ^ bits[i, a]) * np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
        out[i] = h
    return out


@nb.njit(cache=True)
def _weld_groups(bits: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    # walk runs of equal hash keys; inside a run, compare coordinates exactly (a hash collision
    # between different points must not merge them)
    n = order.shape[0]
    remap = np.empty(n, np.int64)
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and keys[order[stop]] == keys[order[start]]:
            stop += 1
        for s in range(start, stop):
            i = order[s]
            remap[i] = i
            for r in range(start, s):
                j = order[r]
                if remap[j] == j and bits[i, 0] == bits[j, 0] and bits[i, 1] == bits[j, 1] \
                        and bits[i, 2] == bits[j, 2]:
                    remap[i] = j
                    break
        start = stop
    return remap


def weld(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices with bit-identical coordinates and reindex the faces.

    Exporters split vertices along hard edges (per-corner normals or UVs); without welding those
    edges look like boundaries and their dihedral angle is lost. ``-0.0`` and ``0.0`` are merged.
    The first occurrence of each position is kept, in the original vertex order.
    """
    if len(vertices) == 0:
        return vertices, faces
    # +0.0 turns -0.0 into 0.0 so both spellings of zero weld
    bits = np.ascontiguousarray(vertices + 0.0).view(np.uint64)
    keys = _hash_rows(bits)
    order = np.argsort(keys, kind="stable")
    remap = _weld_groups(bits, order, keys)
    keep = remap == np.arange(len(vertices))
    if keep.all():
        return vertices, faces
    new_index = np.cumsum(keep) - 1
    return vertices[keep], new_index[remap][faces]
