"""Warp device resolution (the shared module of the stages' Warp kernels)."""

import pytest

import meshprep as mp

warp = pytest.importorskip("warp")

from meshprep.warp_device import resolve_device  # noqa: E402


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda:0")
    if warp.get_cuda_device_count() == 0:
        with pytest.raises(mp.MeshprepError, match="no usable NVIDIA GPU"):
            resolve_device("cuda")
