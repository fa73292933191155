"""The reference recipe, exactly as published, kept as a yardstick (``method="reference"``).

Dense unsigned distance on all ``res^3`` grid points (libigl's AABB tree), shell
``udf < eps`` with ``eps = 2 / res``, flood fill of the non-shell points from grid point
``[0, 0, 0]`` with 6-connectivity (the exterior), ``sdf = udf - eps`` negated off the exterior,
marching cubes at level 0 (scikit-image), vertices ``v / (res - 1) * 2 - 1``.
Its cost grows with the volume (res^3) and its surface sits about one voxel outside the input.
"""

from __future__ import annotations

import numpy as np

from ..errors import WatertightError


def _dense_udf(vertices: np.ndarray, faces: np.ndarray, res: int, chunk: int) -> np.ndarray:
    try:
        import igl
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("method='reference' needs libigl: pip install 'meshprep[reference]'") \
            from exc
    axis = np.linspace(-1.0, 1.0, res)
    udf = np.empty(res**3, dtype=np.float32)
    xs = np.repeat(axis, res * res)
    # query in slabs of x so that only one slab of points is in memory at a time
    slab = max(1, chunk // (res * res))
    yz = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    v, f = np.asarray(vertices, np.float64), np.asarray(faces, np.int64)
    for start in range(0, res, slab):
        stop = min(res, start + slab)
        pts = np.empty(((stop - start) * res * res, 3))
        pts[:, 0] = xs[start * res * res : stop * res * res]
        pts[:, 1:] = np.tile(yz, (stop - start, 1))
        d2, _, _ = igl.point_mesh_squared_distance(pts, v, f)
        udf[start * res * res : stop * res * res] = np.sqrt(np.maximum(d2, 0))
    return udf.reshape(res, res, res)


def reference_watertight(
    vertices: np.ndarray, faces: np.ndarray, res: int, chunk: int = 1 << 22
) -> tuple[np.ndarray, np.ndarray]:
    """Run the reference recipe on a mesh already in the canonical cube.

    Returns
    -------
    vertices : (V, 3) float64 in ``[-1, 1]``
    faces : (F, 3) int64, outward facing
    """
    from scipy import ndimage
    from skimage import measure

    eps = 2.0 / res
    udf = _dense_udf(vertices, faces, res, chunk)
    occupied = udf < eps
    labels, _ = ndimage.label(~occupied)  # 6-connectivity is scipy's default structure
    if labels[0, 0, 0] == 0:
        raise WatertightError("reference: the corner of the grid is inside the shell")
    exterior = labels == labels[0, 0, 0]
    sdf = udf - eps
    sdf[~exterior & (sdf > 0)] *= -1
    verts, tris, _, _ = measure.marching_cubes(sdf, 0.0)
    # scikit-image's default (gradient_direction="descent") already faces the values that grow
    # outwards, so the triangles are counter-clockwise seen from outside
    return verts / (res - 1) * 2.0 - 1.0, np.ascontiguousarray(tris, dtype=np.int64)
