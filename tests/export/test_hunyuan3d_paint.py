"""The ``hunyuan3d-paint`` layout, written by ``meshprep run`` and read back as Hunyuan3D-2.1's
Paint loader reads it.

``_loader_item`` transcribes ``TextureDataset.__getitem__``
(Tencent-Hunyuan/Hunyuan3D-2.1 ``hy3dpaint/src/data/dataloader/objaverse_loader_forTexturePBR.py``)
and ``BaseDataset.load_image`` (``loader_util.py``) without the random choices and the
augmentation: paths, PIL modes, the compositing over the background, value ranges and the
pairing of lightings. File names and ``transforms.json`` keys are the shipped example's
(``hy3dpaint/train_examples/001``).
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import trimesh
from PIL import Image

from meshprep.export.layouts import get_layout
from meshprep.pipeline.config import resolve_config
from meshprep.pipeline.run import run_dataset

REPO = Path(__file__).resolve().parents[2]
SIZE = 512
#: the box's extents (glTF, Y-up): the longest side is 1, so the normalized box keeps them
EXTENTS = (1.0, 0.6, 0.8)
#: 2 x 2 blocks of colours (texture rows top first), 32 texels each
BLOCKS = np.array([[[200, 30, 40], [30, 180, 60]], [[40, 60, 220], [230, 210, 50]]], np.uint8)
ROUGHNESS, METALLIC = 200, 50
#: the example's render_tex frames 000 and 004 (transform_matrix, rounded)
EXAMPLE_C2W = {0: [[1, 0, 0, 0], [0, 0, -1, -1.5], [0, 1, 0, 0], [0, 0, 0, 1]],
               4: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1.5], [0, 0, 0, 1]]}
FRAME_KEYS = {"file_path", "camera_angle_x", "proj_type", "azimuth", "elevation", "cam_dis",
              "transform_matrix"}


def _box(path: Path, texture: np.ndarray) -> Path:
    """A box whose UVs are its glTF (x, y) spread over [0.05, 0.95]², with ``texture``."""
    box = trimesh.creation.box(extents=EXTENTS)
    box.unmerge_vertices()
    lo, span = box.vertices[:, :2].min(0), np.ptp(box.vertices[:, :2], axis=0)
    uv = 0.05 + 0.9 * (box.vertices[:, :2] - lo) / span
    mr = np.zeros((4, 4, 3), np.uint8)
    mr[..., 1], mr[..., 2] = ROUGHNESS, METALLIC
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(texture), metallicRoughnessTexture=Image.fromarray(mr),
        metallicFactor=1.0, roughnessFactor=1.0)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    box.export(path)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("paint") / "raw"
    raw.mkdir()
    _box(raw / "blocks.glb", np.repeat(np.repeat(BLOCKS, 32, axis=0), 32, axis=1))
    _box(raw / "flat.glb", np.full((16, 16, 3), 90, np.uint8))
    shutil.copy(REPO / "examples" / "kenney_flag.glb", raw / "flag.glb")  # no texture
    config = resolve_config(overrides={"run": {"steps": ["load", "normalize", "write"]},
                                       "write": {"layouts": ["hunyuan3d-paint"]}})
    out = raw.parent / "ds"
    assert run_dataset(raw, out, config, progress=False).counts["ok"] == 3
    return out


def _asset(dataset: Path, name: str) -> dict:
    rows = pq.read_table(dataset / "manifest.parquet").to_pylist()
    return next(r for r in rows if Path(r["source"]).name == name)


def _load_image(path: str, color) -> np.ndarray:
    """``BaseDataset.load_image`` (no resize: the images are 512² already; ``.float()``)."""
    image = Image.open(path)
    if image.mode == "L":
        image = image.convert("RGB")
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.shape[2] == 3:
        return array.transpose(2, 0, 1)
    alpha = array[:, :, 3:]
    image = array[:, :, :3] * alpha + np.asarray(color) * (1 - alpha)
    return image.transpose(2, 0, 1).astype(np.float32)


def _loader_item(dirx: str, pool=("light_PL", "light_AL")) -> dict:
    """``TextureDataset.__getitem__`` with every random choice enumerated instead of drawn."""
    grey = [127 / 255.0] * 3
    views = []
    for ext in ["*_albedo.png", "*_albedo.jpg", "*_albedo.jpeg"]:
        views.extend(glob.glob(os.path.join(dirx, "render_tex", ext)))
    cond = glob.glob(os.path.join(dirx, "render_cond", "*.png")) + \
        glob.glob(os.path.join(dirx, "render_cond", "*.jpg"))
    pairs = []
    for ref in sorted(cond):
        suffix = next(s for s in pool if s in ref)  # the loader raises when none is found
        pairs += [(ref, ref.replace(suffix, other)) for other in pool if other != suffix]
    item = {"pairs": pairs, "views": sorted(views)}
    for name, suffix in (("albedo", "_albedo"), ("mr", "_mr"), ("normal", "_normal"),
                         ("position", "_pos")):
        item[name] = np.stack([_load_image(v.replace("_albedo", suffix), grey)
                               for v in item["views"]])
    item["cond"] = np.stack([np.stack([_load_image(p, grey) for p in pair]) for pair in pairs])
    return item


def test_loader_reads_the_list_and_pairs_the_lightings(dataset: Path) -> None:
    root = dataset / "hunyuan3d-paint"
    with open(root / "examples.json") as stream:  # json_path of TextureDataset
        folders = json.load(stream)
    blocks = _asset(dataset, "blocks.glb")["asset_id"]
    assert folders == [str((root / blocks).resolve())]
    item = _loader_item(folders[0])
    assert len(item["views"]) == 6  # num_view=6: random.sample(available_views, 6) succeeds
    for name in ("albedo", "mr", "normal", "position"):
        assert item[name].shape == (6, 3, SIZE, SIZE) and item[name].dtype == np.float32
        assert 0.0 <= item[name].min() and item[name].max() <= 1.0
    # every condition image pairs with the same view under the other lighting
    assert len(item["pairs"]) == 48 and item["cond"].shape == (48, 2, 3, SIZE, SIZE)
    for ref, other in item["pairs"]:
        assert os.path.basename(ref)[:3] == os.path.basename(other)[:3] and os.path.isfile(other)
    # the loader's default pool also draws light_ENVMAP, which is not written (no env maps)
    ref = item["pairs"][0][0]
    assert not os.path.exists(ref.replace("light_PL", "light_ENVMAP").replace(
        "light_AL", "light_ENVMAP"))


def test_file_names_and_transforms_keys_match_the_example(dataset: Path) -> None:
    folder = dataset / "hunyuan3d-paint" / _asset(dataset, "blocks.glb")["asset_id"]
    tex = {f"{i:03d}{s}" for i in range(6) for s in (
        ".png", "_albedo.png", "_mr.png", "_normal.png", "_normal.jpg", "_pos.png", "_pos.jpg")}
    assert set(os.listdir(folder / "render_tex")) == tex | {"transforms.json"}
    cond = {f"{i:03d}_light_{s}.png" for i in range(24) for s in ("AL", "PL")}
    assert set(os.listdir(folder / "render_cond")) == cond | {"mesh.ply", "transforms.json"}
    modes = {"000.png": "RGBA", "000_albedo.png": "RGBA", "000_mr.png": "RGBA",
             "000_normal.png": "RGB", "000_normal.jpg": "RGB", "000_pos.png": "RGB",
             "000_pos.jpg": "RGB"}
    for name, mode in modes.items():
        with Image.open(folder / "render_tex" / name) as image:
            assert image.mode == mode and image.size == (SIZE, SIZE), name
    with Image.open(folder / "render_cond" / "000_light_AL.png") as image:
        assert image.mode == "RGBA" and image.size == (SIZE, SIZE)
    tex_json = json.loads((folder / "render_tex" / "transforms.json").read_text())
    assert {"aabb", "scale", "offset", "frames"} <= set(tex_json)
    assert tex_json["aabb"] == [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
    assert tex_json["scale"] == pytest.approx(1.0) and np.allclose(tex_json["offset"], 0, atol=1e-9)
    frames = tex_json["frames"]
    assert [set(f) for f in frames] == [FRAME_KEYS] * 6
    half = math.pi / 2
    assert [f["azimuth"] for f in frames] == pytest.approx([-half, 0, half, math.pi, -half, -half])
    assert [f["elevation"] for f in frames] == pytest.approx([0, 0, 0, 0, half, -half])
    assert {(f["proj_type"], f["cam_dis"]) for f in frames} == {(1, 1.5)}
    assert [f["file_path"] for f in frames] == [f"{i:03d}.png" for i in range(6)]
    assert frames[0]["camera_angle_x"] == pytest.approx(0.9232195630055808)
    for i, c2w in EXAMPLE_C2W.items():
        assert np.allclose(frames[i]["transform_matrix"], c2w, atol=1e-6)
    cond_frames = json.loads((folder / "render_cond" / "transforms.json").read_text())["frames"]
    assert len(cond_frames) == 24 and all(set(f) == FRAME_KEYS for f in cond_frames)
    for frame in cond_frames:  # TRELLIS.2's condition views: the fov frames the √3/2 sphere
        assert frame["proj_type"] == 0
        assert frame["cam_dis"] * math.sin(frame["camera_angle_x"] / 2) == pytest.approx(
            math.sqrt(3) / 2)
        assert math.radians(10) - 1e-9 <= frame["camera_angle_x"] <= math.radians(70) + 1e-9


def _centre(path: Path, view: int, suffix: str) -> np.ndarray:
    return np.asarray(Image.open(path / "render_tex" / f"{view:03d}{suffix}"))


def test_maps_encode_as_the_example(dataset: Path) -> None:
    folder = dataset / "hunyuan3d-paint" / _asset(dataset, "blocks.glb")["asset_id"]
    c = SIZE // 2
    # normals: Z-up world (n + 1) / 2 with the channels reversed (R n_z, G n_y, B n_x), as the
    # example's top view is red and its -X view has B = 0; background 127
    for view, expected in {0: (128, 0, 128), 2: (128, 255, 128), 3: (128, 128, 0),
                           4: (255, 128, 128), 5: (0, 128, 128)}.items():
        normal = _centre(folder, view, "_normal.png")
        assert np.abs(normal[c, c].astype(int) - expected).max() <= 1, view
        assert (normal[0, 0] == 127).all()
    # positions: (0.5 + p) * 255 of the Y-up point, channels reversed (R z, G y, B x); the
    # front view (000) sees the glTF +Z face (z = 0.4); pixel centres of a 1.2-wide ortho view
    pos = _centre(folder, 0, "_pos.png").astype(int)
    x = (np.arange(SIZE) + 0.5 - c) / SIZE * 1.2
    cols = np.nonzero(np.abs(x) < 0.45)[0]
    assert np.abs(pos[c, cols, 2] - (0.5 + x[cols]) * 255).max() <= 1.5
    assert np.abs(pos[c, cols, 0] - 0.9 * 255).max() <= 1.5
    rows = np.nonzero(np.abs(x) < 0.28)[0]  # glTF y spans +-0.3
    assert np.abs(pos[rows, c, 1] - (0.5 - x[rows]) * 255).max() <= 1.5  # rows go down
    assert (pos[0, 0] == 127).all()
    # albedo: the texture's block under the front view's centre-left (u < 0.5, v = 0.5 + ...)
    albedo = _centre(folder, 0, "_albedo.png")
    assert albedo[0, 0, 3] == 0 and albedo[c, c, 3] == 255
    top_left = albedo[c - 60, c - 100, :3].astype(int)  # glTF x < 0, y > 0: UV u < .5, v > .5
    assert np.abs(top_left - BLOCKS[0, 0]).max() <= 2
    bottom_right = albedo[c + 60, c + 100, :3].astype(int)
    assert np.abs(bottom_right - BLOCKS[1, 1]).max() <= 2
    mr = _centre(folder, 0, "_mr.png")
    assert np.abs(mr[c, c].astype(int) - (255, ROUGHNESS, METALLIC, 255)).max() <= 1


def test_mesh_ply_is_the_normalized_y_up_mesh(dataset: Path) -> None:
    folder = dataset / "hunyuan3d-paint" / _asset(dataset, "blocks.glb")["asset_id"]
    data = (folder / "render_cond" / "mesh.ply").read_bytes()
    header, _, body = data.partition(b"end_header\n")
    assert b"property float s\nproperty float t\n" in header
    assert b"property list uchar uint vertex_indices" in header
    count = int(header.split(b"element vertex ")[1].split(b"\n")[0])
    vertices = np.frombuffer(body[:count * 20], "<f4").reshape(count, 5)
    assert np.allclose(np.ptp(vertices[:, :3], axis=0), EXTENTS, atol=1e-5)
    assert np.allclose(vertices[:, :3].max(0), np.array(EXTENTS) / 2, atol=1e-5)
    assert 0.05 - 1e-6 <= vertices[:, 3:].min() and vertices[:, 3:].max() <= 0.95 + 1e-6
    source = trimesh.load(folder.parents[1] / "objects" / folder.name[:2] / folder.name
                          / "hunyuan3d-paint" / "render_cond" / "mesh.ply", process=False)
    assert len(source.faces) == 12


def test_untextured_and_flat_assets_are_skipped_with_the_reason(dataset: Path) -> None:
    records = pq.read_table(dataset / "hunyuan3d-paint" / ".meshprep-export" /
                            "export.parquet").to_pylist()
    by_id = {r["asset_id"]: r for r in records}
    flag, flat = _asset(dataset, "flag.glb"), _asset(dataset, "flat.glb")
    assert by_id[flag["asset_id"]]["status"] == "skipped"
    assert by_id[flag["asset_id"]]["error"] == "no base-colour texture"
    assert flag["hunyuan3d_paint_skipped"] == "no base-colour texture"
    assert by_id[flat["asset_id"]]["status"] == "skipped"
    assert by_id[flat["asset_id"]]["error"].startswith("base-colour texture is one flat colour")
    assert not (dataset / "hunyuan3d-paint" / flag["asset_id"]).exists()
    assert _asset(dataset, "blocks.glb")["hunyuan3d_paint_skipped"] == ""


def test_registered_with_its_declarations() -> None:
    layout = get_layout("hunyuan3d-paint")
    assert layout.loader.endswith("objaverse_loader_forTexturePBR.py")
    assert layout.from_asset is not None and "examples.json" in layout.lists
    assert "light_ENVMAP" in layout.notes


def _look(texture: np.ndarray, uv: np.ndarray):
    from meshprep.io.appearance import Appearance, Material

    material = Material(factor=np.ones(4, np.float32), texture=texture)
    return Appearance(uv=uv.astype(np.float32), vertex_color=None, face_color=None,
                      face_material=np.zeros(2, np.int32), materials=[material])


def test_flat_texture_rule() -> None:
    """Flat: every channel's texel std over the UV-covered area below 1/255."""
    from meshprep.export.layout_hunyuan3d_paint import texture_skip_reason

    faces = np.array([[0, 1, 2], [0, 2, 3]])
    quad = np.array([[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]])  # the left half
    texture = np.full((8, 8, 4), 100, np.uint8)
    assert texture_skip_reason(_look(texture, quad), faces).startswith("base-colour texture is")
    texture[:, 4:, 0] = 255  # varies only where no UV reaches: still flat
    assert texture_skip_reason(_look(texture, quad), faces).startswith("base-colour texture is")
    texture[::2, :4, 1] = 104  # 2/255 std under the UVs
    assert texture_skip_reason(_look(texture, quad), faces) is None
    assert texture_skip_reason(_look(texture, np.zeros((4, 2))), faces).startswith(
        "base-colour texture is")  # all UVs on one texel
    assert texture_skip_reason(None, faces).startswith("no materials")


