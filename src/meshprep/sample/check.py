"""The sign check: do an asset's SDF labels say inside where its watertight mesh is?

Run after sampling (and at export) on every asset; cheap, independent of how the labels were
made (pseudonormal signs of exact distances):

- ``check_far_inside``: the share of volume points outside the watertight mesh's bounding box
  that are labelled inside (must be 0);
- ``check_sign_disagreement``: the share of a few hundred volume and near points whose label
  disagrees with the parity of a ray along +x through the watertight mesh (closed, so parity
  is the generalized winding number rounded); the ray test bins triangles by their (y, z) box
  in a 2D grid, so it costs one pass over the faces;
- ``check_volume_sigma``: how many binomial standard deviations the inside share of the volume
  points lies from the mesh's volume over the sampling box's.

The curation rules (``[curate]``, ``curate/decide.py``) compare them with their thresholds.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import trimesh

from .._jit import njit
from .step import TrainingSamples

GRID = 64  # ray-test bins per axis over the mesh's (y, z) box
VOLUME_BOX = 1.05  # the volume points are uniform in [-1.05, 1.05]^3 (sample/sdf.py)


def sign_check(watertight: trimesh.Trimesh, samples: TrainingSamples, *, points: int = 512,
               seed: int = 0) -> dict[str, float]:
    """The sign-check metrics of one asset (see the module's docstring).

    Parameters
    ----------
    watertight : trimesh.Trimesh
        The closed mesh the labels were computed against.
    samples : TrainingSamples
        Its samples (``sdf`` negative inside).
    points : int
        Points tested against ray parity (half volume, half near).
    seed : int
        Which points.

    Returns
    -------
    dict
        ``check_far_inside``, ``check_sign_disagreement``, ``check_volume_sigma``,
        ``check_points``.
    """
    sdf = samples.sdf
    vertices = np.asarray(watertight.vertices, np.float64)
    faces = np.asarray(watertight.faces, np.int64)
    lo, hi = _bounds(vertices)
    far = ~np.all((sdf.volume_points >= lo - 1e-6) & (sdf.volume_points <= hi + 1e-6), axis=1)
    far_inside = float(np.mean(sdf.volume_sdf[far] < 0)) if far.any() else 0.0
    rng = np.random.default_rng(seed)
    # with replacement: a permutation of 500k rows would cost more than the whole check
    pick_v = rng.integers(0, len(sdf.volume_points), points // 2 if len(sdf.volume_points) else 0)
    pick_n = rng.integers(0, len(sdf.near_points), points // 2 if len(sdf.near_points) else 0)
    query = np.concatenate([sdf.volume_points[pick_v], sdf.near_points[pick_n]]).astype(np.float64)
    labels = np.concatenate([sdf.volume_sdf[pick_v], sdf.near_sdf[pick_n]]) < 0
    inside = ray_parity_inside(vertices, faces, query)
    n = len(sdf.volume_sdf)
    expected = abs(_volume(vertices, faces)) / (2 * VOLUME_BOX) ** 3
    share = float(np.mean(sdf.volume_sdf < 0))
    sigma = np.sqrt(max(expected * (1 - expected), 1e-12) / max(n, 1))
    return {"check_far_inside": far_inside,
            "check_sign_disagreement": float(np.mean(inside != labels)) if len(query) else 0.0,
            "check_volume_sigma": abs(share - expected) / sigma,
            "check_points": int(len(query))}


def ray_parity_inside(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Inside a closed mesh by the parity of the crossings of a ray along +x from each point."""
    vertices = np.ascontiguousarray(vertices, np.float64)
    faces = np.ascontiguousarray(faces, np.int64)
    lo, hi = _bounds(vertices)
    origin = lo[1:].copy()
    cell = np.maximum((hi[1:] - origin) / GRID, 1e-12)
    starts, members = _bin(vertices, faces, origin, cell)
    return _parity(vertices, faces, starts, members, np.asarray(points, np.float64), origin,
                   cell)


@nb.njit(cache=True)
def _bounds(vertices):
    """Per-axis minimum and maximum (one pass; numpy's axis-0 reductions of (N, 3) are slow)."""
    lo = vertices[0].copy()
    hi = vertices[0].copy()
    for i in range(1, len(vertices)):
        for a in range(3):
            lo[a] = min(lo[a], vertices[i, a])
            hi[a] = max(hi[a], vertices[i, a])
    return lo, hi


@njit(cache=True, parallel=True)
def _volume(vertices, faces):
    """Signed volume of a closed mesh (divergence theorem)."""
    total = 0.0
    for t in nb.prange(len(faces)):
        a, b, c = vertices[faces[t, 0]], vertices[faces[t, 1]], vertices[faces[t, 2]]
        total += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                  + a[2] * (b[0] * c[1] - b[1] * c[0]))
    return total / 6.0


@nb.njit(cache=True, inline="always")
def _cells(vertices, faces, t, origin, cell):
    """The (y, z) cell range of triangle ``t``'s box."""
    lo0, lo1, hi0, hi1 = np.inf, np.inf, -np.inf, -np.inf
    for k in range(3):
        y, z = vertices[faces[t, k], 1], vertices[faces[t, k], 2]
        lo0, hi0 = min(lo0, y), max(hi0, y)
        lo1, hi1 = min(lo1, z), max(hi1, z)
    a0 = min(max(int((lo0 - origin[0]) / cell[0]), 0), GRID - 1)
    a1 = min(max(int((hi0 - origin[0]) / cell[0]), 0), GRID - 1)
    b0 = min(max(int((lo1 - origin[1]) / cell[1]), 0), GRID - 1)
    b1 = min(max(int((hi1 - origin[1]) / cell[1]), 0), GRID - 1)
    return a0, a1, b0, b1


