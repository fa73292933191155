"""Peak resident memory of one asset through the default steps, each in a fresh process.

The figure behind ``[limits] memory_request_mb`` (what the Ray executor asks the scheduler
for). Usage::

    python benchmarks/bench_asset_memory.py CORPUS [--timeout 60] [--resolution 512]

Prints one line per asset (peak RSS in MB, or why none) and the median / p90 / max.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, resource, sys
from meshprep.pipeline import resolve_config
from meshprep.pipeline.sources import iter_tasks
from meshprep.pipeline.steps import process_asset
from meshprep.pipeline.store import OutputStore
config = resolve_config(overrides={"watertight": {"resolution": int(sys.argv[3])}})
task = next(iter(iter_tasks(sys.argv[1])))
outcome = process_asset(task, config, OutputStore(sys.argv[2]), "bench")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"status": outcome.status, "peak_mb": peak}))
"""


def measure(path: Path, timeout: float, resolution: int) -> dict:
    """Peak RSS (MB) and status of one asset in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as out:
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD, str(path), out,
                                   str(resolution)], capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "peak_mb": None}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"status": f"exit {done.returncode}", "peak_mb": None}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--resolution", type=int, default=512)
    args = parser.parse_args()
    peaks = []
    for path in sorted(p for p in args.corpus.iterdir() if p.name != "README.md"):
        result = measure(path, args.timeout, args.resolution)
        print(f"{path.name:40s} {result['status']:10s} {result['peak_mb'] or 0:8.0f}",
              flush=True)
        if result["peak_mb"] is not None:
            peaks.append(result["peak_mb"])
    if peaks:
        peaks.sort()
        p90 = peaks[min(len(peaks) - 1, int(0.9 * len(peaks)))]
        print(f"measured {len(peaks)}: median {statistics.median(peaks):.0f} MB, "
              f"p90 {p90:.0f} MB, max {peaks[-1]:.0f} MB")


if __name__ == "__main__":
    main()
