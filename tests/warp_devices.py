"""The devices the Warp kernels are tested on: Warp's CPU backend everywhere, CUDA where a GPU
is present (skipped cleanly otherwise)."""

import pytest


def _devices():
    import warp

    warp.config.quiet = True
    warp.init()
    no_gpu = warp.get_cuda_device_count() == 0
    return ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        no_gpu, reason="no CUDA GPU: the same kernels ran on Warp's CPU backend")])]
