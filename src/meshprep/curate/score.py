"""Quality score: a ridge regressor on features of an asset's normal views and its metrics.

Train it on human ratings (a CSV ``id,score``, 1–5), as TripoSG does with its ~10K ratings; the
features come from a pluggable extractor. The built-in one needs no downloaded weights: image
statistics of the run's 4 normal views (coverage, normal spread, detail) and the curation
metrics. The ``dinov2``, ``clip`` and ``clip+dinov2`` extractors (:mod:`meshprep.curate.embed`,
``pip install "meshprep[embed]"``) embed the same views with weights from local folders
(``model_paths``: ``{"dinov2": PATH, "clip": PATH}``) and add the same curation metrics. A fitted
scorer is a small JSON file (extractor, model paths, feature names, standardization,
coefficients, cross-validated R²) that reloads and predicts identically.

Everything here works on one asset's folder and metrics, or on features in memory; training on
a run's ratings and scoring a whole run (which read and write its ledger) are in
:mod:`meshprep.pipeline.curation`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

GEOMETRY_FEATURES = ("input_faces", "components", "objects", "largest_area_share",
                     "plane_share", "plane_share_top3", "thinness", "aspect_mid", "aspect_min",
                     "ground_tile_share", "floater_share", "boundary_edges", "nonmanifold_edges")
IMAGE_FEATURES = ("coverage", "normal_std_x", "normal_std_y", "normal_std_z", "detail",
                  "silhouette")
_LOG = {"input_faces", "components", "objects", "boundary_edges", "nonmanifold_edges"}

#: extractor(asset folder, metrics) -> {feature: value}
Extractor = Callable[[Path, dict], dict[str, float]]
#: model key (``"dinov2"``, ``"clip"``) -> local weights folder
ModelPaths = Mapping[str, str | os.PathLike[str]]


def _view_statistics(path: Path) -> list[float]:
    rgba = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float64) / 255.0
    mask = rgba[..., 3] > 0.5
    if not mask.any():
        return [0.0] * len(IMAGE_FEATURES)
    normals = rgba[..., :3] * 2.0 - 1.0
    covered = normals[mask]
    # detail: how much the normal changes between neighbouring covered pixels
    dx = np.abs(np.diff(normals, axis=1)).sum(axis=2)[mask[:, 1:] & mask[:, :-1]]
    dy = np.abs(np.diff(normals, axis=0)).sum(axis=2)[mask[1:] & mask[:-1]]
    edges = np.count_nonzero(mask[:, 1:] != mask[:, :-1]) + np.count_nonzero(
        mask[1:] != mask[:-1])
    return [float(mask.mean()), *covered.std(axis=0).tolist(),
            float(np.concatenate([dx, dy]).mean()) if dx.size + dy.size else 0.0,
            float(edges / math.sqrt(mask.sum()))]


def normal_views(folder: Path) -> list[Path]:
    """The run's normal views of the input mesh (``renders/input/*_normal.png``), in order."""
    return sorted((folder / "renders" / "input").glob("*_normal.png"))


def geometry_features(metrics: dict) -> dict[str, float]:
    """The curation metrics every extractor adds (counts as ``log1p``, missing ones 0)."""
    out = {}
    for name in GEOMETRY_FEATURES:
        value = float(metrics.get(name) or 0.0)
        out[name] = math.log1p(value) if name in _LOG else value
    return out


def builtin_features(folder: Path, metrics: dict) -> dict[str, float]:
    """The built-in extractor: normal-view statistics (mean over views) and curation metrics."""
    views = normal_views(folder)
    stats = np.mean([_view_statistics(v) for v in views], axis=0) if views else \
        np.zeros(len(IMAGE_FEATURES))
    out = {f"view_{n}": float(v) for n, v in zip(IMAGE_FEATURES, stats, strict=True)}
    return out | geometry_features(metrics)


#: name -> extractor(asset folder, metrics) -> {feature: value} for extractors without weights
EXTRACTORS: dict[str, Extractor] = {"builtin": builtin_features}

#: name -> the pretrained models it embeds the normal views with, concatenated (keys of
#: ``model_paths``, see :data:`meshprep.curate.embed.MODELS`); weights come from local folders,
#: nothing is downloaded at run time. TripoSG conditions on CLIP and DINOv2 together.
EMBEDDERS: dict[str, tuple[str, ...]] = {
    "dinov2": ("dinov2",), "clip": ("clip",), "clip+dinov2": ("clip", "dinov2")}


