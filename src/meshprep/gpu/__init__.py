"""The GPU path (NVIDIA Warp): the same results as the CPU path, on a GPU when there is one.

Warp compiles its kernels at run time (no CUDA toolkit at install, ``pip install
"meshprep[gpu]"``) and runs the same kernels on the CPU, which is how the tests check them
against the numba path on machines without a GPU. Built so far: signed distances for SDF labels,
the narrow-band unsigned distances of the watertight step, and its flood fill and signing
(``make_watertight(..., device="cuda")`` runs them with Warp; equal arrays to the numba path).
The band's block layout and the contouring on the GPU are not built yet.
"""

from .distance import band_udf_warp, resolve_device, signed_distance_warp
from .floodfill import sign_band_warp

__all__ = ["band_udf_warp", "resolve_device", "sign_band_warp", "signed_distance_warp"]
