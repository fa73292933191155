"""Renders with the Blender backend (:mod:`meshprep.blender`) on the built-in renderer's terms.

:func:`render_blender` renders the same cameras and passes as the built-in renderer, with the
same ``transforms.json``: the cameras, the normalization and the files beside the images are
made here, the images in Blender's worker process (:func:`meshprep.blender.render_job`).
"""

from __future__ import annotations

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


def render_blender(path: str | os.PathLike[str], out_dir: str | os.PathLike[str], cameras,
                   *, size: int = 512, passes=("normal", "depth", "mask"),
                   engine: str = "cycles", samples: int = 64, y_up: bool = True, seed: int = 0,
                   timeout: float = DEFAULT_TIMEOUT, mesh=None):
    """Render a model file with Blender on the built-in renderer's cameras and conventions.

    The file is read by :func:`meshprep.load` first, for the normalization (the same matrix
    the built-in renderer uses, so both backends' pixels agree), then by Blender. ``normal``,
    ``depth`` and ``albedo`` are unlit material overrides sampled once at each pixel's centre;
    ``color`` renders the real materials under a uniform grey sky with ``samples`` samples.
    ``mesh``: the file as :func:`meshprep.load` returned it, when the caller has it already.

    Returns
    -------
    meshprep.render.views.RenderResult
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use {ENGINES}")
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
                        timeout=timeout)
    files = [out / f"{i:03d}{PASS_SUFFIX[p]}.png" for i in range(len(frames)) for p in asked]
    if "mask" in passes:
        files += _masks_from_alpha(out, len(frames), PASS_SUFFIX[asked[0]])
    for file in [f for f in files if f.stem[3:] == "_albedo" and "albedo" not in passes]:
        file.unlink()  # rendered only for its alpha
        files.remove(file)
    files.append(write_transforms(out, cams, size, passes, normalization, depth_max))
    return RenderResult(len(frames), files, time.perf_counter() - start,
                        result.get("seconds", {}))


def _masks_from_alpha(out: Path, count: int, suffix: str) -> list[Path]:
    from PIL import Image

    files = []
    for i in range(count):
        alpha = np.asarray(Image.open(out / f"{i:03d}{suffix}.png").convert("RGBA"))[..., 3]
        path = out / f"{i:03d}_mask.png"
        save_png(np.where(alpha >= 128, 255, 0).astype(np.uint8), path)
        files.append(path)
    return files
