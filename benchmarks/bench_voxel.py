"""O-Voxel benchmark: meshprep's flexible dual grid against TRELLIS.2's converter, same meshes.

    python benchmarks/bench_voxel.py [--res 1024] [--assets duck_glb,beast ...]
        [--anchor-python PATH] [--anchor-script PATH]

The anchor is TRELLIS.2's own ``o_voxel`` converter (single-threaded C++). It installs only with
a CUDA build, so this script does not build it: point ``--anchor-python`` at a Python where its
CPU part is importable and ``--anchor-script`` at a script taking ``MESH.npz RES OUT.npz`` that
runs ``data_toolkit/dual_grid.py``'s conversion and prints ``cpp_seconds X`` (the C++ call) and
``end_to_end_seconds Y``; ``OUT.npz`` holds ``coords``, ``vertices`` (uint8) and
``intersected``. Without them only meshprep is timed.

Prints markdown tables:

1. Per corpus asset at ``--res``: voxels, meshprep seconds (median of 3 after a warm-up), the
   anchor's C++ seconds (one run, fresh process), the ratio, and the agreement: identical
   active-voxel sets, ``intersected`` equal, dual-vertex bytes within ±2.
2. One call for 256, 512 and 1024 against the 1024 one alone (ratio), on one asset.
3. ``.vxz``: meshprep's writer and o_voxel's on the same voxels (size, seconds).
4. Peak RSS of one asset at 1024³ in a fresh process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_ASSETS = ("duck_glb", "milk_truck", "beast", "fandisk", "engine_glb", "cycloidal",
                  "counter_stl", "bunny_ply", "chair", "monkey_glb", "boolean_glb",
                  "capsule_textured", "tray", "adis16480")


def corpus_assets(names: list[str]) -> list[tuple[str, Path]]:
    """(id, path) of the named corpus assets that exist."""
    rows = [line.split(",") for line in (CORPUS / "manifest.csv").read_text().splitlines()[1:]]
    files = {row[0]: CORPUS / row[1] for row in rows}
    return [(name, files[name]) for name in names if name in files]


def load_z_up(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import meshprep as mp
    from meshprep.export.trellis2 import z_up_vertices

    mesh = mp.load(path)
    return z_up_vertices(mesh.vertices), np.asarray(mesh.faces, np.int64)


def time_ours(vertices, faces, res: int, repeats: int = 3) -> tuple[float, object]:
    from meshprep.voxel import flexible_dual_grid

    grid = flexible_dual_grid(vertices, faces, res)  # warm-up (compiled kernels are cached)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        grid = flexible_dual_grid(vertices, faces, res)
        times.append(time.perf_counter() - start)
    return statistics.median(times), grid


def run_anchor(args, vertices, faces, res: int, folder: Path) -> tuple[float, dict] | None:
    if not (args.anchor_python and args.anchor_script):
        return None
    mesh, out = folder / "mesh.npz", folder / "anchor.npz"
    np.savez(mesh, vertices=vertices, faces=faces)
    done = subprocess.run([args.anchor_python, args.anchor_script, str(mesh), str(res),
                           str(out)], capture_output=True, text=True, check=True)
    seconds = {k: float(v) for k, v in (line.split() for line in done.stdout.splitlines()
                                        if line.endswith(tuple("0123456789")) and
                                        len(line.split()) == 2)}
    return seconds["cpp_seconds"], dict(np.load(out))


def agreement(grid, anchor: dict, res: int) -> tuple[bool, float, float]:
    """(same active set, share of equal intersected flags, share of dual vertices within ±2)."""
    def key(c):
        c = np.asarray(c, np.int64)
        return (c[:, 0] * res + c[:, 1]) * res + c[:, 2]

    ours, theirs = key(grid.coords), key(anchor["coords"])
    if len(ours) != len(theirs) or not np.array_equal(np.sort(ours), np.sort(theirs)):
        return False, float("nan"), float("nan")
    a, b = np.argsort(ours), np.argsort(theirs)
    flags = float(np.mean(grid.intersected_u8()[a, 0] == anchor["intersected"].reshape(-1)[b]))
    diff = np.abs(grid.vertices_u8()[a].astype(int) - anchor["vertices"][b].astype(int))
    return True, flags, float(np.mean((diff <= 2).all(axis=1)))


def table_per_asset(args) -> None:
    print(f"\n### O-Voxel shape at {args.res}³ (2 cores; anchor single-threaded C++)\n")
    print("| asset | faces | voxels | meshprep s | anchor s | speed-up | same set | "
          "intersected eq | vertex ±2 |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    ratios = []
    for name, path in corpus_assets(args.assets):
        vertices, faces = load_z_up(path)
        ours, grid = time_ours(vertices, faces, args.res)
        with tempfile.TemporaryDirectory() as folder:
            anchor = run_anchor(args, vertices, faces, args.res, Path(folder))
        if anchor is None:
            print(f"| {name} | {len(faces)} | {len(grid)} | {ours:.3f} | – | – | – | – | – |")
            continue
        seconds, result = anchor
        same, flags, close = agreement(grid, result, args.res)
        ratios.append(seconds / ours)
        print(f"| {name} | {len(faces)} | {len(grid)} | {ours:.3f} | {seconds:.3f} | "
              f"{seconds / ours:.1f}× | {same} | {flags:.5f} | {close:.4f} |")
    if ratios:
        print(f"\nmedian speed-up {statistics.median(ratios):.1f}× over {len(ratios)} assets")


def table_multi(args) -> None:
    from meshprep.voxel import flexible_dual_grid, flexible_dual_grids

    name, path = corpus_assets(args.assets)[0]
    vertices, faces = load_z_up(path)
    flexible_dual_grids(vertices, faces, [256, 512, 1024])
    alone, together = [], []
    for _ in range(3):
        start = time.perf_counter()
        flexible_dual_grid(vertices, faces, 1024)
        alone.append(time.perf_counter() - start)
        start = time.perf_counter()
        flexible_dual_grids(vertices, faces, [256, 512, 1024])
        together.append(time.perf_counter() - start)
    a, t = statistics.median(alone), statistics.median(together)
    print(f"\n### 256 + 512 + 1024 in one call ({name}, median of 3)\n")
    print("| 1024 alone s | 256+512+1024 s | ratio |\n|---:|---:|---:|")
    print(f"| {a:.3f} | {t:.3f} | {t / a:.2f} |")


def table_vxz(args) -> None:
    from meshprep.voxel import flexible_dual_grid, read_vxz, write_vxz

    name, path = corpus_assets(args.assets)[0]
    vertices, faces = load_z_up(path)
    grid = flexible_dual_grid(vertices, faces, args.res)
    attrs = {"vertices": grid.vertices_u8(), "intersected": grid.intersected_u8()}
    print(f"\n### .vxz of {name} at {args.res}³ ({len(grid)} voxels, LZMA preset 9)\n")
    print("| writer | bytes | write s | read back identical |\n|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        ours = Path(folder) / "ours.vxz"
        start = time.perf_counter()
        write_vxz(ours, grid.coords, attrs)
        seconds = time.perf_counter() - start
        coords, back = read_vxz(ours)
        same = _same_voxels(grid.coords, attrs, coords, back, args.res)
        print(f"| meshprep | {ours.stat().st_size} | {seconds:.3f} | {same} |")
        if args.anchor_python and args.anchor_vxz_script:
            np.savez(Path(folder) / "voxels.npz", coords=grid.coords, **attrs)
            theirs = Path(folder) / "theirs.vxz"
            done = subprocess.run([args.anchor_python, args.anchor_vxz_script,
                                   str(Path(folder) / "voxels.npz"), str(theirs)],
                                  capture_output=True, text=True, check=True)
            coords, back = read_vxz(theirs)
            same = _same_voxels(grid.coords, attrs, coords, back, args.res)
            identical = theirs.read_bytes() == ours.read_bytes()
            print(f"| o_voxel | {theirs.stat().st_size} | {done.stdout.split()[-1]} | {same} "
                  f"(bytes identical to ours: {identical}) |")


def _same_voxels(coords, attrs, coords2, attrs2, res) -> bool:
    def order(c):
        c = np.asarray(c, np.int64)
        return np.argsort((c[:, 0] * res + c[:, 1]) * res + c[:, 2])

    a, b = order(coords), order(coords2)
    return bool(np.array_equal(np.asarray(coords)[a], np.asarray(coords2)[b]) and all(
        np.array_equal(attrs[k][a], attrs2[k][b]) for k in attrs))


def table_memory(args) -> None:
    name, path = corpus_assets(args.assets)[0]
    here = str(Path(__file__).parent)
    code = ("import resource, sys, tempfile; from meshprep.voxel import flexible_dual_grid, "
            "write_vxz;"
            f"sys.path.insert(0, {here!r}); from bench_voxel import load_z_up;"
            f"v, f = load_z_up({str(path)!r}); g = flexible_dual_grid(v, f, 1024);"
            "write_vxz(tempfile.mkdtemp() + '/a.vxz', g.coords, {'vertices': g.vertices_u8(),"
            " 'intersected': g.intersected_u8()}, num_threads=1, durable=False);"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    print(f"\n### Peak RSS at 1024³ ({name}, fresh process)\n")
    print(f"| peak RSS MB |\n|---:|\n| {float(done.stdout.split()[-1]):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, default=1024)
    parser.add_argument("--assets", type=lambda s: s.split(","), default=list(DEFAULT_ASSETS))
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--anchor-script", default=None)
    parser.add_argument("--anchor-vxz-script", default=None,
                        help="script taking VOXELS.npz OUT.vxz that writes with o_voxel's "
                             "write_vxz and prints its seconds last")
    parser.add_argument("--tables", default="asset,multi,vxz,memory")
    args = parser.parse_args()
    tables = args.tables.split(",")
    if "asset" in tables:
        table_per_asset(args)
    if "multi" in tables:
        table_multi(args)
    if "vxz" in tables:
        table_vxz(args)
    if "memory" in tables:
        table_memory(args)


if __name__ == "__main__":
    main()
