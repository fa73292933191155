"""Geometric metrics of one asset, the numbers curation decides on.

All area-weighted, on the mesh with bit-identical vertices merged, in the canonical cube (so
lengths are relative to the object's size).
"""

from __future__ import annotations

import hashlib

import numba as nb
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from meshprep.geometry import check_topology, face_normals, weld_exact

#: components holding at least this share of the area count as objects
OBJECT_SHARE = 0.05
#: plane clustering: normals within about 2 degrees, offsets within 1 % of the box diagonal
NORMAL_BINS = 30.0
OFFSET_QUANTUM = 0.01


def _face_geometry(vertices: np.ndarray, faces: np.ndarray):
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    normals, area = face_normals(vertices, faces)
    return area, normals, (a + b + c) / 3.0, a, b, c


def component_labels(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """Connected component of every face (faces sharing a vertex are connected)."""
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = sp.coo_matrix((np.ones(len(rows), np.int8), (rows, cols)),
                          shape=(n_vertices, n_vertices))
    _, labels = connected_components(graph, directed=False)
    return labels[faces[:, 0]]


def plane_shares(area, normals, centroids, top: int = 3) -> tuple[float, float]:
    """Share of the area on the single dominant plane and on the ``top`` largest planes.

    Faces are binned by normal (sign folded: both sides of a card are one plane) and offset.
    """
    total = area.sum()
    if total <= 0:
        return 0.0, 0.0
    sign = np.where((normals[:, 0] < 0) | ((normals[:, 0] == 0) & (normals[:, 1] < 0))
                    | ((normals[:, 0] == 0) & (normals[:, 1] == 0) & (normals[:, 2] < 0)),
                    -1.0, 1.0)
    folded = normals * sign[:, None]
    offset = np.einsum("ij,ij->i", folded, centroids)
    # one int64 key per face: 6 bits per normal component, the offset in the rest
    q = np.round(folded * NORMAL_BINS).astype(np.int64) + 32
    key = (((q[:, 0] << 6) | q[:, 1]) << 6 | q[:, 2]) << 40
    key |= np.round(offset / OFFSET_QUANTUM).astype(np.int64) + (1 << 39)
    _, inverse = np.unique(key, return_inverse=True)
    sums = np.sort(np.bincount(inverse.reshape(-1), weights=area))[::-1]
    return float(sums[0] / total), float(sums[:top].sum() / total)


def geometry_hash(area, centroids, total_area) -> str:
    """16 hex digits that ignore vertex order, translation and scale (a duplicate finder).

    Area-weighted centroid spread and second moments of the shape, normalized by its size and
    rounded, hashed.
    """
    if total_area <= 0:
        return ""
    weights = area / total_area
    centre = weights @ centroids
    spread = centroids - centre
    size = np.sqrt((weights * np.einsum("ij,ij->i", spread, spread)).sum()) or 1.0
    moments = (spread / size).T @ (weights[:, None] * (spread / size))
    third = weights @ ((spread / size) ** 3)
    signature = np.concatenate([moments[np.triu_indices(3)], third, [len(area) > 0]])
    # + 0.0 turns -0.0 into 0.0: a zero moment must hash the same whatever its rounding sign
    return hashlib.sha256((np.round(signature, 3) + 0.0).tobytes()).hexdigest()[:16]


@nb.njit(cache=True)
def _group_boxes(lo, hi, margin):
    """Union components whose boxes (grown by ``margin``) overlap: touching parts are one
    object. Sort and sweep along x; returns a group label per component."""
    n = lo.shape[0]
    parent = np.arange(n)
    order = np.argsort(lo[:, 0])
    for a in range(n):
        i = order[a]
        for b in range(a + 1, n):
            j = order[b]
            if lo[j, 0] - margin > hi[i, 0] + margin:
                break
            if (lo[j, 1] - margin <= hi[i, 1] + margin and lo[i, 1] - margin <= hi[j, 1] + margin
                    and lo[j, 2] - margin <= hi[i, 2] + margin
                    and lo[i, 2] - margin <= hi[j, 2] + margin):
                ri, rj = i, j
                while parent[ri] != ri:
                    ri = parent[ri]
                while parent[rj] != rj:
                    rj = parent[rj]
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        parent[i] = r
    return parent


@nb.njit(cache=True)
def _component_boxes(vertices, faces, labels, n):
    """Bounding box of every component (one pass over the faces)."""
    lo = np.full((n, 3), np.inf)
    hi = np.full((n, 3), -np.inf)
    for f in range(faces.shape[0]):
        k = labels[f]
        for j in range(3):
            v = faces[f, j]
            for axis in range(3):
                x = vertices[v, axis]
                if x < lo[k, axis]:
                    lo[k, axis] = x
                if x > hi[k, axis]:
                    hi[k, axis] = x
    return lo, hi


def _ground_tile(area, normals, centroids, box_lo, box_hi, total) -> float:
    """Area share of a floor: faces on a plane at one end of the box, facing *into* it (the
    top of a tile or base plate, not the outside bottom of an object), covering most of the
    box's cross-section, with at least 10 % of the area standing elsewhere. 0 when none."""
    extent = box_hi - box_lo
    size = extent.max()
    best = 0.0
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        section = float(np.prod(extent[others]))
        if extent[axis] < 0.1 * size or section <= 0:
            continue  # nothing stands on it: a flat thing, not a floor
        for sign, level in ((1.0, box_lo[axis]), (-1.0, box_hi[axis])):
            on = ((normals[:, axis] * sign > 0.99)
                  & (np.abs(centroids[:, axis] - level) < 0.05 * size))
            floor = float(area[on].sum())
            if floor >= 0.7 * section and total - floor >= 0.1 * total:
                best = max(best, floor / total)
    return best


def asset_metrics(vertices: np.ndarray, faces: np.ndarray) -> dict:
    """The curation metrics of one mesh (see the module docstring).

    Returns
    -------
    dict
        ``vertices, faces, components, objects`` (groups of touching components holding at
        least 5 % of the area), ``second_object_share``,
        ``floater_share`` (small groups apart from the rest), ``ground_tile_share``,
        ``largest_area_share, largest_volume_share, surface_area, aspect_mid, aspect_min``
        (sorted box extents over the largest), ``thinness`` (smallest over largest principal
        extent of the surface), ``plane_share, plane_share_top3``, ``boundary_edges,
        nonmanifold_edges, geometry_hash``.
    """
    vertices, faces = weld_exact(np.asarray(vertices, np.float64), np.asarray(faces, np.int64))
    area, normals, centroids, a, b, c = _face_geometry(vertices, faces)
    total = float(area.sum())
    labels = component_labels(faces, len(vertices))
    comp_area = np.bincount(labels, weights=area)
    # |signed volume| of each component (closed or not: a size, not a solid's volume)
    signed = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    comp_volume = np.abs(np.bincount(labels, weights=signed))
    referenced = np.zeros(len(vertices), np.bool_)
    referenced[faces.reshape(-1)] = True
    used = vertices[referenced]
    lo, hi = used.min(axis=0), used.max(axis=0)
    extents = np.sort(hi - lo)[::-1]
    comp_lo, comp_hi = _component_boxes(vertices, faces, labels, len(comp_area))
    tile = _ground_tile(area, normals, centroids, lo, hi, total) if total > 0 else 0.0
    # objects: components grouped when their boxes touch (1 % of the size), the tile left out
    groups = _group_boxes(comp_lo, comp_hi, 0.01 * extents[0])
    group_area = np.bincount(groups, weights=comp_area)
    group_area = np.sort(group_area[group_area > 0])[::-1]
    plane, plane3 = plane_shares(area, normals, centroids)
    weights = area / total if total > 0 else np.full(len(area), 1.0 / max(len(area), 1))
    centre = weights @ centroids
    spread = centroids - centre
    covariance = spread.T @ (weights[:, None] * spread)
    eigen = np.sqrt(np.clip(np.linalg.eigvalsh(covariance), 0, None))
    topology = check_topology(vertices, faces)
    return {
        "vertices": int(len(vertices)), "faces": int(len(faces)),
        "components": int(len(comp_area)),
        "objects": int((group_area >= OBJECT_SHARE * total).sum()) if total > 0 else 0,
        "second_object_share": float(group_area[1] / total) if len(group_area) > 1 else 0.0,
        "floater_share": float(group_area[1:][group_area[1:] < OBJECT_SHARE * total].sum()
                               / total) if total > 0 else 0.0,
        "ground_tile_share": tile,
        "largest_area_share": float(comp_area.max() / total) if total > 0 else 0.0,
        "largest_volume_share": float(comp_volume.max() / comp_volume.sum())
        if comp_volume.sum() > 0 else 0.0,
        "surface_area": total,
        "aspect_mid": float(extents[1] / extents[0]) if extents[0] > 0 else 0.0,
        "aspect_min": float(extents[2] / extents[0]) if extents[0] > 0 else 0.0,
        "thinness": float(eigen[0] / eigen[-1]) if eigen[-1] > 0 else 0.0,
        "plane_share": plane, "plane_share_top3": plane3,
        "boundary_edges": int(topology.boundary_edges),
        "nonmanifold_edges": int(topology.nonmanifold_edges),
        "geometry_hash": geometry_hash(area, centroids, total),
    }
