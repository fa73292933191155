"""meshprep's ``partcrafter`` layout against PartCrafter's own preprocessing, on the same GLBs.

Usage (from the repository root)::

    python benchmarks/bench_parts.py [CORPUS] [--venv DIR] [--mirror DIR] [--work DIR]

1. Makes (or reuses) a separate virtual environment (``--venv``, default
   ``<tempdir>/meshprep-partcrafter-venv``) with what PartCrafter's preprocessing imports
   (torch CPU, accelerate, omegaconf, trimesh, scikit-learn, scipy, pillow).
2. Extracts PartCrafter (``--mirror``: a bare git repository of wgsxm/PartCrafter, default
   ``../.mirror/wgsxm+PartCrafter/repo`` beside the repository, else the ``PARTCRAFTER_REPO``
   environment variable) into the work folder, unchanged.
3. Per GLB (the corpus's glTF files with a scene, plus PartCrafter's two example objects), runs
   its ``datasets/preprocess/mesh_to_point.py`` and ``calculate_iou.py`` one process each, as
   its ``preprocess.py`` does (``render.py`` needs an OpenGL context and ``rmbg.py`` downloads
   RMBG-1.4 weights: neither runs here, so the upstream time leaves them out while meshprep's
   includes its condition render);
4. Runs ``meshprep run`` with ``[write] layouts = ["partcrafter"]`` over the same files (steps
   load, normalize, curate, write: one worker) and compares per file: the number of part
   surfaces; each part's samples against the upstream's (mean nearest-neighbour distance both
   ways over 20 000 points of each, in the [-1, 1] frame, parts paired by least gap, next to
   the same figure between two of the upstream's own samplings of that part: "within sampling"
   means the ratio is near 1); ``iou_mean`` / ``iou_max`` against ``calculate_iou.py``'s and
   the largest difference of the sorted pair lists; and the seconds per asset (median);
5. Runs PartCrafter's own ``ObjaversePartDataset`` / ``BatchedObjaversePartDataset`` (its
   ``src/datasets/objaverse_part.py``, unchanged) on our export (``_partcrafter_loader_venv.py``).

Issue 30's targets: same part count and per-part surfaces, IoU statistics within 1e-3, cost
>= 10x cheaper per asset.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_upstream_loaders import ensure_venv  # noqa: E402

REQUIREMENTS = ["torch==2.13.0", "accelerate", "omegaconf", "trimesh",
                "scikit-learn", "scipy", "numpy", "pillow"]
DEFAULT_MIRROR = ROOT.parent / ".mirror" / "wgsxm+PartCrafter" / "repo"
SCENE_FORMATS = {".glb", ".gltf"}
COMPARE_POINTS = 20_000


def extract(mirror: Path, target: Path) -> Path:
    """PartCrafter's code at HEAD of the bare repository, unchanged (``src/`` and
    ``datasets/``: the snapshot may lack its large binary assets)."""
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", f"--git-dir={mirror}", "archive", "HEAD", "--", "src",
                              "datasets"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def inputs(corpus: Path, upstream: Path, folder: Path) -> list[Path]:
    """The GLBs: the corpus's loadable glTF scenes and PartCrafter's example objects (where the
    checkout has them), copied into one folder (the upstream names its outputs after the file
    stem)."""
    import trimesh

    folder.mkdir(parents=True, exist_ok=True)
    candidates = sorted(p for p in corpus.glob("*") if p.suffix.lower() in {".glb"})
    candidates += sorted((upstream / "assets" / "objects").glob("*.glb"))
    files = []
    for path in candidates:
        try:
            scene = trimesh.load(path, process=False)
            if not len(getattr(scene, "geometry", {})):
                continue
        except Exception:  # noqa: BLE001  (the corpus's broken files are not part of this)
            continue
        target = folder / path.name
        shutil.copyfile(path, target)
        files.append(target)
    return files


def run_upstream(python: Path, upstream: Path, files: list[Path], out: Path) -> dict[str, float]:
    """``mesh_to_point.py`` then ``calculate_iou.py`` per file; seconds per file."""
    env = {**os.environ, "PYTHONPATH": str(upstream), "OMP_NUM_THREADS": "1"}
    seconds = {}
    for path in files:
        start = time.perf_counter()
        for script in ("mesh_to_point.py", "calculate_iou.py"):
            subprocess.run([str(python), f"datasets/preprocess/{script}", "--input", str(path),
                            "--output", str(out)], cwd=upstream, env=env, check=True,
                           capture_output=True)
        seconds[path.stem] = time.perf_counter() - start
    return seconds


def run_meshprep(folder: Path, out: Path) -> tuple[dict[str, float], dict[str, str]]:
    """``meshprep run`` (one worker) with the partcrafter layout; seconds per file (the asset's
    steps plus its export) and each file's item folder."""
    sys.path.insert(0, str(ROOT / "src"))
    from meshprep.pipeline import LocalExecutor, resolve_config, run_dataset

    config = resolve_config(overrides={"run": {"steps": ["load", "normalize", "curate", "write"]},
                                       "write": {"layouts": ["partcrafter"]}})
    run_dataset(folder, out, config, executor=LocalExecutor(workers=1), progress=False)
    seconds, items = {}, {}
    exported = out / "partcrafter"
    for meta_path in out.glob("objects/*/*/meta.json"):
        meta = json.loads(meta_path.read_text())
        stem = Path(meta["source"]).stem
        marker = exported / ".meshprep-export" / f"{meta['id']}.json"
        export_seconds = json.loads(marker.read_text())["seconds"] if marker.is_file() else 0.0
        seconds[stem] = sum(s["seconds"] for s in meta["stages"]) + export_seconds
        items[stem] = str(exported / meta["id"])
    return seconds, items


