"""The TRELLIS.2 dataset root written by ``meshprep run``, read back as TRELLIS.2's datasets do.

The reader below follows microsoft/TRELLIS.2 ``trellis2/datasets/components.py`` (one root per
product, each with a ``metadata.csv`` merged on ``sha256``), ``flexi_dual_grid.py``
(``filter_metadata``, ``read_mesh``, ``read_dual_grid``) and ``sparse_voxel_pbr.py``
(``pbr_voxelized`` / ``num_pbr_voxels``, attributes ``x / 255 * 2 - 1``), without pandas/torch.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meshprep.export.trellis2 import z_up_vertices
from meshprep.io import load
from meshprep.pipeline import resolve_config, run_dataset
from meshprep.voxel import flexible_dual_grid, read_vxz

REPO = Path(__file__).resolve().parents[2]
RESOLUTIONS = [32, 64]


def _metadata(roots: dict[str, Path]) -> dict[str, dict[str, str]]:
    """``combine_first`` of every root's metadata.csv, keyed by sha256."""
    merged: dict[str, dict[str, str]] = {}
    for root in roots.values():
        with open(root / "metadata.csv", newline="") as stream:
            for row in csv.DictReader(stream):
                entry = merged.setdefault(row["sha256"], {})
                for key, value in row.items():
                    if value != "" and key not in entry:
                        entry[key] = value
    return merged


def _flexi_dual_grid_instances(roots, max_active_voxels=1_000_000, max_num_faces=None):
    """FlexiDualGridDataset.filter_metadata with ``min_aesthetic_score=None``."""
    keep = []
    for sha256, row in _metadata(roots).items():
        if row.get("dual_grid_converted") != "True" or row.get("cond_rendered") != "True":
            continue
        if float(row["dual_grid_size"]) > max_active_voxels:
            continue
        if max_num_faces is not None and float(row["num_faces"]) > max_num_faces:
            continue
        keep.append(sha256)
    return keep


def _read_mesh(root: Path, instance: str) -> tuple[np.ndarray, np.ndarray]:
    with open(root / f"{instance}.pickle", "rb") as stream:
        dump = pickle.load(stream)
    vertices, faces, start = [], [], 0
    for obj in dump["objects"]:
        if obj["vertices"].size == 0 or obj["faces"].size == 0:
            continue
        vertices.append(obj["vertices"])
        faces.append(obj["faces"] + start)
        start += len(obj["vertices"])
    v = np.concatenate(vertices).astype(np.float32)
    lo, hi = v.min(axis=0), v.max(axis=0)
    v = (v - (lo + hi) / 2) * (np.float32(1) / (hi - lo).max() * np.float32(0.99999))
    assert np.all(v >= -0.5) and np.all(v <= 0.5), "vertices out of range"
    return v, np.concatenate(faces)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trellis2") / "ds"
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "voxelize", "write"]},
        "write": {"layouts": ["trellis2"]},
        "voxel": {"resolutions": RESOLUTIONS, "cond_views": 3, "cond_size": 128},
    })
    summary = run_dataset(REPO / "examples", out, config, progress=False)
    assert summary.counts["ok"] == 3
    return out


