"""Layout ``partcrafter``: a three-part scene run through ``meshprep run`` and read back as
PartCrafter's ``ObjaversePartDataset`` reads it (issue 30).

The scene: box ``a`` (unit cube at the origin), box ``b`` (the same, moved 0.5 along x: it
overlaps ``a``) and box ``c`` (moved 3 along x: apart). Its box is [0, 4] x [0, 1] x [0, 1];
PartCrafter's ``normalize_mesh`` centres it and scales the longest side (4) to 2, so each unit
is 0.5 and x runs from -1 to 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from meshprep.export.layout_partcrafter import (
    CONFIGS,
    SURFACE_POINTS,
    crop_on_white,
    export_partcrafter_asset,
    read,
)
from meshprep.export.layouts import LayoutSkip
from meshprep.io.parts import Parts, save_parts
from meshprep.pipeline import resolve_config, run_dataset

OFFSETS = {"a": 0.0, "b": 0.5, "c": 3.0}


def _scene_glb(path: Path) -> Path:
    scene = trimesh.Scene()
    for name, dx in OFFSETS.items():
        box = trimesh.creation.box(bounds=[[dx, 0, 0], [dx + 1, 1, 1]])
        scene.add_geometry(box, geom_name=name, node_name=name)
    path.write_bytes(scene.export(file_type="glb"))
    return path


def _expected_bounds(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Box ``name`` in PartCrafter's frame: centre (2, 0.5, 0.5) to 0, scale 0.5."""
    lo = (np.array([OFFSETS[name], 0, 0]) - [2.0, 0.5, 0.5]) * 0.5
    return lo, lo + 0.5


def _on_box_surface(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    inside = np.all((points >= lo - 1e-5) & (points <= hi + 1e-5), axis=1)
    on_face = np.min(np.minimum(np.abs(points - lo), np.abs(points - hi)), axis=1) < 1e-5
    return bool(np.all(inside & on_face))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("partcrafter")
    (root / "in").mkdir()
    _scene_glb(root / "in" / "boxes.glb")
    config = resolve_config(overrides={"run": {"steps": ["load", "normalize", "curate", "write"]},
                                       "write": {"layouts": ["partcrafter"]}})
    summary = run_dataset(root / "in", root / "out", config, progress=False)
    assert summary.counts.get("ok") == 1, summary
    return root / "out" / "partcrafter"


def test_items_read_as_the_loader_reads_them(exported: Path) -> None:
    configs = json.loads((exported / CONFIGS).read_text())
    assert len(configs) == 1
    entry = configs[0]
    assert set(entry) == {"file", "num_parts", "valid", "mesh_path", "surface_path",
                          "image_path", "iou_mean", "iou_max"}
    assert entry["num_parts"] == 3 and entry["valid"] is True
    for key in ("mesh_path", "surface_path", "image_path"):
        assert Path(entry[key]).is_absolute() and Path(entry[key]).is_file()
    data = np.load(entry["surface_path"], allow_pickle=True).item()
    assert set(data) == {"object", "parts"} and len(data["parts"]) == 3
    # in the order of trimesh's scene.dump() of the source, as mesh_to_point.py lists them
    source = trimesh.load(exported.parent.parent / "in" / "boxes.glb", process=False)
    order = [min(OFFSETS, key=lambda n: abs(OFFSETS[n] - g.bounds[0, 0]))
             for g in source.dump()]
    assert sorted(order) == sorted(OFFSETS)
    for name, part in zip(order, data["parts"], strict=True):
        points, normals = part["surface_points"], part["surface_normals"]
        assert points.shape == normals.shape == (SURFACE_POINTS, 3)
        assert _on_box_surface(points, *_expected_bounds(name))
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    everything = data["object"]["surface_points"]
    np.testing.assert_allclose(everything.min(axis=0), [-1.0, -0.25, -0.25], atol=1e-3)
    np.testing.assert_allclose(everything.max(axis=0), [1.0, 0.25, 0.25], atol=1e-3)
    got = read(exported, entry["file"])
    assert got["part_surfaces"].shape == (3, SURFACE_POINTS, 6)
    assert got["part_surfaces"].dtype == np.float32
    assert got["image"].shape == (512, 512, 3)


def test_iou_as_partcrafter_computes_it(exported: Path) -> None:
    """a and b overlap by half of each (voxel IoU near 1/3); c touches neither. The expected
    figures are trimesh's own voxelization, as PartCrafter's compute_IoU calls it."""
    entry = json.loads((exported / CONFIGS).read_text())[0]
    iou = json.loads((Path(entry["surface_path"]).parent / "iou.json").read_text())
    pitch = 2.0 / 64
    cells = {}
    for name in OFFSETS:
        lo, hi = _expected_bounds(name)
        box = trimesh.creation.box(bounds=[lo, hi])
        grid = box.voxelized(pitch=pitch).fill()
        cells[name] = set(map(tuple, np.round(grid.points / pitch).astype(int)))
    source = trimesh.load(exported.parent.parent / "in" / "boxes.glb", process=False)
    order = [min(OFFSETS, key=lambda n: abs(OFFSETS[n] - g.bounds[0, 0]))
             for g in source.dump()]
    pairs = [(order[0], order[1]), (order[0], order[2]), (order[1], order[2])]
    expected = [len(cells[x] & cells[y]) / len(cells[x] | cells[y]) for x, y in pairs]
    np.testing.assert_allclose(iou["iou_list"], expected, atol=1e-3)
    assert iou["iou_max"] == pytest.approx(max(expected), abs=1e-3)
    assert entry["iou_mean"] == pytest.approx(np.mean(expected), abs=1e-3)
    by_pair = dict(zip(map(frozenset, pairs), expected, strict=True))
    assert 0.25 < by_pair[frozenset("ab")] < 0.45
    assert by_pair[frozenset("ac")] == by_pair[frozenset("bc")] == 0.0


def test_condition_image_is_the_object_on_white(exported: Path) -> None:
    from PIL import Image

    entry = json.loads((exported / CONFIGS).read_text())[0]
    with Image.open(entry["image_path"]) as image:
        assert image.mode == "RGB"
        pixels = np.asarray(image)
    height, width, _ = pixels.shape
    assert height == width
    assert np.all(pixels[0] == 255) and np.all(pixels[:, 0] == 255)  # the padding
    assert (pixels < 250).any(axis=2).mean() > 0.1  # the object is drawn


def test_crop_pads_to_a_square_by_a_tenth() -> None:
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[40:60, 10:90] = (10, 20, 30, 255)  # 80 wide, 20 high
    out = crop_on_white(rgba)
    # left/right pad int(80 * 0.1) = 8, top/bottom 8 + (80 - 20) / 2 = 38
    assert out.shape == (96, 96, 3)
    assert np.all(out[38:58, 8:88] == (10, 20, 30)) and np.all(out[:38] == 255)


def test_an_asset_without_parts_or_image_is_skipped(tmp_path: Path) -> None:
    with pytest.raises(LayoutSkip, match="parts.npz"):
        export_partcrafter_asset(tmp_path, tmp_path / "out", "x")
    box = trimesh.creation.box()
    save_parts(tmp_path / "parts.npz", box.vertices, box.faces,
               Parts(np.zeros(len(box.faces), np.int32), ["box"]))
    with pytest.raises(LayoutSkip, match="condition image"):
        export_partcrafter_asset(tmp_path, tmp_path / "out", "x")
