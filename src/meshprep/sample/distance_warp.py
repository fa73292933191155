"""Signed distances for SDF labels with Warp's mesh BVH, on a GPU when there is one."""

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
    def signed(mesh: wp.uint64, points: wp.array(dtype=wp.vec3), limit: float,
               out: wp.array(dtype=float)):
        i = wp.tid()
        query = wp.mesh_query_point_sign_winding_number(mesh, points[i], limit)
        if query.result:
            closest = wp.mesh_eval_position(mesh, query.face, query.u, query.v)
            out[i] = query.sign * wp.length(closest - points[i])

    _KERNELS = (signed,)
    return _KERNELS


def signed_distance_warp(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray,
                         device: str = "auto") -> np.ndarray:
    """Signed distance (negative inside) of ``points`` to a closed mesh, on ``device``.

    float32 throughout; the sign comes from the winding number (Warp's), the distance from the
    exact closest point. Compare :func:`meshprep.signed_distance` (float64, pseudonormals).
    """
    wp = _warp()
    device = resolve_device(device)
    (signed,) = _kernels()
    mesh = _mesh(wp, vertices, faces, device)
    points = np.asarray(points, np.float32).reshape(-1, 3)
    out = wp.zeros(len(points), dtype=float, device=device)
    limit = float(np.ptp(np.concatenate([points, np.asarray(vertices)]), axis=0).max() * 4 + 1)
    wp.launch(signed, dim=len(points), inputs=[mesh.id, wp.array(points, dtype=wp.vec3,
                                                                   device=device), limit],
              outputs=[out], device=device)
    # sign convention of meshprep: negative inside (Warp's winding sign is negative inside too)
    return out.numpy().astype(np.float64)