def test_trellis2_root_reads_back_as_its_datasets_do(dataset: Path) -> None:
    root = dataset / "trellis2"
    for res in RESOLUTIONS:
        roots = {"mesh_dump": root / "mesh_dumps", "dual_grid": root / f"dual_grid_{res}",
                 "render_cond": root / "renders_cond"}
        instances = _flexi_dual_grid_instances(roots)
        assert len(instances) == 3
        for instance in instances:
            vertices, faces = _read_mesh(roots["mesh_dump"], instance)
            coords, attrs = read_vxz(roots["dual_grid"] / f"{instance}.vxz")
            assert set(attrs) == {"vertices", "intersected"}
            assert attrs["vertices"].shape == (len(coords), 3)
            intersected = np.concatenate([attrs["intersected"] % 2, attrs["intersected"] // 2 % 2,
                                          attrs["intersected"] // 4 % 2], axis=-1).astype(bool)
            # the file holds the O-Voxels of the dumped mesh, as TRELLIS.2's dual_grid.py
            # would compute them from it
            grid = flexible_dual_grid(vertices, res, faces=faces, normalize=False)
            order = np.lexsort(coords.T[::-1])
            ours = np.lexsort(grid.coords.T[::-1])
            assert np.array_equal(coords[order], grid.coords[ours])
            assert np.array_equal(attrs["vertices"][order], grid.vertices_u8()[ours])
            assert np.array_equal(intersected[order], grid.intersected[ours])
            row = _metadata(roots)[instance]
            assert int(row["dual_grid_size"]) == len(coords)


def test_pbr_voxels_and_condition_views(dataset: Path) -> None:
    root = dataset / "trellis2"
    roots = {"pbr_voxel": root / "pbr_voxels_64", "render_cond": root / "renders_cond"}
    metadata = _metadata(roots)
    assert len(metadata) == 3
    for instance, row in metadata.items():
        assert row["pbr_voxelized"] == "True"
        coords, attrs = read_vxz(roots["pbr_voxel"] / f"{instance}.vxz")
        assert int(row["num_pbr_voxels"]) == len(coords)
        assert list(attrs) == ["base_color", "metallic", "roughness", "alpha"]
        assert [a.shape[1] for a in attrs.values()] == [3, 1, 1, 1]
        # ImageConditionedMixin: a random frame's file, RGBA, an object in its alpha
        folder = roots["render_cond"] / instance
        frames = json.loads((folder / "transforms.json").read_text())["frames"]
        assert len(frames) == 3
        image = Image.open(folder / frames[1]["file_path"])
        alpha = np.array(image.getchannel(3))
        assert image.size == (128, 128) and alpha.max() == 255 and alpha.min() == 0


def test_mesh_dump_is_the_asset_z_up(dataset: Path) -> None:
    """One frame: the dump is the loaded asset turned Z-up (TRELLIS.2's Blender world)."""
    root = dataset / "trellis2" / "mesh_dumps"
    fandisk = load(REPO / "examples" / "fandisk.obj")
    expected = z_up_vertices(fandisk.vertices)
    for path in root.glob("*.pickle"):
        with open(path, "rb") as stream:
            obj = pickle.load(stream)["objects"][0]
        assert obj["vertices"].dtype == np.float32 and obj["faces"].dtype == np.int32
        if len(obj["faces"]) == len(fandisk.faces):
            v = obj["vertices"]
            span = lambda a: (a - a.min(0)) / np.ptp(a, axis=0).max()  # noqa: E731
            assert np.allclose(span(v), span(expected), atol=1e-5)
            return
    pytest.fail("no dump of fandisk")


def test_the_root_is_rebuilt_from_what_is_done(dataset: Path, tmp_path: Path) -> None:
    """A rerun does no work and lists the same assets; a removed link comes back."""
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    link = next((copy / "trellis2" / "dual_grid_32").glob("*.vxz"))
    link.unlink()
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "voxelize", "write"]},
        "write": {"layouts": ["trellis2"]},
        "voxel": {"resolutions": RESOLUTIONS, "cond_views": 3, "cond_size": 128},
    })
    summary = run_dataset(REPO / "examples", copy, config, progress=False)
    assert summary.processed == 0
    assert link.is_file()
    with open(copy / "trellis2" / "dual_grid_32" / "metadata.csv") as stream:
        assert len(list(csv.DictReader(stream))) == 3


def test_report_picture_of_the_ovoxels(dataset: Path) -> None:
    """The dual vertices drawn in red over the shape, for the report's gallery."""
    pictures = list(dataset.glob("objects/*/*/renders/ovoxel.png"))
    assert len(pictures) == 3
    image = np.array(Image.open(pictures[0]))
    red = (image[..., 0] == 220) & (image[..., 1] == 30) & (image[..., 3] == 255)
    assert red.sum() > 100


