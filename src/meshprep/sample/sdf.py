"""SDF supervision: volume and near-surface points with exact signed distances.

The recipe follows Hunyuan3D-2.1's release: volume points uniform in ``[-1.05, 1.05]^3``;
near-surface points from uniform surface samples plus truncated Gaussian offsets (sigma 0.005
and 0.05, each coordinate truncated to +-0.25) and from salient-edge samples plus Gaussian
offsets (six equal groups, sigma 0.001 to 0.06). Signed distances are exact and negative inside
(see :mod:`meshprep.sample.distance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import defaults
from ._mesh import MeshLike
from .distance import MeshDistance
from .surface import sample_surface

VOLUME_BOUND = 1.05
SURFACE_SIGMAS = (0.005, 0.05)
# the six groups of Hunyuan3D-2.1's sharp-edge samples, in increasing order
SALIENT_SIGMAS = (0.001, 0.003, 0.01, 0.02, 0.04, 0.06)
# Hunyuan3D-2.1 truncates the surface offsets to [-0.25, 0.25] per coordinate
OFFSET_TRUNCATION = 0.25


@dataclass
class SDFSamples:
    """Points with signed distances to a closed mesh (negative inside).

    Attributes
    ----------
    volume_points : (V, 3) float32
        Uniform in the cube ``[-bound, bound]^3``.
    volume_sdf : (V,) float32
    near_points : (N, 3) float32
        Near-surface points: first those around uniform surface samples, then the last
        ``salient_count`` around salient-edge samples. Each part is in random order.
    near_sdf : (N,) float32
    salient_count : int
        How many rows at the end of ``near_*`` come from salient samples.
    truncation : float or None
        If set, distances were clipped to ``[-truncation, truncation]`` (a TSDF).
    """

    volume_points: np.ndarray
    volume_sdf: np.ndarray
    near_points: np.ndarray
    near_sdf: np.ndarray
    salient_count: int = 0
    truncation: float | None = None

    @property
    def surface_near_points(self) -> np.ndarray:
        """Near points around uniform surface samples (Hunyuan3D's ``random_near_points``)."""
        return self.near_points[: len(self.near_points) - self.salient_count]

    @property
    def surface_near_sdf(self) -> np.ndarray:
        """Signed distances of :attr:`surface_near_points`."""
        return self.near_sdf[: len(self.near_sdf) - self.salient_count]

    @property
    def salient_near_points(self) -> np.ndarray:
        """Near points around salient samples (Hunyuan3D's ``sharp_near_points``)."""
        return self.near_points[len(self.near_points) - self.salient_count:]

    @property
    def salient_near_sdf(self) -> np.ndarray:
        """Signed distances of :attr:`salient_near_points`."""
        return self.near_sdf[len(self.near_sdf) - self.salient_count:]

    @property
    def volume_occupancy(self) -> np.ndarray:
        """``uint8`` occupancy of the volume points, inside = 1."""
        return (self.volume_sdf < 0).astype(np.uint8)

    @property
    def near_occupancy(self) -> np.ndarray:
        """``uint8`` occupancy of the near points, inside = 1."""
        return (self.near_sdf < 0).astype(np.uint8)


def truncated_normal(
    rng: np.random.Generator, sigma: float, shape: tuple[int, ...], bound: float
) -> np.ndarray:
    """Gaussian samples with standard deviation ``sigma`` restricted to ``[-bound, bound]``.

    Rejection: out-of-range values are redrawn until none is left, which is the truncated
    normal exactly (scipy's ``truncnorm`` with ``a = -bound / sigma``, ``b = bound / sigma``).
    """
    out = rng.normal(0.0, sigma, shape)
    bad = np.flatnonzero(np.abs(out) > bound)
    while len(bad):
        out.flat[bad] = rng.normal(0.0, sigma, len(bad))
        bad = bad[np.abs(out.flat[bad]) > bound]
    return out


def _split(total: int, parts: int) -> list[int]:
    """``parts`` group sizes summing to ``total``; the last group takes the remainder."""
    base = total // parts
    return [base] * (parts - 1) + [total - base * (parts - 1)]


def _surface_near(mesh, count, sigmas, rng) -> tuple[np.ndarray, np.ndarray]:
    """Offset surface samples, and the face each was offset from (a hint for the search)."""
    base, _, faces = sample_surface(mesh, count, seed=rng, return_faces=True)
    base = base.astype(np.float64)
    start = 0
    for size, sigma in zip(_split(count, len(sigmas)), sigmas, strict=True):
        base[start:start + size] += truncated_normal(rng, sigma, (size, 3), OFFSET_TRUNCATION)
        start += size
    order = rng.permutation(count)
    return base[order], faces[order]


def _salient_near(salient, count, sigmas, rng) -> np.ndarray:
    salient = np.asarray(salient, dtype=np.float64).reshape(-1, 3)
    # each salient point at most once while there are enough of them (as the reference does)
    if count <= len(salient):
        base = salient[rng.permutation(len(salient))[:count]]
    else:
        base = salient[rng.integers(len(salient), size=count)]
    start = 0
    for size, sigma in zip(_split(count, len(sigmas)), sigmas, strict=True):
        base[start:start + size] += rng.normal(0.0, sigma, (size, 3))
        start += size
    return base[rng.permutation(count)]


#: share of the near points drawn around salient samples (Hunyuan3D-2.1 draws one third)
SALIENT_NEAR_FRACTION = 1 / 3


def sample_sdf(
    watertight: MeshLike | MeshDistance,
    volume: int = defaults.VOLUME,
    near: int = defaults.NEAR,
    *,
    salient: np.ndarray | None = None,
    salient_fraction: float = SALIENT_NEAR_FRACTION,
    surface_sigmas: Sequence[float] = SURFACE_SIGMAS,
    salient_sigmas: Sequence[float] = SALIENT_SIGMAS,
    bound: float = VOLUME_BOUND,
    truncation: float | None = None,
    seed: int | np.random.Generator | None = 0,
) -> SDFSamples:
    """Sample SDF supervision around a closed mesh: volume and near-surface points.

    Parameters
    ----------
    watertight : trimesh.Trimesh, (vertices, faces) or MeshDistance
        A closed, outward-oriented 2-manifold (``make_watertight(...).mesh``). Pass a
        :class:`MeshDistance` to reuse its acceleration structure.
    volume : int
        Points uniform in ``[-bound, bound]^3``.
    near : int
        Near-surface points in total.
    salient : (S, 3) array_like, optional
        Salient-edge samples (from :func:`sample_salient`, on the mesh of your choice). When
        given, ``round(near * salient_fraction)`` of the near points are drawn around them
        (Hunyuan3D-2.1 draws one third there); otherwise all are drawn around the surface.
    salient_fraction : float
        Share of the near points around salient samples, in ``[0, 1]``.
    surface_sigmas : sequence of float
        Standard deviations of the truncated Gaussian offsets around surface samples (equal
        groups); each coordinate is truncated to ``[-0.25, 0.25]``.
    salient_sigmas : sequence of float
        Standard deviations of the Gaussian offsets around salient samples (equal groups).
    bound : float
        Half side of the volume cube.
    truncation : float, optional
        Clip the distances to ``[-truncation, truncation]`` (a truncated SDF, as Dora's 0.015).
    seed : int, numpy.random.Generator or None
        Same seed, bit-identical output.

    Returns
    -------
    SDFSamples

    Examples
    --------
    >>> import trimesh
    >>> samples = sample_sdf(trimesh.creation.icosphere(), volume=1000, near=2000, seed=0)
    >>> samples.volume_points.shape, samples.near_sdf.dtype
    ((1000, 3), dtype('float32'))
    """
    if volume < 0 or near < 0:
        raise ValueError("volume and near must be >= 0")
    if not 0.0 <= salient_fraction <= 1.0:
        raise ValueError(f"salient_fraction must be in [0, 1], got {salient_fraction}")
    if salient is not None and len(salient) == 0:
        salient = None
    field = watertight if isinstance(watertight, MeshDistance) else MeshDistance(watertight)
    rng = np.random.default_rng(seed)
    n_salient = int(round(near * salient_fraction)) if salient is not None else 0
    volume_points = rng.uniform(-bound, bound, (volume, 3))
    surface_near, source = _surface_near((field.vertices, field.faces), near - n_salient,
                                         tuple(surface_sigmas), rng)
    parts = [volume_points, surface_near]
    if n_salient:
        parts.append(_salient_near(salient, n_salient, tuple(salient_sigmas), rng))
    # distances of the points as stored (float32), in one query: one sort, one traversal; the
    # face a near point was offset from starts its search
    points = np.concatenate(parts).astype(np.float32)
    hints = np.full(len(points), -1, np.int64)
    hints[volume:volume + len(source)] = source
    sdf = field.signed_distance(points, hint_faces=hints)
    if truncation is not None:
        np.clip(sdf, -truncation, truncation, out=sdf)
    sdf = sdf.astype(np.float32)
    return SDFSamples(
        volume_points=points[:volume],
        volume_sdf=sdf[:volume],
        near_points=points[volume:],
        near_sdf=sdf[volume:],
        salient_count=n_salient,
        truncation=truncation,
    )
