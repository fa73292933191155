"""Losing a Ray node mid-run (issue 20): what it costs, and that no asset fails for it.

    python benchmarks/bench_ray_nodeloss.py [--corpus PATH] [--resolution 128] [--kill-after 4]

A real two-node cluster on this machine (``ray.cluster_utils.Cluster``: a head and a worker
raylet, one CPU each) runs ``meshprep run`` over the corpus three times:

1. ``both``: no node lost (the reference: per-asset seconds, total time).
2. ``lost+replaced``: the worker node killed (``remove_node(allow_graceful=False)``, what a
   preempted spot instance does) after ``--kill-after`` assets are ok, and a fresh worker node
   added at once (what an autoscaler does). Extra time against ``both`` is compared with the
   target: at most the time of the assets that were running on the lost node (their seconds
   in the reference run) + 10 s.
3. ``lost``: the worker killed the same way and not replaced. The run finishes on one node;
   the extra time is compared with a model of the unavoidable part: from the kill on, the
   assets not yet ok run one after another on the head (their reference seconds, summed).

Printed: one markdown table (statuses, infrastructure retries, failures, times) and whether
every run ends with the same ids, statuses and metrics as the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from meshprep.pipeline import RayExecutor, resolve_config, run_dataset

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
METRICS = ("watertight_faces", "watertight_genus", "input_faces")


def ledger_rows(ledger: Path, sql: str) -> list[tuple]:
    """Rows of a read-only query on a run's ledger (none while it does not exist yet)."""
    if not ledger.exists():
        return []
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def ok_count(ledger: Path) -> int:
    rows = ledger_rows(ledger, "SELECT COUNT(*) FROM assets WHERE status = 'ok'")
    return rows[0][0] if rows else 0


def kill_worker_when(cluster, ledger: Path, after: int, replace: bool, running) -> dict:
    """Kill the worker node once ``after`` assets are ok (and add a fresh one when
    ``replace``), from the main thread (Ray's node utilities install signal handlers) while
    the run goes on in ``running``; returns the kill's time and the assets ok by then."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and running.is_alive() and ok_count(ledger) < after:
        time.sleep(0.05)
    mark = {"kill": time.time(), "ok_at_kill": {row[0] for row in ledger_rows(
        ledger, "SELECT asset_id FROM assets WHERE status = 'ok'")}}
    cluster.remove_node(next(iter(cluster.worker_nodes)), allow_graceful=False)
    if replace:
        cluster.add_node(num_cpus=1)
    return mark


def outcome(out: Path) -> dict[str, tuple]:
    """asset id -> (status, metrics compared across runs)."""
    rows = ledger_rows(out / "ledger.sqlite", "SELECT asset_id, status, metrics FROM assets")
    result = {}
    for asset_id, status, metrics in rows:
        values = json.loads(metrics or "{}")
        result[asset_id] = (status, tuple(values.get(k) for k in METRICS))
    return result


def one_run(cluster, corpus: Path, out: Path, config: dict, mode: str, after: int) -> dict:
    """Run the corpus once in ``mode`` (both / lost+replaced / lost) and measure it."""
    ledger = out / "ledger.sqlite"
    result: dict = {}

    def work() -> None:
        result["summary"] = run_dataset(corpus, out, config, progress=False,
                                        executor=RayExecutor(log=open(os.devnull, "w")))

    start = time.time()
    running = threading.Thread(target=work, daemon=True)
    running.start()
    mark: dict = {}
    if mode != "both":
        mark = kill_worker_when(cluster, ledger, after, mode == "lost+replaced", running)
    running.join()
    wall = time.time() - start
    summary = result["summary"]
    retried = {row[0] for row in ledger_rows(
        ledger, "SELECT asset_id FROM events WHERE status = 'infra_retry'")}
    first_retry = ledger_rows(ledger, "SELECT MIN(time) FROM events WHERE "
                                      "status = 'infra_retry'")
    return {"mode": mode, "wall": wall, "counts": summary.counts,
            "failures": summary.failures, "retried": retried, "kill": mark.get("kill"),
            "start": start, "ok_at_kill": mark.get("ok_at_kill", set()),
            "first_retry": first_retry[0][0] if first_retry else None,
            "outcome": outcome(out)}


def reference_seconds(out: Path) -> dict[str, float]:
    """Each asset's seconds in the reference run."""
    rows = ledger_rows(out / "ledger.sqlite", "SELECT asset_id, seconds FROM assets")
    return {asset_id: seconds or 0.0 for asset_id, seconds in rows}


def report(runs: list[dict], seconds: dict[str, float]) -> None:
    """The markdown table."""
    both = runs[0]
    print("| run | ok | failed (asset / infrastructure) | assets retried | kill -> first "
          "retry s | wall s | extra s | allowed extra s | same as reference |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for run in runs:
        extra = allowed = detect = ""
        if run["kill"] is not None:
            lost = sum(seconds.get(a, 0.0) for a in run["retried"])
            extra = f"{run['wall'] - both['wall']:.1f}"
            if run["mode"] == "lost+replaced":
                allowed = f"{lost + 10:.1f} (lost {lost:.1f} + 10)"
            else:
                # the unavoidable part: what was not ok at the kill, on one node from then on
                left = sum(s for a, s in seconds.items() if a not in run["ok_at_kill"])
                model = run["kill"] - run["start"] + left
                allowed = f"{model - both['wall'] + 10:.1f} (one node from the kill + 10)"
            if run["first_retry"] is not None:
                detect = f"{run['first_retry'] - run['kill']:.1f}"
        failures = run["failures"]
        same = run["outcome"] == both["outcome"]
        print(f"| {run['mode']} | {run['counts'].get('ok', 0)} | "
              f"{failures.get('asset', 0)} / {failures.get('infrastructure', 0)} | "
              f"{len(run['retried'])} | {detect} | {run['wall']:.1f} | {extra} | {allowed} | "
              f"{'yes' if same else 'no'} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--kill-after", type=int, default=4)
    parser.add_argument("--modes", default="both,lost+replaced,lost")
    args = parser.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    config = resolve_config(overrides={"watertight": {"resolution": args.resolution},
                                       "limits": {"timeout_s": 900.0}})
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench_nodeloss_") as tmp:
            for mode in args.modes.split(","):
                if len(cluster.worker_nodes) == 0:
                    cluster.add_node(num_cpus=1)
                cluster.wait_for_nodes()
                runs.append(one_run(cluster, args.corpus, Path(tmp) / mode.replace("+", "_"),
                                    config, mode, args.kill_after))
            seconds = reference_seconds(Path(tmp) / "both")
            print(f"\n### A lost Ray node: corpus ({len(seconds)} assets) at "
                  f"{args.resolution}³, head + worker node, 1 CPU each, worker killed after "
                  f"{args.kill_after} assets ok\n")
            report(runs, seconds)
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
