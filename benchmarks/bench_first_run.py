"""The README's first command, cold (numba's cache empty, as on a fresh install) and warm.

Times ``meshprep run examples -o OUT --resolution 256 && meshprep status OUT && meshprep report
OUT`` with ``NUMBA_CACHE_DIR`` pointing at a new empty folder (cold: every kernel compiles), then
again with the folder the cold run filled and a new output (warm). As on a fresh ``pip install
-e .`` (which compiles no bytecode of the project), each repeat runs a fresh copy of ``src/`` and
``examples/`` without ``__pycache__`` (first on ``PYTHONPATH``), so the cold run also compiles
meshprep's ``.pyc`` files (written, as Python does by default, whatever
``PYTHONDONTWRITEBYTECODE`` says here); ``--checkout`` runs the checkout itself instead. Prints
wall-clock and CPU (user + sys of every process, workers included) seconds per run and their
medians::

    python benchmarks/bench_first_run.py [--repeats 3] [--workers N] [--checkout] [--jsonl FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_copy(scratch: Path) -> Path:
    """``src/`` and ``examples/`` copied into ``scratch`` without bytecode caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src", scratch / "src", ignore=ignore)
    shutil.copytree(ROOT / "examples", scratch / "examples", ignore=ignore)
    return scratch


def readme_command(cache: Path, out: Path, resolution: int, workers: int | None,
                   tree: Path = ROOT) -> tuple[float, float, list[float]]:
    """Run the README's three commands in ``tree``; (wall s, CPU s, wall s of each command)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's machine writes .pyc files
    if tree != ROOT:  # the copy's package before the editable install's path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree / "src"),
                                                          env.get("PYTHONPATH")]))
    meshprep = [sys.executable, "-m", "meshprep.cli"]
    run = [*meshprep, "run", "examples", "-o", str(out), "--resolution", str(resolution), "-q"]
    if workers:
        run += ["--workers", str(workers)]
    commands = [run, [*meshprep, "status", str(out)], [*meshprep, "report", str(out)]]
    parts = []
    cpu, start = _cpu_children(), time.perf_counter()
    for command in commands:
        began = time.perf_counter()
        subprocess.run(command, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
        parts.append(time.perf_counter() - began)
    return time.perf_counter() - start, _cpu_children() - cpu, parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold + warm pairs")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--workers", type=int, default=None, help="default: the CLI's")
    parser.add_argument("--checkout", action="store_true",
                        help="run the checkout (its __pycache__ kept) instead of a fresh copy")
    parser.add_argument("--jsonl", type=Path, default=None, help="append one line per run")
    args = parser.parse_args()
    if os.environ.get("NUMBA_CACHE_DIR"):
        print(f"note: NUMBA_CACHE_DIR={os.environ['NUMBA_CACHE_DIR']} is replaced per run")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    results: dict[str, list[tuple[float, float, list[float]]]] = {"cold": [], "warm": []}
    for repeat in range(args.repeats):
        scratch = Path(tempfile.mkdtemp(prefix="meshprep-first-run-"))
        try:
            cache = scratch / "numba-cache"
            cache.mkdir()
            tree = ROOT if args.checkout else fresh_copy(scratch / "tree")
            for mode in ("cold", "warm"):
                wall, cpu, parts = readme_command(cache, scratch / f"out-{mode}",
                                                  args.resolution, args.workers, tree)
                results[mode].append((wall, cpu, parts))
                if tree != ROOT and not (tree / "src/meshprep/__pycache__").is_dir():
                    raise SystemExit("the fresh copy was not the one imported (PYTHONPATH)")
                print(f"{mode} {repeat + 1}: {wall:6.1f} s wall, {cpu:6.1f} s CPU (run "
                      f"{parts[0]:.1f}, status {parts[1]:.1f}, report {parts[2]:.1f}; load "
                      f"{os.getloadavg()[0]:.2f})", flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as stream:
                        stream.write(json.dumps({"mode": mode, "wall_s": wall, "cpu_s": cpu,
                                                 "parts_s": parts,
                                                 "load": os.getloadavg()[0]}) + "\n")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    print("\n| first run | runs | wall s (median) | CPU s (median) | wall s min-max |")
    print("|---|---:|---:|---:|---|")
    for mode, rows in results.items():
        walls, cpus = [r[0] for r in rows], [r[1] for r in rows]
        print(f"| {mode} | {len(rows)} | {statistics.median(walls):.1f} | "
              f"{statistics.median(cpus):.1f} | {min(walls):.1f}-{max(walls):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