def surface_gap(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    """Mean nearest-neighbour distance both ways between two point sets (subsampled)."""
    a = a[rng.choice(len(a), min(len(a), COMPARE_POINTS), replace=False)]
    b = b[rng.choice(len(b), min(len(b), COMPARE_POINTS), replace=False)]
    return 0.5 * float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())


def matched_parts(ours: list[dict], theirs: list[dict], rng: np.random.Generator
                  ) -> list[tuple[int, int]]:
    """Our parts paired with the upstream's (the assignment of least total surface gap: the
    orders differ where meshprep's frame-0 poser lists an animated file's parts in node order;
    the loader shuffles them anyway)."""
    from scipy.optimize import linear_sum_assignment

    small = [[np.asarray(p["surface_points"])[:2000] for p in side] for side in (ours, theirs)]
    cost = np.array([[surface_gap(a, b, rng) for b in small[1]] for a in small[0]])
    rows, cols = linear_sum_assignment(cost)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def compare(stem: str, upstream_out: Path, item: str) -> dict:
    """One file's figures: part counts, surface gaps, IoU statistics."""
    rng = np.random.default_rng(0)
    theirs = np.load(upstream_out / stem / "points.npy", allow_pickle=True).item()
    their_iou = json.loads((upstream_out / stem / "iou.json").read_text())
    their_count = json.loads((upstream_out / stem / "num_parts.json").read_text())["num_parts"]
    ours = np.load(Path(item) / "points.npy", allow_pickle=True).item()
    our_iou = json.loads((Path(item) / "iou.json").read_text())
    our_count = json.loads((Path(item) / "num_parts.json").read_text())["num_parts"]
    mine, other = ours["parts"] or [ours["object"]], theirs["parts"] or [theirs["object"]]
    gaps, noise = [], []
    for i, j in matched_parts(mine, other, rng):
        pts = np.asarray(other[j]["surface_points"])
        gaps.append(surface_gap(np.asarray(mine[i]["surface_points"]), pts, rng))
        half = len(pts) // 2  # two independent upstream samplings of the same part
        noise.append(surface_gap(pts[:half], pts[half:], rng))
    a, b = sorted(our_iou["iou_list"]), sorted(their_iou["iou_list"])
    pair_diff = float(np.abs(np.subtract(a, b)).max()) if a and len(a) == len(b) else \
        (0.0 if not a and not b else float("inf"))
    return {"file": stem, "their_num_parts": their_count, "their_surfaces": len(theirs["parts"]),
            "our_num_parts": our_count, "our_surfaces": len(ours["parts"]),
            "gap": max(gaps), "gap_ratio": max(g / max(n, 1e-12) for g, n in zip(gaps, noise,
                                                                                   strict=True)),
            "iou_pairs": len(their_iou["iou_list"]), "pair_diff": pair_diff,
            "iou_mean_diff": abs(our_iou["iou_mean"] - their_iou["iou_mean"]),
            "iou_max_diff": abs(our_iou["iou_max"] - their_iou["iou_max"])}


