"""Keep the main object: drop floors, floaters and extra objects, record what went.

Components (faces sharing vertices) whose boxes touch are grouped into objects, as in the
metrics. A *floor* is a thin slab component at one end of the box covering most of its
cross-section while other parts stand on it (a ground tile, a base plate). The floor goes
first, then every object but the largest by area. Only whole components are removed, so the
kept surface is never cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meshprep.geometry import weld_exact

from .metrics import _component_boxes, _face_geometry, _group_boxes, component_labels


@dataclass
class Extraction:
    """What :func:`main_object` kept and removed (shares of the input's surface area)."""

    vertices: np.ndarray
    faces: np.ndarray
    removed_components: int
    removed_area_share: float
    floor_area_share: float
    extra_objects: int
    face_keep: np.ndarray | None = None  # (M,) bool: which input faces were kept, in order

    def as_metrics(self) -> dict:
        return {"extract_removed_components": self.removed_components,
                "extract_removed_area_share": self.removed_area_share,
                "extract_floor_area_share": self.floor_area_share,
                "extract_extra_objects": self.extra_objects}


def _floor_components(lo, hi, comp_area, box_lo, box_hi) -> np.ndarray:
    """Components that are a thin slab at one end of the box, covering its cross-section."""
    extent = box_hi - box_lo
    size = extent.max()
    total = comp_area.sum()
    floor = np.zeros(len(comp_area), bool)
    for k in range(len(comp_area)):
        thick = hi[k] - lo[k]
        for axis in range(3):
            others = [a for a in range(3) if a != axis]
            if thick[axis] > 0.05 * size or extent[axis] < 0.1 * size:
                continue
            at_end = (lo[k, axis] - box_lo[axis] < 0.02 * size
                      or box_hi[axis] - hi[k, axis] < 0.02 * size)
            cover = np.prod(thick[others]) / max(np.prod(extent[others]), 1e-12)
            if at_end and cover >= 0.7 and total - comp_area[k] >= 0.1 * total:
                floor[k] = True
    return floor


def main_object(vertices: np.ndarray, faces: np.ndarray, *, remove_floor: bool = True
                ) -> Extraction:
    """The largest object of a mesh, without a floor under it.

    Parameters
    ----------
    vertices, faces : arrays
        The mesh (any frame).
    remove_floor : bool
        Remove ground tiles / base plates first.

    Returns
    -------
    Extraction
        The kept mesh (welded, unused vertices dropped) and what was removed.
    """
    vertices, faces = weld_exact(np.asarray(vertices, np.float64), np.asarray(faces, np.int64))
    area = _face_geometry(vertices, faces)[0]
    total = float(area.sum()) or 1.0
    labels = component_labels(faces, len(vertices))
    comp_area = np.bincount(labels, weights=area)
    lo, hi = _component_boxes(vertices, faces, labels, len(comp_area))
    keep = np.ones(len(comp_area), bool)
    floor_share = 0.0
    if remove_floor:
        floor = _floor_components(lo, hi, comp_area, vertices.min(axis=0), vertices.max(axis=0))
        if floor.any() and not floor.all():
            keep &= ~floor
            floor_share = float(comp_area[floor].sum() / total)
    kept = np.flatnonzero(keep)
    size = float((hi[kept].max(axis=0) - lo[kept].min(axis=0)).max())
    groups = _group_boxes(lo[kept], hi[kept], 0.01 * size)
    group_area = np.bincount(groups, weights=comp_area[kept])
    main = int(np.argmax(group_area))
    extra = int(np.count_nonzero(group_area > 0)) - 1
    keep[kept[groups != main]] = False
    face_keep = keep[labels]
    kept_faces = faces[face_keep]
    used = np.unique(kept_faces)
    remap = np.full(len(vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    return Extraction(vertices[used], remap[kept_faces], int((~keep).sum()),
                      float(area[~face_keep].sum() / total), floor_share, extra, face_keep)
