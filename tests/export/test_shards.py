"""``meshprep export --shards N``: WebDataset tar shards, local and at fsspec URLs, resumable."""

from __future__ import annotations

import io
import json
import math
import tarfile
import uuid
from pathlib import Path

import numpy as np
import pytest

from meshprep.cli import main
from meshprep.export.run import MARKERS, export_dataset
from meshprep.export.shards import (
    INDEX,
    SHARDS,
    STAGING,
    member_name,
    member_path,
    sample_files,
    shard_pattern,
)

LAYOUT = "hunyuan3d"


@pytest.fixture(scope="module")
def dataset(examples_store: Path) -> Path:
    return examples_store


@pytest.fixture(scope="module")
def plain(dataset: Path, tmp_path_factory) -> dict[str, bytes]:
    """``{relative path: bytes}`` of the non-shard export (its records left out)."""
    out = tmp_path_factory.mktemp("plain") / "h"
    assert export_dataset(dataset, LAYOUT, out, progress=False).exported == 3
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and MARKERS not in p.parts}


def _members(source) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of a tar's members, in order (``source``: a path or a stream)."""
    if isinstance(source, Path):
        with open(source, "rb") as stream:
            return _members(stream)
    with tarfile.open(fileobj=source, mode="r") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def _same_arrays(a: bytes, b: bytes) -> bool:
    with np.load(io.BytesIO(a)) as x, np.load(io.BytesIO(b)) as y:
        return set(x) == set(y) and all(np.array_equal(x[k], y[k]) for k in x)


def _check(index: dict, shards: dict[str, list[tuple[str, bytes]]], plain: dict[str, bytes],
           staging: Path | None) -> None:
    """Every asset's files exactly once, in the shard the index names, as exported."""
    assert len(index["shards"]) == math.ceil(3 / 2) == len(shards)
    assert index["pattern"] == shard_pattern(LAYOUT, 2) == f"{LAYOUT}-{{000000..000001}}.tar"
    seen: dict[str, bytes] = {}
    for entry in index["shards"]:
        members = shards[entry["shard"]]
        assert entry["members"] == len(members)
        keys = [name.partition(".")[0] for name, _ in members]
        assert keys == sorted(keys) and set(keys) == set(entry["assets"])  # samples consecutive
        for name, data in members:
            key, relative = member_path(name)
            assert relative not in seen and key in relative
            seen[relative] = data
    items = {k: v for k, v in plain.items() if not k.endswith(".json")}
    assert set(seen) == set(items)
    for relative, data in seen.items():
        assert _same_arrays(data, items[relative])  # the stored samples, nothing recomputed
        if staging is not None:  # the bytes of the export the shards were packed from
            assert data == (staging / relative).read_bytes()


def test_member_names_map_back() -> None:
    key = "0ba8ff"
    for relative in [f"{key}/geo_data/{key}_sdf.npz", "a/@b~%c/x.npz", f"{key}.npz",
                     "ShapeNetV2_point/02691156/0ba8ff.npy"]:
        name = member_name(key, relative)
        assert name.partition(".")[0] == key and "/" not in name
        assert member_path(name) == (key, relative)
    assert member_name(key, f"{key}/geo_data/{key}_sdf.npz") == f"{key}.@~geo_data~@_sdf.npz"
    with pytest.raises(ValueError, match="no '.'"):
        member_name("a.b", "x.npz")
    # WebDataset lowercases fields by default: the index's fields give the case back
    field = member_name(key, f"ShapeNetV2_point/02691156/{key}.npy").partition(".")[2]
    sample = {"__key__": key, "__url__": "x.tar", field.lower(): b"1"}
    assert sample_files(sample, [field]) == {f"ShapeNetV2_point/02691156/{key}.npy": b"1"}


def test_local_shards(dataset: Path, plain: dict[str, bytes], tmp_path: Path) -> None:
    from meshprep.export.shards import export_shards

    out = tmp_path / "s"
    summary = export_shards(dataset, LAYOUT, out, shards=2, progress=False)
    assert (summary.shards, summary.written, summary.assets) == (2, 2, 3)
    index = json.loads((out / SHARDS / INDEX).read_text())
    shards = {e["shard"]: _members(out / SHARDS / e["shard"])
              for e in index["shards"]}
    _check(index, shards, plain, out / MARKERS / STAGING)
    assert index["fields"] == ["@~geo_data~@_sdf.npz", "@~geo_data~@_surface.npz"]
    assert [e["bytes"] for e in index["shards"]] == \
        [(out / SHARDS / e["shard"]).stat().st_size for e in index["shards"]]
    assert not list((out / SHARDS).glob(".*"))  # no temporaries left
    # a rerun with the same N writes nothing again
    times = {p: p.stat().st_mtime_ns for p in (out / SHARDS).glob("*.tar")}
    again = export_shards(dataset, LAYOUT, out, shards=2, progress=False)
    assert (again.written, again.kept, again.export.skipped) == (0, 2, 3)
    assert {p: p.stat().st_mtime_ns for p in (out / SHARDS).glob("*.tar")} == times
    from meshprep.errors import MeshprepError

    with pytest.raises(MeshprepError, match="2 assets each"):
        export_shards(dataset, LAYOUT, out, shards=3, progress=False)


