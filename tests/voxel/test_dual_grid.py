"""The O-Voxel shape (TRELLIS.2's flexible dual grid) against brute force and known answers."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from meshprep.errors import InvalidGeometryError
from meshprep.voxel import flexible_dual_grid, flexible_dual_grids


def _brute_force_crossings(vertices: np.ndarray, faces: np.ndarray, res: int) -> set:
    """(owner voxel i, j, k, axis) of every interior grid edge a triangle crosses, by testing
    every grid line against every triangle in float64 (vertices already in [-0.5, 0.5]^3)."""
    v = vertices.astype(np.float64) + 0.5
    lines = (np.arange(1, res) / res)
    found = set()
    for ax2 in range(3):
        ax0, ax1 = (ax2 + 1) % 3, (ax2 + 2) % 3
        u, w = np.meshgrid(lines, lines, indexing="ij")
        u, w = u.ravel(), w.ravel()
        for tri in v[faces]:
            a, b, c = tri[:, ax0], tri[:, ax1], tri[:, ax2]
            det = (a[1] - a[0]) * (b[2] - b[0]) - (a[2] - a[0]) * (b[1] - b[0])
            if det == 0:
                continue
            l1 = ((a[1] - u) * (b[2] - w) - (a[2] - u) * (b[1] - w)) / det
            l2 = ((a[2] - u) * (b[0] - w) - (a[0] - u) * (b[2] - w)) / det
            l3 = 1 - l1 - l2
            hit = (l1 > 0) & (l2 > 0) & (l3 > 0)
            z = l1 * c[0] + l2 * c[1] + l3 * c[2]
            for uu, ww, zz in zip(u[hit], w[hit], z[hit], strict=True):
                k = int(zz * res)
                if 0 <= k < res:
                    owner = [0, 0, 0]
                    owner[ax0] = round(uu * res) - 1
                    owner[ax1] = round(ww * res) - 1
                    owner[ax2] = k
                    found.add((*owner, ax2))
    return found


def _flags(grid) -> set:
    return {(*grid.coords[n], a) for n, a in zip(*np.nonzero(grid.intersected), strict=True)}


def _around(crossings: set) -> set:
    voxels = set()
    for i, j, k, ax2 in crossings:
        ax0, ax1 = (ax2 + 1) % 3, (ax2 + 2) % 3
        for d0 in (0, 1):
            for d1 in (0, 1):
                c = [i, j, k]
                c[ax0] += d0
                c[ax1] += d1
                voxels.add(tuple(c))
    return voxels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crossings_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    vertices = rng.uniform(-0.5, 0.5, (30, 3)).astype(np.float32)
    faces = rng.integers(0, 30, (20, 3))
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2])
                  & (faces[:, 0] != faces[:, 2])]
    grid = flexible_dual_grid(vertices, 16, faces=faces, normalize=False)
    expected = _brute_force_crossings(vertices, faces, 16)
    assert expected, "the random soup should cross some grid edges"
    assert _flags(grid) == expected
    assert {tuple(c) for c in grid.coords} == _around(expected)


def test_sphere_crossings_match_brute_force() -> None:
    """A closed mesh in general position (no vertex on a grid line)."""
    mesh = trimesh.creation.icosphere(2)
    v = (mesh.vertices * 0.41 + [0.0123, -0.0217, 0.0311]).astype(np.float32)
    grid = flexible_dual_grid(v, 24, faces=mesh.faces, normalize=False)
    expected = _brute_force_crossings(v, mesh.faces, 24)
    assert _flags(grid) == expected
    assert len(grid) == len(_around(expected)) == len({tuple(c) for c in grid.coords})


def test_dual_vertices_lie_in_their_voxels_and_near_the_surface() -> None:
    mesh = trimesh.creation.icosphere(4)
    grid = flexible_dual_grid(mesh, resolution=64)
    offset = grid.dual_vertices - grid.coords
    assert offset.min() >= 0 and offset.max() <= 1
    radius = np.linalg.norm(grid.positions, axis=1)
    assert np.abs(radius - 0.5 * 0.99999).max() < 0.5 / 64  # within half a voxel of the sphere


def test_a_box_corner_is_found_inside_its_voxel() -> None:
    """Three orthogonal planes meet at a corner that lies inside a voxel: its dual vertex."""
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    corner = np.array([0.3 + 0.37 / 32, 0.2 + 0.61 / 32, 0.1 + 0.23 / 32])  # off the grid
    # scale the box so that its max corner is ``corner``, its min corner at -0.5 (normalized)
    lo = np.full(3, -0.5)
    v = lo + (box.vertices + 0.5) * (corner - lo)
    grid = flexible_dual_grid(v, 32, faces=box.faces, normalize=False)
    voxel = np.floor((corner + 0.5) * 32).astype(int)
    row = np.flatnonzero((grid.coords == voxel).all(axis=1))
    assert len(row) == 1
    found = grid.dual_vertices[row[0]] / 32 - 0.5
    assert np.abs(found - corner).max() < 0.02 / 32  # the regularizer pulls only slightly


def test_byte_encoding_as_trellis2_stores_it() -> None:
    grid = flexible_dual_grid(trimesh.creation.icosphere(3), resolution=32)
    u8 = grid.vertices_u8()
    expected = (np.clip(grid.dual_vertices - grid.coords, 0, 1) * 255).astype(np.uint8)
    assert u8.dtype == np.uint8 and np.array_equal(u8, expected)
    bits = grid.intersected_u8()
    assert bits.shape == (len(grid), 1)
    assert np.array_equal(bits[:, 0] & 1, grid.intersected[:, 0])
    assert np.array_equal(bits[:, 0] >> 2 & 1, grid.intersected[:, 2])


def test_several_resolutions_equal_one_at_a_time() -> None:
    mesh = trimesh.creation.torus(0.3, 0.1, major_sections=24, minor_sections=12)
    grids = flexible_dual_grids(mesh, [16, 32])
    for res, grid in grids.items():
        alone = flexible_dual_grid(mesh, resolution=res)
        assert np.array_equal(grid.coords, alone.coords)
        assert np.array_equal(grid.dual_vertices, alone.dual_vertices)


@pytest.mark.parametrize("case", ["sheet", "single", "touching", "degenerate"])
def test_awkward_meshes(case: str) -> None:
    """Open sheets, one triangle, a mesh filling the box, degenerate faces: no crash, every dual
    vertex inside its voxel; a triangle that crosses no grid edge gives no voxel."""
    if case == "sheet":
        v = np.array([[-0.4, -0.4, 0.013], [0.4, -0.4, 0.013], [0.4, 0.4, 0.013],
                      [-0.4, 0.4, 0.013]])
        f = np.array([[0, 1, 2], [0, 2, 3]])
    elif case == "single":
        v = np.array([[0.01, 0.01, 0.01], [0.02, 0.01, 0.01], [0.01, 0.02, 0.01]])
        f = np.array([[0, 1, 2]])
    elif case == "touching":
        box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
        v, f = box.vertices * 0.99999, box.faces
    else:
        v = np.array([[0.0, 0, 0], [0.3, 0.3, 0.3], [0.6, 0.6, 0.6], [0.5, -0.2, 0.1]])
        f = np.array([[0, 1, 2], [0, 0, 3], [0, 2, 3]])
    grid = flexible_dual_grid(v, 32, faces=f)
    offset = grid.dual_vertices - grid.coords
    assert np.all((offset >= 0) & (offset <= 1))
    assert np.isfinite(grid.dual_vertices).all()
    if case == "sheet":
        # a flat sheet: every dual vertex on its plane, within float precision
        assert np.allclose(grid.positions[:, 2], grid.positions[0, 2], atol=1e-5)
        assert grid.intersected[:, 2].any() and not grid.intersected[:, :2].any()
    if case == "single":  # normalized, one triangle fills the box diagonal
        assert len(grid) > 0


def test_bad_meshes_are_refused() -> None:
    with pytest.raises(InvalidGeometryError):
        flexible_dual_grid(np.zeros((3, 3)), 16, faces=np.array([[0, 1, 2]]))
    with pytest.raises(InvalidGeometryError):
        flexible_dual_grid(np.eye(3), 16, faces=np.array([[0, 1, 5]]))
    with pytest.raises(InvalidGeometryError):
        flexible_dual_grid(np.eye(3) * 2, 16, faces=np.array([[0, 1, 2]]), normalize=False)
