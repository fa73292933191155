"""The ``dora``, ``step1x3d`` and ``triposg`` layouts against their trainers' loaders.

Each check below is written from the loader's code (cited per test): the keys and file it opens,
shapes and dtypes, the label's sign and range after its own transforms, and the counts it draws.
The store is a small sphere's samples, so the layouts are built with small counts through each
module's ``make_layout`` (the registered layouts use the trainers' released counts).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from meshprep.export import layout_dora, layout_step1x3d, layout_triposg
from meshprep.export.layouts import NotEnoughSamplesError, get_layout
from meshprep.sample.step import TrainingSamples


def key(name: str) -> str:
    """A too-small store's message names the config key: ``[sample] near = 600000 (the store
    has ...)`` (the registry's check) or ``raise sample.near`` (a layout's own row check)."""
    return rf"sample\.{name}|\[sample\].*\b{name} = "


def _rows(array: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in np.ascontiguousarray(array, np.float32)}


def _close16(got: np.ndarray, want: np.ndarray) -> None:
    """Equal within float16 rounding (what the issue's round trip allows)."""
    np.testing.assert_allclose(got, want, rtol=2.0**-10, atol=1e-6)


def _written_keys(path: Path) -> list[str]:
    with np.load(path) as data:
        return sorted(data.files)


def _declared_keys(layout) -> list[str]:
    return sorted(name.strip() for key in layout.keys for name in key.name.split(","))


def _inside(points: np.ndarray) -> np.ndarray:
    """Well inside the unit sphere (the centre's neighbourhood): labelled inside by any sign."""
    return np.linalg.norm(points, axis=1) < 0.5


def _outside(points: np.ndarray) -> np.ndarray:
    """Outside the canonical cube: outside the shape."""
    return np.abs(points).max(axis=1) > 1.0


def test_registered_with_the_trainers_counts() -> None:
    dora, step, tripo = get_layout("dora"), get_layout("step1x3d"), get_layout("triposg")
    # Dora: sharp_sample.py --point_number 65536 keeps 65536 // 2 FPS rows; the loader splits
    # rand_points at 400000 and draws n_supervision [21384, 10000, 10000]
    # near: 400000 rows around uniform samples, two thirds of the store's near rows
    assert dora.needs == {"surface": 32768, "salient": 32768, "volume": 10000,
                          "near": 600_000}
    # Step1X-3D: michelangelo.yaml's n_samples 32768; TripoSG: load_surface's num_pc 204800
    assert step.needs == {"surface": 32768, "salient": 32768}
    assert tripo.needs == {"surface": 204800}
    for layout in (dora, step, tripo):
        owner_repo, _, path = layout.loader.partition(":")
        assert owner_repo.count("/") == 1 and path.endswith(".py")


# --- dora: Seed3D/Dora:pytorch_lightning/craftsman/data/objaverse.py -----------------------

DORA = layout_dora.make_layout("dora-test", fps=1000, near_rows=4000,
                               n_supervision=(2000, 2000, 2000))


def test_dora_keys_shapes_dtypes(sphere: TrainingSamples, tmp_path: Path) -> None:
    (path,) = DORA.write(sphere, None, tmp_path, "a1")
    # np.load(f'{uid}') of one .npz; _load_shape reads fps_coarse_surface / fps_sharp_surface
    # and takes [:, 0, :]; _load_shape_supervision reads rand_points and sharp_near_surface
    # [:, :3] / [:, 3]
    assert path == tmp_path / "a1.npz"
    assert _written_keys(path) == _declared_keys(DORA) == sorted(
        ["fps_coarse_surface", "fps_sharp_surface", "rand_points", "sharp_near_surface"])
    with np.load(path) as data:
        assert data["fps_coarse_surface"].shape == (1000, 1, 6)
        assert data["fps_sharp_surface"].shape == (1000, 1, 6)
        assert data["sharp_near_surface"].shape == (8000 - 4000, 4)  # no salient edges
        assert data["rand_points"].shape == (4000 + 4000, 4)
        assert all(data[key].dtype == np.float32 for key in data.files)
    got = DORA.read(tmp_path, "a1")
    assert got["coarse_surface"].shape == got["sharp_surface"].shape == (1000, 6)
    assert all(array.dtype == np.float32 for array in got.values())


def test_dora_sign_and_range(sphere: TrainingSamples, tmp_path: Path) -> None:
    DORA.write(sphere, None, tmp_path, "a1")
    got = DORA.read(tmp_path, "a1")
    # the loader's tsdf: sdf.clip(-0.015, 0.015) / 0.015; occupancy: sdf < 0 -> 0 else 1
    for group in ("sharp_near", "near", "volume"):
        assert got[f"{group}_sdf"].min() >= -1 and got[f"{group}_sdf"].max() <= 1
    volume, tsdf, occ = got["volume_points"], got["volume_sdf"], got["volume_occupancy"]
    assert _inside(volume).sum() > 50 and _outside(volume).sum() > 50
    assert np.all(tsdf[_inside(volume)] == 1) and np.all(occ[_inside(volume)] == 1)
    assert np.all(tsdf[_outside(volume)] == -1) and np.all(occ[_outside(volume)] == 0)
    assert np.abs(volume).max() <= 1.05
    for key in ("coarse_surface", "sharp_surface"):
        assert np.abs(got[key][:, :3]).max() <= 1.0
        np.testing.assert_allclose(np.linalg.norm(got[key][:, 3:], axis=1), 1, atol=1e-4)


def _tsdf(values: np.ndarray) -> np.ndarray:
    """Dora's label of our sdf: -sdf, then the loader's clip(-0.015, 0.015) / 0.015."""
    return np.clip(-values, -0.015, 0.015) / 0.015


def test_dora_round_trip(box: TrainingSamples, tmp_path: Path) -> None:
    DORA.write(box, None, tmp_path, "a1")
    got = DORA.read(tmp_path, "a1")
    sdf = box.sdf
    # fps_* are farthest-point subsets of our rows: distinct rows, every one of them ours
    coarse = _rows(np.hstack([box.surface_points, box.surface_normals]))
    sharp = _rows(np.hstack([box.salient_points, box.salient_normals]))
    assert _rows(got["coarse_surface"]) <= coarse and len(_rows(got["coarse_surface"])) == 1000
    assert _rows(got["sharp_surface"]) <= sharp and len(_rows(got["sharp_surface"])) == 1000
    # FPS spreads the rows: the subset's nearest-neighbour gaps beat a random subset's
    fps_gap = np.median(_nn_gap(got["coarse_surface"][:, :3]))
    rand_gap = np.median(_nn_gap(box.surface_points[:1000]))
    assert fps_gap > rand_gap
    # sharp_near_surface: the rows around salient samples; rand_points: 4000 near, then volume
    _close16(got["sharp_near_points"], sdf.salient_near_points)
    _close16(got["sharp_near_sdf"], _tsdf(sdf.salient_near_sdf))
    _close16(got["near_points"], sdf.surface_near_points[:4000])
    _close16(got["near_sdf"], _tsdf(sdf.surface_near_sdf[:4000]))
    _close16(got["volume_points"], sdf.volume_points)
    _close16(got["volume_sdf"], _tsdf(sdf.volume_sdf))
    # raw labels are -sdf, untruncated (the loader clips them)
    with np.load(tmp_path / "a1.npz") as data:
        _close16(data["rand_points"][4000:, 3], -sdf.volume_sdf)
        _close16(data["sharp_near_surface"][:, 3], -sdf.salient_near_sdf)


def test_dora_round_trip_without_salient_edges(sphere: TrainingSamples, tmp_path: Path) -> None:
    # a sphere has no salient edges: the near rows after rand_points' 4000 stand in for
    # sharp_near_surface, no row written twice
    sdf = sphere.sdf
    assert sdf.salient_count == 0
    DORA.write(sphere, None, tmp_path, "a1")
    got = DORA.read(tmp_path, "a1")
    _close16(got["near_points"], sdf.surface_near_points[:4000])
    _close16(got["sharp_near_points"], sdf.surface_near_points[4000:])
    _close16(got["sharp_near_sdf"], _tsdf(sdf.surface_near_sdf[4000:]))


def _nn_gap(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    return cKDTree(points).query(points, k=2)[0][:, 1]


def test_dora_not_enough_samples(sphere: TrainingSamples, box: TrainingSamples,
                                 tmp_path: Path) -> None:
    with pytest.raises(NotEnoughSamplesError, match=key("surface")):
        get_layout("dora").write(sphere, None, tmp_path, "a1")
    # the loader's fixed split needs that many near rows around uniform samples
    wide = layout_dora.make_layout("dora-wide", fps=1000, near_rows=6500,
                                   n_supervision=(2000, 2000, 2000))
    with pytest.raises(NotEnoughSamplesError, match=key("near")):
        wide.write(box, None, tmp_path, "a1")  # 5333 rows around uniform samples < 6500
    with pytest.raises(NotEnoughSamplesError, match=key("near")):
        wide.write(sphere, None, tmp_path, "a1")  # 8000 < 6500 + 2000 standing in
    assert not list(tmp_path.iterdir())


# --- step1x3d: stepfun-ai/Step1X-3D:step1x3d_geometry/data/base.py -------------------------

STEP = layout_step1x3d.make_layout("step1x3d-test", n_samples=2000, n_supervision=1000)


def test_step1x3d_keys_shapes_dtypes(sphere: TrainingSamples, tmp_path: Path) -> None:
    (path,) = STEP.write(sphere, None, tmp_path, "a1")
    # np.load(f"{root_dir}/surfaces/{uid}.npz"): surface, sharp_surface (N x (xyz + normal)),
    # volume_rand_points and near_surface_points ([:, :3] points, [:, 3:] sdf), bounds
    # (data/shape_autoencoder/README.md's key list)
    assert path == tmp_path / "surfaces" / "a1.npz"
    assert _written_keys(path) == _declared_keys(STEP) == sorted(
        ["surface", "sharp_surface", "volume_rand_points", "near_surface_points", "bounds"])
    with np.load(path) as data:
        assert data["surface"].shape == (4000, 6)
        # random sampling indexes sharp_surface with the surface's indices
        assert data["sharp_surface"].shape[0] >= data["surface"].shape[0]
        assert data["volume_rand_points"].shape == (4000, 4)
        assert data["near_surface_points"].shape == (8000, 4)
        assert data["bounds"].shape == () and float(data["bounds"]) == pytest.approx(1.05)
        assert all(data[key].dtype == np.float32 for key in data.files if key != "bounds")
    got = STEP.read(tmp_path, "a1")
    assert got["rand_points"].shape == (12000, 3) and got["sdf"].shape == (12000,)
    # the loader draws n_supervision rows without replacement from volume + near rows
    np.random.default_rng(0).choice(len(got["rand_points"]), 1000, replace=False)


def test_step1x3d_sign_and_range(sphere: TrainingSamples, tmp_path: Path) -> None:
    STEP.write(sphere, None, tmp_path, "a1")
    got = STEP.read(tmp_path, "a1")
    points, sdf, occ = got["rand_points"], got["sdf"], got["occupancies"]
    # occupancy supervision: np.where(sdf < 1e-3, 0, 1): inside is 1, so sdf is positive inside
    assert _inside(points).sum() > 50 and _outside(points).sum() > 50
    assert np.all(sdf[_inside(points)] > 0) and np.all(occ[_inside(points)] == 1)
    assert np.all(sdf[_outside(points)] < 0) and np.all(occ[_outside(points)] == 0)
    assert np.abs(points).max() <= 1.05 + 0.3  # near offsets can leave the cube slightly
    assert np.abs(got["surface"][:, :3]).max() <= 1.0


def test_step1x3d_round_trip(sphere: TrainingSamples, tmp_path: Path) -> None:
    STEP.write(sphere, None, tmp_path, "a1")
    got = STEP.read(tmp_path, "a1")
    sdf = sphere.sdf
    _close16(got["surface"], np.hstack([sphere.surface_points, sphere.surface_normals]))
    _close16(got["sharp_surface"], np.hstack([sphere.salient_points, sphere.salient_normals]))
    # concatenated volume first, as the loader does
    _close16(got["rand_points"], np.concatenate([sdf.volume_points, sdf.near_points]))
    _close16(got["sdf"], -np.concatenate([sdf.volume_sdf, sdf.near_sdf]))


def test_step1x3d_not_enough_samples(sphere: TrainingSamples, tmp_path: Path) -> None:
    with pytest.raises(NotEnoughSamplesError, match=key("surface")):
        get_layout("step1x3d").write(sphere, None, tmp_path, "a1")
    fewer = dataclasses.replace(sphere, salient_points=sphere.salient_points[:3000],
                                salient_normals=sphere.salient_normals[:3000])
    with pytest.raises(NotEnoughSamplesError, match=key("salient")):
        STEP.write(fewer, None, tmp_path, "a1")
    assert not (tmp_path / "surfaces" / "a1.npz").exists()


# --- triposg: VAST-AI-Research/TripoSG:scripts/inference_vae.py (load_surface) --------------

TRIPO = layout_triposg.make_layout("triposg-test", num_pc=2000)


def test_triposg_file_keys_shapes(sphere: TrainingSamples, tmp_path: Path) -> None:
    (path,) = TRIPO.write(sphere, None, tmp_path, "a1")
    assert path == tmp_path / "a1.npy"
    # np.load(data_path, allow_pickle=True).tolist(); data["surface_points"] Nx3,
    # data["surface_normals"] Nx3; rng.choice(N, num_pc, replace=False)
    data = np.load(path, allow_pickle=True).tolist()
    assert isinstance(data, dict)
    assert sorted(data) == _declared_keys(TRIPO) == ["surface_normals", "surface_points"]
    assert data["surface_points"].shape == data["surface_normals"].shape == (4000, 3)
    assert data["surface_points"].dtype == data["surface_normals"].dtype == np.float32
    np.random.default_rng(0).choice(len(data["surface_points"]), 2000, replace=False)


def test_triposg_sign_range_round_trip(sphere: TrainingSamples, tmp_path: Path) -> None:
    TRIPO.write(sphere, None, tmp_path, "a1")
    got = TRIPO.read(tmp_path, "a1")
    # no labels are read: the sign that matters is the normals' (outward from the centre)
    assert np.all(np.sum(got["surface_points"] * got["surface_normals"], axis=1) > 0)
    assert np.abs(got["surface_points"]).max() <= 1.0
    _close16(got["surface_points"], sphere.surface_points)
    _close16(got["surface_normals"], sphere.surface_normals)
    assert got["surface"].shape == (4000, 6)


def test_triposg_not_enough_samples(sphere: TrainingSamples, tmp_path: Path) -> None:
    with pytest.raises(NotEnoughSamplesError, match=key("surface")):
        get_layout("triposg").write(sphere, None, tmp_path, "a1")
    assert not list(tmp_path.iterdir())