def test_a_short_last_shard_takes_new_assets(dataset: Path, tmp_path: Path) -> None:
    from meshprep.export.shards import export_shards

    out = tmp_path / "s"
    ids = sorted(p.name for p in dataset.glob("objects/*/*"))
    first = export_shards(dataset, "meshprep", out, shards=2, ids=ids[1:2], progress=False)
    assert (first.shards, first.assets) == (1, 1)
    again = export_shards(dataset, "meshprep", out, shards=2, progress=False)
    index = json.loads((out / SHARDS / INDEX).read_text())
    assert (again.written, again.kept) == (2, 0)
    assert [e["assets"] for e in index["shards"]] == [[ids[1], ids[0]], [ids[2]]]


def test_shards_at_an_fsspec_url(dataset: Path, plain: dict[str, bytes]) -> None:
    import fsspec

    from meshprep.export.shards import export_shards

    url = f"memory://bucket/{uuid.uuid4().hex}/hy3d"
    summary = export_shards(dataset, LAYOUT, url, shards=2, progress=False)
    assert (summary.shards, summary.written) == (2, 2)
    fs, root = fsspec.core.url_to_fs(url)
    index = json.loads(fs.cat(f"{root}/{SHARDS}/{INDEX}"))
    shards = {}
    for entry in index["shards"]:
        with fs.open(f"{root}/{SHARDS}/{entry['shard']}", "rb") as stream:
            shards[entry["shard"]] = _members(stream)
    _check(index, shards, plain, None)
    names = {Path(p).name for p in fs.find(root)}
    assert names == {INDEX, *shards}  # no temporaries; hunyuan3d opens no item list
    created = {e["shard"]: fs.info(f"{root}/{SHARDS}/{e['shard']}")["created"]
               for e in index["shards"]}
    again = export_shards(dataset, LAYOUT, url, shards=2, progress=False)
    assert (again.written, again.kept) == (0, 2)
    assert created == {e["shard"]: fs.info(f"{root}/{SHARDS}/{e['shard']}")["created"]
                       for e in index["shards"]}
    fs.rm(root, recursive=True)


def test_webdataset_reads_the_shards(dataset: Path, plain: dict[str, bytes],
                                     tmp_path: Path) -> None:
    wds = pytest.importorskip("webdataset")
    from meshprep.export.shards import export_shards

    out = tmp_path / "s"
    export_shards(dataset, LAYOUT, out, shards=2, progress=False)
    index = json.loads((out / SHARDS / INDEX).read_text())
    urls = str(out / SHARDS / index["pattern"])
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    assert sorted(s["__key__"] for s in samples) == sorted(a for e in index["shards"]
                                                           for a in e["assets"])
    assert {f for s in samples for f in s if not f.startswith("__")} == \
        {"@~geo_data~@_sdf.npz", "@~geo_data~@_surface.npz"}  # the same fields in every sample
    files = {k: v for s in samples for k, v in sample_files(s, index["fields"]).items()}
    assert set(files) == {k for k in plain if not k.endswith(".json")}
    assert all(_same_arrays(v, plain[k]) for k, v in files.items())


def test_export_cli_shards(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "m"
    assert main(["export", str(dataset), "--layout", "meshprep", "--shards", "2", "-o", str(out),
                 "--no-progress"]) == 0
    assert "3 assets in 2 shards" in capsys.readouterr().out
    index = json.loads((out / SHARDS / INDEX).read_text())
    assert [len(e["assets"]) for e in index["shards"]] == [2, 1]
    assert all(e["members"] == 3 * len(e["assets"]) for e in index["shards"])  # 2 npz + ply
    assert main(["export", str(dataset), "--layout", "meshprep", "-o", "memory://x/y",
                 "--no-progress"]) == 1  # a URL needs --shards
