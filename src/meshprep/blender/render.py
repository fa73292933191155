"""Renders in the Blender worker: one job for every frame and pass of a model file.

The cameras, the normalization and the files beside the images (masks, ``transforms.json``)
are the renderer's: :func:`meshprep.render.blender.render_blender` builds the frames and
calls :func:`render_job`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .formats import import_axes
from .process import DEFAULT_TIMEOUT, run_job

ENGINES = ("cycles", "eevee", "workbench")


def render_job(path: str | os.PathLike[str], out: str | os.PathLike[str], frames: list[dict],
               *, size: int, passes: list[str], engine: str, samples: int | None,
               depth_max: float, normalization: np.ndarray, timeout: float = DEFAULT_TIMEOUT,
               lighting: dict | list[dict] | None = None, preset: str | None = None,
               view_transform: str | None = None, look: str | None = None,
               position_scale: float = 0.5) -> dict:
    """Render ``frames`` of the model file ``path`` with Blender into the folder ``out``.

    Parameters
    ----------
    path : path-like
        The model file Blender imports.
    out : path-like
        Folder for the images (``NNN<suffix>.png`` per frame and pass).
    frames : list of dict
        ``c2w`` (Blender camera-to-world), ``fov`` (horizontal radians), ``ortho_scale`` or
        None, per frame.
    size : int
        Image width and height in pixels.
    passes : list of str
        Any of ``normal, depth, albedo, mr, normal_camera, position, color`` (masks are the
        alpha of these).
    engine : str
        One of :data:`ENGINES`.
    samples : int or None
        Samples per pixel of the ``color`` pass (None: 64, or the preset's).
    depth_max : float
        World depth that the 16-bit depth pass maps to 65535.
    normalization : (4, 4) array
        From :func:`meshprep.load`'s coordinates to the render world.
    timeout : float
        Seconds the worker may run.
    lighting : dict or list of dict, optional
        The ``color`` pass's lights, for every frame or one per frame (the keys of
        :meth:`meshprep.render.lights.Lighting.to_json`: ``kind``, ``world_color``,
        ``world_strength``, ``points`` of ``position``, ``color``, ``power_w``, ``radius``, in
        the render world). None: a uniform white sky of strength 1 and the file's own lights.
    preset : {None, "trellis2"}
        ``"trellis2"``: TRELLIS.2's Cycles settings and Filmic view transform for ``color``.
    view_transform, look : str, optional
        Blender's view transform and look for ``color`` (default ``Standard``, or the preset's).
    position_scale : float
        The ``position`` pass's ``1 / (2 * bound)``: it writes ``p * position_scale + 0.5``.

    Returns
    -------
    dict
        The worker's result (``seconds``: render time per pass and frame).
    """
    return run_job({"action": "render", "input": str(Path(path).resolve()),
                    "output": str(Path(out).resolve()), "frames": frames, "size": size,
                    "passes": passes, "engine": engine, "samples": samples,
                    "depth_max": depth_max,
                    "to_world": (normalization @ import_axes(path)).tolist(),
                    "lighting": lighting, "preset": preset, "view_transform": view_transform,
                    "look": look, "position_scale": position_scale}, timeout)
