"""The ``vecset``, ``vecsetx`` and ``ultrashape`` layouts against their trainers' loaders.

Each check is written from the loader's code (cited per test): the files and keys it opens,
shapes and dtypes, the label's sign and range after its own transforms, and the counts it draws.
The store is a small sphere's (or box's) samples, so most layouts are built with small counts
through each module's ``make_*layout`` (the registered ones use the trainers' released counts).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from meshprep.export import layout_ultrashape, layout_vecset
from meshprep.export.layouts import NotEnoughSamplesError, describe, get_layout
from meshprep.sample.step import TrainingSamples


def key(name: str) -> str:
    """A too-small store's message names the config key: ``[sample] near = 600000 (the store
    has ...)`` (the registry's check) or ``raise sample.near`` (a layout's own row check)."""
    return rf"sample\.{name}|\[sample\].*\b{name} = "


def _close16(got: np.ndarray, want: np.ndarray) -> None:
    """Equal within float16 rounding (what the issue's round trip allows)."""
    np.testing.assert_allclose(got, want, rtol=2.0**-10, atol=1e-6)


def _keys(path: Path) -> list[str]:
    with np.load(path) as data:
        return sorted(data.files)


def _declared(layout, file: str) -> list[str]:
    return sorted(name.strip() for key in layout.keys if key.file == file
                  for name in key.name.split(","))


def _inside(points: np.ndarray) -> np.ndarray:
    """Well inside the sphere (radius 0.95) or the box (half-extent 0.57 at least)."""
    return np.linalg.norm(points, axis=1) < 0.5


def _outside(points: np.ndarray) -> np.ndarray:
    """Outside the canonical cube: outside the shape."""
    return np.abs(points).max(axis=1) > 1.0


def test_registered_with_the_trainers_counts() -> None:
    vecset, vecsetx, ultra = get_layout("vecset"), get_layout("vecsetx"), get_layout("ultrashape")
    # 3DShape2VecSet: util/datasets.py num_samples=1024, main_ae.py --point_cloud_size 2048
    # near: 1024 rows around uniform samples, which the sample step's 2/3 share leaves from 1536
    assert vecset.needs == {"volume": 1024, "near": 1536, "surface": 2048}
    # VecSetX: main_ae.py Objaverse(sdf_size=1024), --point_cloud_size 8192
    assert vecsetx.needs == {"volume": 1024, "near": 1536, "surface": 8192}
    # UltraShape: objaverse_vae.py asserts 600000 surface rows (300000 + 300000);
    # train_vae_refine.yaml draws 100000 uniform-near, sharp-near and space rows: 100000
    # sharp-near rows are the sample step's third of 300000 near rows; 100000 space rows in
    # [0, 1]^3 are ours inside [-1, 1]^3, of volume rows uniform in [-1.05, 1.05]^3 (+1 %)
    assert ultra.needs == {"surface": 300_000, "salient": 300_000, "volume": 116_921,
                           "near": 300_000}
    assert vecset.loader == "1zb/3DShape2VecSet:util/shapenet.py"
    assert vecsetx.loader == "1zb/VecSetX:vecset/utils/objaverse.py"
    assert ultra.loader == "PKU-YuanGroup/UltraShape-1.0:ultrashape/data/objaverse_vae.py"
    for layout in (vecset, vecsetx, ultra):
        assert f"{layout.name}:" in describe(layout)


# --- vecset: 1zb/3DShape2VecSet:util/shapenet.py ------------------------------------------


def test_vecset_files_keys_shapes_dtypes(sphere: TrainingSamples, tmp_path: Path) -> None:
    layout = get_layout("vecset")  # the store is large enough for the released counts
    paths = layout.write(sphere, None, tmp_path, "a1")
    # ShapeNet.__init__: point_folder = <root>/ShapeNetV2_point, mesh_folder =
    # <root>/ShapeNetV2_watertight; __getitem__ opens <point>/<c>/<m>.npz, <m>.npy and
    # <mesh>/<c>/4_pointcloud/<m>.npz; categories are folders starting with '0' in category_ids
    category = layout_vecset.CATEGORY
    point = tmp_path / "ShapeNetV2_point" / category
    cloud = tmp_path / "ShapeNetV2_watertight" / category / "4_pointcloud" / "a1.npz"
    assert paths == [point / "a1.npz", point / "a1.npy", cloud]
    assert category.startswith("0")
    assert _keys(point / "a1.npz") == _declared(layout, f"ShapeNetV2_point/{category}/<id>.npz")
    assert _keys(point / "a1.npz") == ["near_label", "near_points", "vol_label", "vol_points"]
    assert _keys(cloud) == ["points"]
    with open(point / "a1.npy", "rb") as stream:
        assert np.load(stream).item() == 1.0  # np.load(f).item()
    with np.load(point / "a1.npz") as data:
        # points go to torch.from_numpy without a cast: float32
        assert data["vol_points"].dtype == data["near_points"].dtype == np.float32
        assert data["vol_points"].shape == (4000, 3) and data["vol_label"].shape == (4000,)
        near = len(sphere.sdf.surface_near_points)
        assert data["near_points"].shape == (near, 3) and data["near_label"].shape == (near,)
    got = layout.read(tmp_path, "a1")
    assert got["vol_label"].dtype == got["near_label"].dtype == np.float32  # .float()
    assert got["surface"].shape == (4000, 3) and got["surface"].dtype == np.float32


def test_vecset_occupancy_one_inside(sphere: TrainingSamples, tmp_path: Path) -> None:
    layout = get_layout("vecset")
    layout.write(sphere, None, tmp_path, "a1")
    got = layout.read(tmp_path, "a1")
    # BCEWithLogitsLoss on the labels; engine_ae.py scores logits >= 0 against label 1: inside
    for group in ("vol", "near"):
        points, label = got[f"{group}_points"], got[f"{group}_label"]
        assert set(np.unique(label)) <= {0.0, 1.0}
        assert np.all(label[_inside(points)] == 1) and np.all(label[_outside(points)] == 0)
    assert _inside(got["vol_points"]).sum() > 50 and _outside(got["vol_points"]).sum() > 50
    # eval.py decodes on linspace(-1, 1): coordinates as ours
    assert np.abs(got["surface"]).max() <= 1.0 and np.abs(got["vol_points"]).max() <= 1.05


def test_vecset_round_trip(box: TrainingSamples, tmp_path: Path) -> None:
    layout = layout_vecset.make_vecset_layout("vecset-test", category="03001627",
                                              num_samples=1000, pc_size=1000)
    layout.write(box, None, tmp_path, "a1")
    assert (tmp_path / "ShapeNetV2_point" / "03001627" / "a1.npz").is_file()
    got = layout.read(tmp_path, "a1")
    sdf = box.sdf
    _close16(got["vol_points"], sdf.volume_points)
    _close16(got["vol_label"], (sdf.volume_sdf < 0).astype(np.float32))
    # near rows: those around uniform surface samples (the salient ones are left out)
    _close16(got["near_points"], sdf.surface_near_points)
    _close16(got["near_label"], (sdf.surface_near_sdf < 0).astype(np.float32))
    _close16(got["surface"], box.surface_points)


def test_vecset_category_must_be_a_synset_folder() -> None:
    with pytest.raises(ValueError, match="category"):
        layout_vecset.make_vecset_layout("bad", category="chairs")


# --- vecsetx: 1zb/VecSetX:vecset/utils/objaverse.py ---------------------------------------

VECSETX = layout_vecset.make_vecsetx_layout("vecsetx-test", sdf_size=1000, surface_size=2000)


def test_vecsetx_keys_shapes_dtypes(sphere: TrainingSamples, tmp_path: Path) -> None:
    (path,) = VECSETX.write(sphere, None, tmp_path, "a1")
    # Objaverse.__getitem__: np.load(<dataset_folder>/<row0>/<row1>.npz) and reads vol_points,
    # vol_sdf, near_points, near_sdf, surface_points
    assert path == tmp_path / "a1.npz"
    assert _keys(path) == _declared(VECSETX, "<id>.npz") == sorted(
        ["vol_points", "vol_sdf", "near_points", "near_sdf", "surface_points"])
    with np.load(path) as data:
        # points and surface go to torch.mm with a float32 rotation: float32
        assert all(data[key].dtype == np.float32 for key in data.files)
        assert data["vol_points"].shape == (4000, 3) and data["vol_sdf"].shape == (4000,)
        assert data["surface_points"].shape == (4000, 3)
        # it draws sdf_size // 2 rows each of vol_sdf < 0 and >= 0, sdf_size near rows
        assert (data["vol_sdf"] < 0).sum() >= 500 and (data["vol_sdf"] >= 0).sum() >= 500
        assert len(data["near_points"]) >= 1000


def test_vecsetx_sign_negative_inside(sphere: TrainingSamples, tmp_path: Path) -> None:
    VECSETX.write(sphere, None, tmp_path, "a1")
    got = VECSETX.read(tmp_path, "a1")
    for group in ("vol", "near"):
        points, sdf = got[f"{group}_points"], got[f"{group}_sdf"]
        assert np.all(sdf[_inside(points)] < 0) and np.all(sdf[_outside(points)] > 0)
        # return_sdf=False: (sdf < 0).float(), occupancy 1 inside
        assert np.all((sdf[_inside(points)] < 0).astype(np.float32) == 1)
    assert _inside(got["vol_points"]).sum() > 50
    assert np.abs(got["surface_points"]).max() <= 1.0


def test_vecsetx_round_trip(box: TrainingSamples, tmp_path: Path) -> None:
    VECSETX.write(box, None, tmp_path, "a1")
    got = VECSETX.read(tmp_path, "a1")
    sdf = box.sdf
    _close16(got["vol_points"], sdf.volume_points)
    _close16(got["vol_sdf"], sdf.volume_sdf)
    _close16(got["near_points"], sdf.surface_near_points)
    _close16(got["near_sdf"], sdf.surface_near_sdf)
    _close16(got["surface_points"], box.surface_points)


def test_vecsetx_too_few_outside_volume_rows(sphere: TrainingSamples, tmp_path: Path) -> None:
    # the loader draws sdf_size // 2 rows with vol_sdf >= 0 without replacement
    sdf = dataclasses.replace(sphere.sdf, volume_sdf=-np.abs(sphere.sdf.volume_sdf) - 1e-3)
    inside_only = dataclasses.replace(sphere, sdf=sdf)
    with pytest.raises(NotEnoughSamplesError, match=key("volume")):
        VECSETX.write(inside_only, None, tmp_path, "a1")
    assert not list(tmp_path.iterdir())


# --- ultrashape: PKU-YuanGroup/UltraShape-1.0:ultrashape/data/objaverse_vae.py ------------

ULTRA = layout_ultrashape.make_layout("ultrashape-test", half=2000,
                                      sup_sizes=(2000, 2000, 2000))


def test_ultrashape_keys_shapes_dtypes(box: TrainingSamples, tmp_path: Path) -> None:
    (path,) = ULTRA.write(box, None, tmp_path, "a1")
    # _load_shape: np.load(f'{sample_root}/{uid}.npz'); keys of scripts/sampling.py's savez
    assert path == tmp_path / "a1.npz"
    assert _keys(path) == _declared(ULTRA, "<id>.npz") == sorted(
        ["space_points", "space_sdf", "clean_surface_points", "clean_surface_normals",
         "uniform_near_points", "curvature_near_points", "uniform_near_sdf",
         "curvature_near_sdf", "center", "scale"])
    with np.load(path) as data:
        assert all(data[key].dtype == np.float32 for key in data.files)
        # the loader asserts 2 * half rows: uniform half first, sharp half last
        assert data["clean_surface_points"].shape == data["clean_surface_normals"].shape
        assert data["clean_surface_points"].shape == (4000, 3)
        for key in ("space", "uniform_near", "curvature_near"):
            assert data[f"{key}_sdf"].shape == (len(data[f"{key}_points"]),)
        # [0, 1] coordinates: space points fill [0, 1]^3 like torch.rand
        for key in ("space_points", "clean_surface_points"):
            assert data[key].min() >= 0.0 and data[key].max() <= 1.0
        assert data["space_points"].min() < 0.05 and data["space_points"].max() > 0.95
        np.testing.assert_array_equal(data["center"], 0.0)
        assert data["scale"].shape == () and data["scale"] == 2.0
    got = ULTRA.read(tmp_path, "a1")
    # sharpedge_label and return_normal of train_vae_refine.yaml: xyz + normal + label
    assert got["surface"].shape == (4000, 7)
    assert {key: got[key].shape[1] for key in ("sup_near_uniform", "sup_near_sharp",
                                               "sup_space")} == dict.fromkeys(
        ("sup_near_uniform", "sup_near_sharp", "sup_space"), 4)
    assert all(array.dtype == np.float32 for array in got.values())


def test_ultrashape_sign_and_range(box: TrainingSamples, tmp_path: Path) -> None:
    ULTRA.write(box, None, tmp_path, "a1")
    got = ULTRA.read(tmp_path, "a1")
    # after (p - 0.5) * 2 and clip(sdf * 2, -t, t) / t: xyz in [-1, 1], label in [-1, 1],
    # negative inside (the preprocessing's cubvh signed distance, passed through)
    for group in ("sup_near_uniform", "sup_near_sharp", "sup_space"):
        points, label = got[group][:, :3], got[group][:, 3]
        assert label.min() >= -1 and label.max() <= 1
        assert np.all(label[_inside(points)] == -1) and np.all(label[_outside(points)] == 1)
    space = got["sup_space"][:, :3]
    assert np.abs(space).max() <= 1.0 and _inside(space).sum() > 50
    assert np.abs(got["surface"][:, :3]).max() <= 1.0
    np.testing.assert_allclose(np.linalg.norm(got["surface"][:, 3:6], axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(got["surface"][:2000, 6], 0)  # uniform half: label 0
    np.testing.assert_array_equal(got["surface"][2000:, 6], 1)  # sharp half: label 1


def test_ultrashape_round_trip(box: TrainingSamples, tmp_path: Path) -> None:
    ULTRA.write(box, None, tmp_path, "a1")
    got = ULTRA.read(tmp_path, "a1")
    sdf = box.sdf

    def tsdf(values: np.ndarray) -> np.ndarray:
        return np.clip(values, -layout_ultrashape.TSDF, layout_ultrashape.TSDF) / 0.01

    box_rows = np.all(np.abs(sdf.volume_points) <= 1.0, axis=1)
    for group, points, values in (
            ("sup_near_uniform", sdf.surface_near_points, sdf.surface_near_sdf),
            ("sup_near_sharp", sdf.salient_near_points, sdf.salient_near_sdf),
            ("sup_space", sdf.volume_points[box_rows], sdf.volume_sdf[box_rows])):
        _close16(got[group][:, :3], points)
        # the TSDF's slope magnifies the sdf's rounding by 1 / t
        np.testing.assert_allclose(got[group][:, 3], tsdf(values), atol=1e-3)
    _close16(got["surface"][:2000, :3], box.surface_points[:2000])
    _close16(got["surface"][2000:, :3], box.salient_points[:2000])
    _close16(got["surface"][:2000, 3:6], box.surface_normals[:2000])
    _close16(got["surface"][2000:, 3:6], box.salient_normals[:2000])


# --- too few samples: NotEnoughSamplesError names the config key --------------------------


def test_too_small_store_names_the_key(sphere: TrainingSamples, box: TrainingSamples,
                                       tmp_path: Path) -> None:
    with pytest.raises(NotEnoughSamplesError, match=key("surface")):
        get_layout("vecsetx").write(sphere, None, tmp_path, "a1")  # 4000 < 8192 rows
    with pytest.raises(NotEnoughSamplesError, match=r"\[sample\] surface = .*salient = "):
        get_layout("ultrashape").write(box, None, tmp_path, "a1")
    # enough near rows in all, too few around uniform surface samples (5333 of 8000); the
    # volume rows are doubled so that only the near check can fail
    sdf = box.sdf
    roomy = dataclasses.replace(box, sdf=dataclasses.replace(
        sdf, volume_points=np.tile(sdf.volume_points, (2, 1)),
        volume_sdf=np.tile(sdf.volume_sdf, 2)))
    needy = layout_vecset.make_vecset_layout("vecset-needy", num_samples=6000, pc_size=100)
    with pytest.raises(NotEnoughSamplesError, match=key("near")):
        needy.write(roomy, None, tmp_path, "a1")
    uniform = layout_ultrashape.make_layout("ultra-uniform", half=100, sup_sizes=(6000, 100, 100))
    with pytest.raises(NotEnoughSamplesError, match=key("near")):
        uniform.write(box, None, tmp_path, "a1")
    # enough near rows in all, too few around salient samples (2667 of 8000)
    sharp = layout_ultrashape.make_layout("ultra-needy", half=100, sup_sizes=(100, 3000, 100))
    with pytest.raises(NotEnoughSamplesError, match=key("near")):
        sharp.write(box, None, tmp_path, "a1")
    # enough volume rows in all, too few inside [-1, 1]^3 (3442 of 4000)
    space = layout_ultrashape.make_layout("ultra-space", half=100, sup_sizes=(100, 100, 3900))
    with pytest.raises(NotEnoughSamplesError, match=key("volume")):
        space.write(box, None, tmp_path, "a1")
    assert not list(tmp_path.rglob("*.np*"))


def test_ultrashape_without_salient_edges(sphere: TrainingSamples, tmp_path: Path) -> None:
    # found on the corpus: an asset without salient edges has no near rows around salient
    # samples; the uniform-near rows after the first 2000 stand in, none written twice
    sdf = sphere.sdf
    assert sdf.salient_count == 0
    ULTRA.write(sphere, None, tmp_path, "a1")
    got = ULTRA.read(tmp_path, "a1")
    _close16(got["sup_near_uniform"][:, :3], sdf.surface_near_points[:2000])
    _close16(got["sup_near_sharp"][:, :3], sdf.surface_near_points[2000:])
