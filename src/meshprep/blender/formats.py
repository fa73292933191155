"""Files through Blender: the formats only it reads, exported to GLB, and its import axes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from meshprep.geometry.axes import Y_UP_TO_Z_UP

from .process import DEFAULT_TIMEOUT, run_job

#: extensions only Blender reads (meshprep.load goes through export_glb for them)
BLENDER_FORMATS = {".fbx": "FBX", ".blend": "BLEND", ".abc": "Alembic", ".usd": "USD",
                   ".usda": "USD", ".usdc": "USD", ".usdz": "USDZ"}
#: importers of formats that turn Y-up files Z-up (the rest import coordinates as they are)
_Y_UP_IMPORTS = {".glb", ".gltf", ".obj", *BLENDER_FORMATS}


def export_glb(path: str | os.PathLike[str], output: str | os.PathLike[str],
               timeout: float = DEFAULT_TIMEOUT, skins: bool = False) -> dict:
    """Import ``path`` in Blender (first frame of its animation) and export it as GLB;
    ``skins=True`` keeps skins (bind-pose meshes, joints posed at the first frame)."""
    return run_job({"action": "export", "input": str(Path(path).resolve()),
                    "output": str(Path(output).resolve()), "skins": skins}, timeout)


def import_axes(path: str | os.PathLike[str]) -> np.ndarray:
    """4×4 from Blender's coordinates after import to :func:`meshprep.load`'s coordinates."""
    if Path(path).suffix.lower() in _Y_UP_IMPORTS:
        return Y_UP_TO_Z_UP.T  # Blender turned a Y-up file Z-up; undo that rotation
    return np.eye(4)
