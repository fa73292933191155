"""Small mesh helpers shared by the samplers: arrays out of a mesh, face normals, welding."""

from __future__ import annotations

import numba as nb
import numpy as np
import trimesh

from meshprep.geometry.normals import face_normals  # noqa: F401  (re-exported)

MeshLike = trimesh.Trimesh | tuple[np.ndarray, np.ndarray]



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


@nb.njit(cache=True)
def _first_occurrences(bits: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row with the same three 64-bit patterns.

    One pass in row order over an open-addressing hash table (linear probing), so the first
    occurrence is found without sorting; a hash collision between different rows is resolved
    by comparing the bits exactly.
    """
    n = bits.shape[0]
    size = 1
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, np.int64)
    remap = np.empty(n, np.int64)
    for i in range(n):
        # splitmix-style mixing of the three coordinates
        h = np.uint64(0x9E3779B97F4A7C15)
        for a in range(3):
            h = (h ^ bits[i, a]) * np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
        slot = h & mask
        while True:
            j = table[slot]
            if j < 0:
                table[slot] = i
                remap[i] = i
                break
            if bits[j, 0] == bits[i, 0] and bits[j, 1] == bits[i, 1] and bits[j, 2] == bits[i, 2]:
                remap[i] = j
                break
            slot = (slot + np.uint64(1)) & mask
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
    remap = _first_occurrences(bits)
    keep = remap == np.arange(len(vertices))
    if keep.all():
        return vertices, faces
    new_index = np.cumsum(keep) - 1
    return vertices[keep], new_index[remap][faces]
