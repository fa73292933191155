"""Sparse SDF band at 1024³: what it adds to the watertight step, and how exact it is.

To paste into ``bench_voxel.py``. ``table_sparse_sdf(args)`` reads ``args.sdf_res`` (default
1024), ``args.sdf_assets`` (default fandisk, bunny_ply, beast), ``args.truncation`` (4) and
``args.sdf_samples`` (nodes checked per asset, 100,000) where present, and prints one markdown
row per asset. The yardstick is libigl (``meshprep[bench]``): winding numbers and exact
squared distances of the watertight output at a random sample of the stored nodes.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _corpus_path(name: str, corpus: Path = CORPUS) -> Path:
    rows = [line.split(",") for line in (corpus / "manifest.csv").read_text().splitlines()[1:]]
    return corpus / {row[0]: row[1] for row in rows}[name]


_FRESH = """
import sys
import meshprep as mp
from meshprep.voxel.sparse_sdf import sparse_sdf
mesh, _ = mp.normalize(mp.load(sys.argv[1]))
device = sys.argv[4]
sparse_sdf(mp.make_watertight(mesh, int(sys.argv[2]), device=device), truncation=float(sys.argv[3]),
           device=device)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(int(hwm.split()[1]) * 1024 / 1e9)
"""


def fresh_peak_gb(path: Path, res: int, truncation: float, device: str = "cpu") -> float:
    """Peak RSS (GB) of a fresh process that loads, makes watertight and samples the band:
    what one asset costs a worker, without this benchmark's yardstick (libigl) beside it."""
    done = subprocess.run([sys.executable, "-c", _FRESH, str(path), str(res), str(truncation),
                           device],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def table_sparse_sdf(args) -> None:
    """Print the sparse SDF table: cost over the watertight step and agreement with libigl.

    Parameters
    ----------
    args : argparse.Namespace
        Optional ``sdf_res``, ``sdf_assets`` (list or comma-separated), ``truncation``,
        ``sdf_samples``, ``sdf_device``, ``corpus`` (a folder with ``manifest.csv``).
    """
    import igl

    import meshprep as mp
    from meshprep.voxel.sparse_sdf import sparse_sdf

    res = int(getattr(args, "sdf_res", None) or 1024)
    assets = getattr(args, "sdf_assets", None) or ["fandisk", "bunny_ply", "beast"]
    if isinstance(assets, str):
        assets = assets.split(",")
    truncation = float(getattr(args, "truncation", None) or 4)
    samples = int(getattr(args, "sdf_samples", None) or 100_000)
    device = getattr(args, "sdf_device", None) or "cpu"  # cuda: both steps as a GPU user runs
    corpus = Path(getattr(args, "corpus", None) or CORPUS)
    rng = np.random.default_rng(0)
    print(f"\n### Sparse SDF at {res}³, truncation {truncation:g} voxels, device {device}\n")
    print("| asset | res | watertight s | sparse sdf added s | % | nodes | sign agreement "
          "| within 0.1 voxel | peak RSS GB (this process, with libigl) | peak RSS GB (fresh "
          "process) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in assets:
        path = _corpus_path(name, corpus)
        mesh, _ = mp.normalize(mp.load(path))
        warm = mp.make_watertight(mesh, 64, device=device)  # compiled kernels
        sparse_sdf(warm, truncation=truncation, device=device)
        result = mp.make_watertight(mesh, res, device=device)
        start = time.perf_counter()
        sdf = sparse_sdf(result, truncation=truncation, device=device)
        added = time.perf_counter() - start
        pick = rng.choice(len(sdf.sparse_sdf), min(samples, len(sdf.sparse_sdf)), replace=False)
        points = sdf.points()[pick]
        vertices = np.asarray(result.mesh.vertices, np.float64)
        faces = np.asarray(result.mesh.faces, np.int64)
        inside = igl.winding_number(vertices, faces, points) > 0.5
        dist = np.sqrt(igl.point_mesh_squared_distance(points, vertices, faces)[0]) \
            * (res - 1) / 2
        value = np.abs(sdf.sparse_sdf[pick].astype(np.float64)) * truncation
        signs = np.mean(inside == (sdf.sparse_sdf[pick] < 0))
        within = np.mean(np.abs(value - np.minimum(dist, truncation)) < 0.1)
        wt = result.stats["time_total"]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(f"| {name} | {res} | {wt:.2f} | {added:.2f} | {100 * added / wt:.0f} "
              f"| {len(sdf.sparse_sdf):,} | {100 * signs:.3f} % | {100 * within:.2f} % "
              f"| {rss:.2f} | {fresh_peak_gb(path, res, truncation, device):.2f} |",
              flush=True)
        del result, sdf


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--sdf-res", type=int, default=1024)
    parser.add_argument("--sdf-assets", default="fandisk,bunny_ply,beast")
    parser.add_argument("--truncation", type=float, default=4)
    parser.add_argument("--sdf-samples", type=int, default=100_000)
    parser.add_argument("--sdf-device", default="cpu")
    parser.add_argument("--corpus", default=str(CORPUS))
    table_sparse_sdf(parser.parse_args())
