"""Export and sign-check benchmark.

    python benchmarks/bench_export.py [--assets 2000] [--workers 2] [--layouts hunyuan3d,...]
        [--surface 20000 --salient 20000 --volume 20000 --near 40000]

Prints markdown tables:

1. ``meshprep export`` of N stored assets to each layout: assets/s and MB/s written; each
   layout on the smallest store it accepts (the given counts raised to its needs, with the FPS
   order a run writing it stores). The store is one real asset's ``surface.npz`` /
   ``sdf.npz`` / ``watertight.ply`` (made here with those counts) hard-linked under N ids,
   with a ``manifest.parquet`` listing them, so the export reads N distinct paths without N
   sample runs.
2. The sign check's time against the whole sample step (fandisk at 512³, 1.2 M faces, the
   default 250k + 250k + 250k + 500k samples), median of 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import meshprep as mp
from meshprep.export.layouts import all_layouts, get_layout
from meshprep.export.run import export_dataset
from meshprep.io import write_mesh
from meshprep.sample.check import sign_check
from meshprep.sample.layouts import write_meshprep

REPO = Path(__file__).resolve().parents[1]


def fake_dataset(root: Path, assets: int, counts: dict, fps: int = 0) -> None:
    """A run's output with ``assets`` ids sharing one real asset's stored files."""
    canonical, _ = mp.normalize(mp.load(REPO / "examples" / "fandisk.obj"))
    watertight = mp.make_watertight(canonical, 128).mesh
    samples = mp.sample_asset(watertight, canonical, seed=0, fps=fps, **counts)
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
    print("| layout | store (surface/salient/volume/near, FPS order) | exported | failed | "
          "seconds | assets/s | MB written/s |\n|---|---|---:|---:|---:|---:|---:|")
    names = args.layouts or [layout.name for layout in all_layouts()]
    with tempfile.TemporaryDirectory() as folder:
        stores: dict = {}
        for name in names:
            # each layout on the smallest store it accepts (at least the given counts), with
            # the FPS order a run writing it stores (--no-fps: without, sampled at export)
            layout = get_layout(name)
            need = {k: max(v, layout.needs.get(k, 0)) for k, v in counts.items()}
            fps = 0 if args.no_fps else layout.fps
            key = (tuple(need.values()), fps)
            if key not in stores:
                stores[key] = Path(folder) / f"ds{len(stores)}"
                fake_dataset(stores[key], args.assets, need, fps)
            out = Path(folder) / f"out_{name}"
            summary = export_dataset(stores[key], name, out, workers=args.workers,
                                     progress=False)
            written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            shutil.rmtree(out)  # 10,000 assets of every layout do not fit one disk together
            store = "/".join(f"{v // 1000}k" for v in need.values()) + (f", {fps}" if fps
                                                                          else "")
            print(f"| {name} | {store} | {summary.exported} | {summary.failed} | "
                  f"{summary.seconds:.1f} | "
                  f"{summary.exported / summary.seconds:.0f} | "
                  f"{written / 1e6 / summary.seconds:.0f} |", flush=True)


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
    parser.add_argument("--no-fps", action="store_true",
                        help="stores without the FPS order (Dora then samples at export)")
    parser.add_argument("--tables", default="export,sign")
    args = parser.parse_args()
    if "export" in args.tables:
        table_export(args)
    if "sign" in args.tables:
        table_sign_check()


if __name__ == "__main__":
    main()
