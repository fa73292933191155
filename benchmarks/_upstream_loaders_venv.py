"""The upstream side of ``bench_upstream_loaders.py``: runs the upstream dataset classes.

Run by the separate virtual environment's Python (``python _upstream_loaders_venv.py JOB OUT``),
never imported by meshprep: it needs torch, OpenCV, pytorch-lightning and OmegaConf, not
meshprep. ``JOB`` is one run, ``{"loader": "hunyuan" | "step1x", "label", "root" (the upstream
files, extracted), "draws", ...}`` (one process per run: the upstream modules register
OmegaConf resolvers at import); ``OUT`` receives the statistics of every tensor the upstream
loader yielded, its errors and the file inventory of the data it read. The upstream modules
are imported from ``root`` as their train scripts import them and are not changed.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

#: errors kept per run
MAX_ERRORS = 5


# ---------------------------------------------------------------------------------------------
# statistics


def _tensor_stats(stats: dict[str, dict], prefix: str, item: dict[str, Any]) -> None:
    """Fold one item's (or batch's) values into ``stats[prefix + key]``: shapes, dtypes, min,
    max; strings and numbers by type and an example value."""
    import torch

    for key, value in item.items():
        entry = stats.setdefault(prefix + key, {"shapes": [], "dtypes": [], "min": None,
                                                "max": None, "n": 0, "example": None})
        entry["n"] += 1
        if isinstance(value, torch.Tensor):
            _add(entry["shapes"], list(value.shape))
            _add(entry["dtypes"], str(value.dtype).replace("torch.", ""))
            if value.numel():
                low, high = float(value.min()), float(value.max())
                entry["min"] = low if entry["min"] is None else min(entry["min"], low)
                entry["max"] = high if entry["max"] is None else max(entry["max"], high)
        else:
            _add(entry["dtypes"], type(value).__name__)
            if entry["example"] is None:
                entry["example"] = repr(value)[:60]


def _add(values: list, value: Any) -> None:
    if value not in values:
        values.append(value)


def _error(errors: list[str], where: str) -> None:
    """Record the current exception (its last traceback line, where it came from)."""
    if len(errors) < MAX_ERRORS:
        frames = traceback.extract_tb(sys.exc_info()[2])
        place = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        exc = sys.exc_info()[1]
        errors.append(f"{where}: {type(exc).__name__}: {exc} ({place})")


def _iterate(dataset: Any, draws: int, stats: dict, errors: list[str]) -> int:
    """Every item of ``dataset``, ``draws`` times over (the loaders draw views at random); each
    item also through ``default_collate``. Returns the number of items yielded."""
    from torch.utils.data import default_collate

    yielded = 0
    for draw in range(draws):
        for index in range(len(dataset)):
            try:
                item = dataset[index]
                default_collate([item])
            except Exception:  # noqa: BLE001 - reported, the run goes on
                _error(errors, f"draw {draw} item {index}")
                continue
            yielded += 1
            _tensor_stats(stats, "", item)
    return yielded


# ---------------------------------------------------------------------------------------------
# the file inventory: names with their digits as N, image modes and sizes, JSON keys


def inventory(folder: str) -> dict[str, Any]:
    """Each file name pattern under ``folder`` (digits -> N): its count and its format as the
    loaders open it: ``codec``, ``mode``, ``size`` (PIL; for EXR ``cv2.imread``'s dtype and
    shape) or, for JSON, its ``keys`` (top level, and ``frames[].k`` / ``locations[].k`` of the
    first frame or location)."""
    files: dict[str, dict] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            name = re.sub(r"\d", "N", str(path.relative_to(folder)))
            entry = files.setdefault(name, {"count": 0, **_file_format(path)})
            entry["count"] += 1
    return files


def _file_format(path: Path) -> dict[str, Any]:
    import cv2
    from PIL import Image

    if path.suffix in (".png", ".jpg", ".jpeg", ".webp"):
        with Image.open(path) as image:
            return {"codec": image.format, "mode": image.mode,
                    "size": f"{image.size[0]}x{image.size[1]}"}
    if path.suffix == ".exr":
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        return {"codec": "EXR", "mode": "unreadable" if array is None else str(array.dtype),
                "size": "" if array is None else "x".join(map(str, array.shape))}
    if path.suffix == ".json":
        return {"codec": "JSON", "keys": _json_keys(path)}
    return {"codec": path.suffix.lstrip(".").upper()}


def _json_keys(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        return []
    keys = sorted(data)
    for inner in ("frames", "locations"):
        if data.get(inner):
            keys += [f"{inner}[].{k}" for k in sorted(data[inner][0])]
    return keys


# ---------------------------------------------------------------------------------------------
# Hunyuan3D-2.1 Paint: train.py's data path


def run_hunyuan(job: dict) -> dict:
    """``hy3dpaint/train.py``'s data: ``OmegaConf.load`` of the config (a copy of
    ``cfgs/hunyuan-paint-pbr.yaml`` with the job's dataset settings), ``instantiate_from_config
    (config.data)``, ``prepare_data()``, ``setup("fit")``; the train dataset iterated."""
    from omegaconf import OmegaConf
    from pytorch_lightning import seed_everything

    code = Path(job["root"]) / "hy3dpaint"
    os.chdir(code)  # train.py runs in hy3dpaint/ and puts its cwd on sys.path
    sys.path.insert(0, str(code))
    from src.utils.train_util import instantiate_from_config

    config = OmegaConf.load(code / "cfgs" / "hunyuan-paint-pbr.yaml")
    for split in ("train", "validation"):
        for dataset in config.data.params[split]:
            for key, value in job["settings"].items():
                dataset.params[key] = value
    edited = Path(job["workdir"]) / "hunyuan-paint-pbr.yaml"
    OmegaConf.save(config, edited)
    seed_everything(job["seed"])
    config = OmegaConf.load(edited)
    data = instantiate_from_config(config.data)
    data.prepare_data()
    data.setup("fit")
    dataset = data.datasets["train"][0]
    stats: dict = {}
    errors: list[str] = []
    yielded = _iterate(dataset, job["draws"], stats, errors)
    items = json.loads(Path(job["settings"]["json_path"]).read_text(encoding="utf-8"))
    return {"items": len(dataset), "yielded": yielded, "stats": stats, "errors": errors,
            "inventory": inventory(items[0]), "class": type(dataset).__name__}


# ---------------------------------------------------------------------------------------------
# Step1X-3D texture: train_ig2mv.py's data path


def run_step1x(job: dict) -> dict:
    """``train_ig2mv.py``'s data: ``load_config(config, cli_args=...)``, ``find(cfg.data_cls)
    (cfg.data)``, ``setup("fit")``; the train dataset iterated, then its ``train_dataloader()``
    (upstream's ``collate``)."""
    from pytorch_lightning import seed_everything

    root = Path(job["root"])
    os.chdir(job["cwd"])  # the shipped config's paths are relative to the repository root
    sys.path.insert(0, str(root))
    from step1x3d_texture.utils.config import load_config
    from step1x3d_texture.utils.core import find

    cfg = load_config(str(root / "configs" / "train-texture-ig2mv" / "step1x3d_ig2mv_sdxl.yaml"),
                      cli_args=job["cli_args"], makedirs=False)
    seed_everything(cfg.seed)
    dm = find(cfg.data_cls)(cfg.data)
    dm.setup("fit")
    dataset = dm.train_dataset
    stats: dict = {}
    errors: list[str] = []
    yielded = _iterate(dataset, job["draws"], stats, errors)
    batches = 0
    try:
        for batch in dm.train_dataloader():
            batches += 1
            _tensor_stats(stats, "batch.", batch)
    except Exception:  # noqa: BLE001 - reported
        _error(errors, f"train_dataloader batch {batches}")
    first = dataset.all_scenes[0] if len(dataset) else cfg.data.root_dir
    return {"items": len(dataset), "yielded": yielded, "batches": batches, "stats": stats,
            "errors": errors, "inventory": inventory(first), "class": type(dataset).__name__,
            "image_names": list(cfg.data.image_names),
            "reference_image_names": list(cfg.data.reference_image_names)}


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    runner = run_hunyuan if job["loader"] == "hunyuan" else run_step1x
    try:
        result = runner(job)
    except Exception:  # noqa: BLE001 - the loader could not even be built
        errors: list[str] = []
        _error(errors, "construction")
        result = {"items": 0, "yielded": 0, "stats": {}, "errors": errors, "inventory": {},
                  "traceback": traceback.format_exc()}
    Path(sys.argv[2]).write_text(json.dumps({**job, **result}, indent=1), encoding="utf-8")

if __name__ == "__main__":
    main()
