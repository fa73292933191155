"""Morton codes decoded straight to grid points (the compact store's decoders)."""

from __future__ import annotations

import numpy as np
import pytest

from meshprep.geometry.morton import decode_to_grid, morton_decode, morton_encode


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decode_to_grid_is_origin_plus_step_times_the_coordinates(dtype):
    rng = np.random.default_rng(3)
    coords = rng.integers(0, 1 << 16, size=(1000, 3))
    coords[0] = (0, 0, 0)
    coords[1] = (65535, 0, 65535)
    origin, step = np.array([-1.5, 0.25, 3.0]), 3.0 / 65535
    codes = morton_encode(coords)
    assert np.array_equal(morton_decode(codes), coords)
    out = np.empty((len(coords), 3), dtype)
    got = decode_to_grid(codes, origin, step, out)
    assert got is out
    assert np.array_equal(got, (origin + coords * step).astype(dtype))
