"""Render benchmark: the built-in rasterizer against Blender (bpy) on the same cameras, one run.

    python benchmarks/bench_render.py [--assets a,b,c] [--views 150] [--size 512]
        [--workbench-assets a,b] [--agree-views 24] [--no-blender]

Blender is found as ``meshprep.blender`` finds it (``$MESHPREP_BLENDER_PYTHON`` or bpy
importable here). Prints three markdown tables:

1. speed: per asset, seconds for ``hammersley:N`` at ``size``² with normal, depth and mask
   written as PNG files (built-in: median of 3 after a warm-up), beside Blender's Workbench on
   the same cameras (one render per view, Blender's own render time summed, start-up and import
   excluded) and the ratio;
2. agreement: Blender Cycles, one sample at each pixel centre (``render_blender``'s data
   passes), against the built-in renderer on ``hammersley:--agree-views``: the smallest mask
   IoU over the views, the share of pixels covered in both whose depth is within 1e-3 relative,
   the share whose normals are within 2°, and the PSNR of the unlit base colour (albedo) over
   pixels covered in both;
3. the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import meshprep as mp
from meshprep.blender import blender_python
from meshprep.render import render_views
from meshprep.render.blender import render_blender

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT = ("kenney_flag", "fandisk", "duck_glb", "bunny_ply", "chair", "beast", "engine_glb",
           "counter_stl", "cycloidal", "milk_truck", "box_textured", "capsule_textured")
WORKBENCH = ("engine_glb", "fandisk", "duck_glb")
PASSES = ("normal", "depth", "mask")


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _builtin_seconds(mesh, folder: Path, views: int, size: int) -> tuple[float, int]:
    render_views(mesh, folder / "warm", "scoring4", size=64)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = render_views(mesh, folder / "builtin", f"hammersley:{views}", size=size,
                              passes=PASSES)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(result.files)


def _workbench_seconds(path: Path, folder: Path, views: int, size: int) -> float:
    result = render_blender(path, folder / "workbench", f"hammersley:{views}", size=size,
                            passes=("normal",), engine="workbench")
    return float(sum(sum(v) for v in result.stage_seconds.values()))


def agreement(ours: Path, blender: Path) -> dict[str, float]:
    """Mask IoU (min over views), depth and normal agreement shares, albedo PSNR."""
    meta = json.loads((ours / "transforms.json").read_text())
    depth_max = meta["depth_max"]
    ious, depth_ok, normal_ok, squared, covered = [], [], [], 0.0, 0
    for i in range(len(meta["frames"])):
        a, b = _read(ours / f"{i:03d}_mask.png") > 0, _read(blender / f"{i:03d}_mask.png") > 0
        ious.append((a & b).sum() / max((a | b).sum(), 1))
        both = a & b
        da = _read(ours / f"{i:03d}_depth.png").astype(np.float64)[both] / 65535 * depth_max
        db = _read(blender / f"{i:03d}_depth.png").astype(np.float64)[both] / 65535 * depth_max
        depth_ok.append(np.abs(da - db) <= 1e-3 * np.maximum(db, 1e-9))
        na, nb = (_read(d / f"{i:03d}_normal.png")[..., :3][both].astype(np.float64) / 255 * 2 - 1
                  for d in (ours, blender))
        cosine = (na * nb).sum(1) / np.maximum(
            np.linalg.norm(na, axis=1) * np.linalg.norm(nb, axis=1), 1e-12)
        normal_ok.append(np.degrees(np.arccos(np.clip(cosine, -1, 1))) <= 2.0)
        ca, cb = (_read(d / f"{i:03d}_albedo.png")[..., :3][both].astype(np.float64)
                  for d in (ours, blender))
        squared += float(((ca - cb) ** 2).sum())
        covered += ca.size
    mse = squared / max(covered, 1)
    return {"iou": float(min(ious)), "depth": float(np.concatenate(depth_ok).mean()),
            "normal": float(np.concatenate(normal_ok).mean()),
            "psnr": float(10 * np.log10(255**2 / mse)) if mse > 0 else float("inf")}


def _agree(path: Path, folder: Path, views: int, size: int) -> dict[str, float]:
    passes = ("normal", "depth", "mask", "albedo")
    cams = f"hammersley:{views}"
    render_views(mp.load(path, appearance=True), folder / "ours", cams, size=size,
                 passes=passes)
    render_blender(path, folder / "cycles", cams, size=size, passes=passes, engine="cycles")
    return agreement(folder / "ours", folder / "cycles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--assets", default=",".join(DEFAULT))
    parser.add_argument("--views", type=int, default=150)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workbench-assets", default=",".join(WORKBENCH))
    parser.add_argument("--agree-views", type=int, default=24)
    parser.add_argument("--no-blender", action="store_true")
    args = parser.parse_args()
    files = {line.split(",")[0]: line.split(",")[1]
             for line in (args.corpus / "manifest.csv").read_text().splitlines()[1:]}
    blender = blender_python() is not None and not args.no_blender
    speed, agree = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for asset in args.assets.split(","):
            path = args.corpus / files[asset]
            folder = Path(tmp) / asset
            mesh = mp.load(path)
            ours, count = _builtin_seconds(mesh, folder, args.views, args.size)
            workbench = None
            if blender and asset in args.workbench_assets.split(","):
                workbench = _workbench_seconds(path, folder, args.views, args.size)
            speed.append((asset, len(mesh.faces), ours, count, workbench))
            if blender:
                agree.append((asset, len(mesh.faces),
                              _agree(path, folder, args.agree_views, args.size)))
            print(f"{asset}: done", flush=True)
    _print_speed(speed, args)
    if agree:
        _print_agreement(agree, args)


def _print_speed(rows, args) -> None:
    print(f"\n### Speed: hammersley:{args.views} at {args.size}², normal + depth + mask, "
          "PNG files written\n")
    print("| asset | faces | built-in s (median of 3) | per view ms | files | "
          "Workbench s (render only) | Workbench / built-in |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for asset, faces, ours, count, workbench in rows:
        bench = f"{workbench:.1f}" if workbench is not None else "—"
        ratio = f"{workbench / ours:.1f}×" if workbench is not None else "—"
        print(f"| {asset} | {faces} | {ours:.2f} | {ours / args.views * 1000:.1f} | {count} | "
              f"{bench} | {ratio} |")
    print(f"\nbuilt-in median over assets: {statistics.median(r[2] for r in rows):.2f} s")
    ratios = [r[4] / r[2] for r in rows if r[4] is not None]
    if ratios:
        print(f"Workbench / built-in, median over {len(ratios)} assets: "
              f"{statistics.median(ratios):.1f}×")


def _print_agreement(rows, args) -> None:
    print(f"\n### Agreement with Blender Cycles (pixel centres), hammersley:{args.agree_views} "
          f"at {args.size}²\n")
    print("| asset | faces | mask IoU (min over views) | depth within 1e-3 rel. | "
          "normals within 2° | albedo PSNR dB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for asset, faces, a in rows:
        print(f"| {asset} | {faces} | {a['iou']:.4f} | {a['depth']:.4f} | {a['normal']:.4f} | "
              f"{a['psnr']:.1f} |")


if __name__ == "__main__":
    main()
