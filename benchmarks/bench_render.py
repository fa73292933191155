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

``--cycles-compare`` (issue 28) runs a fourth comparison instead: the ``color`` pass of the
built-in renderer against Blender Cycles with TRELLIS.2's settings (``preset="trellis2"``: 32
samples, box filter, bounces 1/1/3/3, OIDN, Filmic) on the same ``cond:N`` cameras, under three
lightings given to both (``--lightings``): a uniform white world, TRELLIS.2's random lights
(:func:`meshprep.render.lights.lighting_for_views`, drawn once per asset) and an environment map (a
synthetic sky with a sun written here, :func:`write_sky`, turned per view). Assets: the corpus's
textured glTF files plus three written here (a metallic sphere, an emissive cube, an alpha-MASK
textured quad). Per asset and lighting: PSNR (median, min over views) and SSIM of RGB × alpha on
black inside the union of the masks, the smallest mask IoU (alpha > 0.5), and CPU seconds per view
at ``--cost-size``² (the built-in renderer: process time of a ``cond:--cost-views`` job divided by
its views, as a dataset renders an asset's views in one call, and of a one-view job; Cycles: the
children's ``getrusage`` of a one-view job less a 16² job's start-up, import, scene load and BVH
build, on ``--cost-assets``).
Side-by-side images (built-in | Cycles | |difference| × 4) go to ``--compare-out``.
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


# --- issue 28: the colour pass against Cycles ------------------------------------------------

COMPARE = ("duck_glb", "milk_truck", "box_textured", "boolean_glb", "engine_glb",
           "kenney_building", "kenney_character", "kenney_flag", "kenney_fountain",
           "kenney_platform", "kenney_road", "kenney_trees")
GENERATED = ("metal_sphere", "emissive_cube", "alpha_quad")
LIGHTINGS = ("uniform", "trellis2", "envmap")
#: the bench's synthetic environment map: rows (256 × 512), the sun's direction (elevation,
#: azimuth in degrees), its angular sigma (degrees) and peak radiance
SKY_ROWS = 256
SUN = (40.0, 30.0, 4.0, 40.0)


def write_sky(folder: Path) -> Path:
    """A synthetic equirectangular sky (written here, no download) as ``folder/sky.hdr``: a
    blue gradient above the horizon, a warm brown ground below it and a sun-like Gaussian
    blob (:data:`SUN`), linear Radiance RGBE."""
    from meshprep.render.envmap import texel_directions, write_hdr

    dirs, _ = texel_directions(SKY_ROWS)
    up = dirs[:, 2:3]
    sky = np.array([0.25, 0.45, 0.9]) * (1 - up) * 0.6 + np.array([0.9, 0.95, 1.0]) * 0.35
    ground = np.array([0.35, 0.22, 0.12]) * 0.6
    rgb = np.where(up > 0, sky, ground)
    elevation, azimuth, sigma, peak = (np.radians(SUN[0]), np.radians(SUN[1]),
                                       np.radians(SUN[2]), SUN[3])
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                    np.sin(elevation)])
    angle = np.arccos(np.clip(dirs @ sun, -1, 1))
    rgb = rgb + peak * np.exp(-0.5 * (angle / sigma) ** 2)[:, None] * np.array([1.0, 0.9, 0.75])
    folder.mkdir(parents=True, exist_ok=True)
    return write_hdr(folder / "sky.hdr", rgb.reshape(SKY_ROWS, 2 * SKY_ROWS, 3))


