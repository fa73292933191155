import os

import numpy as np
import pytest
import trimesh

from meshprep.io import load
from meshprep.sample import (
    read_hunyuan3d,
    read_meshprep,
    sample_asset,
    write_hunyuan3d,
    write_layout,
    write_meshprep,
)


@pytest.fixture(scope="module")
def samples(cube):
    return sample_asset(cube, cube, surface=500, salient=300, volume=400, near=900, seed=0)


def test_meshprep_layout_round_trips(samples, tmp_path):
    surface_path, sdf_path = write_meshprep(samples, tmp_path, occupancy=True)
    with np.load(surface_path) as data:
        assert set(data.files) == {"surface_points", "surface_normals", "salient_points",
                                   "salient_normals"}
    with np.load(sdf_path) as data:
        assert {"volume_points", "volume_sdf", "near_points", "near_sdf",
                "volume_occupancy", "near_occupancy"} <= set(data.files)
        assert np.array_equal(data["near_occupancy"], samples.sdf.near_sdf < 0)
    back = read_meshprep(tmp_path)
    for name in ("surface_points", "surface_normals", "salient_points", "salient_normals"):
        assert np.array_equal(getattr(back, name), getattr(samples, name))
    assert np.array_equal(back.sdf.near_sdf, samples.sdf.near_sdf)
    assert back.sdf.salient_count == samples.sdf.salient_count
    # written atomically: nothing but the two files is left in the folder
    assert sorted(os.listdir(tmp_path)) == ["sdf.npz", "surface.npz"]


def test_meshprep_float16(samples, tmp_path):
    write_meshprep(samples, tmp_path, dtype=np.float16)
    with np.load(tmp_path / "sdf.npz") as data:
        assert data["volume_sdf"].dtype == np.float16
    back = read_meshprep(tmp_path)
    assert np.allclose(back.sdf.volume_sdf, samples.sdf.volume_sdf, atol=1e-3)
    with pytest.raises(ValueError):
        write_meshprep(samples, tmp_path, dtype=np.float64)


def test_hunyuan3d_layout(samples, cube, tmp_path):
    paths = write_hunyuan3d(samples, cube, tmp_path, "uid123")
    assert [p.name for p in paths] == ["uid123_surface.npz", "uid123_sdf.npz",
                                       "uid123_watertight.obj"]
    data = read_hunyuan3d(tmp_path, "uid123")
    assert data["random_surface"].shape == (500, 6) and data["sharp_surface"].shape == (300, 6)
    assert all(v.dtype == np.float16 for v in data.values())
    # labels are -sdf: positive inside
    assert np.allclose(data["vol_label"], -samples.sdf.volume_sdf, atol=1e-3)
    assert len(data["sharp_near_points"]) == samples.sdf.salient_count
    assert len(data["random_near_points"]) + len(data["sharp_near_points"]) == 900
    assert np.allclose(data["random_surface"][:, 3:], samples.surface_normals, atol=1e-3)
    mesh = load(tmp_path / "uid123_watertight.obj")
    assert len(mesh.faces) == len(cube.faces)


def test_layout_dispatch_and_errors(samples, cube, tmp_path):
    assert len(write_layout("meshprep", samples, tmp_path / "a")) == 2
    assert len(write_layout("hunyuan3d", samples, tmp_path / "b", watertight=cube,
                            asset_id="x")) == 3
    with pytest.raises(ValueError):
        write_layout("hunyuan3d", samples, tmp_path)
    with pytest.raises(ValueError):
        write_layout("dora", samples, tmp_path)
    with pytest.raises(ValueError):
        write_hunyuan3d(samples, cube, tmp_path, "../escape")


def test_whole_step_is_seeded_and_salient_source_is_a_choice(cube):
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    a = sample_asset(box, box, surface=200, salient=200, volume=200, near=300, seed=9)
    b = sample_asset(box, box, surface=200, salient=200, volume=200, near=300, seed=9)
    assert np.array_equal(a.salient_points, b.salient_points)
    assert np.array_equal(a.sdf.near_sdf, b.sdf.near_sdf)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    # salient edges from the cube (original) or from the smooth sphere (watertight: fallback)
    from_original = sample_asset(sphere, box, surface=100, salient=100, volume=100, near=100)
    from_watertight = sample_asset(sphere, box, surface=100, salient=100, volume=100, near=100,
                                   salient_from="watertight")
    assert not from_original.salient_stats.fallback
    assert from_watertight.salient_stats.fallback and from_watertight.sdf.salient_count == 0
    with pytest.raises(ValueError):
        sample_asset(sphere, None)
