"""Exports every trainer's own loader reads as written: the item lists it opens (opened here as
the loader opens them) and nothing of the export's own where a loader globs its items."""

from __future__ import annotations

import csv
import glob
import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from meshprep.export import layout_dora, layout_step1x3d, layout_ultrashape, layout_vecset
from meshprep.export.layouts import VAL_ITEMS, all_layouts, item_splits
from meshprep.export.run import MARKERS, RECORDS, export_dataset
from meshprep.export.trellis import feature_name
from meshprep.pipeline import resolve_config, run_dataset
from meshprep.voxel import TRELLIS_FEATURE_NAME

REPO = Path(__file__).resolve().parents[2]

#: small variants of the layouts whose loaders open item lists (the conftest stores are small)
SMALL = {
    "dora": layout_dora.make_layout("dora", fps=1000, near_rows=3000,
                                    n_supervision=(500, 500, 500)),
    "step1x3d": layout_step1x3d.make_layout("step1x3d", n_samples=2000, n_supervision=1000),
    "ultrashape": layout_ultrashape.make_layout("ultrashape", half=2000,
                                                sup_sizes=(1000, 1000, 1000)),
    "vecset": layout_vecset.make_vecset_layout("vecset", num_samples=1000, pc_size=2000),
    "vecsetx": layout_vecset.make_vecsetx_layout("vecsetx", sdf_size=1000, surface_size=2000),
}


def _load_dora(root: Path, split: str) -> list[dict]:
    # Dora ObjaverseDataset: json.load(open(f'{root_dir}/{split}.json')); np.load(f'{uid}')
    return [dict(np.load(f"{uid}")) for uid in json.load(open(f"{root}/{split}.json"))]


def _load_step1x3d(root: Path, split: str) -> list[dict]:
    # Step1X-3D BaseDataset: np.load(f"{cfg.root_dir}/surfaces/{self.uids[index]}.npz")
    return [dict(np.load(f"{root}/surfaces/{uid}.npz"))
            for uid in json.load(open(f"{root}/{split}.json"))]


def _load_ultrashape(root: Path, split: str) -> list[dict]:
    # UltraShape: data_json = f'{training_data_list}/{split}.json'; f'{sample_root}/{uid}.npz'
    return [dict(np.load(f"{root}/{uid}.npz")) for uid in json.load(open(f"{root}/{split}.json"))]


def _load_vecset(root: Path, split: str) -> list[dict]:
    # 3DShape2VecSet ShapeNet: categories from listdir, f.read().split('\n') per split file
    point_folder = os.path.join(root, "ShapeNetV2_point")
    categories = [c for c in os.listdir(point_folder)
                  if os.path.isdir(os.path.join(point_folder, c)) and c.startswith("0")]
    items = []
    for c in sorted(categories):
        with open(os.path.join(point_folder, c, split + ".lst")) as f:
            models = f.read().split("\n")
        items += [dict(np.load(os.path.join(point_folder, c, m.replace(".npz", "") + ".npz")))
                  for m in models]
    return items


def _load_vecsetx(root: Path, split: str) -> list[dict]:
    # VecSetX Objaverse: utils/objaverse_{split}.csv, os.path.join(folder, row[0], row[1]+'.npz')
    with open(root / "utils" / f"objaverse_{split}.csv", newline="") as csvfile:
        rows = list(csv.reader(csvfile, delimiter=","))
    return [dict(np.load(os.path.join("/nonexistent/objaverse", row[0], row[1] + ".npz")))
            for row in rows]


LOADERS = {"dora": (_load_dora, ("train", "val", "test")),
           "step1x3d": (_load_step1x3d, ("train", "val", "test")),
           "ultrashape": (_load_ultrashape, ("train", "val")),
           "vecset": (_load_vecset, ("train", "val", "test")),
           "vecsetx": (_load_vecsetx, ("train", "val"))}


def test_every_layout_with_lists_is_covered() -> None:
    """A registered layout that declares item lists has a loader test here (a new one fails)."""
    # layouts rendered by the run (from_asset) read their lists back in their own test files
    # (hunyuan3d-paint: test_hunyuan3d_paint.py)
    with_lists = {layout.name for layout in all_layouts()
                  if layout.write_lists is not None and layout.from_asset is None}
    assert with_lists == set(LOADERS)
    assert all(layout.lists for layout in all_layouts() if layout.write_lists is not None)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_lists_open_as_the_loader_opens_them(name: str, sphere, box, tmp_path: Path,
                                             monkeypatch) -> None:
    layout = SMALL[name]
    out = tmp_path / "out"
    for asset_id, samples in (("a1", sphere), ("b2", box)):
        layout.write(samples, None, out, asset_id)
    paths = layout.write_lists(out, ["b2", "a1"])
    loader, splits = LOADERS[name]
    monkeypatch.chdir(tmp_path)  # Dora's and VecSetX's entries must not depend on the cwd
    for split in splits:
        items = loader(out, split)
        assert len(items) == 2  # both assets (fewer than VAL_ITEMS: val / test hold them all)
        assert all(len(item) >= 1 for item in items)
    assert len(paths) == len(splits)


