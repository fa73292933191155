"""Part metrics: count, area shares, PartCrafter's voxel IoU and box IoU on boxes with known
overlaps."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
import trimesh

from meshprep.curate.part_metrics import box_ious, part_metrics
from meshprep.io.parts import Parts


def _boxes(specs: list[tuple[float, float]]) -> tuple[trimesh.Trimesh, Parts]:
    """Axis-aligned cubes given as (x of the min corner, side), one part each."""
    meshes = [trimesh.creation.box(extents=[side] * 3).apply_translation(
        [x + side / 2, side / 2, side / 2]) for x, side in specs]
    mesh = trimesh.util.concatenate(meshes)
    ids = np.repeat(np.arange(len(meshes), dtype=np.int32), [len(m.faces) for m in meshes])
    return mesh, Parts(ids, [f"box{i}" for i in range(len(meshes))])


def _reference_ious(mesh: trimesh.Trimesh, parts: Parts, grids: int = 64) -> list[float]:
    """The overlap measured the way PartCrafter describes it, written out independently: the
    object centred and scaled to a longest side of 2, each part's filled voxel cells as a set
    of integer triples."""
    bounds = mesh.bounds
    vertices = (mesh.vertices - bounds.mean(axis=0)) * (2.0 / np.ptp(bounds, axis=0).max())
    pitch = 2.0 / grids
    cells = []
    for p in range(len(parts)):
        part = trimesh.Trimesh(vertices, mesh.faces[parts.face_part == p], process=False)
        part.remove_unreferenced_vertices()  # a part of a scene holds its own vertices alone
        points = part.voxelized(pitch=pitch).fill().points
        cells.append({tuple(c) for c in np.round(points / pitch).astype(int)})
    return [len(a & b) / len(a | b) for a, b in combinations(cells, 2)]


def test_area_shares_and_count():
    mesh, parts = _boxes([(0, 1), (0.5, 1), (5, 2)])
    metrics = part_metrics(mesh, parts, voxels=False)
    assert metrics.count == metrics.geometry_count == 3
    assert metrics.area_share == pytest.approx([1 / 6, 1 / 6, 4 / 6])
    assert metrics.min_area_share == pytest.approx(1 / 6)


def test_box_iou_of_known_overlaps():
    mesh, parts = _boxes([(0, 1), (0.5, 1), (5, 1)])
    metrics = part_metrics(mesh, parts, voxels=False)
    # A and B share half a cube: 0.5 / (1 + 1 - 0.5); C touches neither
    assert metrics.box_iou_max == pytest.approx(1 / 3)
    assert metrics.box_iou_mean == pytest.approx(1 / 9)
    assert metrics.iou_list == [] and metrics.iou_mean == 0.0


def test_voxel_iou_matches_an_independent_partcrafter_style_count():
    mesh, parts = _boxes([(0, 1), (0.5, 1), (1.2, 0.6)])
    metrics = part_metrics(mesh, parts)
    reference = _reference_ious(mesh, parts)
    assert metrics.iou_list == pytest.approx(reference, abs=1e-12)
    assert metrics.iou_mean == pytest.approx(np.mean(reference))
    assert metrics.iou_max == pytest.approx(np.max(reference))
    # the half-overlapping cubes: about a third, up to the voxel grid's rounding
    assert metrics.iou_list[0] == pytest.approx(1 / 3, abs=0.05)


def test_identical_parts_overlap_fully_and_disjoint_not_at_all():
    mesh, parts = _boxes([(0, 1), (0, 1), (3, 1)])
    metrics = part_metrics(mesh, parts)
    assert metrics.iou_list[0] == pytest.approx(1.0)
    assert metrics.iou_list[1:] == [0.0, 0.0]
    assert metrics.iou_max == pytest.approx(1.0) and metrics.box_iou_max == pytest.approx(1.0)


def test_one_part_records_zeros_like_partcrafter():
    mesh, parts = _boxes([(0, 1)])
    metrics = part_metrics(mesh, parts)
    assert metrics.count == 1 and metrics.area_share.tolist() == [1.0]
    assert (metrics.iou_mean, metrics.iou_max, metrics.iou_list) == (0.0, 0.0, [])


def test_parts_are_read_from_the_metadata_and_empty_parts_are_skipped():
    mesh, parts = _boxes([(0, 1), (0.5, 1)])
    mesh.metadata["meshprep_parts"] = Parts(parts.face_part, [*parts.names, "empty"])
    metrics = part_metrics(mesh, voxels=False)
    assert metrics.count == 2 and metrics.area_share[2] == 0.0
    assert metrics.box_iou_max == pytest.approx(1 / 3)


def test_instances_of_one_geometry_count_once():
    mesh, parts = _boxes([(0, 1), (2, 1), (4, 1)])
    parts.geometry = ["mesh0/primitive0", "mesh0/primitive0", "mesh1/primitive0"]
    metrics = part_metrics(mesh, parts, voxels=False)
    assert (metrics.count, metrics.geometry_count) == (3, 2)


def test_box_iou_of_flat_boxes_is_zero():
    flat = [np.array([[0, 0, 0], [1, 1, 0]], float)] * 2
    assert box_ious(flat).tolist() == [0.0]
