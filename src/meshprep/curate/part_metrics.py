"""Metrics of a mesh's parts (``load(path, parts=True)``), the numbers part curation decides on.

* ``count``: parts that hold faces; ``geometry_count``: distinct geometries among them (a mesh
  instanced twice counts once: PartCrafter's ``num_parts`` is the number of geometries of
  trimesh's scene, ``len(scene.geometry)``); ``area_share``: each part's share of the surface
  area.
* ``iou_list`` / ``iou_mean`` / ``iou_max``: the overlap of every pair of parts as PartCrafter
  measures it (its ``datasets/preprocess/calculate_iou.py``, which calls
  ``compute_IoU_for_scene`` of ``src/utils/metric_utils.py``): the whole object centred on its
  box and scaled so the box's longest side is 2, each part voxelized at pitch 2/64 and its
  interior filled, the IoU of the two sets of voxel cells; with fewer than two parts every
  figure is 0 and the list empty, as PartCrafter records it.
* ``box_iou_mean`` / ``box_iou_max``: the same over the parts' axis-aligned boxes (cheap, and
  defined where voxelization is not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import trimesh

from meshprep.geometry import face_normals
from meshprep.io.parts import Parts

#: PartCrafter's voxel grid: cells per unit of the scaled box, and the box's longest side
NUM_GRIDS = 64
SCALE = 2.0
# voxel cell coordinates packed into one int64 (21 bits each, offset to be non-negative)
_BITS = 21
_OFFSET = 1 << (_BITS - 1)


@dataclass
class PartMetrics:
    """What :func:`part_metrics` measures.

    Attributes
    ----------
    count : int
        Parts holding at least one face.
    geometry_count : int
        Distinct geometries those parts instance (``count`` when the parts do not say).
    area_share : numpy.ndarray
        float64 ``(len(parts),)``: each part's share of the total surface area (0 for a part
        without faces).
    min_area_share : float
        The smallest share among the parts that hold faces.
    iou_list : list of float
        Voxel IoU of every pair of non-empty parts, in pair order ``(0, 1), (0, 2), ...``.
    iou_mean, iou_max : float
        Their mean and maximum (0 with fewer than two parts).
    box_iou_mean, box_iou_max : float
        Mean and maximum IoU of the parts' axis-aligned bounding boxes.
    """

    count: int
    geometry_count: int
    area_share: np.ndarray
    min_area_share: float
    iou_mean: float = 0.0
    iou_max: float = 0.0
    box_iou_mean: float = 0.0
    box_iou_max: float = 0.0
    iou_list: list[float] = field(default_factory=list)


def part_metrics(mesh: trimesh.Trimesh, parts: Parts | None = None, *, voxels: bool = True,
                 num_grids: int = NUM_GRIDS) -> PartMetrics:
    """Count, area shares and pairwise overlaps of a mesh's parts.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The loaded mesh.
    parts : Parts, optional
        Its parts; ``mesh.metadata["meshprep_parts"]`` when not given.
    voxels : bool
        Compute PartCrafter's voxel IoU (the costly figure); False leaves it at 0.
    num_grids : int
        Voxel cells along the scaled box's longest side of length 2 (PartCrafter: 64).

    Returns
    -------
    PartMetrics
        The figures, for the parts holding faces.

    Raises
    ------
    KeyError
        When no parts are given and the mesh was loaded without ``parts=True``.
    """
    parts = parts if parts is not None else mesh.metadata["meshprep_parts"]
    vertices = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.faces, np.int64)
    share = area_shares(vertices, faces, parts)
    present = np.flatnonzero(parts.face_counts() > 0)
    metrics = PartMetrics(int(len(present)), _geometry_count(parts, present), share,
                          float(share[present].min()) if len(present) else 0.0)
    if len(present) < 2:
        return metrics
    groups = [faces[parts.face_part == p] for p in present]
    box = _pair_stats(box_ious([_box(vertices, f) for f in groups]))
    metrics.box_iou_mean, metrics.box_iou_max = box
    if voxels:
        scaled = normalized(vertices, faces)
        cells = [voxel_cells(scaled, f, SCALE / num_grids) for f in groups]
        metrics.iou_list = [_set_iou(cells[i], cells[j])
                            for i, j in combinations(range(len(cells)), 2)]
        metrics.iou_mean, metrics.iou_max = _pair_stats(np.asarray(metrics.iou_list))
    return metrics


def area_shares(vertices: np.ndarray, faces: np.ndarray, parts: Parts) -> np.ndarray:
    """Each part's share of the surface area (float64, zeros when the mesh has no area).

    Parameters
    ----------
    vertices : numpy.ndarray
        float64 ``(N, 3)``.
    faces : numpy.ndarray
        int ``(M, 3)``.
    parts : Parts
        Per-face part ids of these faces.

    Returns
    -------
    numpy.ndarray
        float64 ``(len(parts),)`` summing to 1 (or all 0).
    """
    _, area = face_normals(vertices, faces)
    sums = np.bincount(parts.face_part, weights=area, minlength=len(parts))
    total = sums.sum()
    return sums / total if total > 0 else np.zeros(len(parts))


def normalized(vertices: np.ndarray, faces: np.ndarray, scale: float = SCALE) -> np.ndarray:
    """Vertices centred on the referenced vertices' box, its longest side scaled to ``scale``.

    Parameters
    ----------
    vertices : numpy.ndarray
        float64 ``(N, 3)``.
    faces : numpy.ndarray
        int ``(M, 3)``, ``M > 0``.
    scale : float
        Length of the longest side afterwards.

    Returns
    -------
    numpy.ndarray
        float64 ``(N, 3)``.
    """
    used = vertices[np.unique(faces)]
    low, high = used.min(axis=0), used.max(axis=0)
    extent = float((high - low).max())
    return (vertices - (low + high) / 2) * (scale / extent if extent > 0 else 1.0)


def voxel_cells(vertices: np.ndarray, faces: np.ndarray, pitch: float) -> np.ndarray:
    """Sorted unique int64 keys of the cells a part's filled voxelization occupies.

    trimesh voxelizes the surface at ``pitch`` and fills the enclosed cells; a cell is named by
    its centre divided by the pitch and rounded, so the cells of all parts share one grid.

    Parameters
    ----------
    vertices : numpy.ndarray
        float64 ``(N, 3)``, already normalized.
    faces : numpy.ndarray
        The part's faces ``(F, 3)``.
    pitch : float
        Cell size.

    Returns
    -------
    numpy.ndarray
        int64 keys, sorted and unique.
    """
    # only the part's own vertices: trimesh marks the cell of every vertex it is given
    used, local = np.unique(faces, return_inverse=True)
    part = trimesh.Trimesh(vertices=vertices[used], faces=local.reshape(-1, 3), process=False,
                           validate=False)
    points = part.voxelized(pitch=pitch).fill().points
    ijk = np.round(points / pitch).astype(np.int64) + _OFFSET
    return np.unique((ijk[:, 0] << (2 * _BITS)) | (ijk[:, 1] << _BITS) | ijk[:, 2])


def box_ious(boxes: list[np.ndarray]) -> np.ndarray:
    """IoU of the axis-aligned boxes of every pair, in pair order ``(0, 1), (0, 2), ...``.

    Parameters
    ----------
    boxes : list of numpy.ndarray
        ``(2, 3)`` min and max corners.

    Returns
    -------
    numpy.ndarray
        float64 ``(P * (P - 1) / 2,)``; 0 where both boxes are flat (no volume).
    """
    stacked = np.stack(boxes)
    i, j = np.triu_indices(len(boxes), k=1)
    low = np.maximum(stacked[i, 0], stacked[j, 0])
    high = np.minimum(stacked[i, 1], stacked[j, 1])
    inter = np.clip(high - low, 0, None).prod(axis=1)
    volume = np.prod(stacked[:, 1] - stacked[:, 0], axis=1)
    union = volume[i] + volume[j] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _geometry_count(parts: Parts, present: np.ndarray) -> int:
    """Distinct geometries of the non-empty parts (their count when unknown)."""
    if len(parts.geometry) != len(parts):
        return int(len(present))
    return len({parts.geometry[p] for p in present})


def _box(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(2, 3) box of the vertices these faces reference."""
    used = vertices[faces.ravel()]
    return np.stack([used.min(axis=0), used.max(axis=0)])


def _set_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two sorted unique key arrays (0 when both are empty)."""
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 0.0


def _pair_stats(values: np.ndarray) -> tuple[float, float]:
    """Mean and maximum (0, 0 for none)."""
    return (float(values.mean()), float(values.max())) if len(values) else (0.0, 0.0)
