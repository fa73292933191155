"""Face normals and areas: one numba kernel shared by sampling, curation and rendering."""

from __future__ import annotations

import numba as nb
import numpy as np

# trimesh's zero tolerance for unit vectors (util.TOL_ZERO)
_TOL_ZERO = np.finfo(np.float64).resolution * 100


@nb.njit(cache=True, error_model="numpy")
def _face_normals(vertices, faces, normals, areas):
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        # trimesh's operations, in its order: (b - a) x (c - b), norm of the squares' sum
        ux = vertices[b, 0] - vertices[a, 0]
        uy = vertices[b, 1] - vertices[a, 1]
        uz = vertices[b, 2] - vertices[a, 2]
        vx = vertices[c, 0] - vertices[b, 0]
        vy = vertices[c, 1] - vertices[b, 1]
        vz = vertices[c, 2] - vertices[b, 2]
        nx = uy * vz - uz * vy
        ny = uz * vx - ux * vz
        nz = ux * vy - uy * vx
        norm = np.sqrt(nx * nx + ny * ny + nz * nz)
        areas[f] = norm / 2.0
        if norm > _TOL_ZERO:
            scale = norm ** -1.0
            normals[f, 0], normals[f, 1], normals[f, 2] = nx * scale, ny * scale, nz * scale
        else:
            normals[f, 0] = normals[f, 1] = normals[f, 2] = 0.0


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit face normals (zero rows for zero-area faces) and face areas.

    Computed with trimesh's operations (``(b - a) x (c - b)``, multiplied by the reciprocal
    norm, faces with a cross product norm below 1e-13 get a zero normal), so that angle
    thresholds agree with trimesh-based references.
    """
    normals = np.empty((len(faces), 3))
    areas = np.empty(len(faces))
    _face_normals(vertices, faces, normals, areas)
    return normals, areas
