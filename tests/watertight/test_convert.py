"""End to end: synthetic open, closed, multi-part and sheet meshes through make_watertight."""

import numpy as np
import pytest
import trimesh

from meshprep import WatertightError, make_watertight, normalize
from meshprep.geometry import check_topology
from tests.conftest import open_box, quad


def _distances(points, mesh):
    return trimesh.proximity.closest_point(mesh, points)[1]


def _voxel(res):
    return 2.0 / res


@pytest.mark.parametrize("res", [32, 33, 64])
def test_closed_sphere_hugs_the_input(res):
    sphere = trimesh.creation.icosphere(3, radius=0.8)
    result = make_watertight(sphere, res)
    assert result.topology.closed_2manifold and result.topology.genus == 0
    out = result.mesh
    assert out.volume == pytest.approx(sphere.volume, rel=0.02)
    # no eps dilation: the output sits on the input, not one voxel outside it
    d = _distances(out.sample(2000, seed=0), sphere) / _voxel(res)
    assert d.mean() < 0.1


@pytest.mark.parametrize("res", [32, 33])
def test_single_quad_becomes_a_closed_sliver(res):
    sheet = quad(0.6, z=0.0)  # z = 0 is a grid plane when res is odd
    result = make_watertight(sheet, res)
    assert result.topology.closed_2manifold and result.topology.components == 1
    out = result.mesh
    assert np.abs(out.vertices[:, 2]).max() < _voxel(res)  # thinner than one voxel on each side
    assert out.area == pytest.approx(2 * sheet.area, rel=0.15)  # two faces of the sheet


def test_open_box_keeps_its_walls():
    box = open_box(0.6)
    result = make_watertight(box, 48)
    assert result.topology.closed_2manifold
    d_in = _distances(box.sample(3000, seed=1), result.mesh) / _voxel(48)
    assert np.percentile(d_in, 99) < 1.0  # every wall is still there


def test_small_hole_is_closed():
    sphere = trimesh.creation.icosphere(4, radius=0.8)
    top = sphere.face_normals[:, 2] > 0.999  # a hole of about a voxel at the pole
    holed = trimesh.Trimesh(sphere.vertices, sphere.faces[~top], process=False)
    assert not holed.is_watertight
    result = make_watertight(holed, 32)
    assert result.topology.closed_2manifold and result.topology.components == 1
    assert result.mesh.volume == pytest.approx(sphere.volume, rel=0.03)  # filled, not a shell


def test_two_parts_stay_two_components():
    a = trimesh.creation.icosphere(2, radius=0.3)
    b = a.copy()
    a.apply_translation([-0.5, 0, 0])
    b.apply_translation([0.5, 0, 0])
    result = make_watertight(trimesh.util.concatenate([a, b]), 64)
    assert result.topology.closed_2manifold and result.topology.components == 2


def test_triangle_soup_and_tiny_inputs():
    rng = np.random.default_rng(3)
    centres = rng.uniform(-0.7, 0.7, (40, 1, 3))
    soup = trimesh.Trimesh((centres + rng.normal(0, 0.1, (40, 3, 3))).reshape(-1, 3),
                           np.arange(120).reshape(40, 3), process=False)
    assert make_watertight(soup, 48).topology.closed_2manifold
    single = trimesh.Trimesh([[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0.1]], [[0, 1, 2]])
    assert make_watertight(single, 32).topology.closed_2manifold


def test_normalized_round_trip_keeps_coordinates():
    mesh = trimesh.creation.box(extents=[3, 2, 1])
    mesh.apply_translation([100, 0, -4])
    canonical, transform = normalize(mesh)
    result = make_watertight(canonical, 32)
    back = np.linalg.inv(transform)
    vertices = result.mesh.vertices @ back[:3, :3].T + back[:3, 3]
    assert np.allclose(vertices.min(0), mesh.bounds[0], atol=0.1)
    assert np.allclose(vertices.max(0), mesh.bounds[1], atol=0.1)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(WatertightError, match="inside"):
        make_watertight(trimesh.creation.box(extents=[4, 4, 4]), 32)
    with pytest.raises(WatertightError, match="no faces"):
        make_watertight(trimesh.Trimesh(np.zeros((3, 3)), np.zeros((0, 3), int)), 32)
    nan = trimesh.Trimesh([[0, 0, 0], [np.nan, 0, 0], [0, 1, 0]], [[0, 1, 2]], process=False)
    with pytest.raises(WatertightError, match="non-finite"):
        make_watertight(nan, 32)
    with pytest.raises(ValueError):
        make_watertight(quad(), 4)


def test_decimation_keeps_the_mesh_closed():
    sphere = trimesh.creation.icosphere(3, radius=0.8)
    result = make_watertight(sphere, 64, target_faces=4000)
    assert result.stats["decimated"]
    assert len(result.mesh.faces) <= 4400
    report = check_topology(result.mesh.vertices, result.mesh.faces)
    assert report.closed_2manifold


def test_reference_method_is_available_for_comparison():
    pytest.importorskip("igl")
    pytest.importorskip("skimage")
    sphere = trimesh.creation.icosphere(3, radius=0.8)
    ref = make_watertight(sphere, 32, method="reference")
    ours = make_watertight(sphere, 32)
    assert ref.topology.closed_2manifold
    # the reference surface sits about eps outside the input; ours does not
    assert ref.mesh.volume > ours.mesh.volume * 1.05


def test_decimating_a_sliver_keeps_it_closed_and_close():
    sheet = quad(0.6, z=0.1)
    full = make_watertight(sheet, 64)
    small = make_watertight(sheet, 64, target_faces=500)
    assert small.stats["decimated"] and len(small.mesh.faces) <= 600
    assert small.topology.closed_2manifold
    d = _distances(small.mesh.sample(2000, seed=0), full.mesh) / _voxel(64)
    assert d.max() < 1.0
