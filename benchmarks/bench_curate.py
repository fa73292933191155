"""Curation benchmark: metrics per asset, re-deciding a large dataset, and the corpus's verdicts.

    python benchmarks/bench_curate.py [--rows 100000] [--corpus PATH]

Prints markdown tables:

1. ``asset_metrics`` time per corpus asset (median of 5, after a warm-up), faces, decision.
2. ``meshprep curate`` (``curate_dataset``) on a ledger of N synthetic rows with stored metrics.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import meshprep as mp
from meshprep.curate import asset_metrics, decide
from meshprep.pipeline import AssetOutcome, AssetTask, Ledger, resolve_config
from meshprep.pipeline.curation import curate_dataset

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def bench_metrics(corpus: Path) -> list[tuple]:
    params = resolve_config()["curate"]
    rows = []
    for line in (corpus / "manifest.csv").read_text().splitlines()[1:]:
        name = line.split(",")[1]
        try:
            canonical, _ = mp.normalize(mp.load(corpus / name))
        except mp.MeshprepError:
            continue
        v, f = canonical.vertices, canonical.faces
        asset_metrics(v, f)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            metrics = asset_metrics(v, f)
            times.append(time.perf_counter() - start)
        decision, reason = decide(metrics, params)
        rows.append((name, len(f), statistics.median(times), decision, reason))
    return rows


def bench_curate(rows: int) -> float:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        ledger_path = Path(tmp) / "ledger.sqlite"
        with Ledger(ledger_path) as ledger:
            ledger.add_tasks(AssetTask(f"a{i:07d}", f"/src/{i}.glb") for i in range(rows))
            metrics = []
            for i in range(rows):
                m = {"plane_share": rng.random() ** 4, "thinness": rng.random(),
                     "ground_tile_share": rng.random() ** 6, "objects": rng.choice([1, 1, 2, 5]),
                     "floater_share": rng.random() ** 8,
                     "geometry_hash": f"{rng.randrange(rows // 2):016x}",
                     "curation": "keep", "curation_reason": ""}
                metrics.append((json.dumps(m), f"a{i:07d}"))
            ledger.db.executemany("UPDATE assets SET status = 'ok', metrics = ? "
                                  "WHERE asset_id = ?", metrics)
            ledger.db.commit()
            ledger.record(AssetOutcome("a0000000", "ok"), None)  # the usual write path works
        start = time.perf_counter()
        curate_dataset(tmp, resolve_config()["curate"], ledger_path)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    if (args.corpus / "manifest.csv").is_file():
        rows = bench_metrics(args.corpus)
        print("\n### Metrics per asset (median of 5)\n")
        print("| asset | faces | metrics s | decision | reason |")
        print("| --- | --- | --- | --- | --- |")
        for name, faces, seconds, decision, reason in sorted(rows, key=lambda r: r[1]):
            print(f"| {name} | {faces} | {seconds:.3f} | {decision} | {reason} |")
        big = [r for r in rows if r[1] >= 50_000]
        if big:
            print(f"\nassets with >= 50k faces: median {statistics.median(r[2] for r in big):.3f}"
                  " s")
    seconds = bench_curate(args.rows)
    print(f"\n### meshprep curate on {args.rows:,} stored rows: {seconds:.2f} s\n")


if __name__ == "__main__":
    main()