def extractor_names() -> list[str]:
    """Every extractor :func:`make_extractor` knows."""
    return [*EXTRACTORS, *EMBEDDERS]


def make_extractor(name: str, model_paths: ModelPaths | None = None, *, device: str = "cpu"
                   ) -> Extractor:
    """The extractor called ``name``, with its models loaded (once per process).

    Parameters
    ----------
    name : str
        A key of :data:`EXTRACTORS` or :data:`EMBEDDERS`.
    model_paths : mapping, optional
        Model key (``"dinov2"``, ``"clip"``) -> local weights folder; only embedders use it.
    device : str
        Torch device of the embedders (``"cpu"``, ``"cuda"``).

    Raises
    ------
    ValueError
        An unknown name.
    meshprep.curate.embed.EmbedError
        A weights folder or the ``embed`` extra is missing.
    """
    if name in EXTRACTORS:
        return EXTRACTORS[name]
    if name not in EMBEDDERS:
        raise ValueError(f"unknown extractor {name!r}; one of {', '.join(extractor_names())}")
    from .embed import embed_extractor

    return embed_extractor(EMBEDDERS[name], model_paths or {}, device=device)


def used_model_paths(name: str, model_paths: ModelPaths | None) -> dict[str, str]:
    """The absolute weights folders extractor ``name`` uses (what a :class:`Scorer` records)."""
    paths = model_paths or {}
    return {key: str(Path(paths[key]).expanduser().resolve())
            for key in EMBEDDERS.get(name, ()) if paths.get(key)}


@dataclass
class Scorer:
    """A fitted ridge regressor (standardized features).

    ``model_paths`` records the weights folders of an embedding extractor (model key -> path),
    which :func:`meshprep.pipeline.curation.predict_dataset` reuses unless told otherwise.
    """

    extractor: str
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    alpha: float
    cv_r2: float
    n_train: int
    model_paths: dict[str, str] = field(default_factory=dict)

    def predict(self, rows: list[dict[str, float]]) -> np.ndarray:
        x = np.array([[row.get(f, 0.0) for f in self.features] for row in rows], np.float64)
        z = (x - np.array(self.mean)) / np.array(self.scale)
        return z @ np.array(self.coef) + self.intercept

    def save(self, path: str | os.PathLike[str]) -> None:
        from meshprep.io import atomic_write

        with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as stream:
            json.dump(asdict(self), stream, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Scorer:
        with open(path, encoding="utf-8") as stream:
            return cls(**json.load(stream))


def _ridge(z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    intercept = float(y.mean())
    gram = z.T @ z + alpha * np.eye(z.shape[1])
    return np.linalg.solve(gram, z.T @ (y - intercept)), intercept


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    residual = ((y - predicted) ** 2).sum()
    total = ((y - y.mean()) ** 2).sum()
    return float(1.0 - residual / total) if total > 0 else 0.0


def fit_scorer(rows: list[dict[str, float]], scores, *, alpha: float = 1.0, folds: int = 5,
               extractor: str = "builtin", seed: int = 0) -> Scorer:
    """Fit a ridge regressor and report its ``folds``-fold cross-validated R².

    Parameters
    ----------
    rows : list of dict
        Features per rated asset (one extractor's output).
    scores : array_like
        The human scores.
    alpha : float
        L2 penalty on the standardized coefficients.
    """
    features = sorted({k for row in rows for k in row})
    x = np.array([[row.get(f, 0.0) for f in features] for row in rows], np.float64)
    y = np.asarray(scores, np.float64)
    if len(y) < max(folds, 3):
        raise ValueError(f"need at least {max(folds, 3)} rated assets, got {len(y)}")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    order = np.random.default_rng(seed).permutation(len(y))
    predicted = np.empty_like(y)
    for fold in np.array_split(order, folds):
        train = np.setdiff1d(order, fold)
        coef, intercept = _ridge(z[train], y[train], alpha)
        predicted[fold] = z[fold] @ coef + intercept
    coef, intercept = _ridge(z, y, alpha)
    return Scorer(extractor, features, mean.tolist(), scale.tolist(), coef.tolist(), intercept,
                  alpha, _r2(y, predicted), len(y))
