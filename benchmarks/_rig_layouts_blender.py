"""Blender side of bench_rig_layouts.py: the trainers' own extraction scripts on each glTF.

Run by Blender's Python (``python _rig_layouts_blender.py UNIRIG PUPPETEER OUT FILE...``),
never imported by meshprep. ``UNIRIG`` and ``PUPPETEER`` are the upstream trees (``git
archive``); their modules are imported unchanged. Modules they import at the top but do not use
on this path (progress bars, decimation, KD-trees, configs: the Blender environment has numpy
only) are stand-ins that raise if called. Per file ``OUT/<stem>/``:

- ``unirig_blender.npz``: UniRig ``src/data/extract.py``'s ``load``, ``get_arranged_bones``,
  ``process_mesh`` and ``process_armature`` (``vertices``, ``faces`` 1-based as returned,
  ``skin``, ``joints``, ``tails``, ``parents`` with -1 for None, ``names``, ``matrix_local``);
- ``meshes/<stem>.obj``, ``rigs/<stem>.txt``: Puppeteer
  ``skeleton/data_utils/read_rig_mesh_from_glb.py``'s ``process_glb``;
- ``errors.json``: what failed; ``seconds.json``: each script's seconds on the file (in this
  one Blender process: the start of Blender is not counted).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import types
from pathlib import Path

import bpy
import numpy as np


def _stand_in(name: str, **attributes) -> None:
    """A module the upstream file imports but this path never calls."""
    if name in sys.modules:
        return
    try:
        __import__(name)
        return
    except ImportError:
        pass

    def refuse(*args, **kwargs):
        raise RuntimeError(f"{name} is a stand-in in the Blender environment")

    module = types.ModuleType(name)
    for key in attributes.get("names", ()):
        setattr(module, key, refuse)
    sys.modules[name] = module


def _stand_ins() -> None:
    _stand_in("tqdm", names=("tqdm",))
    _stand_in("trimesh", names=("Trimesh",))
    _stand_in("fast_simplification", names=("simplify",))
    _stand_in("scipy")
    _stand_in("scipy.spatial", names=("KDTree",))
    _stand_in("yaml", names=("safe_load",))
    _stand_in("box", names=("Box",))


def unirig(extract, path: Path, out: Path) -> None:
    """UniRig's extraction up to ``save_raw_data`` (which meshprep's side runs)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    extract.clean_bpy()
    armature = extract.load(str(path))
    if armature is None:
        raise ValueError("no armature")
    bones = extract.get_arranged_bones(armature)
    vertices, faces, skin = extract.process_mesh(bones)
    joints, tails, parents, names, matrix_local = extract.process_armature(armature, bones)
    np.savez(out / "unirig_blender.npz", vertices=vertices, faces=faces, skin=skin,
             joints=joints, tails=tails, names=np.asarray(names, dtype=str),
             parents=np.array([-1 if p is None else p for p in parents], np.int64),
             matrix_local=matrix_local)


def main() -> None:
    unirig_root, puppeteer_root, out = (Path(a) for a in sys.argv[1:4])
    _stand_ins()
    sys.path.insert(0, str(unirig_root))
    from src.data import extract  # UniRig's

    sys.path.insert(0, str(puppeteer_root / "skeleton" / "data_utils"))
    import read_rig_mesh_from_glb as puppeteer  # Puppeteer's

    for name in sys.argv[4:]:
        path = Path(name)
        folder = out / path.stem
        (folder / "meshes").mkdir(parents=True, exist_ok=True)
        (folder / "rigs").mkdir(parents=True, exist_ok=True)
        errors, seconds = {}, {}
        start = time.perf_counter()
        try:
            unirig(extract, path, folder)
        except Exception:  # noqa: BLE001  (recorded, the bench reports it)
            errors["unirig"] = traceback.format_exc(limit=3)
        seconds["unirig"] = time.perf_counter() - start
        start = time.perf_counter()
        try:
            puppeteer.process_glb(str(path), str(folder / "rigs"), str(folder / "meshes"))
        except Exception:  # noqa: BLE001
            errors["puppeteer"] = traceback.format_exc(limit=3)
        seconds["puppeteer"] = time.perf_counter() - start
        (folder / "errors.json").write_text(json.dumps(errors, indent=1))
        (folder / "seconds.json").write_text(json.dumps(seconds))


if __name__ == "__main__":
    main()