# ---------------------------------------------------------------------------------------------
# pbr_dumps/: microsoft/TRELLIS.2 trellis2/datasets/sparse_voxel_pbr.py read_mesh_with_texture
# (transcribed without torch: the same keys, PIL decoding and maps)

_FILTERS = {"Linear": "linear", "Closest": "nearest", "Cubic": "linear", "Smart": "linear"}
_WRAPS = {"REPEAT": "repeat", "EXTEND": "clamp", "CLIP": "clamp", "MIRROR": "mirror"}


def _texture_from_dump(pack: dict) -> tuple[np.ndarray, str, str]:
    image = Image.open(io.BytesIO(pack["image"]))
    if image.width != image.height or image.width & (image.width - 1):
        size = 1 << (max(image.width, image.height) - 1).bit_length()  # nearest_power_of_two
        image = image.resize((size, size), Image.LANCZOS)
    texture = (np.array(image) / 255.0).astype(np.float32).reshape(image.height, image.width, -1)
    return texture, _FILTERS[pack["interpolation"]], _WRAPS[pack["extension"]]


def _read_mesh_with_texture(root: Path, instance: str) -> dict:
    with open(root / f"{instance}.pickle", "rb") as stream:
        dump = pickle.load(stream)
    for mat in dump["materials"]:
        if mat["alphaTexture"] is not None and mat["alphaMode"] == "OPAQUE":
            mat["alphaMode"] = "BLEND"
    materials = []
    for mat in dump["materials"]:
        materials.append({
            name: _texture_from_dump(mat[f"{name}Texture"]) if mat[f"{name}Texture"] else None
            for name in ("baseColor", "metallic", "roughness", "alpha")} | {
            "base_color_factor": mat["baseColorFactor"], "metallic_factor": mat["metallicFactor"],
            "roughness_factor": mat["roughnessFactor"], "alpha_factor": mat["alphaFactor"],
            "mode": {"OPAQUE": 0, "MASK": 1, "BLEND": 2}[mat["alphaMode"]],
            "cutoff": mat["alphaCutoff"]})
    materials.append({"base_color_factor": [0.8, 0.8, 0.8], "metallic_factor": 0.0})  # the default
    start, vertices, faces, mat_ids, uvs = 0, [], [], [], []
    for obj in dump["objects"]:
        if obj["vertices"].size == 0 or obj["faces"].size == 0:
            continue
        vertices.append(obj["vertices"])
        faces.append(obj["faces"] + start)
        obj["mat_ids"][obj["mat_ids"] == -1] = len(materials) - 1
        mat_ids.append(obj["mat_ids"])
        uvs.append(obj["uvs"] if obj["uvs"] is not None else
                   np.zeros((obj["faces"].shape[0], 3, 2), dtype=np.float32))
        start += len(obj["vertices"])
    v = np.concatenate(vertices).astype(np.float32)
    lo, hi = v.min(axis=0), v.max(axis=0)
    v = (v - (lo + hi) / 2) * (np.float32(0.99999) / (hi - lo).max())
    assert np.all(v >= -0.5) and np.all(v <= 0.5), "vertices out of range"
    return {"vertices": v, "faces": np.concatenate(faces).astype(np.int64),
            "material_ids": np.concatenate(mat_ids).astype(np.int64),
            "uv_coords": np.concatenate(uvs).astype(np.float32), "materials": materials,
            "dump": dump}


