import numpy as np
import pytest

from meshprep.geometry import check_topology
from meshprep.watertight.band import BLOCK, BLOCK_POINTS, SparseBand
from meshprep.watertight.contour import contour_band
from meshprep.watertight.tables import marching_cubes_tables


def _dense_band(values: np.ndarray) -> SparseBand:
    """Store a dense (res, res, res) field as a band of all blocks."""
    res = values.shape[0]
    nb = -(-res // BLOCK)
    padded = np.full((nb * BLOCK,) * 3, 1.0, np.float32)
    padded[:res, :res, :res] = values
    blocks = padded.reshape(nb, BLOCK, nb, BLOCK, nb, BLOCK).transpose(0, 2, 4, 1, 3, 5)
    field = np.ascontiguousarray(blocks.reshape(nb**3, BLOCK_POINTS))
    coords = np.stack(np.meshgrid(*[np.arange(nb)] * 3, indexing="ij"), -1).reshape(-1, 3)
    index = np.arange(nb**3, dtype=np.int32).reshape(nb, nb, nb)
    band = SparseBand(res, 2.0, index, coords * BLOCK, field, np.zeros_like(field, np.uint8))
    return band, field


def test_tables_are_complementary_in_size():
    _, n = marching_cubes_tables()
    assert n[0] == 0 and n[255] == 0 and n[1] == 1
    assert n.max() <= 5


@pytest.mark.parametrize("seed", range(6))
def test_random_fields_give_closed_oriented_manifolds(seed):
    rng = np.random.default_rng(seed)
    res = 20
    values = rng.normal(size=(res,) * 3).astype(np.float32)
    values[[0, -1]] = values[:, [0, -1]] = values[:, :, [0, -1]] = 1.0  # outside at the border
    values[np.abs(values) < 1e-3] = 1e-3
    band, field = _dense_band(values)
    vertices, faces = contour_band(band, field, np.ones(band.block_index.size, np.uint8))
    report = check_topology(vertices, faces)
    assert report.closed_2manifold, report


def test_sphere_field_orientation_and_volume():
    res = 40
    axis = np.arange(res) - (res - 1) / 2
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    values = (np.sqrt(x**2 + y**2 + z**2) - 12.0).astype(np.float32)
    band, field = _dense_band(values)
    vertices, faces = contour_band(band, field, np.ones(band.block_index.size, np.uint8))
    assert check_topology(vertices, faces).closed_2manifold
    tri = vertices[faces]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert volume == pytest.approx(4 / 3 * np.pi * 12.0**3, rel=0.02)  # positive: faces point out