def write_generated(folder: Path) -> dict[str, Path]:
    """Three small glTF assets (made here, CC0) the corpus lacks: a metallic sphere (metallic
    1, roughness 0.2), an emissive cube (dark base, orange emission) and an alpha-MASK quad
    (a checker texture whose odd cells have alpha 0, cutoff 0.5, double-sided)."""
    import trimesh
    from trimesh.visual.material import PBRMaterial

    folder.mkdir(parents=True, exist_ok=True)
    sphere = trimesh.creation.icosphere(subdivisions=4)
    sphere.visual = trimesh.visual.TextureVisuals(material=PBRMaterial(
        baseColorFactor=[230, 230, 230, 255], metallicFactor=1.0, roughnessFactor=0.2))
    cube = trimesh.creation.box()
    cube.visual = trimesh.visual.TextureVisuals(material=PBRMaterial(
        baseColorFactor=[25, 25, 25, 255], metallicFactor=0.0, roughnessFactor=0.8,
        emissiveFactor=[1.0, 0.5, 0.1]))
    cells = (np.indices((8, 8)).sum(0) % 2).repeat(16, 0).repeat(16, 1)
    texture = np.zeros((128, 128, 4), np.uint8)
    texture[..., :3] = np.where(cells[..., None] == 0, [40, 160, 220], [230, 80, 40])
    texture[..., 3] = np.where(cells == 0, 255, 0)
    quad = trimesh.Trimesh([[-1, 0, 1], [1, 0, 1], [1, 0, -1], [-1, 0, -1]],  # faces +Y (up)
                           [[0, 1, 2], [0, 2, 3]], process=False)
    quad.visual = trimesh.visual.TextureVisuals(
        uv=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float),
        material=PBRMaterial(baseColorTexture=Image.fromarray(texture, "RGBA"),
                             alphaMode="MASK", alphaCutoff=0.5, doubleSided=True,
                             metallicFactor=0.0, roughnessFactor=1.0))
    paths = {}
    for name, mesh in zip(GENERATED, (sphere, cube, quad), strict=True):
        paths[name] = folder / f"{name}.glb"
        mesh.export(paths[name])
    return paths


def _builtin_options(kind: str, seed: int, envmaps: Path) -> tuple[dict, str]:
    """The built-in renderer's lighting and view-transform options, where it has them: the
    lighting by kind, drawn from the asset seed as :func:`lighting_for_views` draws Cycles'."""
    import inspect

    params = inspect.signature(render_views).parameters
    options, said = {}, []
    if "lighting" in params:
        options.update(lighting=kind, seed=seed)
        if kind == "envmap":
            options["envmaps"] = envmaps
        said.append("lighting=KIND")
    if "view_transform" in params:
        options["view_transform"] = "filmic"
        said.append("view_transform='filmic'")
    return options, ("built-in with " + " + ".join(said) if said
                     else "today's built-in renderer (headlight, no view transform)")


def _same_lights(ours: Path, lights: list) -> None:
    """The built-in renderer drew the lights given to Cycles (when it records them)."""
    frames = json.loads((ours / "transforms.json").read_text())["frames"]
    for frame, light in zip(frames, lights, strict=True):
        if "lighting" in frame and frame["lighting"] != light.to_json():
            raise AssertionError(f"built-in lights {frame['lighting']} != {light.to_json()}")


