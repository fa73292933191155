"""The watertight band's unsigned distances with Warp's mesh BVH, on a GPU when there is one."""

from __future__ import annotations

import numpy as np

from meshprep.warp_device import _mesh, _warp, resolve_device

_KERNELS = None


def _kernels():
    """Warp kernels, defined on first use (importing this module does not need Warp)."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    wp = _warp()

    @wp.kernel
    def band(mesh: wp.uint64, origins: wp.array(dtype=wp.vec3), limit: float,
             out: wp.array2d(dtype=float)):
        b, p = wp.tid()
        point = origins[b] + wp.vec3(float(p >> 6), float((p >> 3) & 7), float(p & 7))
        query = wp.mesh_query_point_no_sign(mesh, point, limit)
        distance = float(1.0e30)  # noqa: UP018  (Warp: a variable, not a constant)
        if query.result:
            closest = wp.mesh_eval_position(mesh, query.face, query.u, query.v)
            distance = wp.length(closest - point)
        if distance > limit:
            distance = float(1.0e30)  # noqa: UP018  (Warp: a variable, not a constant)
        out[b, p] = distance

    _KERNELS = (band,)
    return _KERNELS


def band_udf_warp(grid_vertices: np.ndarray, faces: np.ndarray, block_origins: np.ndarray,
                  band: float, device: str = "auto") -> np.ndarray:
    """Unsigned distances (voxels) at every point of the given 8³ blocks, ``inf`` past ``band``.

    The same quantity as :func:`meshprep.watertight.band.build_band`'s ``udf`` for the same
    blocks (mesh in grid coordinates); the block layout itself still comes from the CPU path.
    """
    wp = _warp()
    device = resolve_device(device)
    (kernel,) = _kernels()
    mesh = _mesh(wp, grid_vertices, faces, device)
    origins = wp.array(np.asarray(block_origins, np.float32), dtype=wp.vec3, device=device)
    out = wp.zeros((len(block_origins), 512), dtype=float, device=device)
    wp.launch(kernel, dim=(len(block_origins), 512), inputs=[mesh.id, origins, float(band)],
              outputs=[out], device=device)
    udf = out.numpy()
    udf[udf >= 1.0e29] = np.inf
    return udf
