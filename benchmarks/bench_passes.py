"""Material passes against Blender (issue 29): meshprep's rasterizer vs Blender Cycles' overrides.

    MESHPREP_BLENDER_PYTHON=/path/to/bpy-venv/bin/python python benchmarks/bench_passes.py
        [--assets duck_glb,milk_truck] [--size 512] [--cost-assets duck_glb,cube_mr]
        [--corpus ../shared/corpus]

Per asset (the corpus's textured glTF files and ``cube_mr``, a cube written here with known UVs,
a base-colour texture and a metallic-roughness texture) and camera set (``ortho6`` and
``cond:4``): both backends render ``albedo``, ``mr``, ``normal``, ``position`` and ``mask`` at
``--size``² on the same cameras (Blender: :func:`meshprep.render.blender.render_blender`, Cycles
with one sample at each pixel centre). Figures over the pixels covered in both masks, all views
pooled: albedo and MR PSNR (RGB, dB), the median angle between the world normals (degrees), the
position error (max and median over pixels of the largest channel difference, in units of 1/512
of the box), and the smallest mask IoU over the views. Cost: CPU seconds (process time, threads
included; Blender: the worker children's ``getrusage``) of the agreement renders, both sides.

Workload cost (``--cost-assets``): 6 ortho views × 5 passes (``color`` lit, albedo, mr, normal,
position) + 24 ``cond`` views × 3 lightings (uniform, trellis2, envmap under the synthetic sky of
``bench_render.write_sky``: hunyuan3d-paint's ``light_AL``, ``light_PL``, ``light_ENVMAP``) of
``color`` at 512².
meshprep renders all of it with :func:`meshprep.render.render_views`; Cycles (TRELLIS.2's
settings, 32 samples) renders the four data passes of the 6 views (measured whole) and
``--cycles-views`` lit views under each of the workload's lightings (the same lights, drawn from
the asset seed), whose cost less a one-view 16² job's (start-up and import) is extrapolated to
that lighting's views in the workload (6 under ``trellis``, 24 under each of the three others).
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from bench_render import write_sky  # the synthetic sky (benchmarks/ is on sys.path when run)
from meshprep.io import load
from meshprep.render import render_views
from meshprep.render.blender import render_blender

ASSETS = ("duck_glb", "milk_truck", "box_textured", "boolean_glb", "kenney_character",
          "kenney_building", "kenney_fountain", "cube_mr")
CAMERAS = ("ortho6", "cond:4")
#: the lightings of hunyuan3d-paint's render_cond/ (light_AL, light_PL, light_ENVMAP)
LIGHTINGS = ("uniform", "trellis2", "envmap")
PASSES = ("albedo", "mr", "normal", "position", "mask")


def write_cube(path: Path) -> None:
    """A cube of 24 vertices, every face UV-mapped onto the whole of two 64² textures: a
    base-colour gradient with a checker, and a metallic-roughness texture whose roughness (G)
    ramps along u and metallic (B) along v."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    vertices, faces, uv = [], [], []
    for quad in quads:
        base = len(vertices)
        vertices += [corners[i] for i in quad]
        uv += [(0, 0), (1, 0), (1, 1), (0, 1)]
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    mesh = trimesh.Trimesh(np.array(vertices), np.array(faces), process=False)
    mesh.fix_normals()
    j, i = np.mgrid[0:64, 0:64]
    checker = ((i // 8 + j // 8) % 2) * 60
    color = np.stack([i * 3 + checker, j * 3 + 20, 255 - i * 2 - checker, np.full_like(i, 255)],
                     axis=-1).clip(0, 255).astype(np.uint8)
    mr = np.stack([np.zeros_like(i), 20 + i * 3, 10 + j * 3 + (i // 16) * 20],
                  axis=-1).clip(0, 255).astype(np.uint8)
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=Image.fromarray(color, "RGBA"),
        metallicRoughnessTexture=Image.fromarray(mr, "RGB"), metallicFactor=1.0,
        roughnessFactor=1.0)
    mesh.visual = trimesh.visual.TextureVisuals(uv=np.array(uv, float), material=material)
    mesh.export(path)


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.float64)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a - b) ** 2).mean()) if a.size else 0.0
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def _unit(normal: np.ndarray) -> np.ndarray:
    n = normal[..., :3] / 255.0 * 2.0 - 1.0
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compare(ours: Path, theirs: Path, views: int) -> dict:
    """The agreement figures of two folders of the same views and passes."""
    albedo_a, albedo_b, mr_a, mr_b, angles, pos, ious = [], [], [], [], [], [], []
    for i in range(views):
        mask_a = _read(ours / f"{i:03d}_mask.png") > 0
        mask_b = _read(theirs / f"{i:03d}_mask.png") > 0
        union = (mask_a | mask_b).sum()
        if union:
            ious.append((mask_a & mask_b).sum() / union)
        both = mask_a & mask_b
        for name, a_list, b_list in (("albedo", albedo_a, albedo_b), ("mr", mr_a, mr_b)):
            a_list.append(_read(ours / f"{i:03d}_{name}.png")[..., :3][both])
            b_list.append(_read(theirs / f"{i:03d}_{name}.png")[..., :3][both])
        cosine = (_unit(_read(ours / f"{i:03d}_normal.png"))
                  * _unit(_read(theirs / f"{i:03d}_normal.png"))).sum(-1)
        angles.append(np.degrees(np.arccos(np.clip(cosine, -1, 1)))[both])
        difference = np.abs(_read(ours / f"{i:03d}_pos.png")[..., :3]
                            - _read(theirs / f"{i:03d}_pos.png")[..., :3]) / 65535 * 512
        pos.append(difference.max(axis=-1)[both])
    pos_all, angle_all = np.concatenate(pos), np.concatenate(angles)
    return {"albedo_psnr": _psnr(np.concatenate(albedo_a), np.concatenate(albedo_b)),
            "mr_psnr": _psnr(np.concatenate(mr_a), np.concatenate(mr_b)),
            "normal_median": float(np.median(angle_all)) if angle_all.size else 0.0,
            "pos_max": float(pos_all.max()) if pos_all.size else 0.0,
            "pos_median": float(np.median(pos_all)) if pos_all.size else 0.0,
            "pos_p99": float(np.percentile(pos_all, 99)) if pos_all.size else 0.0,
            "iou_min": float(min(ious)) if ious else 1.0}


