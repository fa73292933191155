"""The sign step on hand-made grids: a hollow box whose walls sit between grid planes."""

import numpy as np

from meshprep.watertight.band import BLOCK, BLOCK_POINTS, SparseBand
from meshprep.watertight.floodfill import sign_band

RES = 24
LO, HI = 6.5, 16.5  # box walls, between grid planes


def _rectangle_distance(p, axis, at, u_range, v_range):
    """Distance from points ``p`` to the rectangle ``p[axis] == at`` spanning the two ranges."""
    u, v = (axis + 1) % 3, (axis + 2) % 3
    du = np.maximum(np.maximum(u_range[0] - p[..., u], p[..., u] - u_range[1]), 0)
    dv = np.maximum(np.maximum(v_range[0] - p[..., v], p[..., v] - v_range[1]), 0)
    return np.sqrt((p[..., axis] - at) ** 2 + du**2 + dv**2)


def _box_band(hole: tuple[int, int] | None = None) -> SparseBand:
    """Distances to the surface of the box [LO, HI]^3 and crossing bits of its faces.

    ``hole`` opens a square in the face x = LO around the grid lines y, z in
    ``[hole[0], hole[1]]`` (its rim half a voxel beyond them).
    """
    g = np.arange(RES, dtype=float)
    p = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1)
    full = (LO, HI)
    rectangles = [(a, wall, full, full) for a in range(3) for wall in (LO, HI)]
    if hole is not None:
        h0, h1 = hole[0] - 0.5, hole[1] + 0.5
        rectangles[0:1] = [(0, LO, (LO, h0), full), (0, LO, (h1, HI), full),
                           (0, LO, (h0, h1), (LO, h0)), (0, LO, (h0, h1), (h1, HI))]
    udf = np.min([_rectangle_distance(p, *r) for r in rectangles], axis=0)
    crossed = np.zeros((RES,) * 3, np.uint8)
    for axis, at, (u0, u1), (v0, v1) in rectangles:
        u, v = p[..., (axis + 1) % 3], p[..., (axis + 2) % 3]
        hit = (p[..., axis] == np.floor(at)) & (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
        crossed |= (hit * (1 << axis)).astype(np.uint8)
    return _as_band(udf.astype(np.float32), crossed)


def _as_band(udf: np.ndarray, crossed: np.ndarray) -> SparseBand:
    nb = RES // BLOCK

    def blocks(a):
        return np.ascontiguousarray(
            a.reshape(nb, BLOCK, nb, BLOCK, nb, BLOCK).transpose(0, 2, 4, 1, 3, 5)
            .reshape(nb**3, BLOCK_POINTS))

    coords = np.stack(np.meshgrid(*[np.arange(nb)] * 3, indexing="ij"), -1).reshape(-1, 3)
    index = np.arange(nb**3, dtype=np.int32).reshape(nb, nb, nb)
    return SparseBand(RES, 1e9, index, coords * BLOCK, blocks(udf), blocks(crossed))


def _dense(field: np.ndarray) -> np.ndarray:
    nb = RES // BLOCK
    return field.reshape(nb, nb, nb, BLOCK, BLOCK, BLOCK).transpose(0, 3, 1, 4, 2, 5).reshape(
        (RES,) * 3)


def test_closed_box_signs_follow_the_walls():
    field = _dense(sign_band(_box_band(), eps=1.0)[0])
    g = np.arange(RES)
    inside = (g > LO) & (g < HI)
    expected_inside = inside[:, None, None] & inside[None, :, None] & inside[None, None, :]
    # no dilation: grid points half a voxel outside the walls are outside, not in a shell
    assert np.array_equal(field < 0, expected_inside)


def test_narrow_hole_stays_closed_wide_hole_floods():
    narrow = _dense(sign_band(_box_band(hole=(11, 11)), eps=1.0)[0])
    assert narrow[11, 11, 11] < 0  # the centre of the box is still inside
    wide = _dense(sign_band(_box_band(hole=(9, 14)), eps=1.0)[0])
    assert wide[11, 11, 11] > 0


def test_the_walls_of_an_open_region_become_slivers():
    wide = _dense(sign_band(_box_band(hole=(9, 14)), eps=1.0)[0])
    # the far wall x = HI is seen from both sides: one side of each crossed edge turns inside
    assert (wide[16, 11, 11] < 0) != (wide[17, 11, 11] < 0)
    assert (wide[16:18, 8:16, 8:16] < 0).any(axis=0).all()
