"""The whole sample step for one asset: surface, salient and SDF samples together."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import trimesh

from . import defaults
from ._mesh import MeshLike
from .distance import MeshDistance
from .salient import SalientStats, sample_salient
from .sdf import SDFSamples, sample_sdf
from .surface import NormalMode, sample_surface

SalientSource = Literal["original", "watertight"]


@dataclass
class TrainingSamples:
    """Everything a trainer reads for one asset (float32, canonical cube, negative inside).

    Attributes
    ----------
    surface_points, surface_normals : (N, 3) float32
        Uniform surface samples of the watertight mesh and their normals.
    salient_points, salient_normals : (S, 3) float32
        Salient-edge samples and their normals.
    sdf : SDFSamples
        Volume and near-surface points with signed distances to the watertight mesh.
    salient_stats : SalientStats
        How the salient samples were made (``fallback`` is True when uniform samples filled in).
    stats : dict
        ``salient_source`` and timings in seconds: ``time_surface``, ``time_salient``,
        ``time_distance_build``, ``time_sdf``, ``time_fps``, ``time_total``.
    surface_fps, salient_fps : (K,) int32 or None
        Indices of the first K farthest-point samples of the surface / salient points, in
        sampling order (None when not computed): a layout that farthest-point samples its
        input (Dora) reads a prefix instead of sampling again at export.
    """

    surface_points: np.ndarray
    surface_normals: np.ndarray
    salient_points: np.ndarray
    salient_normals: np.ndarray
    sdf: SDFSamples
    salient_stats: SalientStats
    stats: dict = field(default_factory=dict)
    surface_fps: np.ndarray | None = None
    salient_fps: np.ndarray | None = None


def sample_asset(
    watertight: trimesh.Trimesh,
    original: MeshLike | None = None,
    *,
    surface: int = defaults.SURFACE,
    salient: int = defaults.SALIENT,
    volume: int = defaults.VOLUME,
    near: int = defaults.NEAR,
    salient_from: SalientSource = "original",
    angle: float = 30.0,
    normals: NormalMode = "face",
    truncation: float | None = None,
    fps: int = 0,
    seed: int = 0,
) -> TrainingSamples:
    """Run the sample step for one asset.

    Surface samples and SDF supervision come from the watertight mesh; salient samples come
    from the mesh named by ``salient_from`` (the original asset keeps its creases exactly;
    marching cubes rounds them). Each part gets its own child seed, so changing one count does
    not change the other parts.

    Parameters
    ----------
    watertight : trimesh.Trimesh
        Closed, outward-oriented 2-manifold in the canonical cube.
    original : trimesh.Trimesh or (vertices, faces), optional
        The normalized source mesh; required when ``salient_from="original"``.
    surface, salient, volume, near : int
        Sample counts.
    salient_from : {"original", "watertight"}
        Which mesh the salient edges are taken from.
    angle : float
        Dihedral threshold of salient edges, degrees.
    normals : {"face", "vertex"}
        Normals of the uniform surface samples.
    truncation : float, optional
        TSDF truncation of the distances.
    fps : int
        Also store the order of the first ``fps`` farthest-point samples of the surface and of
        the salient points (``surface_fps``, ``salient_fps``; 0: none).
    seed : int
        Master seed.

    Returns
    -------
    TrainingSamples

    Examples
    --------
    >>> import trimesh
    >>> box = trimesh.creation.box(extents=(1, 1, 1))
    >>> out = sample_asset(box, box, surface=100, salient=100, volume=100, near=300)
    >>> out.sdf.near_points.shape
    (300, 3)
    """
    if salient_from not in ("original", "watertight"):
        raise ValueError(f"salient_from must be 'original' or 'watertight', got {salient_from!r}")
    if salient_from == "original" and original is None:
        raise ValueError("salient_from='original' needs the original mesh")
    seeds = np.random.SeedSequence(seed).spawn(3)
    stats: dict = {"salient_source": salient_from}
    total = time.perf_counter()
    start = time.perf_counter()
    points, point_normals = sample_surface(
        watertight, surface, seed=np.random.default_rng(seeds[0]), normals=normals
    )
    stats["time_surface"] = time.perf_counter() - start
    start = time.perf_counter()
    source = original if salient_from == "original" else watertight
    sal, sal_normals, sal_stats = sample_salient(
        source, salient, angle=angle, seed=np.random.default_rng(seeds[1]), return_stats=True
    )
    stats["time_salient"] = time.perf_counter() - start
    start = time.perf_counter()
    field_ = MeshDistance(watertight)
    stats["time_distance_build"] = time.perf_counter() - start
    start = time.perf_counter()
    # a mesh without salient edges has uniform points as its salient samples: the near points
    # then all come from the surface, as they would without salient supervision
    sdf = sample_sdf(
        field_, volume, near, salient=None if sal_stats.fallback else sal,
        truncation=truncation, seed=np.random.default_rng(seeds[2]),
    )
    stats["time_sdf"] = time.perf_counter() - start
    start = time.perf_counter()
    surface_fps, salient_fps = (fps_order(points, fps, seed), fps_order(sal, fps, seed)) \
        if fps else (None, None)
    stats["time_fps"] = time.perf_counter() - start
    stats["time_total"] = time.perf_counter() - total
    return TrainingSamples(points, point_normals, sal, sal_normals, sdf, sal_stats, stats,
                           surface_fps, salient_fps)


def fps_order(points: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """The first ``min(count, len(points))`` farthest-point-sample indices, int32."""
    from .fps import farthest_point_sampling

    return farthest_point_sampling(points, min(count, len(points)), seed=seed).astype(np.int32)