def test_envmaps_key_is_a_folder(tmp_path: Path) -> None:
    from meshprep.pipeline.config import ConfigError

    with pytest.raises(ConfigError, match="render.envmaps"):
        resolve_config(overrides={"render": {"envmaps": str(tmp_path / "missing")}})
    config = resolve_config(overrides={"render": {"envmaps": str(tmp_path)}})
    assert config["render"]["envmaps"] == str(tmp_path)


def test_envmaps_folder_writes_light_envmap_views(tmp_path: Path) -> None:
    """With ``[render] envmaps`` each condition view also gets ``NNN_light_ENVMAP.png`` (a map
    of the folder, drawn per view from the asset seed), and the loader's default pool of three
    lightings pairs every file."""
    import meshprep
    from meshprep.export.layout_hunyuan3d_paint import write_paint_asset
    from meshprep.render.envmap import texel_directions, write_hdr

    maps = tmp_path / "maps"
    maps.mkdir()
    dirs, _ = texel_directions(8)
    write_hdr(maps / "sky.hdr", np.where(dirs[:, 2:3] > 0, 1.5, 0.2).reshape(8, 16, 1)
              * np.ones(3))
    write_hdr(maps / "grey.hdr", np.full((8, 16, 3), 0.7))
    mesh = meshprep.load(_box(tmp_path / "blocks.glb",
                              np.repeat(np.repeat(BLOCKS, 32, axis=0), 32, axis=1)),
                         appearance=True)
    metrics = write_paint_asset(tmp_path / "asset", mesh, seed=7, envmaps=str(maps),
                                tex_size=32, cond_size=32, cond_views=3)
    assert metrics["hunyuan3d_paint_skipped"] == "" and metrics["hunyuan3d_paint_envmap"] == ""
    cond = tmp_path / "asset" / "hunyuan3d-paint" / "render_cond"
    names = {f"{i:03d}_light_{s}.png" for i in range(3) for s in ("AL", "PL", "ENVMAP")}
    assert set(os.listdir(cond)) == names | {"mesh.ply", "transforms.json"}
    with Image.open(cond / "000_light_ENVMAP.png") as image:
        assert image.mode == "RGBA" and image.size == (32, 32)
        assert np.asarray(image)[..., 3].max() == 255
    record = json.loads((cond / "transforms.json").read_text())["meshprep"]
    assert record["skipped_lightings"] == {}
    envmap = [view["light_ENVMAP"] for view in record["lighting"]]
    assert all(e["kind"] == "envmap" and Path(e["envmap"]).parent == maps for e in envmap)
    for ref in glob.glob(str(cond / "*.png")):  # the default lighting_suffix_pool
        suffix = next(s for s in ("light_PL", "light_AL", "light_ENVMAP") if s in ref)
        for other in ("light_PL", "light_AL", "light_ENVMAP"):
            assert os.path.isfile(ref.replace(suffix, other))
