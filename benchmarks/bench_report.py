"""Report benchmark: build the report of a 10,000-asset dataset and open it in Chromium.

    python benchmarks/bench_report.py [--assets 10000]

A synthetic output folder: a ledger of N assets (5 % failed, 3 % skipped by curation, metrics as
a run writes them) and, for every ok asset, two 256² normal thumbnails (hard links to one real
render). Prints the build time and, when Chromium and playwright are installed, the time from
navigation to an interactive first gallery page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import trimesh

from meshprep.pipeline import AssetOutcome, AssetTask, Ledger
from meshprep.render import render_views
from meshprep.report import build_report


def make_dataset(root: Path, count: int) -> None:
    rng = random.Random(0)
    thumb_dir = root / "_thumb"
    render_views(trimesh.creation.torus(1.0, 0.3), thumb_dir, "scoring4", size=256,
                 passes=("normal",))
    thumb = thumb_dir / "000_normal.png"
    with Ledger(root / "ledger.sqlite") as ledger:
        tasks = [AssetTask(f"{i:064x}", f"/data/raw/model{i}.{rng.choice(['glb', 'obj'])}")
                 for i in range(count)]
        ledger.add_tasks(tasks)
        run = ledger.start_run("local", 2, "bench")
        for task in tasks:
            roll = rng.random()
            metrics = {"input_faces": rng.randint(100, 500_000),
                       "watertight_faces": rng.randint(10_000, 2_000_000),
                       "watertight_genus": rng.randint(0, 5), "plane_share": rng.random() ** 3,
                       "thinness": rng.random(), "objects": rng.choice([1, 1, 1, 2]),
                       "curation": "keep", "curation_reason": ""}
            if roll < 0.05:
                outcome = AssetOutcome(task.asset_id, "failed", rng.random(), "load",
                                       rng.choice(["CorruptFileError", "NoTrianglesError"]),
                                       "truncated file", [("load", "failed", 0.01)])
            elif roll < 0.08:
                metrics.update(curation="drop", curation_reason="drop: plane-dominated — 0.95")
                outcome = AssetOutcome(task.asset_id, "skipped", 0.1, "curate", None,
                                       metrics["curation_reason"], [], metrics)
            else:
                outcome = AssetOutcome(task.asset_id, "ok", rng.uniform(1, 20), None, None,
                                       None, [("load", "ok", 0.1), ("watertight", "ok", 2.0)],
                                       metrics)
                folder = root / "objects" / task.asset_id[:2] / task.asset_id / "renders"
                for target in ("input", "watertight"):
                    (folder / target).mkdir(parents=True, exist_ok=True)
                    os.link(thumb, folder / target / "000_normal.png")
            ledger.record(outcome, run)
        ledger.finish_run(run)
    shutil.rmtree(thumb_dir)


def open_in_chromium(index: Path) -> float | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(index.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        seconds = page.evaluate("performance.now()") / 1000.0
        browser.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_report_") as name:
        root = Path(name)
        start = time.perf_counter()
        make_dataset(root, args.assets)
        made = time.perf_counter() - start
        start = time.perf_counter()
        index = build_report(root)
        built = time.perf_counter() - start
        size = (root / "report" / "data" / "index.js").stat().st_size / 2**20
        interactive = open_in_chromium(index)
        print(f"\n### Report of {args.assets:,} assets\n")
        print("| dataset made s | report built s | index.js MB | first page interactive s |")
        print("| --- | --- | --- | --- |")
        shown = f"{interactive:.2f}" if interactive is not None else "no Chromium"
        print(f"| {made:.1f} | {built:.2f} | {size:.1f} | {shown} |")
        print(json.dumps({"failed_pages": len(list((root / 'report' / 'failed').iterdir()))}))


if __name__ == "__main__":
    main()
