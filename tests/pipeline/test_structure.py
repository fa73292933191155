"""Parts and rigs through ``meshprep run`` (issue 30): parts.npz and rig.npz in the store, the
part and rig curation rules, the extract step keeping part ids, ``meshprep status``'s counts.

The files are built here: a scene of three boxes (a and b overlap, c stands apart) and a
floating speck (removed by the extract step), and the two-bone skinned strip of
tests/io/test_rig.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from meshprep.curate.decide import decide
from meshprep.io.parts import read_parts_file
from meshprep.io.rig import read_rig_file
from meshprep.pipeline import Ledger, resolve_config, run_dataset
from meshprep.pipeline.config import ConfigError, config_hash, curation_params
from meshprep.pipeline.manifest import format_summary, summarize

STEPS = ["load", "normalize", "curate", "write"]


def _boxes(path: Path, speck: bool = False) -> Path:
    scene = trimesh.Scene()
    for name, dx in (("a", 0.0), ("b", 0.5), ("c", 3.0)):
        scene.add_geometry(trimesh.creation.box(bounds=[[dx, 0, 0], [dx + 1, 1, 1]]),
                           geom_name=name, node_name=name)
    if speck:  # a tiny separate object far below: the extract step removes it
        scene.add_geometry(trimesh.creation.box(bounds=[[1, -3, 0], [1.01, -2.99, 0.01]]),
                           geom_name="speck", node_name="speck")
    path.write_bytes(scene.export(file_type="glb"))
    return path


def _asset_folder(out: Path) -> Path:
    (meta,) = out.glob("objects/*/*/meta.json")
    return meta.parent


def _run(tmp_path: Path, files: dict[str, Path], **sections) -> Path:
    config = resolve_config(overrides={"run": {"steps": sections.pop("steps", STEPS)},
                                       **sections})
    summary = run_dataset(tmp_path / "in", tmp_path / "out", config, progress=False)
    assert summary.counts.get("ok", 0) + summary.counts.get("skipped", 0) == len(files)
    return tmp_path / "out"


def test_parts_are_stored_with_their_metrics(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    files = {"boxes": _boxes(tmp_path / "in" / "boxes.glb")}
    out = _run(tmp_path, files, parts={"store": True})
    folder = _asset_folder(out)
    mesh = read_parts_file(folder / "parts.npz")
    parts = mesh.metadata["meshprep_parts"]
    assert sorted(parts.names) == ["a", "b", "c"]
    assert np.abs(mesh.vertices).max() == pytest.approx(0.95, abs=1e-6)  # the canonical cube
    assert list(parts.face_counts()) == [12, 12, 12]
    metrics = json.loads((folder / "meta.json").read_text())["metrics"]
    assert metrics["part_count"] == 3 and metrics["parts_stored"] == 3
    assert 0.25 < metrics["part_iou_max"] < 0.45  # a and b overlap by half
    stored_iou = mesh.metadata["meshprep_part_iou"]  # kept for the part layouts
    assert len(stored_iou) == 3 and max(stored_iou) == pytest.approx(metrics["part_iou_max"])
    # no rig in this file: no rig.npz (the [rig] store default is on)
    assert not (folder / "rig.npz").exists()
    with Ledger(out / "ledger.sqlite") as ledger:
        text = format_summary(summarize(ledger))
    assert "parts: 1 assets, 3 parts (1 with 2-4); rigs: 0 skinned assets" in text


def test_extract_keeps_the_part_ids_of_the_kept_faces(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    files = {"boxes": _boxes(tmp_path / "in" / "boxes.glb", speck=True)}
    out = _run(tmp_path, files, parts={"store": True},
               steps=["load", "normalize", "extract", "write"])
    mesh = read_parts_file(_asset_folder(out) / "parts.npz")
    assert mesh.metadata["meshprep_part_iou"] is None  # no curate step: nothing measured
    parts = mesh.metadata["meshprep_parts"]
    counts = dict(zip(parts.names, parts.face_counts(), strict=True))
    # the main object is a and b (they touch); c stands apart and the speck floats: removed
    assert counts == {"a": 12, "b": 12, "c": 0, "speck": 0}
    # a's faces are the left-most ones: part ids still name the faces they came from
    a = mesh.vertices[mesh.faces[parts.face_part == parts.names.index("a")]]
    b = mesh.vertices[mesh.faces[parts.face_part == parts.names.index("b")]]
    assert a[..., 0].min() < b[..., 0].min() and a[..., 0].max() < b[..., 0].max()


def test_a_rig_is_stored_in_the_canonical_frame(tmp_path: Path) -> None:
    from tests.io.test_rig import FRAME0_JOINTS, _two_bones

    (tmp_path / "in").mkdir()
    _two_bones(tmp_path / "in" / "strip.glb")
    out = _run(tmp_path, {"strip": tmp_path / "in" / "strip.glb"})
    folder = _asset_folder(out)
    mesh, rig = read_rig_file(folder / "rig.npz")
    meta = json.loads((folder / "meta.json").read_text())
    transform = np.asarray(meta["transform"])
    expected = FRAME0_JOINTS @ transform[:3, :3].T + transform[:3, 3]
    np.testing.assert_allclose(rig.joints, expected, atol=1e-6)
    assert len(rig.weights) == len(mesh.vertices)
    assert meta["metrics"]["rig_joints_stored"] == 3 and "rig_weight_error" in meta["metrics"]


def test_part_rules_decide_with_reasons() -> None:
    params = curation_params(resolve_config(overrides={"parts": {"min": 2, "max": 4}}))
    assert decide({"part_count": 1}, params) == (
        "flag", "flag: part count — 1 parts outside [2, 4]")
    assert decide({"part_count": 3, "part_iou_max": 0.1, "part_min_area_share": 0.2},
                  params) == ("keep", "")
    decision, reason = decide({"part_count": 3, "part_iou_max": 0.8}, params)
    assert decision == "flag" and "overlapping parts — voxel IoU 0.80" in reason
    params["drop"] = ["parts", "tiny_part"]
    decision, reason = decide({"part_count": 9, "part_min_area_share": 1e-5}, params)
    assert decision == "drop" and "9 parts outside [2, 4]" in reason and "tiny part" in reason


def test_rig_rules_decide_with_reasons() -> None:
    params = curation_params(resolve_config())
    good = {"rig_weight_error": 0.0, "rig_joints_outside": 0.0, "rig_unused_bones": 0.1}
    assert decide(good, params) == ("keep", "")
    decision, reason = decide({**good, "rig_weight_error": 0.5, "rig_joints_outside": 0.25},
                              params)
    assert decision == "flag"
    assert "50.0% of skinned vertices' weights do not sum to 1" in reason
    assert "25.0% of joints outside the mesh's box" in reason
    assert "leaf bones" in decide({**good, "rig_unused_bones": 0.5}, params)[1]


def test_part_bounds_are_checked_and_left_out_of_the_hash() -> None:
    with pytest.raises(ConfigError, match="min <= max"):
        resolve_config(overrides={"parts": {"min": 5, "max": 2}})
    base = resolve_config()
    assert config_hash(base) == config_hash(resolve_config(overrides={"parts": {"max": 8}}))
    assert config_hash(base) != config_hash(resolve_config(overrides={"parts": {"store": True}}))
