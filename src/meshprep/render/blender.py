"""The Blender backend: ``bpy`` in a worker subprocess, with a time limit.

Blender is found as a Python interpreter that can ``import bpy``: ``$MESHPREP_BLENDER_PYTHON``
when set (bpy pins numpy < 2, so many users keep it in its own virtual environment), else this
interpreter when ``pip install "meshprep[blender]"`` put bpy beside meshprep. Each job runs
:mod:`meshprep.render.blender_worker` in a fresh process: a crash, a hang past the time limit or
a hostile file costs that process only. Embedded scripts never run (see the worker).

Two uses: :func:`export_glb` lets :func:`meshprep.load` read FBX, BLEND, ABC and USD files (the
worker exports them to glTF, which is then loaded as usual), and :func:`render_blender` renders
the same cameras and passes as the built-in renderer, with the same ``transforms.json``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from meshprep.errors import LoadError

#: extensions only Blender reads (meshprep.load goes through export_glb for them)
BLENDER_FORMATS = {".fbx": "FBX", ".blend": "BLEND", ".abc": "Alembic", ".usd": "USD",
                   ".usda": "USD", ".usdc": "USD", ".usdz": "USDZ"}
#: importers of formats that turn Y-up files Z-up (the rest import coordinates as they are)
_Y_UP_IMPORTS = {".glb", ".gltf", ".obj", *BLENDER_FORMATS}
ENGINES = ("cycles", "eevee", "workbench")
WORKER = Path(__file__).with_name("blender_worker.py")
DEFAULT_TIMEOUT = float(os.environ.get("MESHPREP_BLENDER_TIMEOUT", "300"))


class BlenderUnavailable(LoadError):
    """No Python with ``bpy`` was found."""


class BlenderError(LoadError):
    """The Blender worker failed, crashed or ran past its time limit."""


@functools.lru_cache(maxsize=1)
def blender_python() -> str | None:
    """The interpreter that runs the worker, or None when no bpy is installed."""
    configured = os.environ.get("MESHPREP_BLENDER_PYTHON")
    if configured:
        return configured if shutil.which(configured) or Path(configured).exists() else None
    import importlib.util

    return sys.executable if importlib.util.find_spec("bpy") is not None else None


def require_blender() -> str:
    """The worker's interpreter, or a clear error saying how to get one."""
    python = blender_python()
    if python is None:
        raise BlenderUnavailable(
            "needs the Blender backend: pip install \"meshprep[blender]\" (bpy, Python 3.11), "
            "or set MESHPREP_BLENDER_PYTHON to a Python that has bpy")
    return python


def run_job(job: dict, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Run one worker job in a fresh process; its result dict, or BlenderError."""
    python = require_blender()
    with tempfile.TemporaryDirectory(prefix="meshprep_blender_") as scratch:
        job = {**job, "result": str(Path(scratch) / "result.json")}
        job_path = Path(scratch) / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        env = {**os.environ, "PYTHONNOUSERSITE": "1"}
        try:
            completed = subprocess.run([python, str(WORKER), str(job_path)], cwd=scratch,
                                       env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise BlenderError(f"{Path(job['input']).name}: Blender worker ran past "
                               f"{timeout:g} s") from exc
        result_path = Path(job["result"])
        if not result_path.exists():
            tail = " ".join((completed.stderr or completed.stdout or "").split()[-40:])
            raise BlenderError(f"{Path(job['input']).name}: Blender worker exited with "
                               f"{completed.returncode} and no result ({tail})")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    if not result.get("ok"):
        message = " ".join(str(result.get("error", "failed")).split())[:300]
        raise BlenderError(f"{Path(job['input']).name}: {message}")
    return result


def export_glb(path: str | os.PathLike[str], output: str | os.PathLike[str],
               timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Import ``path`` in Blender (first frame of its animation) and export it as GLB."""
    return run_job({"action": "export", "input": str(Path(path).resolve()),
                    "output": str(Path(output).resolve())}, timeout)


def import_axes(path: str | os.PathLike[str]) -> np.ndarray:
    """4×4 from Blender's coordinates after import to :func:`meshprep.load`'s coordinates."""
    from .views import Y_UP_TO_Z_UP

    if Path(path).suffix.lower() in _Y_UP_IMPORTS:
        return Y_UP_TO_Z_UP.T  # Blender turned a Y-up file Z-up; undo that rotation
    return np.eye(4)


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
    from meshprep.io import load

    from .cameras import parse_cameras
    from .views import PASS_SUFFIX, RenderResult, depth_range, world_transform, write_transforms

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
    result = run_job({"action": "render", "input": str(Path(path).resolve()),
                      "output": str(out.resolve()), "frames": frames, "size": size,
                      "passes": asked, "engine": engine, "samples": samples,
                      "depth_max": depth_max,
                      "to_world": (normalization @ import_axes(path)).tolist()}, timeout)
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

    from .views import save_png

    files = []
    for i in range(count):
        alpha = np.asarray(Image.open(out / f"{i:03d}{suffix}.png").convert("RGBA"))[..., 3]
        path = out / f"{i:03d}_mask.png"
        save_png(np.where(alpha >= 128, 255, 0).astype(np.uint8), path)
        files.append(path)
    return files
