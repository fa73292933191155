"""NVIDIA Warp for the GPU paths: importing it, and the device the kernels run on.

Warp compiles its kernels at run time (no CUDA toolkit at install, ``pip install
"meshprep[gpu]"``) and runs the same kernels on the CPU, which is how the tests check them
against the numba path on machines without a GPU. Each stage keeps its own kernels: signed
distances for SDF labels in :mod:`meshprep.sample.distance_warp`, the narrow-band unsigned
distances of the watertight step in :mod:`meshprep.watertight.band_warp`, its flood fill
and signing in :mod:`meshprep.watertight.floodfill_warp` (``make_watertight(...,
device="cuda")`` runs them with Warp; equal arrays to the numba path), and the sparse SDF
band in :mod:`meshprep.voxel.sparse_sdf_warp`. The band's block layout
and the contouring on the GPU are not built yet. This module imports no stage.
"""

from __future__ import annotations

import numpy as np

from meshprep.errors import MeshprepError


def _warp():
    """The ``warp`` module, initialized quietly; a clear error without the ``gpu`` extra."""
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


def _mesh(wp, vertices: np.ndarray, faces: np.ndarray, device: str):
    """A Warp mesh (BVH built) of float32 vertices and int32 faces on ``device``."""
    return wp.Mesh(points=wp.array(np.asarray(vertices, np.float32), dtype=wp.vec3,
                                   device=device),
                   indices=wp.array(np.asarray(faces, np.int32).ravel(), dtype=wp.int32,
                                    device=device))
