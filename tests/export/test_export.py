"""``meshprep export`` and ``meshprep layouts``: from the stored samples, resumable, per asset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from meshprep.cli import main
from meshprep.export.layouts import (
    NotEnoughSamplesError,
    all_layouts,
    check_counts,
    get_layout,
    markdown_table,
)
from meshprep.export.run import MARKERS, RECORDS, export_dataset
from meshprep.sample.layouts import read_meshprep

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset(examples_store: Path) -> Path:
    return examples_store


def test_export_writes_the_store_in_the_layout(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "h"
    summary = export_dataset(dataset, "hunyuan3d", out, progress=False)
    assert (summary.exported, summary.failed) == (3, 0)
    rows = pq.read_table(out / MARKERS / RECORDS).to_pylist()
    assert {r["status"] for r in rows} == {"ok"} and all(len(r["files"]) == 2 for r in rows)
    layout = get_layout("hunyuan3d")
    for row in rows:
        got = layout.read(out, row["asset_id"])
        store = read_meshprep(next(dataset.glob(f"objects/*/{row['asset_id']}")))
        # nothing recomputed: the store's points, with Hunyuan3D's sign (label = -sdf)
        assert np.allclose(got["vol_points"], store.sdf.volume_points, atol=1e-3)
        assert np.allclose(got["vol_label"], -store.sdf.volume_sdf, atol=2e-3)
        assert row["volume_count"] == len(store.sdf.volume_points)


def test_export_resumes_and_subsets(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    ids = sorted(p.name for p in dataset.glob("objects/*/*"))
    first = export_dataset(dataset, "meshprep", out, ids=ids[:1], progress=False)
    assert (first.listed, first.exported) == (1, 1)
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    # an interrupted asset: its files half there, no marker -> it is written again
    victim = out / ids[1]
    victim.mkdir()
    (victim / "surface.npz").write_bytes(b"partial")
    again = export_dataset(dataset, "meshprep", out, progress=False)
    assert (again.listed, again.skipped, again.exported) == (3, 1, 2)
    assert all(p.stat().st_mtime_ns == t for p, t in files.items())  # nothing written twice
    assert read_meshprep(victim).surface_points.shape == (3000, 3)
    assert len(list((out / MARKERS).glob("*.json"))) == 3


def test_a_broken_store_is_recorded_and_the_export_goes_on(dataset: Path, tmp_path: Path) -> None:
    broken = tmp_path / "ds"
    import shutil

    shutil.copytree(dataset, broken)
    victim = next(broken.glob("objects/*/*"))
    (victim / "sdf.npz").write_bytes(b"not a zip")
    summary = export_dataset(broken, "meshprep", tmp_path / "out", progress=False)
    assert (summary.exported, summary.failed) == (2, 1)
    assert victim.name in summary.errors[0]
    rows = {r["asset_id"]: r for r in pq.read_table(tmp_path / "out" / MARKERS / RECORDS)
            .to_pylist()}
    assert rows[victim.name]["status"] == "failed" and rows[victim.name]["error"]
    assert not (tmp_path / "out" / MARKERS / f"{victim.name}.json").exists()


def test_too_few_samples_name_the_config_key(dataset: Path) -> None:
    store = read_meshprep(next(dataset.glob("objects/*/*")))
    layout = get_layout("meshprep")
    needy = type(layout)(**{**layout.__dict__, "needs": {"surface": 10**6}})
    with pytest.raises(NotEnoughSamplesError,
                       match=r"\[sample\] surface = 1000000 \(the store has 3000\)"):
        check_counts(needy, store)


def test_export_refuses_a_small_store_naming_the_config(dataset: Path, tmp_path: Path,
                                                        capsys) -> None:
    """Before any work: the missing keys and the smallest [sample] config that fits."""
    assert main(["export", str(dataset), "--layout", "dora", "-o", str(tmp_path / "d"),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "[sample] surface = 32768 (the store has 3000)" in err
    assert "near = 600000 (the store has 6000)" in err
    assert not (tmp_path / "d" / MARKERS).exists()


def test_layouts_command_lists_every_layout(capsys) -> None:
    assert main(["layouts"]) == 0
    text = capsys.readouterr().out
    names = [layout.name for layout in all_layouts()]
    assert {"meshprep", "hunyuan3d"} <= set(names)
    for name in names:
        assert f"{name}:" in text
    assert all(f"`{name}`" in markdown_table() for name in names)


def test_export_cli(dataset: Path, tmp_path: Path) -> None:
    assert main(["export", str(dataset), "--layout", "hunyuan3d", "-o", str(tmp_path / "x"),
                 "--no-progress", "--workers", "2"]) == 0
    markers = list((tmp_path / "x" / MARKERS).glob("*.json"))
    assert len(markers) == 3 and json.loads(markers[0].read_text())["status"] == "ok"
    assert main(["export", str(dataset), "--layout", "nope", "-o", str(tmp_path / "y")]) == 1


def test_readme_table_is_the_declarations() -> None:
    """README.md's layout table is ``meshprep layouts --markdown`` (regenerate it when a layout
    changes)."""
    text = (REPO / "README.md").read_text()
    table = text.split("<!-- layouts:begin -->\n")[1].split("<!-- layouts:end -->")[0]
    assert table.strip() == markdown_table().strip()
