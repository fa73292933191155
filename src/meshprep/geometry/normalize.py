"""Normalization into the canonical cube, and mapping results back."""

from __future__ import annotations

import numpy as np
import trimesh


def normalization_transform(vertices: np.ndarray, bound: float = 0.95) -> np.ndarray:
    """The 4x4 transform that puts ``vertices`` into ``[-bound, bound]^3``.

    The centre of the axis-aligned bounding box goes to the origin and the longest side of the
    box becomes ``2 * bound``; the scale is uniform so shapes are not distorted.

    Parameters
    ----------
    vertices : (N, 3) array
        Finite vertex coordinates.
    bound : float
        Half the side of the target cube, in (0, 1].

    Returns
    -------
    (4, 4) float64 array
        Homogeneous transform, original -> normalized.

    Examples
    --------
    >>> T = normalization_transform(np.array([[0.0, 0, 0], [2, 1, 1]]))
    >>> apply_transform(np.array([[2.0, 1, 1]]), T).round(3).tolist()
    [[0.95, 0.475, 0.475]]
    """
    if not 0 < bound <= 1:
        raise ValueError(f"bound must be in (0, 1], got {bound}")
    vertices = np.asarray(vertices, dtype=np.float64)
    if len(vertices) == 0:
        raise ValueError("cannot normalize an empty vertex array")
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    longest = float((hi - lo).max())
    # a single point (or all vertices coincident) has no size: keep scale 1 rather than divide by 0
    scale = 2.0 * bound / longest if longest > 0 else 1.0
    transform = np.eye(4)
    transform[:3, :3] *= scale
    transform[:3, 3] = -scale * (lo + hi) / 2.0
    return transform


def apply_transform(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous transform to ``(N, 3)`` points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ transform[:3, :3].T + transform[:3, 3]


def normalize(
    mesh: trimesh.Trimesh, bound: float = 0.95
) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Return a copy of ``mesh`` inside ``[-bound, bound]^3`` and the transform used.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        Any triangle mesh with finite coordinates.
    bound : float
        Half the side of the target cube (0.95 leaves a margin inside ``[-1, 1]^3``).

    Returns
    -------
    normalized : trimesh.Trimesh
        Same faces, transformed vertices.
    transform : (4, 4) array
        Original -> normalized; ``np.linalg.inv(transform)`` maps results back
        (see :func:`denormalize`).
    """
    transform = normalization_transform(mesh.vertices, bound)
    normalized = trimesh.Trimesh(
        vertices=apply_transform(mesh.vertices, transform),
        faces=np.asarray(mesh.faces),
        process=False,
    )
    return normalized, transform


def denormalize(mesh: trimesh.Trimesh, transform: np.ndarray) -> trimesh.Trimesh:
    """Map a mesh from the canonical cube back to the original coordinates of ``transform``."""
    back = np.linalg.inv(transform)
    return trimesh.Trimesh(
        vertices=apply_transform(mesh.vertices, back),
        faces=np.asarray(mesh.faces),
        process=False,
    )
