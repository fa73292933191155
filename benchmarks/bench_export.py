"""Export and sign-check benchmark.

    python benchmarks/bench_export.py [--assets 2000] [--workers 2] [--layouts hunyuan3d,...]
        [--surface 20000 --salient 20000 --volume 20000 --near 40000]

Prints markdown tables:

1. ``meshprep export`` of N stored assets to each layout: assets/s and MB/s written. The store
   is one real asset's ``surface.npz`` / ``sdf.npz`` / ``watertight.ply`` (made here with the
   given counts) hard-linked under N ids, with a ``manifest.parquet`` listing them, so the
   export reads N distinct paths without N sample runs.
2. The sign check's time against the whole sample step (fandisk at 512³, 1.2 M faces, the
   default 250k + 250k + 250k + 500k samples), median of 3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import meshprep as mp
from meshprep.export.layouts import all_layouts
from meshprep.export.run import export_dataset
from meshprep.io import write_mesh
from meshprep.sample.check import sign_check
from meshprep.sample.layouts import write_meshprep

REPO = Path(__file__).resolve().parents[1]


def fake_dataset(root: Path, assets: int, counts: dict) -> None:
    """A run's output with ``assets`` ids sharing one real asset's stored files."""
    canonical, _ = mp.normalize(mp.load(REPO / "examples" / "fandisk.obj"))
    watertight = mp.make_watertight(canonical, 128).mesh
    samples = mp.sample_asset(watertight, canonical, seed=0, **counts)
    template = root / "template"
    write_meshprep(samples, template)
    write_mesh(watertight, template / "watertight.ply")
    rows = []
    for i in range(assets):
        asset_id = f"{i:064x}"
        folder = root / "objects" / asset_id[:2] / asset_id
        folder.mkdir(parents=True)
        for name in ("surface.npz", "sdf.npz", "watertight.ply"):
            os.link(template / name, folder / name)
        rows.append({"asset_id": asset_id, "status": "ok", "path": str(folder)})
    pq.write_table(pa.Table.from_pylist(rows), root / "manifest.parquet")


def table_export(args) -> None:
    counts = dict(surface=args.surface, salient=args.salient, volume=args.volume, near=args.near)
    print(f"\n### meshprep export of {args.assets} stored assets ({args.workers} workers; "
          f"store per asset: {counts})\n")
    print("| layout | seconds | assets/s | MB written/s |\n|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        dataset = Path(folder) / "ds"
        fake_dataset(dataset, args.assets, counts)
        for layout in args.layouts or [layout.name for layout in all_layouts()]:
            out = Path(folder) / f"out_{layout}"
            summary = export_dataset(dataset, layout, out, workers=args.workers, progress=False)
            written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            print(f"| {layout} | {summary.seconds:.1f} | {summary.exported / summary.seconds:.0f}"
                  f" | {written / 1e6 / summary.seconds:.0f} |")


def table_sign_check() -> None:
    canonical, _ = mp.normalize(mp.load(REPO / "examples" / "fandisk.obj"))
    watertight = mp.make_watertight(canonical, 512).mesh
    steps, checks = [], []
    for _ in range(3):
        start = time.perf_counter()
        samples = mp.sample_asset(watertight, canonical, seed=0)
        steps.append(time.perf_counter() - start)
        sign_check(watertight, samples)
        start = time.perf_counter()
        sign_check(watertight, samples)
        checks.append(time.perf_counter() - start)
    step, check = statistics.median(steps), statistics.median(checks)
    print(f"\n### Sign check against the sample step (fandisk 512³, {len(watertight.faces)} "
          "faces, median of 3)\n")
    print("| sample step s | sign check s | share |\n|---:|---:|---:|")
    print(f"| {step:.2f} | {check:.3f} | {100 * check / step:.1f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    # the layouts whose minimum counts the default (reduced) store meets
    parser.add_argument("--layouts", type=lambda s: s.split(","),
                        default=["meshprep", "hunyuan3d"])
    parser.add_argument("--surface", type=int, default=20_000)
    parser.add_argument("--salient", type=int, default=20_000)
    parser.add_argument("--volume", type=int, default=20_000)
    parser.add_argument("--near", type=int, default=40_000)
    parser.add_argument("--tables", default="export,sign")
    args = parser.parse_args()
    if "export" in args.tables:
        table_export(args)
    if "sign" in args.tables:
        table_sign_check()


if __name__ == "__main__":
    main()
