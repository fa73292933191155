"""The ``partpacker`` layout: parts from ``parts.npz`` packed into two volumes as PartPacker's
``data/bipartite_contraction.py`` packs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from meshprep.export.layout_partpacker import (
    box_normalize,
    collision_graph,
    contact_depth,
    dual_volumes,
    export_asset,
    grouped_components,
    read,
)
from meshprep.export.layouts import LayoutSkip, get_layout
from meshprep.io.parts import PARTS_FILE, Parts, save_parts


def _box(size: float, centre: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box((size,) * 3,
                                transform=trimesh.transformations.translation_matrix(centre))


def _store(folder: Path, meshes: list[trimesh.Trimesh], names: list[str] | None = None
           ) -> Path:
    """``parts.npz`` of the meshes, one part per mesh (one part in all when ``names`` has
    one name)."""
    mesh = trimesh.util.concatenate(meshes)
    names = names or [f"part{i}" for i in range(len(meshes))]
    ids = np.repeat(np.arange(len(meshes), dtype=np.int32), [len(m.faces) for m in meshes])
    if len(names) == 1:
        ids[:] = 0
    folder.mkdir(parents=True, exist_ok=True)
    save_parts(folder / PARTS_FILE, mesh.vertices, mesh.faces, Parts(ids, names))
    return folder


def _chain() -> list[trimesh.Trimesh]:
    """A overlaps B, B overlaps C, A and C apart."""
    return [_box(0.8, (-0.6, 0.0, 0.0)), _box(0.8, (0.0, 0.0, 0.0)), _box(0.8, (0.6, 0.0, 0.0))]


def _box_centres(vertices: np.ndarray, faces: np.ndarray) -> list[float]:
    pieces = trimesh.Trimesh(vertices, faces).split(only_watertight=False)
    return sorted(round(float(p.bounds.mean(axis=0)[0]), 3) for p in pieces)


def test_chain_of_three_boxes_packs_outer_boxes_together(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", _chain())
    paths = export_asset(store, tmp_path / "out", "asset")
    assert [p.name for p in paths] == ["asset_color0.obj", "asset_color1.obj", "asset.obj"]
    got = read(tmp_path / "out", "asset")
    # B is nearest the centre: colour 0; A and C its neighbours: colour 1
    assert len(got["faces_part0"]) == 12 and len(got["faces_part1"]) == 24
    # box-normalized as the script does: centred, the longest side 0.95 (2.0 -> 0.95)
    scale = 0.95 / 2.0
    assert _box_centres(got["vertices_part0"], got["faces_part0"]) == [0.0]
    assert _box_centres(got["vertices_part1"], got["faces_part1"]) == pytest.approx(
        [-0.6 * scale, 0.6 * scale], abs=1e-3)
    both = np.concatenate([got["vertices_part0"], got["vertices_part1"]])
    assert np.ptp(both, axis=0).max() == pytest.approx(0.95, abs=1e-6)
    # the combined file: volume 1 moved by +1 along z
    assert len(got["faces"]) == 36
    np.testing.assert_allclose(got["vertices"][len(got["vertices_part0"]):],
                               got["vertices_part1"] + [0.0, 0.0, 1.0], atol=1e-6)


def test_volume_parts_do_not_collide(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", _chain())
    export_asset(store, tmp_path / "out", "a")
    got = read(tmp_path / "out", "a")
    pieces = trimesh.Trimesh(got["vertices_part1"], got["faces_part1"]).split(
        only_watertight=False)
    assert len(pieces) == 2
    assert contact_depth(pieces[0], pieces[1]) is None


def test_odd_cycle_is_contracted_at_its_deepest_edge() -> None:
    # three boxes overlapping pairwise: a triangle in the collision graph
    meshes = [_box(0.8, (-0.35, -0.3, 0.0)), _box(0.8, (0.35, -0.3, 0.0)),
              _box(0.8, (0.15, 0.3, 0.0))]
    parts = {(i,): m.copy() for i, m in enumerate(meshes)}
    box_normalize(parts)
    graph, depths = collision_graph(parts)
    assert all(len(neighbours) == 2 for neighbours in graph.values())
    deepest = tuple(sorted(max(depths, key=depths.get)))
    mesh = trimesh.util.concatenate(meshes)
    ids = Parts(np.repeat(np.arange(3, dtype=np.int32), 12), ["A", "B", "C"])
    volume0, volume1, colour = dual_volumes(mesh, ids)
    merged = deepest[0] + deepest[1]
    assert set(colour) == {merged, next(k for k in parts if k not in deepest)}
    assert sorted(colour.values()) == [0, 1]
    assert len(volume0.faces) + len(volume1.faces) == 36


def test_single_part_splits_into_connected_components(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", [_box(0.5, (-0.5, 0.0, 0.0)), _box(0.5, (0.5, 0.0, 0.0))],
                   names=["whole"])
    export_asset(store, tmp_path / "out", "one")
    got = read(tmp_path / "out", "one")
    # two components apart: one per volume (the second root starts with the other colour)
    assert len(got["faces_part0"]) == 12 and len(got["faces_part1"]) == 12
    centres = _box_centres(got["vertices_part0"], got["faces_part0"]) + \
        _box_centres(got["vertices_part1"], got["faces_part1"])
    assert sorted(centres) == pytest.approx([-0.5 * 0.95 / 1.5, 0.5 * 0.95 / 1.5], abs=1e-3)


def test_components_split_at_seams_are_grouped_back() -> None:
    # every triangle its own vertices (as UV seams leave a mesh): meshiki groups components
    # whose boundary loops share points
    boxes = [_box(0.5, (-0.5, 0.0, 0.0)), _box(0.5, (0.5, 0.0, 0.0))]
    triangles = np.concatenate([b.triangles for b in boxes])
    faces = np.arange(len(triangles) * 3).reshape(-1, 3)
    groups = grouped_components(triangles.reshape(-1, 3), faces)
    assert [g.tolist() for g in groups] == [list(range(12)), list(range(12, 24))]


def test_single_component_leaves_volume_one_empty(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", [_box(0.5, (0.0, 0.0, 0.0))], names=["only"])
    export_asset(store, tmp_path / "out", "solo")
    got = read(tmp_path / "out", "solo")
    assert len(got["faces_part0"]) == 12
    assert got["vertices_part1"].shape == (0, 3) and got["faces_part1"].shape == (0, 3)


def test_open_planar_loop_is_stitched(tmp_path: Path) -> None:
    # a box missing its top two triangles: the square hole is coplanar and convex
    box = _box(0.5, (0.0, 0.0, 0.0))
    top = np.flatnonzero(box.face_normals[:, 1] > 0.5)
    open_box = trimesh.Trimesh(box.vertices, np.delete(box.faces, top, axis=0))
    store = _store(tmp_path / "store", [open_box], names=["cup"])
    export_asset(store, tmp_path / "out", "cup")
    got = read(tmp_path / "out", "cup")
    closed = trimesh.Trimesh(got["vertices_part0"], got["faces_part0"])
    assert len(closed.faces) == 12 and closed.is_watertight


def test_no_parts_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    with pytest.raises(LayoutSkip, match=PARTS_FILE):
        export_asset(tmp_path / "store", tmp_path / "out", "none")


def test_export_records_ok_and_skipped(tmp_path: Path) -> None:
    from meshprep.export.run import export_asset as export_one

    store = _store(tmp_path / "store", _chain())
    record = export_one("partpacker", "chain", str(store), str(tmp_path / "out"))
    assert record["status"] == "ok", record
    assert sorted(record["files"]) == ["chain.obj", "chain_color0.obj", "chain_color1.obj"]
    (tmp_path / "empty").mkdir()
    record = export_one("partpacker", "none", str(tmp_path / "empty"), str(tmp_path / "out"))
    assert record["status"] == "skipped" and PARTS_FILE in record["error"]


def test_registered() -> None:
    layout = get_layout("partpacker")
    assert layout.from_asset is export_asset
    assert layout.loader == "NVlabs/PartPacker:data/bipartite_contraction.py"
    assert [key.file for key in layout.keys] == ["<id>_color0.obj", "<id>_color1.obj",
                                                 "<id>.obj"]