def upstream_loader(python: Path, upstream: Path, export: Path, work: Path) -> str:
    """PartCrafter's ``ObjaversePartDataset`` and ``BatchedObjaversePartDataset`` on our export
    (``_partcrafter_loader_venv.py``); one line saying what they yielded."""
    report = work / "upstream_loader.json"
    subprocess.run([str(python), str(Path(__file__).with_name("_partcrafter_loader_venv.py")),
                    str(upstream), str(export / "object_part_configs.json"), str(report)],
                   check=True, capture_output=True)
    data = json.loads(report.read_text())
    shapes = sorted({f"images {i['images'][0]} {i['images'][1]}, part_surfaces "
                     f"{i['part_surfaces'][0]} {i['part_surfaces'][1]}" for i in data["items"]})
    return (f"PartCrafter's ObjaversePartDataset on our export: {data['length']} items kept by "
            f"its filters (num_parts 1-16, iou_mean and iou_max <= 0.5), {len(data['items'])} "
            f"read, {len(data['errors'])} errors; batched collate: {len(data['batches'])} "
            f"batches {data['batches'][:1]}; e.g. {shapes[:2]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--venv", type=Path,
                        default=Path(tempfile.gettempdir()) / "meshprep-partcrafter-venv")
    parser.add_argument("--mirror", type=Path,
                        default=Path(os.environ.get("PARTCRAFTER_REPO", DEFAULT_MIRROR)))
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="meshprep-bench-parts-"))
    python = ensure_venv(args.venv, REQUIREMENTS)
    upstream = extract(args.mirror, work / "PartCrafter")
    files = inputs(args.corpus, upstream, work / "in")
    record = work / "upstream_seconds.json"  # a rerun on the same --work reuses the upstream
    their_seconds = json.loads(record.read_text()) if record.is_file() else {}
    if not {p.stem for p in files} <= set(their_seconds):
        their_seconds = run_upstream(python, upstream, files, work / "upstream")
        record.write_text(json.dumps(their_seconds))
    our_seconds, items = run_meshprep(work / "in", work / "meshprep")
    rows = [compare(p.stem, work / "upstream", items[p.stem]) for p in files if p.stem in items]
    print(f"{len(rows)} GLBs; work folder {work}")
    print("| file | upstream num_parts / surfaces | meshprep num_parts / surfaces | "
          "surface gap (x sampling) | IoU pairs | iou_mean diff | iou_max diff | "
          "largest pair diff (sorted) | upstream s | meshprep s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['file']} | {row['their_num_parts']} / {row['their_surfaces']} | "
              f"{row['our_num_parts']} / {row['our_surfaces']} | {row['gap']:.4f} "
              f"({row['gap_ratio']:.2f}) | {row['iou_pairs']} | {row['iou_mean_diff']:.1e} | "
              f"{row['iou_max_diff']:.1e} | {row['pair_diff']:.1e} | "
              f"{their_seconds[row['file']]:.2f} | {our_seconds[row['file']]:.2f} |")
    theirs = np.median([their_seconds[r["file"]] for r in rows])
    ours = np.median([our_seconds[r["file"]] for r in rows])
    ratios = [their_seconds[r["file"]] / max(our_seconds[r["file"]], 1e-9) for r in rows]
    print(f"median seconds per asset: upstream {theirs:.2f} (mesh_to_point + calculate_iou), "
          f"meshprep {ours:.2f} (load + curate + parts.npz + condition render + export); "
          f"median ratio {np.median(ratios):.1f}x (min {min(ratios):.1f}x)")
    print(upstream_loader(python, upstream, work / "meshprep" / "partcrafter", work))
    worst = max(max(r["iou_mean_diff"], r["iou_max_diff"]) for r in rows)
    print(f"largest iou_mean / iou_max difference {worst:.1e}; largest surface gap ratio "
          f"{max(r['gap_ratio'] for r in rows):.2f}")


if __name__ == "__main__":
    main()
