"""``meshprep run`` with the sparse SDF layout: a file per asset beside its watertight mesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from meshprep.io.meshpack import read_packed_mesh
from meshprep.pipeline import resolve_config, run_dataset
from meshprep.voxel import read_sparse_sdf

REPO = Path(__file__).resolve().parents[2]


def test_sparse_sdf_layout(tmp_path: Path) -> None:
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "watertight", "voxelize", "write"]},
        "watertight": {"resolution": 64},
        "write": {"layouts": ["sparse-sdf"]},
        "voxel": {"truncation": 3.0},
    })
    out = tmp_path / "ds"
    assert run_dataset(REPO / "examples", out, config, progress=False).counts["ok"] == 3
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    for row in rows:
        folder = Path(row["path"])
        sdf = read_sparse_sdf(folder / "sparse_sdf_64.npz")
        assert sdf.resolution == 64 and sdf.truncation == 3.0
        assert len(sdf.sparse_index) == row["sdf_64_nodes"] > 0
        assert sdf.sparse_index.dtype == np.uint16 and sdf.sparse_sdf.dtype == np.float16
        assert np.abs(sdf.sparse_sdf.astype(np.float32)).max() <= 1
        # the nodes are those of the stored watertight mesh's grid: some lie inside it
        watertight = read_packed_mesh(folder / "watertight.npz")
        points = sdf.sparse_index[:200] / 63 * 2 - 1
        inside = watertight.contains(points)
        assert np.array_equal(inside, sdf.sparse_sdf[:200] < 0)
