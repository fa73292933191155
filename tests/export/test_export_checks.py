"""The sign check at export, layouts written by ``meshprep run``, and the FPS order the store
keeps for layouts that farthest-point sample (Dora)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import trimesh

from meshprep.export.layouts import get_layout
from meshprep.export.run import MARKERS, RECORDS, export_dataset
from meshprep.pipeline import resolve_config, run_dataset
from meshprep.pipeline.config import ConfigError
from meshprep.sample.layouts import read_meshprep, write_meshprep

REPO = Path(__file__).resolve().parents[2]
SMALL = {"surface": 8192, "salient": 3000, "volume": 3000, "near": 6000}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """The bundled examples run with two sample layouts in ``[write] layouts``."""
    out = tmp_path_factory.mktemp("checks") / "ds"
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "watertight", "sample", "write"]},
        "watertight": {"resolution": 64}, "sample": {**SMALL, "fps": 500},
        "write": {"layouts": ["vecsetx", "hunyuan3d"]}})
    assert run_dataset(REPO / "examples", out, config, progress=False).counts["ok"] == 3
    return out


def test_run_writes_its_sample_layouts(dataset: Path) -> None:
    ids = sorted(p.name for p in dataset.glob("objects/*/*"))
    for asset_id in ids:
        got = get_layout("vecsetx").read(dataset / "vecsetx", asset_id)
        store = read_meshprep(dataset / "objects" / asset_id[:2] / asset_id)
        assert np.array_equal(got["vol_sdf"], store.sdf.volume_sdf)
        assert (dataset / "hunyuan3d" / asset_id / "geo_data" / f"{asset_id}_surface.npz").is_file()
    rows = pq.read_table(dataset / "vecsetx" / MARKERS / RECORDS).to_pylist()
    assert {r["status"] for r in rows} == {"ok"}
    # the export's sign check ran and passed: no far row inside, the share within 6 sigma
    assert all(r["export_far_inside"] == 0 and r["export_share_sigma"] < 6 for r in rows)


def test_store_keeps_the_fps_order(dataset: Path) -> None:
    store = read_meshprep(next(dataset.glob("objects/*/*")))
    assert store.surface_fps.shape == (500,) and store.salient_fps.shape == (500,)
    assert len(set(store.surface_fps.tolist())) == 500
    # the stored prefix is a farthest-point order of the stored points: each next point is the
    # farthest from those before it (up to the compact store's quantization, 2.3e-5), which
    # the encoding keeps while it reorders rows (the order is remapped with them)
    points = store.surface_points.astype(np.float64)
    nearest = np.linalg.norm(points - points[store.surface_fps[0]], axis=1)
    for index in store.surface_fps[1:]:
        assert nearest[index] >= nearest.max() - 1e-4
        nearest = np.minimum(nearest, np.linalg.norm(points - points[index], axis=1))


def test_dora_slices_the_stored_order(dataset: Path, tmp_path: Path) -> None:
    from meshprep.export.layout_dora import make_layout

    store = read_meshprep(next(dataset.glob("objects/*/*")))
    dora = make_layout("dora-small", fps=400, near_rows=2000, n_supervision=(100, 100, 100))
    dora.write(store, None, tmp_path, "a1")
    got = dora.read(tmp_path, "a1")
    expected = store.surface_points[store.surface_fps[:400]]
    assert np.array_equal(got["coarse_surface"][:, :3], expected)


def test_flipped_labels_are_caught_at_export_and_nothing_written(dataset: Path,
                                                                 tmp_path: Path) -> None:
    broken = tmp_path / "ds"
    shutil.copytree(dataset, broken)
    victim = next(broken.glob("objects/*/*"))
    store = read_meshprep(victim)
    store.sdf.volume_sdf = -store.sdf.volume_sdf  # a store whose labels are inside out
    write_meshprep(store, victim)
    out = tmp_path / "x"
    summary = export_dataset(broken, "hunyuan3d", out, progress=False)
    assert (summary.exported, summary.failed) == (2, 1)
    assert "labels inconsistent" in summary.errors[0] and "far points" in summary.errors[0]
    assert not list((out / victim.name).rglob("*.npz"))
    assert not (out / MARKERS / f"{victim.name}.json").exists()


def test_assets_the_run_flagged_are_not_exported(dataset: Path, tmp_path: Path) -> None:
    flagged = tmp_path / "ds"
    shutil.copytree(dataset, flagged)
    table = pq.read_table(flagged / "manifest.parquet").to_pylist()
    table[0]["curation_reason"] = "labels inconsistent — 12.0% of far points inside"
    pq.write_table(pa.Table.from_pylist(table), flagged / "manifest.parquet")
    summary = export_dataset(flagged, "vecsetx", tmp_path / "x", progress=False)
    assert (summary.exported, summary.flagged) == (2, 1)
    rows = {r["asset_id"]: r for r in pq.read_table(tmp_path / "x" / MARKERS / RECORDS).to_pylist()}
    assert rows[table[0]["asset_id"]]["status"] == "flagged"
    again = export_dataset(flagged, "vecsetx", tmp_path / "y", progress=False,
                           include_flagged=True)
    assert (again.exported, again.flagged) == (3, 0)


def test_write_layouts_are_checked_against_the_sample_counts() -> None:
    with pytest.raises(ConfigError, match="sample.near >= 600000"):
        resolve_config(overrides={"write": {"layouts": ["dora"]}, "sample": {"near": 500_000}})
    with pytest.raises(ConfigError, match="unknown layout 'nope'"):
        resolve_config(overrides={"write": {"layouts": ["nope"]}})
    config = resolve_config(overrides={"write": {"layouts": ["dora", "trellis2"]},
                                       "sample": {"near": 600_000}})
    assert config["write"]["layouts"] == ["dora", "trellis2"]


def test_every_layout_accepts_a_store_of_exactly_its_declared_needs(tmp_path):
    """A run whose [sample] counts equal a layout's needs (what the run-start check allows)
    must export: near rows split into uniform and salient ones as the sample step splits them
    (UltraShape once declared 200,000 near rows and then refused every such store)."""
    import meshprep as mp
    from meshprep.export.layouts import all_layouts, near_rows_for
    from meshprep.sample.sdf import SALIENT_NEAR_FRACTION

    mesh = mp.normalize(trimesh.creation.box(extents=(1.0, 0.8, 0.6)))[0]
    watertight = mp.make_watertight(mesh, 32).mesh
    for layout in all_layouts():
        near = layout.needs.get("near")
        if near is None:
            continue
        salient = round(near * SALIENT_NEAR_FRACTION)
        assert near_rows_for(near - salient, salient) == near, layout.name
        if near > 20_000:  # Dora and UltraShape: their counts are checked by the split alone
            continue
        counts = {k: layout.needs.get(k, 1024) for k in ("surface", "salient", "volume", "near")}
        samples = mp.sample_asset(watertight, mesh, seed=0, fps=layout.fps, **counts)
        assert samples.sdf.salient_count > 0
        layout.write(samples, watertight, tmp_path / layout.name, "a" * 64)
    assert near_rows_for(100_000, 100_000) == 300_000
    assert near_rows_for(1024) == 1536


def test_step1x3d_shallow_inside_rows_are_its_loaders_outside(tmp_path):
    """Found on the corpus: on a thin asset Step1X-3D's occupancy rule (label < 1e-3 is
    outside) reads many inside rows as outside; the export check compares with the store's
    rows deeper than that threshold, so the asset exports (and a flipped one still fails)."""
    from meshprep.sample.check import check_exported_labels

    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (400_000, 3)).astype(np.float32)
    sdf = np.abs(points[:, 2]) - 0.002  # a slab 0.004 thick: half its inside rows are shallow
    store = type("S", (), {})()
    store.surface_points = np.c_[points[:, :2], np.zeros(len(points))]
    store.sdf = type("D", (), {"volume_points": points, "volume_sdf": sdf})()
    loader_inside = -sdf >= 1e-3
    assert check_exported_labels(points, loader_inside, store)[1] is not None
    assert check_exported_labels(points, loader_inside, store, inside_margin=1e-3)[1] is None
    assert check_exported_labels(points, ~loader_inside, store, inside_margin=1e-3)[1]
