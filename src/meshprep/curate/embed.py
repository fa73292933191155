"""DINOv2 and CLIP embeddings of an asset's normal views, features of the quality score.

Each of the run's 4 input normal views (``renders/input/*_normal.png``, RGBA) is composited on
a white background (:data:`BACKGROUND`: the convention of object renders fed to CLIP and
DINOv2, e.g. TripoSG's conditioning images), padded to a square with the same white, resized
to the model's input side (read from its config) with antialiased bicubic interpolation and
normalized with the model's mean / std. The views go through the model as one batch and their
embeddings are averaged:

- ``dinov2``: the CLS token of ``last_hidden_state`` (``hidden_size`` features);
- ``clip``: the projected image embedding, ``CLIPModel.get_image_features`` (``projection_dim``
  features, not L2-normalized); a vision-only ``CLIPVisionModelWithProjection`` folder gives the
  same ``image_embeds``.

Weights come only from local folders written by ``save_pretrained`` (``model_paths``): a folder
without ``config.json`` is refused before transformers sees it, so the path is never read as a
hub id, and loading passes ``local_files_only=True``; nothing is downloaded. Models load once
per process (cached by kind, folder and device), in float32 and eval mode, and run under
``torch.inference_mode``. torch and transformers are imported only here, inside functions
(``pip install "meshprep[embed]"``).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from meshprep.errors import MeshprepError

if TYPE_CHECKING:
    import torch

#: background grey level the RGBA views are composited on (white)
BACKGROUND = 1.0
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INSTALL = 'pip install "meshprep[embed]"'


class EmbedError(MeshprepError):
    """An embedding extractor cannot run (weights, packages or device missing)."""


class MissingWeightsError(EmbedError, FileNotFoundError):
    """A model's local weights folder is not given or holds no ``config.json``."""


class MissingDependencyError(EmbedError, ImportError):
    """torch or transformers is not installed."""


@dataclass(frozen=True)
class EmbedModel:
    """How one model family is loaded and embeds a batch of views."""

    title: str
    model_types: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    load: Callable[[Path, str], Any]
    embed: Callable[[Any, torch.Tensor], torch.Tensor]
    side: Callable[[Any], int]
    dim: Callable[[Any], int]