def agreement(path: Path, work: Path, cameras: str, size: int) -> dict:
    """Render ``PASSES`` of one asset and camera set with both backends; figures and cost."""
    tag = cameras.replace(":", "")
    mesh = load(path, appearance=True)
    start = time.process_time()
    result = render_views(mesh, work / f"ours_{tag}", cameras, size=size, passes=PASSES)
    ours_cpu = time.process_time() - start
    start = _children_cpu()
    render_blender(path, work / f"blender_{tag}", cameras, size=size, passes=PASSES, mesh=mesh)
    blender_cpu = _children_cpu() - start
    row = compare(work / f"ours_{tag}", work / f"blender_{tag}", result.frames)
    row.update(ours_cpu=ours_cpu, blender_cpu=blender_cpu)
    return row


def workload_cost(path: Path, work: Path, size: int, cycles_views: int, envmaps: Path) -> dict:
    """CPU seconds of the issue's workload: meshprep whole; Cycles' data passes whole and its
    lit views sampled per lighting (``cycles_views`` each, under the same lights) and
    extrapolated to the workload's count (``envmaps``: the folder of the sky, prefiltered once
    per process as in a run)."""
    from meshprep.render.cameras import asset_seed, parse_cameras
    from meshprep.render.lights import lighting_for_views

    mesh, seed = load(path, appearance=True), asset_seed(path.stem)
    start = time.process_time()
    render_views(mesh, work / "tex", "ortho6", size=size, lighting="trellis",
                 passes=("color", "albedo", "mr", "normal", "position"))
    for lighting in LIGHTINGS:
        extra = {"envmaps": envmaps} if lighting == "envmap" else {}
        render_views(mesh, work / f"cond_{lighting}", "cond:24", size=size, passes=("color",),
                     lighting=lighting, view_transform="agx", seed=seed, **extra)
    ours = time.process_time() - start
    start = _children_cpu()
    render_blender(path, work / "b_tex", "ortho6", size=size, mesh=mesh,
                   passes=("albedo", "mr", "normal", "position"))
    data = _children_cpu() - start
    start = _children_cpu()  # start-up and import: a one-view 16² job
    render_blender(path, work / "b_startup", "cond:1", size=16, mesh=mesh, passes=("color",),
                   preset="trellis2")
    startup = _children_cpu() - start
    cams = parse_cameras(f"cond:{cycles_views}", seed)
    per_view = {}
    for lighting, views in (("trellis", 6), *((kind, 24) for kind in LIGHTINGS)):
        lights = lighting_for_views(lighting, cams, seed, envmaps)
        start = _children_cpu()
        render_blender(path, work / f"b_{lighting}", cams, size=size, mesh=mesh,
                       passes=("color",), preset="trellis2", lighting=lights)
        per_view[lighting] = (max(_children_cpu() - start - startup, 0.0) / cycles_views, views)
    cycles = data + sum(cost * views for cost, views in per_view.values())
    return {"ours": ours, "cycles_data": data, "cycles_lit_view": per_view,
            "cycles": cycles, "ratio": cycles / ours}