def test_item_splits() -> None:
    ids = [f"{i:03d}" for i in range(40)][::-1]
    splits = item_splits(ids)
    assert splits["train"] == sorted(ids)
    assert splits["val"] == splits["test"] == sorted(ids)[:VAL_ITEMS]


def test_vecset_list_has_no_trailing_newline(sphere, tmp_path: Path) -> None:
    layout = SMALL["vecset"]
    layout.write(sphere, None, tmp_path, "a1")
    (path, *_) = layout.write_lists(tmp_path, ["a1", "a2"])
    assert path.read_bytes() == b"a1\na2"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lists") / "ds"
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "watertight", "sample", "write"]},
        "watertight": {"resolution": 64},
        "sample": {"surface": 8192, "salient": 3000, "volume": 3000, "near": 6000}})
    assert run_dataset(REPO / "examples", out, config, progress=False).counts["ok"] == 3
    return out


def test_hunyuan3d_glob_sees_only_items(dataset: Path, tmp_path: Path) -> None:
    """Hunyuan3D-2.1's dit_asl.py takes glob.glob(data_list + '/*') as its items: the export's
    records are out of its reach, and an older export's stray export.parquet is removed."""
    out = tmp_path / "h"
    out.mkdir()
    (out / "export.parquet").write_bytes(b"an older export's records")
    summary = export_dataset(dataset, "hunyuan3d", out, progress=False)
    assert summary.exported == 3 and summary.lists == []
    items = sorted(glob.glob(str(out) + "/*"))
    assert [Path(i).name for i in items] == sorted(p.name for p in dataset.glob("objects/*/*"))
    for item in items:  # decode(): uid = item.split('/')[-1]; geo_data/{uid}_surface.npz
        uid = item.split("/")[-1]
        assert "random_surface" in np.load(os.path.join(item, f"geo_data/{uid}_surface.npz"))
    rows = pq.read_table(out / MARKERS / RECORDS).to_pylist()
    assert summary.manifest == str(out / MARKERS / RECORDS) and len(rows) == 3


@pytest.mark.parametrize("name", ["vecset", "vecsetx", "meshprep"])
def test_export_writes_lists_and_no_strays(dataset: Path, tmp_path: Path, name: str) -> None:
    """Every entry of an export folder is an item file, an item folder or an item list."""
    out = tmp_path / name
    summary = export_dataset(dataset, name, out, progress=False)
    if summary.exported != 3:  # the small store is too small for the layout: not this test
        pytest.skip(f"{name}: {summary.errors[:1]}")
    written = {Path(p) for p in summary.lists}
    for row in pq.read_table(out / MARKERS / RECORDS).to_pylist():
        written |= {out / f for f in row["files"]}
    for entry in out.iterdir():
        if entry.name.startswith("."):
            continue
        assert entry in written or any(entry in p.parents for p in written), entry
    assert bool(summary.lists) == (name in LOADERS)


def test_feature_name_from_the_config(tmp_path: Path) -> None:
    """TRELLIS's name for the model, whatever the folder is called."""
    cases = [({"model_type": "dinov2_with_registers", "hidden_size": 1024, "patch_size": 14,
               "num_register_tokens": 4}, TRELLIS_FEATURE_NAME),
             ({"model_type": "dinov2", "hidden_size": 768, "patch_size": 14}, "dinov2_vitb14"),
             ({"model_type": "dinov2_with_registers", "hidden_size": 1536, "patch_size": 14},
              "dinov2_vitg14_reg"),
             ({"model_type": "dinov2_with_registers", "hidden_size": 32, "patch_size": 14,
               "num_register_tokens": 4}, "dinov2_w32p14_reg")]
    assert TRELLIS_FEATURE_NAME == "dinov2_vitl14_reg"
    for i, (config, expected) in enumerate(cases):
        folder = tmp_path / f"weights-{i}" / "dinov2-with-registers-large"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(config))
        assert feature_name(folder) == expected
