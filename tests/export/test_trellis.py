"""The TRELLIS (v1) dataset root written by ``meshprep run``, read back as TRELLIS reads it.

The reader follows microsoft/TRELLIS ``trellis/datasets/sparse_structure.py`` (``voxelized``
filter, voxel centres read from ``voxels/<sha256>.ply`` and turned into indices with
``((p + 0.5) * 64).int()``) and ``dataset_toolkits/extract_feature.py`` (the frames' files and
cameras in ``renders/<sha256>/transforms.json``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from meshprep.export.trellis import feature_name
from meshprep.pipeline import resolve_config, run_dataset
from meshprep.voxel import read_voxel_ply, surface_voxels

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trellis") / "ds"
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "voxelize", "write"]},
        "write": {"layouts": ["trellis"]},
        "voxel": {"trellis_views": 6, "trellis_size": 96, "cond_views": 4, "cond_size": 64},
    })
    assert run_dataset(REPO / "examples", out, config, progress=False).counts["ok"] == 3
    return out


def test_image_conditioned_reads_the_condition_views(dataset: Path) -> None:
    """microsoft/TRELLIS trellis/datasets/components.py ImageConditionedMixin: rows with
    ``cond_rendered``, a random frame of ``renders_cond/<sha256>/transforms.json``, its RGBA
    file cropped to 1.2 × the alpha's box, resized to 518², RGB times alpha."""
    root = dataset / "trellis"
    with open(root / "metadata.csv", newline="") as stream:
        rows = [r for r in csv.DictReader(stream) if r["cond_rendered"] == "True"]
    assert len(rows) == 3
    rng = np.random.default_rng(0)
    for row in rows:
        image_root = root / "renders_cond" / row["sha256"]
        metadata = json.loads((image_root / "transforms.json").read_text())
        assert metadata["aabb"] == [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
        assert len(metadata["frames"]) == 4
        frame = metadata["frames"][rng.integers(len(metadata["frames"]))]
        image = Image.open(image_root / frame["file_path"])
        assert image.size == (64, 64) and image.mode == "RGBA"
        alpha = np.array(image.getchannel(3))
        ys, xs = alpha.nonzero()
        bbox = [xs.min(), ys.min(), xs.max(), ys.max()]
        center = [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2]
        hsize = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 2 * 1.2
        crop = image.crop([int(center[0] - hsize), int(center[1] - hsize),
                           int(center[0] + hsize), int(center[1] + hsize)])
        crop = crop.resize((518, 518), Image.Resampling.LANCZOS)
        rgb = np.array(crop.convert("RGB")).astype(np.float32) / 255
        cond = rgb * (np.array(crop.getchannel(3)) / 255.0)[..., None]
        assert cond.shape == (518, 518, 3) and cond.max() > 0
        # fov 10–70° (render_cond.py's radii frame the sphere of radius √3/2)
        fov = np.degrees(frame["camera_angle_x"])
        assert 10 - 1e-6 <= fov <= 70 + 1e-6
        # the views share the 150 renders' normalization (the same render.py)
        renders = json.loads((root / "renders" / row["sha256"] / "transforms.json").read_text())
        assert np.isclose(metadata["scale"], renders["scale"])
        assert np.allclose(metadata["offset"], renders["offset"])


def test_sparse_structure_reads_the_voxels(dataset: Path) -> None:
    root = dataset / "trellis"
    with open(root / "metadata.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 3
    for row in rows:
        assert row["voxelized"] == "True" and row["rendered"] == "True"
        positions = np.asarray(trimesh.load(root / "voxels" / f"{row['sha256']}.ply").vertices,
                               np.float32)
        coords = ((positions + 0.5) * 64).astype(np.int32)
        assert len(coords) == int(row["num_voxels"]) and coords.min() >= 0 and coords.max() < 64
        assert np.array_equal(np.sort(coords.view("i4,i4,i4"), axis=0),
                              np.sort(read_voxel_ply(root / "voxels" / f"{row['sha256']}.ply")
                                      .astype(np.int32).view("i4,i4,i4"), axis=0))
        # the voxels are those of the exported mesh.ply (voxelize.py's input)
        mesh = trimesh.load(root / "renders" / row["sha256"] / "mesh.ply", process=False)
        expected = surface_voxels(np.asarray(mesh.vertices), faces=mesh.faces, normalize=False)
        assert {tuple(c) for c in coords.tolist()} == {tuple(c) for c in expected.tolist()}


def test_renders_and_mesh_share_a_frame(dataset: Path) -> None:
    """mesh.ply lies in [-0.5, 0.5]^3 and projects into each view's silhouette."""
    root = dataset / "trellis" / "renders"
    for folder in root.iterdir():
        data = json.loads((folder / "transforms.json").read_text())
        assert data["aabb"] == [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
        mesh = trimesh.load(folder / "mesh.ply", process=False)
        v = np.asarray(mesh.vertices)
        assert np.abs(v).max() <= 0.5 + 1e-6 and np.isclose(np.ptp(v, axis=0).max(), 1, 1e-5)
        assert len(data["frames"]) == 6
        for frame in data["frames"]:
            image = np.array(Image.open(folder / frame["file_path"]))
            # two pixels of slack: vertices on the silhouette, and parts thinner than a pixel
            # (a flag pole seen from below at 96²) that sampling at pixel centres misses
            alpha = np.pad(image[..., 3], 2)
            alpha = np.max([np.roll(np.roll(alpha, dy, 0), dx, 1) for dy in range(-2, 3)
                            for dx in range(-2, 3)], axis=0)[2:-2, 2:-2]
            K, w2c = np.asarray(frame["opencv"]["K"]), np.asarray(frame["opencv"]["w2c"])
            cam = v @ w2c[:3, :3].T + w2c[:3, 3]
            uv = cam[:, :2] / cam[:, 2:] @ K[:2, :2].T + K[:2, 2]
            col, row = np.clip(uv.astype(int), 0, image.shape[1] - 1).T
            assert (alpha[row, col] > 0).mean() > 0.99


def test_dinov2_features_in_the_root(tmp_path: Path) -> None:
    """With a (tiny, random) DINOv2 folder the root gets features/<model>/<sha256>.npz for every
    voxel of the asset, and ``feature_<model>`` in its metadata, ``<model>`` as TRELLIS names
    the model."""
    from tests.voxel.test_features import _tiny_dinov2

    weights = tmp_path / "dinov2_tiny"
    _tiny_dinov2(weights)
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "voxelize", "write"]},
        "write": {"layouts": ["trellis"]},
        "voxel": {"trellis_views": 2, "trellis_size": 64, "dinov2": str(weights)},
    })
    out = tmp_path / "ds"
    source = tmp_path / "src"
    source.mkdir()
    (source / "fandisk.obj").write_bytes((REPO / "examples" / "fandisk.obj").read_bytes())
    assert run_dataset(source, out, config, progress=False).counts["ok"] == 1
    root = out / "trellis"
    with open(root / "metadata.csv", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    # named from the model's config (TRELLIS's names: dinov2_vitl14_reg), not the folder's name
    name = feature_name(weights)
    assert name in ("dinov2_w32p14_reg", "dinov2_w32p14") and row[f"feature_{name}"] == "True"
    data = np.load(root / "features" / name / f"{row['sha256']}.npz")
    assert data["indices"].dtype == np.uint8 and data["patchtokens"].dtype == np.float16
    assert data["patchtokens"].shape == (int(row["num_voxels"]), 32)
    voxels = read_voxel_ply(root / "voxels" / f"{row['sha256']}.ply")
    assert {tuple(c) for c in data["indices"].tolist()} == {tuple(c) for c in voxels.tolist()}


def test_report_picture_of_the_64_voxels(dataset: Path) -> None:
    pictures = list(dataset.glob("objects/*/*/renders/trellis_voxels.png"))
    assert len(pictures) == 3
    image = np.array(Image.open(pictures[0]))
    assert ((image[..., 0] == 220) & (image[..., 1] == 30)).sum() > 50
