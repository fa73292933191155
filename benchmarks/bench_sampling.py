"""Sampling benchmark: meshprep vs the reference recipes and peers, side by side in one run.

    python benchmarks/bench_sampling.py [--quick] [--corpus PATH]

Prints three markdown tables:

1. Salient sampling, 64k points, on every loadable corpus asset: meshprep vs the published
   recipe as a pure-Python loop over trimesh's ``face_adjacency`` + ``fpsample`` (written below)
   vs meshiki's C++ ``salient_point_sample`` (if installed: ``pip install --no-deps meshiki``).
2. Signed distances for 1M points (250k volume + 750k near the surface) to a ~1M-face
   watertight mesh: meshprep vs libigl ``signed_distance`` with fast winding numbers.
3. The whole sample step for one asset at the default counts (``meshprep.sample.defaults``:
   300k surface + 300k salient + 250k volume + 600k near).

``--quick`` uses a few assets, 200k SDF points and a smaller watertight mesh.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import time
from pathlib import Path

import fpsample
import igl
import numpy as np
import trimesh

from meshprep.geometry import normalize
from meshprep.io import load
from meshprep.sample import MeshDistance, defaults, salient_edges, sample_asset, sample_salient
from meshprep.sample._mesh import face_normals, weld
from meshprep.watertight import make_watertight

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
STEP_REPEATS = 7
QUICK_ASSETS = ("fandisk", "beast", "counter_stl", "engine_glb", "kenney_building", "bunny_ply")

try:
    import meshiki
except ImportError:  # the column is left out
    meshiki = None


# --------------------------------------------------------------------------- reference recipe


def reference_salient(mesh: trimesh.Trimesh, count: int, angle: float = 30.0) -> tuple:
    """The published salient-edge recipe, as a Python loop (Dora's sampler as usually ported).

    Edges between adjacent faces whose normals differ by more than ``angle``; their end vertices
    first; then ``ceil(extra * length / total)`` points along each edge at ``t = (j+1)/(k+1)``;
    then fpsample's kd-line FPS down to ``count``. Returns ``(points, edge set)``.
    """
    threshold = math.radians(angle)
    # trimesh's cached properties re-validate on every access: read them once, outside the loop
    normals = mesh.face_normals
    vertices = mesh.vertices
    adjacency = mesh.face_adjacency
    adjacency_edges = mesh.face_adjacency_edges
    edges = []
    total = 0.0
    for i, (f0, f1) in enumerate(adjacency):
        cos = np.clip(np.dot(normals[f0], normals[f1]), -1.0, 1.0)
        if math.acos(cos) > threshold:
            v0, v1 = adjacency_edges[i]
            length = float(np.linalg.norm(vertices[v0] - vertices[v1]))
            if length > 1e-8:
                edges.append((v0, v1, length))
                total += length
    if not edges:
        return np.zeros((0, 3)), set()
    seen: set[int] = set()
    samples = []
    for v0, v1, _ in edges:
        for v in (v0, v1):
            if v not in seen:
                seen.add(v)
                samples.append(vertices[v])
    extra = count - len(samples)
    if extra > 0:
        for v0, v1, length in edges:
            k = math.ceil(extra * length / total)
            for j in range(k):
                t = (j + 1.0) / (k + 1.0)
                samples.append(vertices[v0] + (vertices[v1] - vertices[v0]) * t)
    points = np.asarray(samples)
    if len(points) > count:
        points = points[fpsample.bucket_fps_kdline_sampling(points, count, h=5, start_idx=0)]
    return points, {(min(a, b), max(a, b)) for a, b, _ in edges}


# ---------------------------------------------------------------------------------- helpers


def best_of(fn, repeat: int) -> tuple[float, object]:
    """Smallest wall time of ``repeat`` calls, and the result of that call."""
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, result = elapsed, out
    return best, result


def corpus_meshes(corpus: Path, quick: bool):
    """Normalized corpus meshes that load and have faces, in manifest order."""
    with open(corpus / "manifest.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        if quick and row["id"] not in QUICK_ASSETS:
            continue
        try:
            mesh = load(corpus / row["file"])
        except Exception:  # noqa: BLE001 - unloadable assets are part of the corpus by design
            continue
        yield row["id"], normalize(mesh)[0]


def edge_set_verdict(ours: set, reference: set, vertices, faces) -> str:
    """'yes', or how the sets differ (and whether only next to zero-area faces)."""
    if ours == reference:
        return "yes"
    normals, _ = face_normals(vertices, faces)
    degenerate = np.flatnonzero(~normals.any(axis=1))
    near = {tuple(sorted(e)) for f in faces[degenerate] for e in ((f[0], f[1]), (f[1], f[2]),
                                                                 (f[2], f[0]))}
    diff = ours ^ reference
    where = "all next to zero-area faces" if diff <= near else "elsewhere too"
    return f"no: {len(reference - ours)} ref-only, {len(ours - reference)} ours-only ({where})"


# ------------------------------------------------------------------------------- benchmarks


def bench_salient(corpus: Path, quick: bool, count: int = 64_000) -> list[str]:
    rows = []
    sample_salient(trimesh.creation.box(), 100)  # compile / load the numba cache
    for name, mesh in corpus_meshes(corpus, quick):
        vertices, faces = weld(np.asarray(mesh.vertices), np.asarray(mesh.faces))
        welded = trimesh.Trimesh(vertices, faces, process=False)
        t_ref, (_, ref_edges) = best_of(lambda w=welded: reference_salient(w, count), 1)
        t_ours, (points, _, stats) = best_of(
            lambda m=mesh: sample_salient(m, count, seed=0, return_stats=True), 3)
        ours_edges = set(map(tuple, salient_edges(mesh).edges.tolist()))
        verdict = edge_set_verdict(ours_edges, ref_edges, vertices, faces)
        # without salient edges the reference returns no points at all: nothing to compare
        speedup = f"{t_ref / t_ours:.0f}x" if ref_edges else "n/a (reference: 0 points)"
        row = [name, f"{len(faces):,}", f"{len(ours_edges):,}", verdict, f"{t_ref * 1e3:.0f}",
               f"{t_ours * 1e3:.1f}", speedup]
        if meshiki is not None:
            v32, f32 = vertices.astype(np.float32), faces.astype(np.int32)

            def run_meshiki(v32=v32, f32=f32):
                return meshiki.Mesh(v32, f32).salient_point_sample(count, 30)

            t_mk, mk_points = best_of(run_meshiki, 3)
            ratio = f"{t_mk / t_ours:.1f}x" if len(mk_points) else "n/a (meshiki: 0 points)"
            row += [f"{t_mk * 1e3:.1f}", ratio, f"{len(points):,} / {len(mk_points):,}"]
        fill = " (uniform fill)" if stats.fallback else ""
        row[2] += fill
        rows.append("| " + " | ".join(row) + " |")
        print(f"  salient {name}: ref {t_ref:.3f}s ours {t_ours:.4f}s", flush=True)
    header = ["asset", "faces", "salient edges", "same edge set as the reference",
              "reference loop + fpsample (ms)", "meshprep (ms)", "speed-up vs reference"]
    if meshiki is not None:
        header += ["meshiki (ms)", "meshiki / meshprep", "count meshprep / meshiki"]
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)] + rows


def watertight_mesh(corpus: Path, quick: bool) -> tuple[str, trimesh.Trimesh, trimesh.Trimesh]:
    """A ~1M-face watertight mesh: fandisk normalized and made watertight at resolution 512."""
    original = normalize(load(corpus / "fandisk.obj"))[0]
    result = make_watertight(original, 256 if quick else 512)
    return f"fandisk @ {256 if quick else 512}", original, result.mesh


def sdf_points(mesh: trimesh.Trimesh, total: int, seed: int = 0) -> np.ndarray:
    """A quarter uniform in [-1.05, 1.05]^3, the rest near the surface (sigma 0.005 and 0.05)."""
    rng = np.random.default_rng(seed)
    volume = rng.uniform(-1.05, 1.05, (total // 4, 3))
    half = (total - len(volume)) // 2
    surface, _ = trimesh.sample.sample_surface(mesh, 2 * half, seed=seed)
    near = np.concatenate([surface[:half] + rng.normal(0, 0.005, (half, 3)),
                           surface[half:] + rng.normal(0, 0.05, (half, 3))])
    return np.concatenate([volume, near])


def bench_sdf(label: str, mesh: trimesh.Trimesh, total: int) -> list[str]:
    vertices = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.faces, np.int64)
    points = sdf_points(mesh, total)
    MeshDistance(trimesh.creation.box()).signed_distance(points[:10])  # compile / cache

    def ours():
        return MeshDistance((vertices, faces)).signed_distance(points)

    t_ours, sdf = best_of(ours, 2)
    start = time.perf_counter()
    s_igl, _, closest, _ = igl.signed_distance(
        points, vertices, faces, sign_type=igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER)
    t_igl = time.perf_counter() - start
    print(f"  sdf: ours {t_ours:.2f}s libigl {t_igl:.2f}s", flush=True)
    same_sign = np.mean(np.sign(sdf) == np.sign(s_igl)) * 100
    exact = np.linalg.norm(points - closest, axis=1)  # libigl's exact closest points
    d_exact = np.abs(np.abs(sdf) - exact).max()
    d_returned = np.abs(np.abs(sdf) - np.abs(s_igl)).max()
    return [
        "| mesh | faces | points | libigl FWN (s) | meshprep (s) | speed-up | same sign | "
        "max abs distance diff vs libigl closest points | vs libigl returned values |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {label} | {len(faces):,} | {len(points):,} | {t_igl:.2f} | {t_ours:.2f} | "
        f"{t_igl / t_ours:.1f}x | {same_sign:.4f} % | {d_exact:.1e} | {d_returned:.1e} |",
    ]


def bench_step(label: str, original, watertight) -> list[str]:
    sample_asset(trimesh.creation.box(), trimesh.creation.box(), surface=10, salient=10,
                 volume=10, near=10)

    def run():
        return sample_asset(watertight, original, seed=0, **defaults.COUNTS)

    runs = []
    for _ in range(STEP_REPEATS):
        start = time.perf_counter()
        out = run()
        runs.append((time.perf_counter() - start, out.stats))
    runs.sort(key=lambda r: r[0])
    t_total, s = runs[len(runs) // 2]  # the median run, and its own stage times
    print(f"  step: median {t_total:.2f}s of {[round(r[0], 2) for r in runs]}", flush=True)
    return [
        f"| mesh | faces | total, median of {STEP_REPEATS} (s) | min / max (s) | surface | "
        "salient (from original) | distance build | sdf (750k points) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {label} | {len(watertight.faces):,} | {t_total:.2f} | {runs[0][0]:.2f} / "
        f"{runs[-1][0]:.2f} | {s['time_surface']:.2f} | {s['time_salient']:.2f} | "
        f"{s['time_distance_build']:.2f} | {s['time_sdf']:.2f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few assets, fewer points")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--parts", default="salient,sdf,step",
                        help="comma-separated tables to run: salient, sdf, step")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not (args.corpus / "manifest.csv").is_file():
        raise SystemExit(f"corpus not found: {args.corpus}")
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load_avg:.2f} at start; numba threads "
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    tables = []
    if "salient" in parts:
        print("salient sampling ...", flush=True)
        tables.append(("Salient sampling, 64k points", bench_salient(args.corpus, args.quick)))
    print("watertight mesh ...", flush=True)
    label, original, watertight = watertight_mesh(args.corpus, args.quick)
    if "sdf" in parts:
        print("signed distances ...", flush=True)
        total = 200_000 if args.quick else 1_000_000
        tables.append((f"Signed distances, {total:,} points",
                       bench_sdf(label, watertight, total)))
    if "step" in parts:
        print("whole step ...", flush=True)
        tables.append(("Whole sample step (300k + 300k + 250k + 600k, the defaults)",
                       bench_step(label, original, watertight)))
    for title, lines in tables:
        print(f"\n### {title}\n")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
