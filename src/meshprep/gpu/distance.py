"""Distances with Warp's mesh BVH: SDF labels and the watertight band's unsigned distances."""

from __future__ import annotations

import numpy as np

from meshprep.errors import MeshprepError

_KERNELS = None


def _warp():
    try:
        import warp as wp
    except ImportError as exc:
        raise MeshprepError("the GPU path needs NVIDIA Warp: pip install 'meshprep[gpu]'") from exc
    wp.config.quiet = True
    wp.init()
    return wp


def resolve_device(device: str = "auto") -> str:
    """``"cuda"``, ``"cpu"`` or ``"auto"`` (the GPU when Warp sees one) as a Warp device name.

    Raises
    ------
    MeshprepError
        ``"cuda"`` asked on a machine where Warp finds no usable GPU.
    """
    wp = _warp()
    has_cuda = wp.get_cuda_device_count() > 0
    if device == "auto":
        return "cuda:0" if has_cuda else "cpu"
    if device.startswith("cuda") and not has_cuda:
        raise MeshprepError("--device cuda: Warp finds no usable NVIDIA GPU on this machine "
                            "(use --device cpu or auto)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise MeshprepError(f"unknown device {device!r}: use cpu, cuda or auto")
    return device


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

    _KERNELS = (signed, band)
    return _KERNELS


def _mesh(wp, vertices: np.ndarray, faces: np.ndarray, device: str):
    return wp.Mesh(points=wp.array(np.asarray(vertices, np.float32), dtype=wp.vec3,
                                   device=device),
                   indices=wp.array(np.asarray(faces, np.int32).ravel(), dtype=wp.int32,
                                    device=device))


def signed_distance_warp(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray,
                         device: str = "auto") -> np.ndarray:
    """Signed distance (negative inside) of ``points`` to a closed mesh, on ``device``.

    float32 throughout; the sign comes from the winding number (Warp's), the distance from the
    exact closest point. Compare :func:`meshprep.signed_distance` (float64, pseudonormals).
    """
    wp = _warp()
    device = resolve_device(device)
    signed, _ = _kernels()
    mesh = _mesh(wp, vertices, faces, device)
    points = np.asarray(points, np.float32).reshape(-1, 3)
    out = wp.zeros(len(points), dtype=float, device=device)
    limit = float(np.ptp(np.concatenate([points, np.asarray(vertices)]), axis=0).max() * 4 + 1)
    wp.launch(signed, dim=len(points), inputs=[mesh.id, wp.array(points, dtype=wp.vec3,
                                                                   device=device), limit],
              outputs=[out], device=device)
    # sign convention of meshprep: negative inside (Warp's winding sign is negative inside too)
    return out.numpy().astype(np.float64)


def band_udf_warp(grid_vertices: np.ndarray, faces: np.ndarray, block_origins: np.ndarray,
                  band: float, device: str = "auto") -> np.ndarray:
    """Unsigned distances (voxels) at every point of the given 8³ blocks, ``inf`` past ``band``.

    The same quantity as :func:`meshprep.watertight.band.build_band`'s ``udf`` for the same
    blocks (mesh in grid coordinates); the block layout itself still comes from the CPU path.
    """
    wp = _warp()
    device = resolve_device(device)
    _, kernel = _kernels()
    mesh = _mesh(wp, grid_vertices, faces, device)
    origins = wp.array(np.asarray(block_origins, np.float32), dtype=wp.vec3, device=device)
    out = wp.zeros((len(block_origins), 512), dtype=float, device=device)
    wp.launch(kernel, dim=(len(block_origins), 512), inputs=[mesh.id, origins, float(band)],
              outputs=[out], device=device)
    udf = out.numpy()
    udf[udf >= 1.0e29] = np.inf
    return udf