@nb.njit(cache=True)
def _bin(vertices, faces, origin, cell):
    """CSR of the triangles per (y, z) cell their box covers."""
    counts = np.zeros(GRID * GRID + 1, np.int64)
    for t in range(len(faces)):
        a0, a1, b0, b1 = _cells(vertices, faces, t, origin, cell)
        for a in range(a0, a1 + 1):
            for b in range(b0, b1 + 1):
                counts[a * GRID + b + 1] += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    members = np.empty(starts[-1], np.int64)
    for t in range(len(faces)):
        a0, a1, b0, b1 = _cells(vertices, faces, t, origin, cell)
        for a in range(a0, a1 + 1):
            for b in range(b0, b1 + 1):
                members[fill[a * GRID + b]] = t
                fill[a * GRID + b] += 1
    return starts, members


@njit(cache=True, parallel=True)
def _parity(vertices, faces, starts, members, points, origin, cell):
    out = np.zeros(len(points), np.bool_)
    for p in nb.prange(len(points)):
        x, y, z = points[p, 0], points[p, 1], points[p, 2]
        a = int(np.floor((y - origin[0]) / cell[0]))
        b = int(np.floor((z - origin[1]) / cell[1]))
        if a < 0 or b < 0 or a >= GRID or b >= GRID:
            continue
        key = a * GRID + b
        crossings = 0
        for m in range(starts[key], starts[key + 1]):
            t = members[m]
            i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
            # the (y, z) barycentrics of the point in the triangle's projection
            y0, z0 = vertices[i0, 1], vertices[i0, 2]
            y1, z1 = vertices[i1, 1], vertices[i1, 2]
            y2, z2 = vertices[i2, 1], vertices[i2, 2]
            det = (y1 - y0) * (z2 - z0) - (y2 - y0) * (z1 - z0)
            if det == 0.0:
                continue
            u = ((y1 - y) * (z2 - z) - (y2 - y) * (z1 - z)) / det
            v = ((y2 - y) * (z0 - z) - (y0 - y) * (z2 - z)) / det
            w = 1.0 - u - v
            if u < 0.0 or v < 0.0 or w < 0.0:
                continue
            if u * vertices[i0, 0] + v * vertices[i1, 0] + w * vertices[i2, 0] > x:
                crossings += 1
        out[p] = crossings % 2 == 1
    return out


#: how far (canonical units) beyond the surface samples' box a row must lie to count as far in
#: the export check, which has the samples but not the mesh
EXPORT_MARGIN = 0.05
#: the export check's tolerance on the inside share, in binomial standard deviations
EXPORT_SIGMA = 6.0


def check_exported_labels(points: np.ndarray, inside: np.ndarray, samples: TrainingSamples,
                          inside_margin: float = 0.0) -> tuple[dict[str, float], str | None]:
    """The sign check of labels as a trainer reads them back from an exported file.

    ``points`` and ``inside`` are an exported file's volume rows mapped back to our frame and
    the trainer's reading of their labels (the layout's ``volume_inside``); ``samples`` is the
    store they were written from. Two figures: the share of rows more than
    :data:`EXPORT_MARGIN` outside the box of the surface samples that read as inside (must be
    0: a flipped or shifted label), and how many standard deviations the inside share of rows
    in [-1, 1]^3 lies from the store's (at most :data:`EXPORT_SIGMA`: a threshold or scale
    applied wrongly).

    Parameters
    ----------
    points : (n, 3) array
    inside : (n,) bool array
    samples : TrainingSamples
    inside_margin : float
        The trainer reads inside rows shallower than this as outside (its own threshold): the
        store's share counts rows with ``sdf < -inside_margin``.

    Returns
    -------
    (dict, str or None)
        ``export_far_inside``, ``export_share_sigma``; and the reason the labels fail, or None.
    """
    points = np.asarray(points, np.float32)
    inside = np.asarray(inside, bool)
    lo, hi = _bounds(np.asarray(samples.surface_points, np.float64))
    far = np.any((points < lo - EXPORT_MARGIN) | (points > hi + EXPORT_MARGIN), axis=1)
    far_inside = float(np.mean(inside[far])) if far.any() else 0.0
    ours = samples.sdf.volume_points
    in_cube = np.all(np.abs(points) <= 1, axis=1)
    ours_in_cube = np.all(np.abs(ours) <= 1, axis=1)
    share = float(np.mean(inside[in_cube])) if in_cube.any() else 0.0
    deep = samples.sdf.volume_sdf[ours_in_cube] < -inside_margin
    expected = float(np.mean(deep)) if ours_in_cube.any() else 0.0
    counts = (1 / max(int(in_cube.sum()), 1)) + (1 / max(int(ours_in_cube.sum()), 1))
    spread = expected * (1 - expected) * counts
    sigma = abs(share - expected) / np.sqrt(max(spread, 1e-12))
    metrics = {"export_far_inside": far_inside, "export_share_sigma": float(sigma)}
    if far_inside > 0:
        return metrics, f"labels inconsistent — {far_inside:.1%} of far points read as inside"
    if sigma > EXPORT_SIGMA:
        return metrics, (f"labels inconsistent — inside share {share:.1%} read back, the store "
                         f"holds {expected:.1%} ({sigma:.1f} σ)")
    return metrics, None
