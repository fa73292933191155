"""The compact store against the float32 store: bytes per asset, fidelity, read speed.

Usage (from the repository root)::

    python benchmarks/bench_store.py [CORPUS] [--work DIR] [--workers 2] [--pass-only]

1. ``meshprep run`` over CORPUS (default ``../shared/corpus``) at the default settings with
   ``[sample] compact = false``: the float32 store as it was before issue 31 (``surface.npz``,
   ``sdf.npz``, ``watertight.ply``, renders, meta.json).
2. Per asset, the same samples and mesh written as the compact store does it
   (``write_compact``, ``watertight.npz``: the encoders are deterministic, so this is what a
   compact run writes) into a copy of the asset folder; bytes per asset of both folders. The
   mesh is also written as Draco (``watertight.drc``, the compact store's mesh before
   ``meshprep.io.meshpack``) beside it, for the mesh-only read times.
3. Fidelity of the round trip against the float32 arrays (rows matched through the encoding's
   read order): largest position error, signed-distance errors near the surface (|d| < 0.01,
   absolute) and elsewhere (relative), sign changes, largest normal angle, and the packed
   mesh's largest vertex distance to the PLY's vertices (per axis, same face count).
4. Read speed of a stored asset (``read_meshprep`` + the watertight mesh), median of 5 warm
   reads, and one cold read of each (the page cache dropped first; needs root, else "n/a");
   and the watertight mesh alone, warm: PLY, Draco, packed. Then a dataset pass: every asset
   read once in turn, float32 and compact alternating, 5 rounds after an untimed one that
   brings the files back into the page cache (page cache warm, but no asset
   read twice in a row as the 5 warm reads are): median over assets of each asset's median.
   ``--pass-only`` runs just this pass over the copies already in ``--work`` (to compare two
   checkouts alternately, each reading the copies it wrote).

Issue 31's targets: <= 7 MB median per asset; positions within 2^-15; distances within 1e-5
near, 1e-3 relative elsewhere, signs unchanged; normals within 0.1 degrees; reads no slower.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from meshprep.sample.compact import read_rows  # noqa: E402
from meshprep.sample.layouts import read_meshprep, write_compact  # noqa: E402


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def compact_copy(folder: Path, target: Path) -> Path:
    """The asset folder as the compact store writes it."""
    import trimesh

    from meshprep.io import write_mesh

    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(
        "surface.npz", "sdf.npz", "watertight.ply"))
    write_compact(read_meshprep(folder), target)
    if (folder / "watertight.ply").is_file():
        mesh = trimesh.load(folder / "watertight.ply", process=False)
        write_mesh(mesh, target / "watertight.npz")
        write_mesh(mesh, target.with_name(target.name + ".drc"))  # outside the asset's bytes
    return target


def _encoded_rows(points: np.ndarray) -> np.ndarray:
    """The input rows a compact read returns, in order (the encoder's sort + read order)."""
    from meshprep.sample.compact import encode_points

    return read_rows(encode_points(points)[1])


def fidelity(plain: Path, compact: Path) -> dict:
    """Largest errors of the compact round trip against the float32 arrays."""
    a, b = read_meshprep(plain), read_meshprep(compact)
    out = {"position": 0.0, "near_abs": 0.0, "far_rel": 0.0, "sign_changes": 0, "normal_deg": 0.0}
    pairs = [(a.surface_points, b.surface_points, a.surface_normals, b.surface_normals, None,
              None), (a.salient_points, b.salient_points, a.salient_normals, b.salient_normals,
                      None, None)]
    sdf_a, sdf_b = a.sdf, b.sdf
    pairs += [(sdf_a.volume_points, sdf_b.volume_points, None, None, sdf_a.volume_sdf,
               sdf_b.volume_sdf),
              (sdf_a.surface_near_points, sdf_b.surface_near_points, None, None,
               sdf_a.surface_near_sdf, sdf_b.surface_near_sdf),
              (sdf_a.salient_near_points, sdf_b.salient_near_points, None, None,
               sdf_a.salient_near_sdf, sdf_b.salient_near_sdf)]
    for points, got_points, normals, got_normals, values, got_values in pairs:
        if not len(points):
            continue
        rows = _encoded_rows(points)
        out["position"] = max(out["position"], float(np.abs(got_points - points[rows]).max()))
        if normals is not None:
            # in float64: a float32 cosine alone is off by ~0.03 degrees this close to 1
            got, source = got_normals.astype(np.float64), normals[rows].astype(np.float64)
            cosine = (got * source).sum(axis=1) / np.linalg.norm(got, axis=1) / \
                np.linalg.norm(source, axis=1)
            cosine = np.clip(cosine, -1, 1)
            out["normal_deg"] = max(out["normal_deg"], float(np.degrees(np.arccos(cosine)).max()))
        if values is not None:
            source, got = values[rows], got_values
            near = np.abs(source) < 0.01
            out["sign_changes"] += int(((got < 0) != (source < 0)).sum() +
                                       ((got == 0) != (source == 0)).sum())
            if near.any():
                out["near_abs"] = max(out["near_abs"], float(np.abs(got - source)[near].max()))
            if (~near).any():
                rel = np.abs(got - source)[~near] / np.abs(source[~near])
                out["far_rel"] = max(out["far_rel"], float(rel.max()))
    return out


def mesh_error(plain: Path, compact: Path) -> float:
    """Largest per-axis distance from a packed mesh's vertex to the PLY's nearest vertex."""
    import trimesh
    from scipy.spatial import cKDTree

    if not (plain / "watertight.ply").is_file():
        return float("nan")
    ply = trimesh.load(plain / "watertight.ply", process=False)
    packed = read_mesh(compact / "watertight.npz")
    assert len(packed.faces) == len(ply.faces)
    nearest = cKDTree(ply.vertices).query(packed.vertices)[1]
    return float(np.abs(packed.vertices - ply.vertices[nearest]).max())


def read_mesh(path: Path):
    """A stored watertight mesh, read as ``meshprep export`` reads it."""
    from meshprep.sample.layouts import read_watertight

    return read_watertight(path)


def read_asset(folder: Path) -> float:
    """Seconds to read an asset's samples and watertight mesh."""
    from meshprep.sample.layouts import stored_watertight

    start = time.perf_counter()
    read_meshprep(folder)
    mesh = stored_watertight(folder)
    if mesh is not None:
        read_mesh(mesh)
    return time.perf_counter() - start


def mesh_reads(plain: Path, compact: Path) -> dict[str, float]:
    """Median seconds of 3 warm reads of the mesh alone: PLY, Draco, packed."""
    paths = {"ply": plain / "watertight.ply", "drc": compact.with_name(compact.name + ".drc"),
             "npz": compact / "watertight.npz"}
    out = {}
    for key, path in paths.items():
        times = []
        for _ in range(3):
            start = time.perf_counter()
            read_mesh(path)
            times.append(time.perf_counter() - start)
        out[key] = float(np.median(times))
    return out


def drop_caches() -> bool:
    """Drop the page cache (root only); whether it was dropped."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as stream:
            stream.write("3\n")
        return True
    except OSError:
        return False


def dataset_pass(folders: list[tuple[Path, Path]], rounds: int = 5) -> dict[str, list]:
    """Seconds of every read: each (float32, compact) pair in turn, ``rounds`` times, after an
    untimed round (cold reads before it drop the page cache)."""
    passes: dict[str, list] = {"plain": [[] for _ in folders], "compact": [[] for _ in folders]}
    for plain, compact in folders:
        read_asset(plain), read_asset(compact)
    for _ in range(rounds):
        for k, (plain, compact) in enumerate(folders):
            passes["plain"][k].append(read_asset(plain))
            passes["compact"][k].append(read_asset(compact))
    return passes


def print_pass(passes: dict[str, list]) -> None:
    for key in ("plain", "compact"):
        print(f"dataset pass, median read {key}: "
              f"{np.median([np.median(times) for times in passes[key]]):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pass-only", action="store_true",
                        help="only the dataset pass, over the compact copies already in --work")
    args = parser.parse_args()
    if args.pass_only:
        compact = sorted(p for p in (args.work / "compact").iterdir() if p.is_dir())
        print_pass(dataset_pass([(next((args.work / "plain" / "objects").glob(f"*/{c.name}")),
                                  c) for c in compact]))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="meshprep-bench-store-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "plain.toml").write_text("[sample]\ncompact = false\n")
    if not (work / "plain" / "manifest.parquet").is_file():
        cli = Path(sys.executable).with_name("meshprep")  # the venv's console script
        subprocess.run([str(cli), "run", str(args.corpus), "-o", str(work / "plain"),
                        "--config", str(work / "plain.toml"), "-j", str(args.workers), "-q"],
                       check=False)
    rows = []
    if not list((work / "plain" / "objects").glob("*/*/meta.json")):
        sys.exit(f"no finished asset in {work / 'plain'}")
    for meta in sorted((work / "plain" / "objects").glob("*/*/meta.json")):
        plain = meta.parent
        if not (plain / "sdf.npz").is_file():
            continue
        compact = work / "compact" / plain.name
        if not compact.is_dir():
            compact_copy(plain, compact)
        warm = {k: float(np.median([read_asset(f) for _ in range(5)]))
                for k, f in (("plain", plain), ("compact", compact))}
        cold = {}
        for key, folder in (("plain", plain), ("compact", compact)):
            cold[key] = read_asset(folder) if drop_caches() else float("nan")
        rows.append({"asset": plain.name[:10], "name": plain.name, "plain": folder_bytes(plain),
                     "compact": folder_bytes(compact), **fidelity(plain, compact),
                     "mesh": mesh_error(plain, compact), "warm": warm, "cold": cold,
                     "mesh_read": mesh_reads(plain, compact),
                     "mesh_mb": {k: p.stat().st_size / 1e6 for k, p in (
                         ("drc", compact.with_name(compact.name + ".drc")),
                         ("npz", compact / "watertight.npz"))}})
    passes = dataset_pass([(work / "plain" / "objects" / r["name"][:2] / r["name"],
                            work / "compact" / r["name"]) for r in rows])
    print(f"{len(rows)} assets; work folder {work}; MB = 10^6 bytes")
    print("| asset | float32 MB | compact MB | position | near abs | far rel | signs | "
          "normal deg | mesh | warm read s (float32 / compact) | cold read s | "
          "mesh read s (ply / drc / packed) | mesh MB (drc / packed) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['asset']} | {r['plain'] / 1e6:.1f} | {r['compact'] / 1e6:.2f} | "
              f"{r['position']:.1e} | {r['near_abs']:.1e} | {r['far_rel']:.1e} | "
              f"{r['sign_changes']} | {r['normal_deg']:.3f} | {r['mesh']:.1e} | "
              f"{r['warm']['plain']:.3f} / {r['warm']['compact']:.3f} | "
              f"{r['cold']['plain']:.3f} / {r['cold']['compact']:.3f} | "
              f"{r['mesh_read']['ply']:.3f} / {r['mesh_read']['drc']:.3f} / "
              f"{r['mesh_read']['npz']:.3f} | "
              f"{r['mesh_mb']['drc']:.2f} / {r['mesh_mb']['npz']:.2f} |")
    median = lambda key: float(np.median([r[key] for r in rows])) / 1e6  # noqa: E731
    print(f"median bytes per asset: float32 {median('plain'):.1f} MB, compact "
          f"{median('compact'):.2f} MB ({median('plain') / median('compact'):.1f}x smaller)")
    for kind in ("warm", "cold"):
        plain = np.median([r[kind]["plain"] for r in rows])
        compact = np.median([r[kind]["compact"] for r in rows])
        print(f"median {kind} read: float32 {plain:.3f} s, compact {compact:.3f} s")
    print_pass(passes)
    for key in ("ply", "drc", "npz"):
        print(f"median mesh read {key}: {np.median([r['mesh_read'][key] for r in rows]):.4f} s")
    for key in ("drc", "npz"):
        print(f"median mesh file {key}: {np.median([r['mesh_mb'][key] for r in rows]):.2f} MB")
    worst = {k: max(r[k] for r in rows) for k in ("position", "near_abs", "far_rel",
                                                  "normal_deg", "sign_changes")}
    print(f"worst: {worst}")


if __name__ == "__main__":
    main()