def _textured_box(folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A box with planar UVs, a random 16² base colour and metallic-roughness texture."""
    import trimesh

    rng = np.random.default_rng(3)
    box = trimesh.creation.box(extents=(1.0, 0.6, 0.8))
    box.unmerge_vertices()
    uv = (box.vertices[:, [0, 1]] - box.vertices[:, [0, 1]].min(0)) / \
        np.ptp(box.vertices[:, [0, 1]], axis=0)
    uv = 0.05 + 0.9 * uv + 0.01 * box.vertices[:, [2]]
    color = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    color[..., 3] = 255
    mr = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(color, "RGBA"), baseColorFactor=[255, 204, 153, 255],
        metallicRoughnessTexture=Image.fromarray(mr, "RGB"), metallicFactor=0.5,
        roughnessFactor=1.0)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "textured_box.glb"
    box.export(path)
    return path, color, mr


def test_pbr_dump_reads_back_as_sparse_voxel_pbr_does(tmp_path: Path) -> None:
    path, color, mr = _textured_box(tmp_path / "raw")
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "voxelize", "write"]},
        "write": {"layouts": ["trellis2"]},
        "voxel": {"resolutions": [32], "cond_views": 0},
    })
    assert run_dataset(path.parent, tmp_path / "ds", config, progress=False).counts["ok"] == 1
    root = tmp_path / "ds" / "trellis2" / "pbr_dumps"
    with open(root / "metadata.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["pbr_dumped"] for r in rows] == ["True"]
    got = _read_mesh_with_texture(root, rows[0]["sha256"])
    dump = got["dump"]
    assert set(dump) == {"materials", "objects"} and len(dump["materials"]) == 1
    assert set(dump["materials"][0]) == {
        "baseColorFactor", "alphaFactor", "metallicFactor", "roughnessFactor", "alphaMode",
        "alphaCutoff", "baseColorTexture", "alphaTexture", "metallicTexture", "roughnessTexture"}
    obj = dump["objects"][0]
    assert set(obj) == {"vertices", "faces", "uvs", "matIDs", "normals", "mat_ids"}
    n = len(obj["faces"])
    assert obj["vertices"].dtype == np.float32 and obj["faces"].dtype == np.int32
    assert obj["uvs"].dtype == np.float32 and obj["uvs"].shape == (n, 3, 2)
    assert obj["normals"].shape == (n, 3, 3) and obj["mat_ids"].dtype == np.int32
    assert np.all(got["material_ids"] == 0)
    mat = dump["materials"][0]
    assert np.allclose(mat["baseColorFactor"], [1.0, 0.8, 0.6], atol=1e-2)  # RGB with a texture
    assert mat["metallicFactor"] == pytest.approx(0.5) and mat["alphaMode"] == "OPAQUE"
    base, _, wrap = got["materials"][0]["baseColor"]
    metallic = got["materials"][0]["metallic"][0]
    roughness = got["materials"][0]["roughness"][0]
    assert base.shape == (16, 16, 3) and metallic.shape == (16, 16, 1) and wrap == "repeat"
    # a texel through the dumped UVs: the dump's rows are Blender's (bottom first, as
    # dump_pbr.py reshapes image.pixels); the source PNG's rows are top first
    centre = got["uv_coords"].mean(axis=1)
    col = np.floor(centre[:, 0] * 16).astype(int)
    row_dump = np.floor(centre[:, 1] * 16).astype(int)
    row_source = np.floor((1 - centre[:, 1]) * 16).astype(int)
    assert np.array_equal(np.round(base[row_dump, col] * 255), color[row_source, col, :3])
    assert np.array_equal(np.round(metallic[row_dump, col, 0] * 255), mr[row_source, col, 2])
    assert np.array_equal(np.round(roughness[row_dump, col, 0] * 255), mr[row_source, col, 1])
    # the dumped UVs are the file's
    import trimesh

    source = trimesh.load(path, force="mesh", process=False)
    expected = np.asarray(source.visual.uv, np.float32)[source.faces]
    assert np.allclose(np.sort(got["uv_coords"].reshape(n, -1), axis=0),
                       np.sort(expected.reshape(len(expected), -1), axis=0), atol=1e-6)
