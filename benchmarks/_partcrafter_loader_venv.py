"""PartCrafter's own dataset classes on our ``partcrafter`` export (run by bench_parts.py).

Run by the separate environment's Python: ``python _partcrafter_loader_venv.py UPSTREAM CONFIG
OUT``, never imported by meshprep. ``UPSTREAM`` is PartCrafter's code (``git archive``),
imported unchanged; ``CONFIG`` our ``object_part_configs.json``. torchvision's CPU build does
not match the pinned torch here, so ``torchvision`` is a stand-in whose ``transforms`` build
objects that raise if called: the loader builds its rotation transform at init and calls it
only with ``rotating_ratio`` > 0, which this run sets to 0. Writes ``OUT`` (JSON): per item the
shapes and dtypes of ``images`` and ``part_surfaces``, the batched collate's shapes, and every
error.
"""

from __future__ import annotations

import json
import sys
import traceback
import types
from pathlib import Path


def _stand_in_torchvision() -> None:
    def refuse(*args, **kwargs):
        raise RuntimeError("torchvision stand-in called (rotating_ratio must be 0)")

    transforms = types.ModuleType("torchvision.transforms")
    transforms.Compose = lambda steps: refuse
    transforms.RandomRotation = lambda *args, **kwargs: None
    package = types.ModuleType("torchvision")
    package.transforms = transforms
    sys.modules["torchvision"], sys.modules["torchvision.transforms"] = package, transforms


def main(upstream: Path, config: Path, out: Path) -> None:
    _stand_in_torchvision()
    sys.path.insert(0, str(upstream))
    from omegaconf import OmegaConf
    from src.datasets.objaverse_part import BatchedObjaversePartDataset, ObjaversePartDataset

    configs = OmegaConf.create({
        "dataset": {"config": [str(config)], "training_ratio": 1.0, "min_num_parts": 1,
                    "max_num_parts": 16, "max_iou_mean": 0.5, "max_iou_max": 0.5,
                    "shuffle_parts": True, "object_ratio": 1.0, "rotating_ratio": 0.0},
        "val": {"min_num_parts": 1, "max_num_parts": 16}})
    report: dict = {"items": [], "errors": [], "batches": []}
    dataset = ObjaversePartDataset(configs, training=True)
    report["length"] = len(dataset)
    for index in range(len(dataset)):
        try:
            item = dataset[index]
            report["items"].append({key: [list(value.shape), str(value.dtype)]
                                    for key, value in item.items()})
        except Exception:  # noqa: BLE001  (recorded)
            report["errors"].append(traceback.format_exc(limit=2))
    try:  # the batched class (batch of 4 parts), through its collate_fn
        batched = BatchedObjaversePartDataset(configs, batch_size=4, training=True)
        items = [batched[i] for i in range(len(batched))]
        for start in range(0, len(items), 4):
            batch = batched.collate_fn(items[start:start + 4])
            report["batches"].append({key: list(value.shape) for key, value in batch.items()})
    except Exception:  # noqa: BLE001
        report["errors"].append(traceback.format_exc(limit=2))
    out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