def _require() -> Any:
    """torch, after checking that torch and transformers import."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"the DINOv2 / CLIP extractors need torch and transformers ({exc.name or exc} "
            f"does not import): {INSTALL}") from exc
    return torch


def _model_type(folder: Path) -> str:
    with open(folder / "config.json", encoding="utf-8") as stream:
        return str(json.load(stream).get("model_type", ""))


def _load_dinov2(folder: Path, device: str) -> Any:
    from transformers import Dinov2Model

    return Dinov2Model.from_pretrained(folder, local_files_only=True).float().eval().to(device)


def _load_clip(folder: Path, device: str) -> Any:
    from transformers import CLIPModel, CLIPVisionModelWithProjection

    cls = CLIPModel if _model_type(folder) == "clip" else CLIPVisionModelWithProjection
    return cls.from_pretrained(folder, local_files_only=True).float().eval().to(device)


def _dinov2_cls(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    return model(pixel_values=pixels).last_hidden_state[:, 0]


def _clip_image_embeds(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    if model.config.model_type != "clip":
        return model(pixel_values=pixels).image_embeds
    out = model.get_image_features(pixel_values=pixels)
    # transformers 5 returns the vision output with the projection as its pooler_output
    return out if hasattr(out, "shape") else out.pooler_output


def _clip_vision(config: Any) -> Any:
    return config.vision_config if config.model_type == "clip" else config


#: model key (of ``model_paths``) -> how it loads and embeds
MODELS: dict[str, EmbedModel] = {
    "dinov2": EmbedModel("DINOv2", ("dinov2",), IMAGENET_MEAN, IMAGENET_STD, _load_dinov2,
                         _dinov2_cls, lambda m: int(m.config.image_size),
                         lambda m: int(m.config.hidden_size)),
    "clip": EmbedModel("CLIP", ("clip", "clip_vision_model"), CLIP_MEAN, CLIP_STD, _load_clip,
                       _clip_image_embeds, lambda m: int(_clip_vision(m.config).image_size),
                       lambda m: int(m.config.projection_dim)),
}


def weights_folder(key: str, model_paths: Mapping[str, str | os.PathLike[str]]) -> Path:
    """The local weights folder of model ``key``, checked (absolute).

    Raises
    ------
    MissingWeightsError
        ``model_paths[key]`` is not given, or is not a folder with a ``config.json``.
    """
    spec = MODELS[key]
    where = f"model_paths[{key!r}] (`meshprep score ... --{key} PATH`)"
    value = model_paths.get(key)
    if not value:
        raise MissingWeightsError(f"the {spec.title} extractor needs a local weights folder: "
                                  f"set {where}")
    folder = Path(value).expanduser()
    if not (folder / "config.json").is_file():
        raise MissingWeightsError(
            f"no {spec.title} weights at {folder} (no config.json there), given as {where}: "
            "it must be a local folder written by save_pretrained; nothing is downloaded")
    model_type = _model_type(folder)
    if model_type not in spec.model_types:
        raise EmbedError(f"{folder} holds a {model_type!r} model, not {spec.title} "
                         f"({' or '.join(spec.model_types)}), given as {where}")
    return folder.resolve()


def _device(torch: Any, device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EmbedError(f"device {device!r} asked for, but torch sees no CUDA device")
    return device


@functools.cache
def load_model(key: str, folder: str, device: str = "cpu") -> Any:
    """Model ``key`` from a checked local ``folder``, float32, eval mode (cached per process)."""
    torch = _require()
    return MODELS[key].load(Path(folder), _device(torch, device))


def read_view(path: Path, background: float = BACKGROUND) -> np.ndarray:
    """An RGBA view composited on ``background`` and padded to a square: (S, S, 3) in [0, 1]."""
    rgba = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float32) / 255.0
    alpha = rgba[..., 3:]
    rgb = rgba[..., :3] * alpha + np.float32(background) * (1.0 - alpha)
    height, width = rgb.shape[:2]
    side = max(height, width)
    square = np.full((side, side, 3), background, np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    square[top:top + height, left:left + width] = rgb
    return square


def pixel_batch(views: Sequence[np.ndarray], side: int, mean: Sequence[float],
                std: Sequence[float], device: str = "cpu") -> torch.Tensor:
    """Square views resized to ``side`` (bicubic, antialiased) and normalized: (N, 3, S, S)."""
    torch = _require()
    from torch.nn.functional import interpolate

    resized = [interpolate(torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))[None],
                           size=(side, side), mode="bicubic", align_corners=False,
                           antialias=True) for v in views]
    pixels = torch.cat(resized).clamp_(0.0, 1.0)
    shape = (1, 3, 1, 1)
    pixels = (pixels - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)
    return pixels.to(device)


def embed_views(key: str, model: Any, views: Sequence[np.ndarray], device: str = "cpu"
                ) -> np.ndarray:
    """Model ``key``'s embedding of ``views`` (one batch), averaged over views; zeros if none."""
    spec = MODELS[key]
    if not views:
        return np.zeros(spec.dim(model))
    torch = _require()
    pixels = pixel_batch(views, spec.side(model), spec.mean, spec.std, device)
    with torch.inference_mode():
        vectors = spec.embed(model, pixels).float()
    return vectors.mean(dim=0).cpu().numpy().astype(np.float64)


def embed_extractor(keys: Sequence[str], model_paths: Mapping[str, str | os.PathLike[str]], *,
                    device: str = "cpu") -> Callable[[Path, dict], dict[str, float]]:
    """An extractor concatenating the view embeddings of models ``keys`` and the metrics.

    Features are ``{key}_{i:04d}`` per model, then :func:`meshprep.curate.score.
    geometry_features`. The models load here, so a missing folder or package fails before any
    asset is read.

    Parameters
    ----------
    keys : sequence of str
        Keys of :data:`MODELS`, in feature order.
    model_paths : mapping
        Model key -> local weights folder.
    device : str
        Torch device (``"cpu"``, or ``"cuda"`` when torch sees one).
    """
    folders = {key: weights_folder(key, model_paths) for key in keys}
    _require()
    models = {key: load_model(key, str(folder), device) for key, folder in folders.items()}

    def extract(folder: Path, metrics: dict) -> dict[str, float]:
        from .score import geometry_features, normal_views

        views = [read_view(path) for path in normal_views(folder)]
        out: dict[str, float] = {}
        for key, model in models.items():
            vector = embed_views(key, model, views, device)
            out.update({f"{key}_{i:04d}": float(v) for i, v in enumerate(vector)})
        return out | geometry_features(metrics)

    return extract
