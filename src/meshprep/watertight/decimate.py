"""Decimation that keeps a mesh closed: quadric edge collapses, then a topology check."""

from __future__ import annotations

import numpy as np

from ..geometry.topology import check_topology


def decimate_closed(
    vertices: np.ndarray, faces: np.ndarray, target_faces: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Reduce a closed mesh to about ``target_faces`` faces, keeping it a closed 2-manifold.

    Uses fast-simplification (quadric error metric edge collapses). Edge collapses can pinch a
    thin part into a non-manifold edge; when the result is not a closed 2-manifold the reduction
    is retried less aggressively, and the input is returned unchanged if no try passes.

    Parameters
    ----------
    vertices : (V, 3) float
    faces : (F, 3) int
    target_faces : int
        Wanted face count (the result may have slightly more).

    Returns
    -------
    vertices, faces : arrays
        The decimated (or original) mesh.
    decimated : bool
        False when every try broke the topology and the input was returned.
    """
    import fast_simplification

    if target_faces <= 0 or len(faces) <= target_faces:
        return vertices, faces, False
    reduction = 1.0 - target_faces / len(faces)
    for attempt in range(3):
        points, tris = fast_simplification.simplify(
            np.asarray(vertices, np.float32), np.asarray(faces, np.int32), reduction
        )
        tris = tris.astype(np.int64)
        if len(tris) and check_topology(points, tris).closed_2manifold:
            return points.astype(np.float64), tris, True
        reduction *= 0.5 if attempt else 0.9
    return vertices, faces, False
