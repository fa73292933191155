"""Which numba kernels the README's run compiles, in which step, and how long each takes.

Runs the default steps on ``examples/`` in this one process with numba's cache pointed at an
empty temporary folder (so everything compiles), timing every ``numba:compile`` event; the
time of a kernel excludes the kernels it compiles in turn. Prints one line per specialization::

    python benchmarks/_compile_profile.py [--resolution 256] [--top 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--top", type=int, default=80)
    parser.add_argument("--keep-cache", action="store_true",
                        help="use NUMBA_CACHE_DIR as it is (measure a warm run)")
    parser.add_argument("--serial", action="store_true",
                        help="compile every kernel without parallel=True (what it would save)")
    parser.add_argument("--prange-only", action="store_true",
                        help="parallel=True as parallel={'prange': True} (no implicit parfors)")
    args = parser.parse_args()
    if not args.keep_cache:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="meshprep-numba-")
    if args.serial or args.prange_only:
        import numba

        plain = numba.njit

        def njit(*a, **k):
            if k.get("parallel") is True:
                if args.serial:
                    k.pop("parallel")
                else:
                    k["parallel"] = {"prange": True, "comprehension": False,
                                     "reduction": False, "inplace_binop": False,
                                     "setitem": False, "numpy": False, "stencil": False,
                                     "fusion": False}
            return plain(*a, **k)
        numba.njit = njit

    import numba.core.event as ev

    from meshprep.pipeline import steps as steps_module
    from meshprep.pipeline.config import resolve_config
    from meshprep.pipeline.sources import iter_tasks
    from meshprep.pipeline.store import OutputStore

    current = {"step": "import"}
    stack: list[list] = []
    records: list[tuple] = []

    class Listener(ev.Listener):
        def on_start(self, event):
            stack.append([time.thread_time(), 0.0])

        def on_end(self, event):
            start, children = stack.pop()
            total = time.thread_time() - start
            if stack:
                stack[-1][1] += total
            disp = event.data["dispatcher"]
            py = disp.py_func
            flags = disp.targetoptions
            records.append((total - children, total, f"{py.__module__}.{py.__qualname__}",
                            str(event.data["args"])[:90], bool(flags.get("parallel")),
                            current["step"]))

    ev.register("numba:compile", Listener())
    original = steps_module.resolve_step

    def resolve(name):
        step = original(name)

        def timed(ctx):
            current["step"] = name
            return step(ctx)
        return timed

    steps_module.resolve_step = resolve
    config = resolve_config(None, {"watertight": {"resolution": args.resolution}})
    out = tempfile.mkdtemp(prefix="meshprep-profile-")
    per_asset = []
    for task in iter_tasks(ROOT / "examples"):
        start = time.perf_counter()
        outcome = steps_module.process_asset(task, config, OutputStore(out), "x")
        per_asset.append((task.asset_id, outcome.status, time.perf_counter() - start,
                          outcome.stages))
    for asset, status, seconds, stages in per_asset:
        print(f"{asset}: {status} {seconds:.1f} s  " +
              " ".join(f"{n}={t:.1f}" for n, _, t in stages))
    records.sort(reverse=True)
    by_step: dict[str, float] = {}
    by_module: dict[str, float] = {}
    for own, _, name, _, _, step in records:
        by_step[step] = by_step.get(step, 0.0) + own
        module = name.rsplit(".", 1)[0]
        by_module[module] = by_module.get(module, 0.0) + own
    print(f"\n{len(records)} specializations, {sum(r[0] for r in records):.1f} s compiling")
    print("by step:", {k: round(v, 1) for k, v in sorted(by_step.items(), key=lambda x: -x[1])})
    print("by module:")
    for module, seconds in sorted(by_module.items(), key=lambda x: -x[1]):
        print(f"  {seconds:6.1f}  {module}")
    print(f"\n{'own s':>6} {'incl s':>6} par step        function  args")
    for own, total, name, sig, parallel, step in records[:args.top]:
        print(f"{own:6.2f} {total:6.2f} {'P' if parallel else ' '}   {step:<11} {name}  {sig}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
