"""The Blender worker launcher: one job per fresh ``bpy`` process, with a time limit.

Blender is found as a Python interpreter that can ``import bpy``: ``$MESHPREP_BLENDER_PYTHON``
when set (bpy pins numpy < 2, so many users keep it in its own virtual environment), else this
interpreter when ``pip install "meshprep[blender]"`` put bpy beside meshprep. Each job runs
:mod:`meshprep.blender.blender_worker` (a file beside this one) in a fresh process: a crash, a
hang past the time limit or a hostile file costs that process only.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from meshprep.errors import LoadError

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
