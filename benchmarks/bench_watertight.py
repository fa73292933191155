#!/usr/bin/env python3
"""Watertight conversion: meshprep's narrow-band method against the reference recipe.

Runs, on every loadable asset of the corpus, in separate processes (so peak memory is per run):
- the reference recipe (dense distances with libigl's AABB tree, scipy flood fill, scikit-image
  marching cubes) at ``--reference-res`` (256 by default: at 512 it takes minutes per asset),
- meshprep's default method at each of ``--res`` (256, 512, 1024), timed cold (first call in a
  fresh process: numba's cache is loaded) and warm (second call),
and measures every output with the independent yardstick ``../shared/tools/meshcheck.py``
(closed 2-manifold, distances output->input and input->output in voxels).

    python benchmarks/bench_watertight.py                       # the whole corpus, ~30-40 min
    python benchmarks/bench_watertight.py --assets plane,bunny_ply --res 256 512
    python benchmarks/bench_watertight.py --report results.jsonl  # reprint a finished run

Every measurement is appended to a JSON-lines file as it is made, so a long run can be
inspected or reprinted at any time. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"


def _worker(args: argparse.Namespace) -> None:
    """One asset, one method, one resolution, in this process: print a JSON line."""
    import numpy as np
    import trimesh

    import meshprep as mp

    mesh = mp.load(args.worker)
    canonical, _ = mp.normalize(mesh)
    canonical.export(args.input_out)
    tiny = mp.normalize(trimesh.creation.icosphere(1))[0]
    if args.method == "band":
        mp.make_watertight(tiny, 16)  # imports and numba cache loading are not the asset's
    start = time.perf_counter()
    result = mp.make_watertight(canonical, args.res_one, method=args.method)
    cold = time.perf_counter() - start
    warm = cold
    if args.method == "band":
        # drop the first output before the second run: peak RSS is one run's, not two's
        result = None
        gc.collect()  # a Trimesh holds reference cycles: free it now, not later
        start = time.perf_counter()
        result = mp.make_watertight(canonical, args.res_one, method=args.method)
        warm = time.perf_counter() - start
    mp.write_mesh(result.mesh, args.output_out)
    stages = {k: round(v, 4) for k, v in result.stats.items() if k.startswith("time_")}
    print(json.dumps({
        "cold_s": cold, "warm_s": warm, "faces_out": int(len(result.mesh.faces)),
        "faces_in": int(len(mesh.faces)), "peak_rss_gb":
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, "stages": stages,
        "closed_internal": bool(result.topology.closed_2manifold),
        "nonfinite": bool(not np.isfinite(result.mesh.vertices).all()),
    }))


def _run_json(cmd: list[str], timeout: float) -> dict:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:200]}
    return json.loads(lines[-1])


def _measure(path: Path, method: str, res: int, work: Path, samples: int, timeout: float) -> dict:
    stem = f"{path.stem}_{method}_{res}"
    mesh_in, mesh_out = work / f"{path.stem}_in.ply", work / f"{stem}.ply"
    run = _run_json([sys.executable, __file__, "--worker", str(path), "--method", method,
                     "--res-one", str(res), "--input-out", str(mesh_in),
                     "--output-out", str(mesh_out)], timeout)
    row = {"asset": path.stem, "method": method, "res": res, **run}
    if "error" not in run:
        check = _run_json([sys.executable, str(SHARED / "tools" / "meshcheck.py"), str(mesh_in),
                           str(mesh_out), "--res", str(res), "--normalized-output",
                           "--samples", str(samples)], timeout)
        row["meshcheck"] = check
    mesh_out.unlink(missing_ok=True)
    return row


def _loadable_assets(corpus: Path, only: set[str] | None) -> list[Path]:
    import meshprep as mp

    assets = []
    with open(corpus / "manifest.csv", newline="") as fh:
        for entry in csv.DictReader(fh):
            if only and entry["id"] not in only:
                continue
            try:
                mp.load(corpus / entry["file"])
            except mp.LoadError:
                continue
            assets.append(corpus / entry["file"])
    return assets


def _fmt(value, spec=".2f", missing="—"):
    return missing if value is None else format(value, spec)


def _yes_no(flag) -> str:
    return "—" if flag is None else ("yes" if flag else "NO")


def report(rows: list[dict], res_list: list[int], ref_res: int) -> str:
    """The markdown tables of a run."""
    by = {(r["asset"], r["method"], r["res"]): r for r in rows}
    assets = sorted({r["asset"] for r in rows})

    def get(asset, method, res, *keys):
        value = by.get((asset, method, res))
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    head = ["asset", "faces in", f"ref {ref_res} s", f"ours {ref_res} s", "speed-up"]
    head += [f"ours {r} s" for r in res_list if r != ref_res]
    head += ["1024/512", "RSS 1024 GB", "closed ref/ours", f"out→in ref/ours@{ref_res}",
             f"in→out ref/ours@{ref_res}", "out→in ours@512", "in→out ours@512"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    speedups, ratios, o2i_512, closed, total = [], [], [], 0, 0
    for a in assets:
        ref_t = get(a, "reference", ref_res, "cold_s")
        ours_t = get(a, "band", ref_res, "warm_s")
        speed = ref_t / ours_t if ref_t and ours_t else None
        if speed:
            speedups.append(speed)
        t512, t1024 = get(a, "band", 512, "warm_s"), get(a, "band", 1024, "warm_s")
        ratio = t1024 / t512 if t512 and t1024 else None
        if ratio:
            ratios.append(ratio)
        outs = [get(a, "band", r, "meshcheck", "closed_2manifold") for r in res_list]
        outs = [c for c in outs if c is not None]  # resolutions not run for this asset
        closed += sum(bool(c) for c in outs)
        total += len(outs)
        ref_closed = get(a, "reference", ref_res, "meshcheck", "closed_2manifold")
        ours_closed = bool(outs) and all(bool(c) for c in outs)
        o2i = get(a, "band", 512, "meshcheck", "out_to_in_mean_vox")
        if o2i is not None:
            o2i_512.append(o2i)
        err = get(a, "reference", ref_res, "error")
        cells = [a, str(get(a, "band", ref_res, "faces_in") or ""),
                 _fmt(ref_t, ".1f", err and "fail" or "—"), _fmt(ours_t, ".2f"),
                 _fmt(speed, ".0f")]
        cells += [_fmt(get(a, "band", r, "warm_s")) for r in res_list if r != ref_res]
        cells += [_fmt(ratio, ".1f"), _fmt(get(a, "band", 1024, "peak_rss_gb")),
                  f"{_yes_no(ref_closed)}/{'yes' if ours_closed else 'NO'}",
                  f"{_fmt(get(a, 'reference', ref_res, 'meshcheck', 'out_to_in_mean_vox'))}/"
                  f"{_fmt(get(a, 'band', ref_res, 'meshcheck', 'out_to_in_mean_vox'))}",
                  f"{_fmt(get(a, 'reference', ref_res, 'meshcheck', 'in_to_out_mean_vox'))}/"
                  f"{_fmt(get(a, 'band', ref_res, 'meshcheck', 'in_to_out_mean_vox'))}",
                  _fmt(o2i, ".3f"),
                  _fmt(get(a, "band", 512, "meshcheck", "in_to_out_mean_vox"), ".3f")]
        lines.append("| " + " | ".join(cells) + " |")
    summary = ["", "| figure | value |", "|---|---|"]
    for r in res_list:
        warm = [get(a, "band", r, "warm_s") for a in assets]
        warm = [w for w in warm if w]
        cold = [get(a, "band", r, "cold_s") for a in assets]
        cold = [c for c in cold if c]
        if warm:
            summary.append(f"| median warm time at {r}³ (ours) | {statistics.median(warm):.2f} s "
                           f"(cold {statistics.median(cold):.2f} s) |")
    refs = [get(a, "reference", ref_res, "cold_s") for a in assets]
    refs = [t for t in refs if t]
    if refs:
        summary.append(f"| median time at {ref_res}³ (reference) | "
                       f"{statistics.median(refs):.1f} s |")
    if speedups:
        summary.append(f"| median speed-up at {ref_res}³ | {statistics.median(speedups):.0f}× "
                       f"(min {min(speedups):.0f}×) |")
    if ratios:
        summary.append(f"| median time(1024)/time(512) | {statistics.median(ratios):.1f} |")
    rss = {a: get(a, "band", 1024, "peak_rss_gb") for a in assets}
    rss = {a: x for a, x in rss.items() if x}
    if rss:
        worst = max(rss, key=rss.get)
        summary.append(f"| peak RSS at 1024³ (median; max) | {statistics.median(rss.values()):.2f}"
                       f" GB; {rss[worst]:.2f} GB ({worst}) |")
    summary.append(f"| closed 2-manifold outputs (ours, all resolutions) | {closed}/{total} |")
    if o2i_512:
        summary.append(f"| median mean distance out→in at 512³ (ours) | "
                       f"{statistics.median(o2i_512):.3f} voxel |")
    ref_o2i = [get(a, "reference", ref_res, "meshcheck", "out_to_in_mean_vox") for a in assets]
    ref_o2i = [x for x in ref_o2i if x is not None]
    if ref_o2i:
        summary.append(f"| median mean distance out→in at {ref_res}³ (reference) | "
                       f"{statistics.median(ref_o2i):.3f} voxel |")
    return "\n".join(lines + summary)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    ap.add_argument("--assets", default=None, help="comma-separated corpus ids (default: all)")
    ap.add_argument("--res", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--reference-res", type=int, default=256)
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--samples", type=int, default=100_000, help="meshcheck samples")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--jsonl", type=Path, default=Path("bench_watertight.jsonl"))
    ap.add_argument("--report", type=Path, default=None, help="reprint the tables of a run")
    # worker mode (internal)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--method", default="band", help=argparse.SUPPRESS)
    ap.add_argument("--res-one", type=int, default=256, help=argparse.SUPPRESS)
    ap.add_argument("--input-out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--output-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return
    if args.report:
        rows = [json.loads(ln) for ln in args.report.read_text().splitlines() if ln.strip()]
        print(report(rows, args.res, args.reference_res))
        return
    only = set(args.assets.split(",")) if args.assets else None
    assets = _loadable_assets(args.corpus, only)
    print(f"{len(assets)} loadable assets; writing {args.jsonl}", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, open(args.jsonl, "a") as log:
        work = Path(tmp)
        for path in assets:
            plan = [("band", r) for r in args.res]
            if not args.no_reference:
                plan.insert(0, ("reference", args.reference_res))
            for method, res in plan:
                row = _measure(path, method, res, work, args.samples, args.timeout)
                rows.append(row)
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(f"{path.stem} {method} {res}: "
                      f"{row.get('warm_s', row.get('error'))}", file=sys.stderr, flush=True)
    print(f"cpu: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(report(rows, args.res, args.reference_res))


if __name__ == "__main__":
    main()
