"""Puppeteer's own ``SkeletonData`` on our ``puppeteer`` export (run by bench_rig_layouts.py).

Run by a separate environment's Python (torch, numpy, scipy, trimesh, scikit-image): ``python
_puppeteer_loader_venv.py PUPPETEER DATASET OUT``, never imported by meshprep. ``PUPPETEER`` is
Puppeteer's code (``git archive``), imported unchanged; ``DATASET`` our ``meshprep_train.npz``.
``skeleton/data_utils/save_npz.py`` (whose ``normalize_to_unit_cube`` the loader imports) also
imports ``mesh2sdf`` at the top for its remeshing, which this path never calls: a stand-in
module that raises if used. Writes ``OUT`` (JSON): per item the tensors' shapes and dtypes,
and every error.
"""

from __future__ import annotations

import json
import sys
import traceback
import types
from pathlib import Path


def _stand_in_mesh2sdf() -> None:
    def refuse(*args, **kwargs):
        raise RuntimeError("mesh2sdf stand-in called")

    core = types.ModuleType("mesh2sdf.core")
    core.compute = refuse
    package = types.ModuleType("mesh2sdf")
    package.core = core
    sys.modules["mesh2sdf"], sys.modules["mesh2sdf.core"] = package, core


def main(puppeteer: Path, dataset: Path, out: Path) -> None:
    _stand_in_mesh2sdf()
    sys.path.insert(0, str(puppeteer / "skeleton"))
    import torch
    from utils.skeleton_data_loader import SkeletonData

    # skeleton/demo.py's defaults: 8192 input points, no hierarchical order
    args = types.SimpleNamespace(dataset_path=str(dataset), input_pc_num=8192, hier_order=False)
    report: dict = {"items": [], "errors": []}
    data = SkeletonData.load(args, is_training=True)
    report["length"] = len(data)
    for index in range(len(data)):
        try:
            item = data[index]
            report["items"].append({key: [list(value.shape), str(value.dtype)]
                                    if isinstance(value, torch.Tensor) else repr(value)[:40]
                                    for key, value in item.items()})
        except Exception:  # noqa: BLE001  (recorded)
            report["errors"].append(traceback.format_exc(limit=2))
    out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
