"""``meshprep status --disk``: bytes per asset and per file kind, equal to what was written."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from meshprep.cli import main
from meshprep.pipeline import Ledger
from meshprep.pipeline.disk import format_disk, human_bytes, kind_of, measure_disk

#: per asset: relative path -> bytes written (meta.json is added with its own size)
ASSETS = {
    "aa01": {"surface.npz": 1000, "sdf.npz": 4000, "renders/input/000_normal.png": 300,
             "renders/watertight/000_normal.png": 200, "sparse_sdf_64.npz": 50},
    "ab02": {"surface.npz": 3000, "sdf.npz": 2000, "renders/input/000_normal.png": 700},
    "bc03": {"surface.npz": 2000, "sdf.npz": 6000, "trellis2/dual_grid_256.vxz": 900,
             "trellis2/cond/000.png": 100},
}


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def _meta(asset_id: str, files: dict[str, int]) -> bytes:
    return json.dumps({"id": asset_id, "files": sorted([*files, "meta.json"])}).encode()


@pytest.fixture
def output(tmp_path) -> Path:
    """A fake run output: three finished assets, an unfinished one, dataset-level entries."""
    out = tmp_path / "out"
    for asset_id, files in ASSETS.items():
        folder = out / "objects" / asset_id[:2] / asset_id
        for name, size in files.items():
            _write(folder / name, size)
        (folder / "meta.json").write_bytes(_meta(asset_id, files))
    _write(out / "objects" / "cd" / "cd04" / "surface.npz", 123)  # no meta.json: unfinished
    _write(out / "manifest.parquet", 777)
    _write(out / "trellis2" / "metadata.csv", 11)
    (out / "trellis2" / "dual_grid_256").mkdir()
    os.link(out / "objects" / "bc" / "bc03" / "trellis2" / "dual_grid_256.vxz",
            out / "trellis2" / "dual_grid_256" / "bc03.vxz")
    Ledger(out / "ledger.sqlite").close()
    return out


def _expected() -> dict[str, list[int]]:
    """Bytes per asset of each kind, from ASSETS."""
    kinds: dict[str, list[int]] = {}
    for asset_id, files in ASSETS.items():
        sizes: dict[str, int] = {"meta.json": len(_meta(asset_id, files))}
        for name, size in files.items():
            sizes[kind_of(name)] = sizes.get(kind_of(name), 0) + size
        for kind, size in sizes.items():
            kinds.setdefault(kind, []).append(size)
    return kinds


def _median(values: list[float]) -> float:
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def test_kinds_and_units():
    assert kind_of("surface.npz") == "surface.npz"
    assert kind_of("sparse_sdf_512.npz") == "sparse_sdf_512.npz"
    assert kind_of("renders/input/000_normal.png") == "renders/"
    assert kind_of("hunyuan3d-paint/render_tex/000.png") == "hunyuan3d-paint/"
    assert [human_bytes(n) for n in (0, 999, 1000, 12_000_000, 1.5e9, 2e12)] == \
        ["0 B", "999 B", "1.0 kB", "12.0 MB", "1.5 GB", "2.0 TB"]


def test_figures_equal_the_written_sizes(output):
    disk = measure_disk(output)
    expected = _expected()
    assert disk["assets"] == 3 and disk["local"]
    assert set(disk["kinds"]) == set(expected)
    for kind, sizes in expected.items():
        figures = disk["kinds"][kind]
        assert figures["assets"] == len(sizes), kind
        assert figures["total_bytes"] == sum(sizes), kind
        assert figures["median_bytes"] == _median(sizes), kind
        assert figures["mean_bytes"] == pytest.approx(sum(sizes) / len(sizes)), kind
    assert disk["kinds"]["surface.npz"]["median_bytes"] == 2000
    assert disk["kinds"]["sdf.npz"]["total_bytes"] == 12000
    assert disk["kinds"]["renders/"] == {"assets": 2, "total_bytes": 1200,
                                         "median_bytes": 600.0, "mean_bytes": 600.0}
    assert list(disk["kinds"])[0] == "sdf.npz"  # the largest total first
    totals = [sum(s for s in files.values()) + len(_meta(a, files))
              for a, files in ASSETS.items()]
    assert disk["per_asset"]["median_bytes"] == _median(totals)
    assert disk["per_asset"]["total_bytes"] == sum(totals)
    assert (disk["unfinished"], disk["unfinished_bytes"]) == (1, 123)
    dataset = {row["name"]: row for row in disk["dataset"]}
    assert set(dataset) == {"ledger.sqlite", "manifest.parquet", "trellis2/"}
    assert dataset["manifest.parquet"]["bytes"] == 777
    assert (dataset["trellis2/"]["bytes"], dataset["trellis2/"]["linked_bytes"],
            dataset["trellis2/"]["files"]) == (911, 900, 2)
    ledger = (output / "ledger.sqlite").stat().st_size
    assert disk["total_bytes"] == sum(totals) + 123 + 777 + 11 + ledger  # links counted once
    assert disk["allocated_bytes"] > 0


def test_status_disk(output, capsys):
    assert main(["status", str(output), "--disk"]) == 0
    text = capsys.readouterr().out
    assert "disk: 3 finished assets" in text and "1 MB = 10^6 bytes" in text
    assert "1 unfinished folder(s)" in text
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert lines["surface.npz"][:4] == ["surface.npz", "3", "2.0", "kB"]
    assert lines["renders/"][:2] == ["renders/", "2"]
    assert lines["sparse_sdf_64.npz"][1:4] == ["1", "50", "B"]
    assert lines["manifest.parquet"][-2:] == ["777", "B"]
    assert "900 B of it hard links" in text and "all files" in text
    assert main(["status", str(output), "--json", "--disk"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["disk"]["kinds"]["sdf.npz"]["total_bytes"] == 12000
    assert main(["status", str(output), "--json"]) == 0
    assert "disk" not in json.loads(capsys.readouterr().out)


def test_remote_output(output):
    """An fsspec URL is listed through the store's file system: the same per-kind figures."""
    fsspec = pytest.importorskip("fsspec")
    url = f"memory://disk-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    for path in output.rglob("*"):
        if path.is_file():
            fs.pipe(f"{url}/{path.relative_to(output).as_posix()}", path.read_bytes())
    try:
        remote, local = measure_disk(url), measure_disk(output)
        assert remote["kinds"] == local["kinds"] and remote["per_asset"] == local["per_asset"]
        assert remote["unfinished"] == 1 and remote["allocated_bytes"] is None
        dataset = {row["name"]: row["bytes"] for row in remote["dataset"]}
        assert dataset["manifest.parquet"] == 777 and dataset["trellis2/"] == 911
        assert "remote" in format_disk(remote)
    finally:
        fs.rm(url, recursive=True)


def test_empty_output(tmp_path):
    disk = measure_disk(tmp_path)
    assert disk["assets"] == 0 and disk["kinds"] == {} and disk["per_asset"]["median_bytes"] == 0
    assert "disk: 0 finished assets" in format_disk(disk)