def _ssim(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window 11 × 11, sigma 1.5, K1 0.01, K2 0.03, range
    255) of two (H, W, 3) images over the pixels ``where``, channels averaged."""
    from scipy.ndimage import gaussian_filter

    def blur(x):
        return gaussian_filter(x, 1.5, truncate=3.5)  # radius 5: 11 taps

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for c in range(3):
        x, y = a[..., c], b[..., c]
        mx, my = blur(x), blur(y)
        vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        values.append(ssim[where].mean())
    return float(np.mean(values))


def compare_pair(ours: Path, cycles: Path) -> dict[str, float]:
    """PSNR and SSIM of RGB × alpha on black over the union of the masks, and the mask IoU."""
    a, b = (_read(p).astype(np.float64) for p in (ours, cycles))
    pa, pb = (x[..., :3] * x[..., 3:4] / 255 for x in (a, b))
    ma, mb = a[..., 3] > 127.5, b[..., 3] > 127.5
    union = ma | mb
    mse = float(((pa - pb)[union] ** 2).mean()) if union.any() else 0.0
    return {"psnr": 10 * np.log10(255**2 / mse) if mse > 0 else float("inf"),
            "ssim": _ssim(pa, pb, union) if union.any() else 1.0,
            "iou": float((ma & mb).sum() / max(union.sum(), 1))}


def _side_by_side(ours: Path, cycles: Path, path: Path) -> None:
    a, b = (_read(p).astype(np.float64) for p in (ours, cycles))
    pa, pb = (x[..., :3] * x[..., 3:4] / 255 for x in (a, b))
    diff = np.clip(np.abs(pa - pb) * 4, 0, 255)
    Image.fromarray(np.concatenate([pa, pb, diff], 1).round().astype(np.uint8)).save(path)


def _cycles_cpu(path: Path, folder: Path, cams, size: int, lights) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    render_blender(path, folder, cams, size=size, passes=("color", "mask"), preset="trellis2",
                   lighting=lights)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _builtin_cpu(mesh, folder: Path, cams, size: int, options: dict) -> float:
    start = time.process_time()
    render_views(mesh, folder, cams, size=size, passes=("color", "mask"), **options)
    return time.process_time() - start


def cycles_compare(args, files: dict[str, str]) -> None:
    """The colour pass against Cycles (``--cycles-compare``): tables per lighting, totals."""
    from meshprep.render.cameras import asset_seed, parse_cameras
    from meshprep.render.lights import lighting_for_views

    out = Path(args.compare_out)
    paths = {a: args.corpus / files[a] for a in args.compare_assets.split(",") if a}
    paths.update(write_generated(out / "assets"))
    cost_assets = set(args.cost_assets.split(","))
    lightings = [k for k in args.lightings.split(",") if k]
    rows = {kind: [] for kind in lightings}
    envmaps = write_sky(out / "envmaps").parent
    said = None
    render_views(mp.load(paths[next(iter(paths))], appearance=True), out / "warm", "cond:1",
                 size=64, passes=("color", "mask"))  # compile outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        for asset, path in paths.items():
            mesh = mp.load(path, appearance=True)
            seed = asset_seed(asset)
            cams = parse_cameras(f"cond:{args.compare_views}", seed)
            for kind in lightings:
                lights = lighting_for_views(kind, cams, seed, envmaps)
                options, said = _builtin_options(kind, seed, envmaps)
                folder = Path(tmp) / asset / kind
                ours_cpu = _builtin_cpu(mesh, folder / "ours", cams, args.size, options)
                _same_lights(folder / "ours", lights)
                cyc_cpu = _cycles_cpu(path, folder / "cycles", cams, args.size, lights)
                pairs = []
                shots = out / kind
                shots.mkdir(parents=True, exist_ok=True)
                for i in range(len(cams.cameras)):
                    a, b = folder / "ours" / f"{i:03d}.png", folder / "cycles" / f"{i:03d}.png"
                    pairs.append(compare_pair(a, b))
                    _side_by_side(a, b, shots / f"{asset}_{i:03d}.png")
                one = cams.first()
                many = parse_cameras(f"cond:{args.cost_views}", seed)
                cost = {"ours": _builtin_cpu(mesh, folder / "ours_cost", many, args.cost_size,
                                             options) / args.cost_views,
                        "ours_one": _builtin_cpu(mesh, folder / "ours_one", one, args.cost_size,
                                                 options),
                        "ours_size": ours_cpu / len(cams.cameras),
                        "cycles_size": cyc_cpu / len(cams.cameras)}
                if asset in cost_assets:
                    start = _cycles_cpu(path, folder / "c16", one, 16, lights[:1])
                    full = _cycles_cpu(path, folder / "cfull", one, args.cost_size, lights[:1])
                    cost["cycles"] = full - start
                rows[kind].append((asset, pairs, cost))
                print(f"{asset} / {kind}: PSNR {[round(p['psnr'], 1) for p in pairs]} dB, SSIM "
                      f"{[round(p['ssim'], 3) for p in pairs]}, IoU "
                      f"{[round(p['iou'], 4) for p in pairs]}, cost {cost}", flush=True)
    print(f"\nbuilt-in: {said}; Cycles: render_blender(preset='trellis2'), Blender "
          "from MESHPREP_BLENDER_PYTHON")
    for kind in lightings:
        _print_compare(kind, rows[kind], args)
    every = [p for kind in lightings for _, pairs, _ in rows[kind] for p in pairs]
    print(f"\nAll {len(every)} pairs: median PSNR "
          f"{statistics.median(p['psnr'] for p in every):.1f} dB, median SSIM "
          f"{statistics.median(p['ssim'] for p in every):.3f}, median IoU "
          f"{statistics.median(p['iou'] for p in every):.4f}; images in {out}")


def _print_compare(kind: str, rows, args) -> None:
    s, c = args.size, args.cost_size
    print(f"\n### Colour pass against Cycles (TRELLIS.2 settings), {kind} lighting, "
          f"cond:{args.compare_views} at {s}²\n")
    print(f"| asset | views | PSNR dB median / min | SSIM median | mask IoU min | "
          f"built-in CPU s/view {c}², {args.cost_views}-view job (one-view job) | "
          f"Cycles CPU s/view {c}² | Cycles CPU s/view {s}² (incl. start-up) | "
          f"Cycles / built-in {c}² |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for asset, pairs, cost in rows:
        psnr = [p["psnr"] for p in pairs]
        cyc = cost.get("cycles")
        ratio = f"{cyc / cost['ours']:.0f}×" if cyc else "—"
        print(f"| {asset} | {len(pairs)} | {statistics.median(psnr):.1f} / {min(psnr):.1f} | "
              f"{statistics.median(p['ssim'] for p in pairs):.3f} | "
              f"{min(p['iou'] for p in pairs):.4f} | {cost['ours']:.3f} "
              f"({cost['ours_one']:.3f}) | "
              f"{f'{cyc:.1f}' if cyc is not None else '—'} | {cost['cycles_size']:.1f} | "
              f"{ratio} |")
    pairs = [p for _, ps, _ in rows for p in ps]
    print(f"\n{kind}: median PSNR {statistics.median(p['psnr'] for p in pairs):.1f} dB, "
          f"median SSIM {statistics.median(p['ssim'] for p in pairs):.3f} over {len(pairs)} "
          "pairs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--assets", default=",".join(DEFAULT))
    parser.add_argument("--views", type=int, default=150)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workbench-assets", default=",".join(WORKBENCH))
    parser.add_argument("--agree-views", type=int, default=24)
    parser.add_argument("--no-blender", action="store_true")
    parser.add_argument("--cycles-compare", action="store_true",
                        help="the colour pass against Cycles with TRELLIS.2's settings only")
    parser.add_argument("--compare-assets", default=",".join(COMPARE))
    parser.add_argument("--compare-views", type=int, default=4)
    parser.add_argument("--cost-size", type=int, default=1024)
    parser.add_argument("--cost-assets", default="duck_glb,milk_truck")
    parser.add_argument("--cost-views", type=int, default=24,
                        help="views of the built-in renderer's cost job (per view: its CPU / "
                             "this; 24 = the Hunyuan3D layouts' render_cond)")
    parser.add_argument("--compare-out", default="/tmp/meshprep_cycles_compare")
    parser.add_argument("--lightings", default=",".join(LIGHTINGS),
                        help="lightings compared (envmap: the synthetic sky of write_sky)")
    args = parser.parse_args()
    files = {line.split(",")[0]: line.split(",")[1]
             for line in (args.corpus / "manifest.csv").read_text().splitlines()[1:]}
    if args.cycles_compare:
        cycles_compare(args, files)
        return
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
