"""`meshprep run` benchmark: the runner's own cost, its memory, throughput, Ray vs local.

    python benchmarks/bench_run.py [--quick] [--skip-corpus] [--ray] [--corpus PATH]

Prints markdown tables:

1. Overhead per asset of the local executor: a 12-face cube through every step at 128^3,
   one worker, steady state (time between consecutive completions minus the work measured
   inside the worker), side by side with the plain recipe people write by hand
   (``multiprocessing.Pool.imap_unordered`` over the same function: no ledger, no isolation).
2. Memory of the runner (parent process) over a 10,000-asset run (a CSV of uids over a few
   small meshes, steps load + normalize, 2 workers): resident memory sampled during the run.
3. Throughput on the corpus at 512^3 with 2 workers, every step at its default counts.
4. ``--ray``: the corpus at 128^3 through the Ray executor (a local Ray instance) and the local
   one: same ids, statuses and metrics?
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import trimesh

from meshprep.pipeline import LocalExecutor, RayExecutor, resolve_config, run_dataset
from meshprep.pipeline.executors import Job, run_one
from meshprep.pipeline.limits import resident_mb
from meshprep.pipeline.sources import AssetTask, file_sha256

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def write_cubes(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 12-face cubes (shifted, so each file has its own bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
        cube.apply_translation((index * 0.01, 0.0, 0.0))
        path = folder / f"cube{index:05d}.stl"
        cube.export(path)
        paths.append(path)
    return paths


def paired_overheads(ledger: Path) -> tuple[list[float], list[float]]:
    """Per asset: (seconds since the previous completion) - (its own work), and the work.

    With one worker this is what the runner adds to each asset in steady state.
    """
    with sqlite3.connect(ledger) as db:
        rows = db.execute("SELECT e.time, a.seconds FROM events e JOIN assets a "
                          "ON a.asset_id = e.asset_id ORDER BY e.time").fetchall()
    times, work = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    return list(np.diff(times) - work[1:]), list(work)


def _pool_one(args):
    task, job = args
    start = time.perf_counter()
    outcome = run_one(task, job)
    return outcome.seconds, start, time.perf_counter()


def bench_overhead(tmp: Path, count: int) -> list[tuple]:
    cubes = write_cubes(tmp / "cubes", count)
    config = resolve_config(overrides={"watertight": {"resolution": 128}})
    out = tmp / "overhead"
    run_dataset(tmp / "cubes", out, config, executor=LocalExecutor(1), progress=False)
    ours, work = paired_overheads(out / "ledger.sqlite")

    # the hand-written recipe: a pool over the same per-asset function, nothing recorded
    from meshprep.pipeline.config import config_hash

    job = Job(config, str(tmp / "pool_out"), config_hash(config))
    tasks = [(AssetTask(file_sha256(p), str(p)), job) for p in cubes]
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        results = list(pool.imap_unordered(_pool_one, tasks))
    results.sort(key=lambda r: r[2])
    ends, pool_work = np.array([r[2] for r in results]), np.array([r[0] for r in results])
    pool = np.diff(ends) - pool_work[1:]
    return [("meshprep run (ledger, isolation, limits)", statistics.median(work),
             statistics.median(ours)),
            ("multiprocessing.Pool (nothing recorded)", statistics.median(pool_work),
             statistics.median(pool))]


def bench_memory(tmp: Path, count: int) -> dict:
    files = write_cubes(tmp / "few", 8)
    listing = tmp / "many.csv"
    with open(listing, "w") as stream:
        stream.write("uid,path\n")
        for index in range(count):
            stream.write(f"u{index:06d},{files[index % len(files)]}\n")
    config = resolve_config(overrides={"run": {"steps": ["load", "normalize"]}})
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    start = time.monotonic()

    def watch():
        while not stop.wait(0.5):
            samples.append((time.monotonic() - start, resident_mb(os.getpid()) or 0.0))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    summary = run_dataset(listing, tmp / "memory", config, executor=LocalExecutor(2),
                          progress=False)
    stop.set()
    thread.join()
    wall = time.monotonic() - start
    rss = [m for _, m in samples]
    tenth = rss[max(0, len(rss) // 10)]
    return {"assets": count, "ok": summary.counts["ok"], "wall": wall,
            "rss_10%": tenth, "rss_50%": rss[len(rss) // 2], "rss_end": rss[-1],
            "rss_max": max(rss)}


def bench_corpus(tmp: Path, corpus: Path, resolution: int, workers: int) -> dict:
    config = resolve_config(overrides={"watertight": {"resolution": resolution},
                                       "limits": {"timeout_s": 900.0}})
    out = tmp / f"corpus{resolution}"
    start = time.monotonic()
    summary = run_dataset(corpus, out, config, executor=LocalExecutor(workers), progress=False)
    wall = time.monotonic() - start
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    ok = [r["seconds"] for r in rows if r["status"] == "ok"]
    return {"assets": len(rows), "ok": summary.counts["ok"], "failed": summary.counts["failed"],
            "wall": wall, "rate": len(rows) / wall, "median_ok": statistics.median(ok),
            "max_ok": max(ok)}


def bench_ray(tmp: Path, corpus: Path) -> dict:
    import ray

    config = resolve_config(overrides={"watertight": {"resolution": 128},
                                       "limits": {"timeout_s": 900.0}})
    timings = {}
    for name, executor in (("local", LocalExecutor(2)), ("ray", RayExecutor())):
        if name == "ray":
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        start = time.monotonic()
        run_dataset(corpus, tmp / f"cmp_{name}", config, executor=executor, progress=False)
        timings[name] = time.monotonic() - start
    ray.shutdown()
    local = {r["asset_id"]: r for r in pq.read_table(tmp / "cmp_local/manifest.parquet")
             .to_pylist()}
    remote = {r["asset_id"]: r for r in pq.read_table(tmp / "cmp_ray/manifest.parquet")
              .to_pylist()}
    keys = ("watertight_faces", "watertight_genus", "input_faces", "salient_edges")
    status_diff = sum(local[i]["status"] != remote.get(i, {}).get("status") for i in local)
    metric_diff = sum(local[i][k] != remote[i][k] for i in local if local[i]["status"] == "ok"
                      for k in keys)
    return {"assets": len(local), "same_ids": local.keys() == remote.keys(),
            "status_mismatches": status_diff, "metric_mismatches": metric_diff,
            "local_s": timings["local"], "ray_s": timings["ray"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer assets everywhere")
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--ray", action="store_true", help="compare Ray with local")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--resolution", type=int, default=512, help="corpus run resolution")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench_run_") as tmp_name:
        tmp = Path(tmp_name)
        rows = bench_overhead(tmp, 12 if args.quick else 40)
        print("\n### 1. Overhead per asset (12-face cube, all steps, 128^3, 1 worker)\n")
        print("| runner | work per asset, median s | overhead per asset, median ms |")
        print("| --- | --- | --- |")
        for name, work, overhead in rows:
            print(f"| {name} | {work:.3f} | {overhead * 1000:.1f} |")

        memory = bench_memory(tmp, 1000 if args.quick else 10_000)
        print("\n### 2. Runner memory (load + normalize, 2 workers)\n")
        print("| assets | ok | wall s | RSS at 10% MB | at 50% MB | at end MB | max MB |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        print(f"| {memory['assets']} | {memory['ok']} | {memory['wall']:.1f} | "
              f"{memory['rss_10%']:.0f} | {memory['rss_50%']:.0f} | {memory['rss_end']:.0f} | "
              f"{memory['rss_max']:.0f} |")

        if not args.skip_corpus and (args.corpus / "manifest.csv").is_file():
            corpus = bench_corpus(tmp, args.corpus, args.resolution, 2)
            print(f"\n### 3. Corpus throughput ({args.resolution}^3, 2 workers, every step)\n")
            print("| assets | ok | failed | wall s | assets/s | median s per ok asset | "
                  "max s |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            print(f"| {corpus['assets']} | {corpus['ok']} | {corpus['failed']} | "
                  f"{corpus['wall']:.1f} | {corpus['rate']:.3f} | {corpus['median_ok']:.2f} | "
                  f"{corpus['max_ok']:.1f} |")
        if args.ray and (args.corpus / "manifest.csv").is_file():
            result = bench_ray(tmp, args.corpus)
            print("\n### 4. Ray vs local (corpus, 128^3, 2 CPUs)\n")
            print("| assets | same ids | status mismatches | metric mismatches | local s | "
                  "ray s |")
            print("| --- | --- | --- | --- | --- | --- |")
            print(f"| {result['assets']} | {result['same_ids']} | "
                  f"{result['status_mismatches']} | {result['metric_mismatches']} | "
                  f"{result['local_s']:.1f} | {result['ray_s']:.1f} |")


if __name__ == "__main__":
    main()
