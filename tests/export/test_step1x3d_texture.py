"""The ``step1x3d-texture`` layout, written by ``meshprep run`` and read back as Step1X-3D's
texture loader reads it.

``_loader_item`` transcribes ``MultiviewDataset.__getitem__`` with ``_parse_scene_list_single``,
``load_image``, ``load_normal_image`` and ``load_depth`` (stepfun-ai/Step1X-3D
``step1x3d_texture/data/multiview.py``) under the shipped config
(``configs/train-texture-ig2mv/step1x3d_ig2mv_sdxl.yaml``: grey background, 768², ORTHO,
sources position + normal) with the six view names the render script writes; ``cv2.imread`` of
the EXR is OpenEXR's read with the channels in cv2's order (B, G, R). The position map is
``get_position_map_from_depth_ortho`` (``step1x3d_texture/utils/geometry.py``, as
``data/ig2mv/render/check_pos.py`` has it). File names are ``data/ig2mv/render/
multi-view-render.py``'s.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from meshprep.export.layouts import get_layout
from meshprep.pipeline.config import resolve_config
from meshprep.pipeline.run import run_dataset

from .test_hunyuan3d_paint import BLOCKS, _box

OpenEXR = pytest.importorskip("OpenEXR")

REPO = Path(__file__).resolve().parents[2]
NAMES = [f"{i:04d}" for i in range(6)]
SIZE, LOADER_SIZE, ORTHO_SCALE, RADIUS = 1024, 768, 1.1, 1.8
LAYOUT = "step1x3d-texture"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("ig2mv") / "raw"
    raw.mkdir()
    _box(raw / "blocks.glb", np.repeat(np.repeat(BLOCKS, 32, axis=0), 32, axis=1))
    shutil.copy(REPO / "examples" / "kenney_flag.glb", raw / "flag.glb")  # no texture
    config = resolve_config(overrides={"run": {"steps": ["load", "normalize", "write"]},
                                       "write": {"layouts": [LAYOUT]}})
    out = raw.parent / "ds"
    assert run_dataset(raw, out, config, progress=False).counts["ok"] == 2
    return out


def _asset(dataset: Path, name: str) -> dict:
    rows = pq.read_table(dataset / "manifest.parquet").to_pylist()
    return next(r for r in rows if Path(r["source"]).name == name)


# ---------------------------------------------------------------------------------------------
# the loader, transcribed


def _parse_scene_list(scene_list_path: str, root_data_dir: str) -> list[str]:
    """``_parse_scene_list_single`` for a ``.json`` list."""
    with open(scene_list_path) as f:
        return [os.path.join(root_data_dir, p) if "/" in p
                else os.path.join(root_data_dir, p[:2], p) for p in json.loads(f.read())]


def _load_image(path: str, size: int, background: np.ndarray) -> np.ndarray:
    image = Image.open(path).resize((size, size))
    image = np.asarray(image).astype(np.float32) / 255.0
    return image[:, :, :3] * image[:, :, 3:4] + background * (1 - image[:, :, 3:4])


def _load_normal_image(path: str, size: int, background: np.ndarray) -> np.ndarray:
    image = Image.open(path).resize((size, size), resample=Image.NEAREST)
    image = np.asarray(image).astype(np.float32) / 255.0
    alpha, image = image[:, :, 3:4], image[:, :, :3]
    return image * alpha + background * (1 - alpha)


def _cv2_imread_exr(path: str) -> np.ndarray:
    """``cv2.imread(path, cv2.IMREAD_UNCHANGED)`` of a 3-channel float EXR: (H, W, 3) float32
    with the channels as B, G, R."""
    with OpenEXR.File(path) as image:
        channels = image.channels()
        rgb = channels["RGB"].pixels if "RGB" in channels else np.stack(
            [channels[c].pixels for c in "RGB"], axis=-1)
    return np.ascontiguousarray(rgb[..., ::-1], dtype=np.float32)


def _load_depth(path: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    depth = _cv2_imread_exr(path)
    rows = np.floor(np.arange(size) * depth.shape[0] / size).astype(int)  # INTER_NEAREST
    cols = np.floor(np.arange(size) * depth.shape[1] / size).astype(int)
    depth = depth[rows][:, cols][..., 0:1].astype(np.float32)
    mask = np.ones_like(depth)
    mask[depth > 1000.0] = 0.0
    depth[~(mask > 0.5)] = 0.0
    return depth, mask


def _position_map_ortho(depth, mask, extrinsics, ortho_scale, size: int) -> np.ndarray:
    """``get_position_map_from_depth_ortho`` (B, H, W, 1) -> (B, H, W, 3)."""
    u, v = np.meshgrid(np.arange(size), np.arange(size), indexing="xy")
    x = (u - size / 2) * ortho_scale / size
    y = (v - size / 2) * ortho_scale / size
    cam = np.stack([np.broadcast_to(x, depth.shape[:3]), np.broadcast_to(y, depth.shape[:3]),
                    depth[..., 0], np.ones(depth.shape[:3])], axis=-1)
    world = np.einsum("bhwk,bjk->bhwj", cam.astype(np.float32), extrinsics.astype(np.float32))
    return world[..., :3] * mask  # float32, as the loader's tensors


def _loader_item(root: Path, size: int = LOADER_SIZE) -> dict:
    """``MultiviewDataset.__getitem__`` (item 0) under the shipped config, views 0000-0005."""
    grey = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    scene_dir = _parse_scene_list(str(root / "filter_obj.json"), str(root))[0]
    with open(os.path.join(scene_dir, "meta.json")) as f:
        meta = json.load(f)
    name2loc = {loc["index"]: loc for loc in meta["locations"]}
    images = np.stack([_load_image(os.path.join(scene_dir, f"color_{n}.webp"), size, grey)
                       for n in NAMES])
    c2w = np.stack([np.asarray(name2loc[n]["transform_matrix"]) for n in NAMES])
    ortho_scale = meta.get("ortho_scale", None) or meta["locations"][0]["ortho_scale"]
    depth_masks = [_load_depth(os.path.join(scene_dir, f"depth_{n}.exr"), size) for n in NAMES]
    depths = np.stack([d for d, _ in depth_masks])
    masks = np.stack([m for _, m in depth_masks])
    c2w_ = c2w.copy()
    c2w_[:, :, 1:3] *= -1
    position = np.clip(_position_map_ortho(depths, masks, c2w_, ortho_scale, size) + 0.5, 0, 1)
    normals = np.stack([_load_normal_image(os.path.join(scene_dir, f"normal_{n}.webp"), size,
                                           grey) for n in NAMES])
    with open(root / "objaverse_short_captions.json") as f:
        prompt = json.load(f).get(os.path.basename(scene_dir), "")
    return {"scene_dir": scene_dir, "rgb": images.transpose(0, 3, 1, 2), "c2w": c2w,
            "source_rgb": np.concatenate([position, normals], axis=-1).transpose(0, 3, 1, 2),
            "depth": depths, "mask": masks, "ortho_scale": ortho_scale, "prompt": prompt}


# ---------------------------------------------------------------------------------------------
# tests


def test_loader_reads_the_list_and_every_view(dataset: Path) -> None:
    root = dataset / LAYOUT
    blocks = _asset(dataset, "blocks.glb")["asset_id"]
    assert json.loads((root / "filter_obj.json").read_text()) == [blocks]
    item = _loader_item(root)
    assert item["scene_dir"] == str(root / blocks[:2] / blocks)
    assert item["rgb"].shape == (6, 3, LOADER_SIZE, LOADER_SIZE)
    assert item["source_rgb"].shape == (6, 6, LOADER_SIZE, LOADER_SIZE)  # cond_in_channels: 6
    for key in ("rgb", "source_rgb"):
        assert item[key].dtype == np.float32 and 0.0 <= item[key].min() <= item[key].max() <= 1
    assert item["ortho_scale"] == pytest.approx(ORTHO_SCALE) and item["prompt"] == ""
    # every view sees the box and the background
    assert all(0.05 < m.mean() < 0.9 for m in item["mask"])


def test_file_names_modes_and_meta_match_the_render_script(dataset: Path) -> None:
    blocks = _asset(dataset, "blocks.glb")["asset_id"]
    folder = dataset / LAYOUT / blocks[:2] / blocks
    assert set(os.listdir(folder)) == {f"{kind}_{n}.{ext}" for n in NAMES for kind, ext in (
        ("color", "webp"), ("normal", "webp"), ("depth", "exr"))} | {"meta.json"}
    for kind in ("color", "normal"):
        with Image.open(folder / f"{kind}_0000.webp") as image:
            assert image.format == "WEBP" and image.mode == "RGBA"
            assert image.size == (SIZE, SIZE)
        assert (folder / f"{kind}_0000.webp").read_bytes()[12:16] == b"VP8L"  # lossless
    with OpenEXR.File(str(folder / "depth_0000.exr")) as image:
        header = image.header()
        assert header["compression"] == OpenEXR.ZIP_COMPRESSION
        assert [c.name for c in header["channels"]] == ["B", "G", "R"]
        assert image.channels()["RGB"].pixels.dtype == np.float32
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["width"] == meta["height"] == SIZE
    locations = meta["locations"]
    assert [loc["index"] for loc in locations] == NAMES
    assert {loc["projection_type"] for loc in locations} == {"ORTHO"}
    assert [loc["elevation"] for loc in locations] == pytest.approx(
        np.deg2rad([0, 0, 0, 0, 89.99, -89.99]))
    assert [loc["azimuth"] for loc in locations] == pytest.approx(
        np.deg2rad([x - 90 for x in [0, 90, 180, 270, 180, 0]]))
    assert locations[0]["camera_angle_x"] == pytest.approx(2 * math.atan(16 / 50))
    # Blender's to_track_quat("-Z", "Y") (mathutils) for the script's positions, rounded
    expected = {0: [[1, 0, 0, 0], [0, 0, -1, -1.8], [0, 1, 0, 0]],
                1: [[0, 0, 1, 1.8], [1, 0, 0, 0], [0, 1, 0, 0]],
                4: [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 1.8]],
                5: [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, -1.8]]}
    for view, c2w in expected.items():
        assert np.allclose(np.asarray(locations[view]["transform_matrix"])[:3], c2w,
                           atol=1e-3), view


def test_depth_is_the_distance_to_the_box_faces(dataset: Path) -> None:
    """The normalized box (glTF extents 1 x 0.6 x 0.8, Blender x, y, z = 1, 0.8, 0.6) seen from
    radius 1.8: the +X face from view 0001, the -Y face from 0000, the top from 0004."""
    item = _loader_item(dataset / LAYOUT, size=SIZE)
    c = SIZE // 2
    half = np.array([0.5, 0.4, 0.3])
    expected = {0: RADIUS - half[1], 1: RADIUS - half[0], 2: RADIUS - half[1],
                3: RADIUS - half[0], 4: RADIUS * math.sin(math.radians(89.99)) - half[2],
                5: RADIUS * math.sin(math.radians(89.99)) - half[2]}
    for view, depth in expected.items():
        assert item["depth"][view, c, c, 0] == pytest.approx(depth, abs=1e-3), view
    assert item["mask"][1, 0, 0, 0] == 0  # the corner: nothing hit (65504 in the file)
    # positions rebuilt as the loader does lie on the face each view sees, inside the box
    position = item["source_rgb"][:, :3].transpose(0, 2, 3, 1) - 0.5
    seen = item["mask"][1, ..., 0] > 0
    assert np.abs(position[1][seen][:, 0] - 0.5).max() < 2e-3
    pixel = ORTHO_SCALE / SIZE
    assert (np.abs(position[1][seen][:, 1:]) <= half[1:] + 1.5 * pixel).all()
    top = item["mask"][4, ..., 0] > 0
    assert np.abs(position[4][top][:, 2] - 0.3).max() < 2e-3


def test_normals_and_colours_encode_as_the_script(dataset: Path) -> None:
    blocks = _asset(dataset, "blocks.glb")["asset_id"]
    folder = dataset / LAYOUT / blocks[:2] / blocks
    c = SIZE // 2
    # world normal (Z up) (n + 1) / 2 * 256, truncated: 0000 sees -Y, 0001 +X, 0004 +Z, 0005 -Z
    for view, expected in {0: (128, 0, 128), 1: (255, 128, 128), 4: (128, 128, 255),
                           5: (128, 128, 0)}.items():
        normal = np.asarray(Image.open(folder / f"normal_{view:04d}.webp"))
        assert np.abs(normal[c, c, :3].astype(int) - expected).max() <= 1, view
        assert normal[c, c, 3] == 255 and normal[0, 0, 3] == 0
        assert set(np.unique(normal[..., 3])) == {0, 255}
    color = np.asarray(Image.open(folder / "color_0000.webp"))
    assert color[c, c, 3] == 255 and color[0, 0, 3] == 0
    # the texture's blocks show: the two halves of the front view differ in hue
    left, right = color[c - 60, c - 100, :3].astype(int), color[c + 60, c + 100, :3].astype(int)
    assert np.abs(left - right).max() > 40


def test_untextured_asset_is_skipped_with_the_reason(dataset: Path) -> None:
    records = pq.read_table(dataset / LAYOUT / ".meshprep-export" /
                            "export.parquet").to_pylist()
    flag = _asset(dataset, "flag.glb")
    by_id = {r["asset_id"]: r for r in records}
    assert by_id[flag["asset_id"]]["status"] == "skipped"
    assert by_id[flag["asset_id"]]["error"] == "no base-colour texture"
    assert flag["step1x3d_texture_skipped"] == "no base-colour texture"
    assert not (dataset / LAYOUT / flag["asset_id"][:2] / flag["asset_id"]).exists()
    assert _asset(dataset, "blocks.glb")["step1x3d_texture_skipped"] == ""


def test_registered_with_its_declarations() -> None:
    layout = get_layout(LAYOUT)
    assert layout.loader == "stepfun-ai/Step1X-3D:step1x3d_texture/data/multiview.py"
    assert layout.from_asset is not None and "filter_obj.json" in layout.lists
    assert "0005" in layout.notes


def test_refused_without_openexr(monkeypatch) -> None:
    from meshprep.pipeline.config import ConfigError

    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # import raises ImportError
    with pytest.raises(ConfigError, match=r"meshprep\[exr\]"):
        resolve_config(overrides={"write": {"layouts": [LAYOUT]}})
