"""Renders with the Blender backend (:mod:`meshprep.blender`) on the built-in renderer's terms.

:func:`render_blender` renders the same cameras and passes as the built-in renderer, with the
same ``transforms.json``: the cameras, the normalization and the files beside the images are
made here, the images in Blender's worker process (:func:`meshprep.blender.render_job`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from meshprep.blender import DEFAULT_TIMEOUT, ENGINES, render_job
from meshprep.io import load

from .cameras import parse_cameras
from .views import (
    PASS_SUFFIX,
    RenderResult,
    depth_range,
    save_png,
    world_transform,
    write_transforms,
)

#: the passes the Blender backend renders (``shaded`` and ``emission`` are the built-in's only)
BLENDER_PASSES = ("normal", "depth", "mask", "color", "albedo", "mr", "normal_camera",
                  "position")


def render_blender(path: str | os.PathLike[str], out_dir: str | os.PathLike[str], cameras,
                   *, size: int = 512, passes=("normal", "depth", "mask"),
                   engine: str = "cycles", samples: int | None = None, y_up: bool = True,
                   seed: int = 0, timeout: float = DEFAULT_TIMEOUT, mesh=None, lighting=None,
                   preset: str | None = None, view_transform: str | None = None,
                   look: str | None = None):
    """Render a model file with Blender on the built-in renderer's cameras and conventions.

    The file is read by :func:`meshprep.load` first, for the normalization (the same matrix
    the built-in renderer uses, so both backends' pixels agree), then by Blender. ``normal``,
    ``depth``, ``albedo``, ``mr``, ``normal_camera`` and ``position`` (the material passes of
    :mod:`meshprep.render.material_passes`, same files and encodings) are unlit material
    overrides sampled once at each pixel's centre;
    ``color`` renders the real materials under a uniform white sky with ``samples`` samples.
    ``mesh``: the file as :func:`meshprep.load` returned it, when the caller has it already.
    ``samples``: None is 64, or 32 under ``preset="trellis2"``.

    ``lighting`` (``color`` only): a :class:`meshprep.render.lights.Lighting` (anything with
    ``to_json()``) or a dict of its keys, for every view, or a sequence of one per view (e.g.
    :func:`meshprep.render.lights.lighting_for_views`; not ``headlight``); light positions are
    in the render world (the normalized frame of ``transforms.json``). None keeps
    the uniform white sky. ``preset="trellis2"`` renders ``color`` with TRELLIS.2's Cycles
    settings (``init_render`` of its ``render_cond.py``; Filmic view transform, no look);
    ``view_transform`` and ``look`` name Blender's (``"Standard"``, ``"Filmic"``, ``"AgX"``...).

    Returns
    -------
    meshprep.render.views.RenderResult
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use {ENGINES}")
    if set(passes) - set(BLENDER_PASSES):
        raise ValueError(f"passes {sorted(set(passes) - set(BLENDER_PASSES))} are not rendered "
                         f"by Blender: use {BLENDER_PASSES}")
    if preset not in (None, "trellis2") or (preset and engine != "cycles"):
        raise ValueError(f"preset {preset!r}: use None or 'trellis2' (with engine='cycles')")
    start = time.perf_counter()
    cams = parse_cameras(cameras, seed) if isinstance(cameras, str) else cameras
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mesh = load(path) if mesh is None else mesh
    normalization = world_transform(np.asarray(mesh.vertices), cams.bound, y_up, cams.fit)
    depth_max = depth_range(cams)
    frames = [{"c2w": c.c2w.tolist(), "fov": c.fov,
               "ortho_scale": c.ortho_scale if c.orthographic else None} for c in cams.cameras]
    asked = [p for p in passes if p != "mask"] or ["albedo"]
    result = render_job(path, out, frames, size=size, passes=asked, engine=engine,
                        samples=samples, depth_max=depth_max, normalization=normalization,
                        timeout=timeout, lighting=lighting_json(lighting, len(frames)),
                        preset=preset, view_transform=view_transform, look=look,
                        position_scale=1.0 / (2.0 * cams.bound))
    files = [out / f"{i:03d}{PASS_SUFFIX[p]}.png" for i in range(len(frames)) for p in asked]
    if "mask" in passes:
        files += _masks_from_alpha(out, len(frames), PASS_SUFFIX[asked[0]])
    for file in [f for f in files if f.stem[3:] == "_albedo" and "albedo" not in passes]:
        file.unlink()  # rendered only for its alpha
        files.remove(file)
    files.append(write_transforms(out, cams, size, passes, normalization, depth_max))
    return RenderResult(len(frames), files, time.perf_counter() - start,
                        result.get("seconds", {}))


def lighting_json(lighting, views: int) -> dict | list[dict] | None:
    """``lighting`` as the worker's JSON: one dict, or a list of ``views`` dicts."""
    if lighting is None:
        return None
    if isinstance(lighting, (list, tuple)):
        if len(lighting) != views:
            raise ValueError(f"{len(lighting)} lightings for {views} views")
        return [_one_lighting(item) for item in lighting]
    return _one_lighting(lighting)


def _one_lighting(lighting) -> dict:
    if hasattr(lighting, "to_json"):
        lighting = lighting.to_json()
    if isinstance(lighting, str):
        lighting = json.loads(lighting)
    points = [{"position": [float(v) for v in p["position"]],
               "color": [float(v) for v in p["color"]], "power_w": float(p["power_w"]),
               "radius": float(p["radius"])} for p in lighting.get("points", ())]
    if lighting.get("kind") == "headlight":
        raise ValueError("the 'headlight' lighting is the built-in preview's, not Blender's")
    areas = [{"position": [float(v) for v in a["position"]],
              "direction": [float(v) for v in a["direction"]], "size": float(a["size"]),
              "power_w": float(a["power_w"]),
              "color": [float(v) for v in a.get("color", (1.0, 1.0, 1.0))]}
             for a in lighting.get("areas", ())]
    out = {"kind": str(lighting.get("kind", "custom")),
           "world_color": [float(v) for v in lighting["world_color"]],
           "world_strength": float(lighting["world_strength"]), "points": points,
           "areas": areas}
    if lighting.get("envmap"):
        # the worker runs elsewhere: the map by its absolute path
        out["envmap"] = str(Path(lighting["envmap"]).resolve())
        out["envmap_rotation"] = float(lighting.get("envmap_rotation", 0.0))
    return out


def _masks_from_alpha(out: Path, count: int, suffix: str) -> list[Path]:
    from PIL import Image

    files = []
    for i in range(count):
        alpha = np.asarray(Image.open(out / f"{i:03d}{suffix}.png").convert("RGBA"))[..., 3]
        path = out / f"{i:03d}_mask.png"
        save_png(np.where(alpha >= 128, 255, 0).astype(np.uint8), path)
        files.append(path)
    return files