def asset_path(name: str, corpus: Path, work: Path) -> Path:
    if name == "cube_mr":
        path = work / "cube_mr.glb"
        write_cube(path)
        return path
    return corpus / f"{name}.glb"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default=",".join(ASSETS))
    parser.add_argument("--cost-assets", default="duck_glb,cube_mr")
    parser.add_argument("--cycles-views", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--corpus", default=str(Path(__file__).parents[2] / "shared" / "corpus"))
    args = parser.parse_args()
    corpus = Path(args.corpus)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        warm = asset_path("cube_mr", corpus, work)  # numba's compilation outside the timings
        render_views(load(warm, appearance=True), work / "warm", "cond:1", size=32,
                     passes=(*PASSES, "color"), lighting="trellis2")
        envmaps = write_sky(work / "envmaps").parent  # prefiltered once per process, as in a run
        render_views(load(warm, appearance=True), work / "warm_env", "cond:1", size=32,
                     passes=("color",), lighting="envmap", envmaps=envmaps,
                     view_transform="agx")  # its LUT built once per process, as in a run
        rows = []
        print("| asset | cameras | albedo PSNR dB | MR PSNR dB | normal median ° | "
              "position max / median / p99 (1/512) | mask IoU min | CPU s meshprep | "
              "CPU s Blender |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name in args.assets.split(","):
            path = asset_path(name, corpus, work)
            for cameras in CAMERAS:
                row = agreement(path, work / name, cameras, args.size)
                rows.append(row)
                print(f"| {name} | {cameras} | {row['albedo_psnr']:.1f} | {row['mr_psnr']:.1f} | "
                      f"{row['normal_median']:.2f} | {row['pos_max']:.2f} / "
                      f"{row['pos_median']:.3f} / {row['pos_p99']:.2f} | {row['iou_min']:.4f} | "
                      f"{row['ours_cpu']:.2f} | {row['blender_cpu']:.1f} |", flush=True)
        med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        print(f"| **median** | | {med['albedo_psnr']:.1f} | {med['mr_psnr']:.1f} | "
              f"{med['normal_median']:.2f} | {med['pos_max']:.2f} / {med['pos_median']:.3f} / "
              f"{med['pos_p99']:.2f} | {med['iou_min']:.4f} | {med['ours_cpu']:.2f} | "
              f"{med['blender_cpu']:.1f} |\n")
        print("| asset | meshprep CPU s (whole workload) | Cycles data passes CPU s (6 views) | "
              "Cycles CPU s per lit view, sampled (trellis / uniform / trellis2 / envmap) | "
              "Cycles CPU s (extrapolated) | ratio |")
        print("|---|---|---|---|---|---|")
        for name in args.cost_assets.split(","):
            cost = workload_cost(asset_path(name, corpus, work), work / f"cost_{name}",
                                 args.size, args.cycles_views, envmaps)
            print(f"| {name} | {cost['ours']:.1f} | {cost['cycles_data']:.1f} | "
                  f"{' / '.join(f'{v[0]:.1f}' for v in cost['cycles_lit_view'].values())} | "
                  f"{cost['cycles']:.0f} | "
                  f"{cost['ratio']:.0f}× |", flush=True)


if __name__ == "__main__":
    main()
