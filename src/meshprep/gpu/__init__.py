"""The GPU path (NVIDIA Warp): the same results as the CPU path, on a GPU when there is one.

Warp compiles its kernels at run time (no CUDA toolkit at install, ``pip install
"meshprep[gpu]"``) and runs the same kernels on the CPU, which is how the tests check them
against the numba path on machines without a GPU. Built so far: signed distances for SDF labels
and the narrow-band unsigned distances of the watertight step. The flood fill and contouring on
the GPU are not built yet.
"""

from .distance import band_udf_warp, resolve_device, signed_distance_warp

__all__ = ["band_udf_warp", "resolve_device", "signed_distance_warp"]
