import json
import sqlite3

import numpy as np
import pytest
import trimesh

import meshprep as mp
from meshprep.cli import main
from meshprep.curate import asset_metrics, decide
from meshprep.pipeline import LocalExecutor, resolve_config, run_dataset

from ..pipeline.conftest import fast_config

PARAMS = resolve_config()["curate"]


def _box(extents, at=(0, 0, 0)) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(at)
    return box


def _decide(mesh: trimesh.Trimesh):
    canonical, _ = mp.normalize(mesh)
    metrics = asset_metrics(canonical.vertices, canonical.faces)
    return metrics, decide(metrics, PARAMS)


def test_a_card_is_dropped_as_plane_dominated():
    metrics, (decision, reason) = _decide(_box((1, 1, 0.001)))
    assert metrics["plane_share"] > 0.95
    assert decision == "drop" and reason.startswith("drop: plane-dominated — ")
    assert "flat" in reason


def test_a_box_on_a_ground_tile_is_flagged():
    scene = trimesh.util.concatenate([_box((2, 2, 0.05), (0, 0, -0.025)),
                                      _box((0.5, 0.5, 0.5), (0, 0, 0.25))])
    metrics, (decision, reason) = _decide(scene)
    assert metrics["ground_tile_share"] > 0.3
    assert decision == "flag" and "ground tile" in reason


def test_five_objects_apart_are_flagged():
    scene = trimesh.util.concatenate([_box((0.3, 0.3, 0.3), (i * 1.0, 0, 0)) for i in range(5)])
    metrics, (decision, reason) = _decide(scene)
    assert metrics["objects"] == 5 and decision == "flag" and "5 separate objects" in reason


def test_touching_parts_are_one_object_and_floaters_are_found():
    body = trimesh.util.concatenate([_box((1, 1, 1)), _box((0.2, 0.2, 0.5), (0, 0, 0.75))])
    metrics, (decision, _) = _decide(body)
    assert metrics["objects"] == 1 and decision == "keep"
    floaters = trimesh.util.concatenate([body] + [
        trimesh.creation.icosphere(radius=0.02).apply_translation((2 + i * 0.3, 0, 0))
        for i in range(3)])
    metrics, (decision, reason) = _decide(floaters)
    assert metrics["objects"] == 1 and metrics["floater_share"] > 0.001
    assert decision == "flag" and "floaters" in reason


def test_clean_objects_are_kept():
    for mesh in (trimesh.creation.icosphere(3), trimesh.creation.capsule(),
                 trimesh.creation.torus(1.0, 0.3)):
        _, (decision, reason) = _decide(mesh)
        assert decision == "keep", reason


def _hash(mesh: trimesh.Trimesh) -> str:
    canonical, _ = mp.normalize(mesh)
    return asset_metrics(canonical.vertices, canonical.faces)["geometry_hash"]


def test_geometry_hash_ignores_order_translation_and_scale():
    mesh = trimesh.creation.torus(1.0, 0.3)
    moved = mesh.copy()
    moved.apply_scale(3.7)
    moved.apply_translation((5, -2, 1))
    shuffled = trimesh.Trimesh(moved.vertices, np.roll(moved.faces, 7, axis=0)[:, [1, 2, 0]])
    assert _hash(mesh) == _hash(shuffled) != _hash(trimesh.creation.icosphere())


@pytest.mark.corpus
def test_corpus_cases(corpus_dir):
    expected = {"kenney_trees.glb": "ground tile", "kenney_road.glb": "ground tile",
                "plane.ply": "plane-dominated", "testplate.glb": "flat"}
    for name, rule in expected.items():
        _, (decision, reason) = _decide(mp.load(corpus_dir / name))
        assert decision != "keep" and rule in reason, (name, reason)
    for name in ("engine_glb.glb", "beast.obj", "fandisk.obj", "duck_glb.glb", "chair.obj"):
        _, (decision, reason) = _decide(mp.load(corpus_dir / name))
        assert decision == "keep", (name, reason)


def test_run_skips_drops_and_curate_redecides(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _box((1, 1, 0.001)).export(folder / "card.stl")
    torus = trimesh.creation.torus(1.0, 0.3)
    torus.export(folder / "torus.obj")
    torus.copy().apply_scale(2.0).apply_translation((3, 0, 0)).export(folder / "copy.ply")
    out = tmp_path / "out"
    config = fast_config(["load", "normalize", "curate", "watertight", "write"])
    summary = run_dataset(folder, out, config, executor=LocalExecutor(1), progress=False)
    assert summary.counts["ok"] == 2 and summary.counts["skipped"] == 1
    with sqlite3.connect(out / "ledger.sqlite") as db:
        stage, message = db.execute("SELECT stage, error_message FROM assets "
                                    "WHERE status = 'skipped'").fetchone()
    assert stage == "curate" and message.startswith("drop: plane-dominated")

    lenient = tmp_path / "lenient.toml"
    lenient.write_text('[curate]\nmax_plane_share = 1.01\nmin_thinness = 0.0\n'
                       'drop = ["duplicate"]\n')
    assert main(["curate", str(out), "--config", str(lenient)]) == 0
    with sqlite3.connect(out / "ledger.sqlite") as db:
        rows = dict(db.execute("SELECT source, status FROM assets"))
        metrics = {s: json.loads(m) for s, m in db.execute("SELECT source, metrics FROM assets")}
    by_name = {k.rsplit("/", 1)[1]: v for k, v in rows.items()}
    assert by_name["card.stl"] == "pending"  # no longer dropped: the next run processes it
    # copy.ply is listed first (sorted names): torus.obj, the same shape, is its duplicate
    assert by_name["copy.ply"] == "ok" and by_name["torus.obj"] == "skipped"
    copy = next(m for s, m in metrics.items() if s.endswith("torus.obj"))
    assert copy["curation"] == "drop" and "duplicate" in copy["curation_reason"]
    # the next run uses the same thresholds ([curate] is not part of the config hash)
    config["curate"] = resolve_config(lenient)["curate"]
    again = run_dataset(folder, out, config, executor=LocalExecutor(1), progress=False)
    assert again.processed == 1 and again.counts["ok"] == 2 and again.counts["skipped"] == 1
