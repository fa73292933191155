"""The ``hunyuan3d`` layout's condition views, written by ``meshprep run`` and read back as
Tencent-Hunyuan/Hunyuan3D-2.1 ``hy3dshape/hy3dshape/data/dit_asl.py`` reads an item.

The reader transcribes ``AlignedShapeLatentDataset.decode`` (24 names ``render_cond/NNN.png``,
``geo_data/<uid>_surface.npz``) and ``load_render`` (4 channels, composited over white, the
alpha > 0.3 box ± 5 pixels padded to a square of 1.15×) with PIL in place of cv2 (cv2 reads
BGRA, then converts to RGB: the same pixels).
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meshprep.pipeline import resolve_config, run_dataset

REPO = Path(__file__).resolve().parents[2]
SMALL = {"surface": 8192, "salient": 3000, "volume": 3000, "near": 6000}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hy3d") / "ds"
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "watertight", "sample", "render", "write"]},
        "watertight": {"resolution": 64}, "sample": SMALL,
        "render": {"size": 32, "targets": ["input"]},
        "write": {"layouts": ["hunyuan3d"]}})
    assert run_dataset(REPO / "examples", out, config, progress=False).counts["ok"] == 3
    return out


def _decode(item: str) -> dict:
    uid = item.split("/")[-1]
    sample = {"image": [os.path.join(item, f"render_cond/{i:03d}.png") for i in range(24)]}
    surface = np.load(os.path.join(item, f"geo_data/{uid}_surface.npz"))
    sample["random_surface"] = surface["random_surface"]
    sample["sharpedge_surface"] = surface["sharp_surface"]
    return sample


def _load_render(path: str) -> tuple[np.ndarray, np.ndarray]:
    image = np.array(Image.open(path))
    assert image.shape[2] == 4
    alpha = image[:, :, 3:4].astype(np.float32) / 255
    image = (image[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    mask = (alpha[:, :, 0] * 255).astype(np.uint8)
    h, w = image.shape[:2]
    coords = np.argwhere(mask > 0.3)
    (x_min, y_min), (x_max, y_max) = coords.min(axis=0), coords.max(axis=0)
    crop = (slice(max(x_min - 5, 0), min(x_max + 5, h)),
            slice(max(y_min - 5, 0), min(y_max + 5, w)))
    image, mask = image[crop], mask[crop]
    side = int(max(image.shape[:2]) * 1.15)
    padded = np.full((side, side, 3), 255, np.uint8)
    top, left = (side - image.shape[0]) // 2, (side - image.shape[1]) // 2
    padded[top:top + image.shape[0], left:left + image.shape[1]] = image
    return padded, mask


def test_dit_asl_reads_every_item(dataset: Path) -> None:
    items = glob.glob(str(dataset / "hunyuan3d") + "/*")
    assert len(items) == 3
    rng = np.random.default_rng(0)
    for item in items:
        sample = _decode(item)
        assert sample["random_surface"].shape[1] == 6
        assert all(os.path.isfile(p) for p in sample["image"])
        image, mask = _load_render(sample["image"][rng.integers(24)])
        assert image.ndim == 3 and mask.max() == 255
        first = Image.open(sample["image"][0])
        assert first.size == (512, 512) and first.mode == "RGBA"


def test_transforms_as_render_py_writes_them(dataset: Path) -> None:
    """hy3dshape/tools/render/render.py --geo_mode: 24 frames, fov 10–70°, the camera at
    cam_dis · (cos e cos a, cos e sin a, sin e) framing the sphere of radius √3/2."""
    for item in map(Path, glob.glob(str(dataset / "hunyuan3d") + "/*")):
        data = json.loads((item / "render_cond" / "transforms.json").read_text())
        assert data["aabb"] == [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
        assert {"scale", "offset", "frames"} <= set(data) and len(data["frames"]) == 24
        for i, frame in enumerate(data["frames"]):
            assert frame["file_path"] == f"{i:03d}.png" and frame["proj_type"] == 0
            fov = frame["camera_angle_x"]
            assert np.radians(10) - 1e-9 <= fov <= np.radians(70) + 1e-9
            assert np.isclose(frame["cam_dis"], np.sqrt(3) / 2 / np.sin(fov / 2))
            a, e, r = frame["azimuth"], frame["elevation"], frame["cam_dis"]
            position = r * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
            assert np.allclose(np.asarray(frame["transform_matrix"])[:3, 3], position)


def test_store_holds_the_renders_once(dataset: Path) -> None:
    """The item's files are hard links to the asset's store (published with the asset)."""
    item = Path(glob.glob(str(dataset / "hunyuan3d") + "/*")[0])
    store = next(dataset.glob(f"objects/*/{item.name}")) / "hunyuan3d" / "render_cond"
    assert os.path.samefile(item / "render_cond" / "000.png", store / "000.png")
