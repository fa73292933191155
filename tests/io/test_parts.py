"""load(path, parts=True): which scene geometry each face came from (files built here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import meshprep as mp
from meshprep.io.parts import Parts, unique_names

from .helpers import GlbBuilder, ascii_ply

BOX = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float32)
BOX_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]],
                     np.uint32)
_DRACO = "KHR_draco_mesh_compression"


class _Glb(GlbBuilder):
    """A GLB writer: each array becomes one accessor of one packed buffer."""

    def __init__(self) -> None:
        super().__init__({"asset": {"version": "2.0"}, "buffers": [{}], "bufferViews": [],
                          "accessors": [], "meshes": [], "nodes": []})

    def accessor(self, array: np.ndarray, kind: str, component: int) -> int:
        entry = {"bufferView": self.view(np.ascontiguousarray(array).tobytes()),
                 "componentType": component, "type": kind,
                 "count": array.size if kind == "SCALAR" else len(array)}
        if kind == "VEC3" and component == 5126:
            entry.update(min=array.min(axis=0).tolist(), max=array.max(axis=0).tolist())
        self.tree["accessors"].append(entry)
        return len(self.tree["accessors"]) - 1

    def box_mesh(self, name: str | None, faces: np.ndarray = BOX_FACES) -> int:
        primitive = {"attributes": {"POSITION": self.accessor(BOX, "VEC3", 5126)},
                     "indices": self.accessor(faces.ravel(), "SCALAR", 5125)}
        self.tree["meshes"].append({"primitives": [primitive], **({"name": name} if name
                                                                   else {})})
        return len(self.tree["meshes"]) - 1

    def write(self, path: Path, roots: list[int] | None = None) -> Path:
        nodes = self.tree["nodes"]
        children = {c for node in nodes for c in node.get("children", [])}
        self.tree["scenes"] = [{"nodes": roots if roots is not None else
                                [n for n in range(len(nodes)) if n not in children]}]
        return super().write(path)


def _three_boxes(path: Path) -> Path:
    """Three box meshes on three nodes: 12, 6 and 2 triangles; the last node has no name."""
    glb = _Glb()
    for i, (node_name, mesh_name, faces) in enumerate(
            [("seat", "m0", BOX_FACES), ("back", "m1", BOX_FACES[:6]),
             (None, "leg_mesh", BOX_FACES[:2])]):
        mesh = glb.box_mesh(mesh_name, faces)
        node: dict[str, Any] = {"mesh": mesh, "translation": [2.0 * i, 0, 0]}
        if node_name:
            node["name"] = node_name
        glb.tree["nodes"].append(node)
    return glb.write(path)


def _parts(mesh) -> Parts:
    parts = mesh.metadata["meshprep_parts"]
    assert isinstance(parts, Parts)
    assert parts.face_part.dtype == np.int32 and parts.face_part.shape == (len(mesh.faces),)
    return parts


def _counts(parts: Parts) -> dict[str, int]:
    """Faces per part name (a static scene's parts come in trimesh's graph order)."""
    return dict(zip(parts.names, parts.face_counts().tolist(), strict=True))


def _part_boxes(mesh, parts: Parts) -> list[np.ndarray]:
    """Each part's (2, 3) bounding box."""
    boxes = []
    for p in range(len(parts)):
        v = mesh.vertices[mesh.faces[parts.face_part == p].ravel()]
        boxes.append(np.stack([v.min(axis=0), v.max(axis=0)]))
    return boxes


def test_gltf_nodes_are_parts_named_by_node_then_mesh(tmp_path):
    mesh = mp.load(_three_boxes(tmp_path / "chair.glb"), parts=True)
    parts = _parts(mesh)
    assert _counts(parts) == {"seat": 12, "back": 6, "leg_mesh": 2}
    assert len(set(parts.geometry)) == 3
    # each part's faces sit where its node put them
    starts = {name: box[0, 0] for name, box in zip(parts.names, _part_boxes(mesh, parts),
                                                   strict=True)}
    assert starts == pytest.approx({"seat": 0.0, "back": 2.0, "leg_mesh": 4.0})


def test_default_load_is_unchanged(tmp_path):
    path = _three_boxes(tmp_path / "chair.glb")
    plain, with_parts = mp.load(path), mp.load(path, parts=True)
    assert "meshprep_parts" not in plain.metadata
    np.testing.assert_array_equal(plain.vertices, with_parts.vertices)
    np.testing.assert_array_equal(plain.faces, with_parts.faces)


def test_one_mesh_on_two_nodes_gives_two_parts(tmp_path):
    glb = _Glb()
    mesh = glb.box_mesh("wheel")
    glb.tree["nodes"] = [{"mesh": mesh, "name": "left"},
                         {"mesh": mesh, "name": "right", "translation": [5, 0, 0]}]
    loaded = mp.load(glb.write(tmp_path / "wheels.glb"), parts=True)
    parts = _parts(loaded)
    assert _counts(parts) == {"left": 12, "right": 12}
    assert parts.geometry == ["mesh0/primitive0"] * 2  # two instances of one mesh
    left, right = (_part_boxes(loaded, parts)[parts.names.index(n)] for n in ("left", "right"))
    assert right[0, 0] - left[0, 0] == pytest.approx(5.0)


def test_gpu_instancing_gives_one_part_per_instance(tmp_path):
    glb = _Glb()
    mesh = glb.box_mesh("bolt")
    offsets = glb.accessor(np.array([[0, 0, 0], [3, 0, 0], [6, 0, 0]], np.float32), "VEC3",
                           5126)
    glb.tree["nodes"] = [{"mesh": mesh, "name": "bolts", "extensions": {
        "EXT_mesh_gpu_instancing": {"attributes": {"TRANSLATION": offsets}}}}]
    glb.tree["extensionsUsed"] = ["EXT_mesh_gpu_instancing"]
    loaded = mp.load(glb.write(tmp_path / "bolts.glb"), parts=True)
    parts = _parts(loaded)
    assert parts.names == ["bolt", "bolt.1", "bolt.2"]
    assert parts.geometry == ["mesh0/primitive0"] * 3
    assert parts.face_counts().tolist() == [12, 12, 12]
    starts = sorted(box[0, 0] for box in _part_boxes(loaded, parts))
    assert starts == pytest.approx([0.0, 3.0, 6.0])


def test_two_primitives_of_one_node_are_two_parts(tmp_path):
    glb = _Glb()
    glb.box_mesh("body")
    second = glb.box_mesh("lid", BOX_FACES[:4])
    glb.tree["meshes"][0]["primitives"].append(glb.tree["meshes"][second]["primitives"][0])
    glb.tree["meshes"].pop()
    glb.tree["nodes"] = [{"mesh": 0, "name": "box"}]
    parts = _parts(mp.load(glb.write(tmp_path / "box.glb"), parts=True))
    assert sorted(parts.names) == ["box", "box.1"]
    assert sorted(parts.face_counts().tolist()) == [4, 12]


def test_skinned_gltf_keeps_parts_through_the_poser(tmp_path):
    """Two skinned boxes on two nodes, one joint moved at frame 0: parts follow the pose."""
    glb = _Glb()
    joints = glb.accessor(np.zeros((8, 4), np.uint8), "VEC4", 5121)
    weights = glb.accessor(np.tile(np.array([1, 0, 0, 0], np.float32), (8, 1)), "VEC4", 5126)
    for name in ("arm", "leg"):
        mesh = glb.box_mesh(name, BOX_FACES[:10] if name == "leg" else BOX_FACES)
        primitive = glb.tree["meshes"][mesh]["primitives"][0]
        primitive["attributes"].update(JOINTS_0=joints, WEIGHTS_0=weights)
    times = glb.accessor(np.array([0.0], np.float32), "SCALAR", 5126)
    moved = glb.accessor(np.array([[0, 4, 0]], np.float32), "VEC3", 5126)
    glb.tree["nodes"] = [{"name": "arm_node", "mesh": 0, "skin": 0},
                         {"mesh": 1, "skin": 1}, {"name": "bone"}, {"name": "root"}]
    glb.tree["skins"] = [{"joints": [2]}, {"joints": [3]}]
    glb.tree["animations"] = [{"samplers": [{"input": times, "output": moved}],
                               "channels": [{"sampler": 0, "target": {"node": 2,
                                                                      "path": "translation"}}]}]
    loaded = mp.load(glb.write(tmp_path / "skinned.glb"), parts=True)
    assert loaded.metadata["meshprep_pose"]["skinned"]
    parts = _parts(loaded)
    assert parts.names == ["arm_node", "leg"]
    assert parts.geometry == ["mesh0/primitive0", "mesh1/primitive0"]
    assert parts.face_counts().tolist() == [12, 10]
    arm, leg = _part_boxes(loaded, parts)
    assert arm[0, 1] == pytest.approx(4.0) and leg[0, 1] == pytest.approx(0.0)


def test_draco_gltf_keeps_its_parts(tmp_path):
    dracopy = pytest.importorskip("DracoPy")
    glb = _Glb()
    for i, (name, faces) in enumerate([("lid", BOX_FACES), ("base", BOX_FACES[:8])]):
        stream = dracopy.encode(BOX + np.float32(3 * i), faces, quantization_bits=14)
        ids = {a["attribute_type"]: a["unique_id"] for a in dracopy.decode(stream).attributes}
        placeholder = [{"componentType": 5126, "type": "VEC3", "count": 8},
                       {"componentType": 5125, "type": "SCALAR", "count": faces.size}]
        first = len(glb.tree["accessors"])
        glb.tree["accessors"] += placeholder
        glb.tree["meshes"].append({"name": f"{name}_mesh", "primitives": [{
            "attributes": {"POSITION": first}, "indices": first + 1,
            "extensions": {_DRACO: {"bufferView": glb.view(stream),
                                    "attributes": {"POSITION": ids[0]}}}}]})
        glb.tree["nodes"].append({"mesh": i, "name": name})
    glb.tree["extensionsUsed"] = glb.tree["extensionsRequired"] = [_DRACO]
    loaded = mp.load(glb.write(tmp_path / "draco.glb"), parts=True)
    parts = _parts(loaded)
    assert _counts(parts) == {"lid": 12, "base": 8}


def test_obj_objects_and_groups_are_parts(tmp_path):
    lines = [f"v {x} {y} {z}" for x, y, z in BOX]
    lines += ["o lamp", "g shade", *(f"f {a + 1} {b + 1} {c + 1}" for a, b, c in BOX_FACES),
              "g stand", *(f"f {a + 1} {b + 1} {c + 1}" for a, b, c in BOX_FACES[:4]),
              "o cable", "f 1 2 4 3"]
    path = tmp_path / "lamp.obj"
    path.write_text("\n".join(lines) + "\n")
    loaded = mp.load(path, parts=True)
    parts = _parts(loaded)
    counts = _counts(parts)
    assert len(counts) == 3 and sum(counts.values()) == 18
    assert {k: v for k, v in counts.items() if "shade" in k}.popitem()[1] == 12
    assert {k: v for k, v in counts.items() if "stand" in k}.popitem()[1] == 4
    assert {k: v for k, v in counts.items() if "cable" in k}.popitem()[1] == 2
    assert len(mp.load(path).faces) == 18  # the default read: the same triangles


def test_ply_is_one_part(tmp_path):
    path = ascii_ply(tmp_path / "box.ply", BOX.astype(np.float64), BOX_FACES.astype(np.int64))
    parts = _parts(mp.load(path, parts=True))
    assert len(parts) == 1 and parts.face_counts().tolist() == [12]


def test_parts_survive_a_zip(tmp_path):
    import zipfile

    glb = _three_boxes(tmp_path / "chair.glb")
    archive = tmp_path / "chair.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(glb, "models/chair.glb")
    parts = _parts(mp.load(archive, parts=True))
    assert _counts(parts) == {"seat": 12, "back": 6, "leg_mesh": 2}


def test_unique_names_and_subset():
    assert unique_names(["a", "a", "b", "a.1"]) == ["a", "a.1", "b", "a.1.1"]
    parts = Parts(np.array([0, 0, 1, 2], np.int32), ["x", "y", "z"])
    kept = parts.subset(np.array([True, False, True, False]))
    assert kept.face_part.tolist() == [0, 1] and kept.names == ["x", "y", "z"]


def test_3mf_objects_are_parts(tmp_path):
    import trimesh

    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box([1, 1, 1]), node_name="cube")
    scene.add_geometry(trimesh.creation.icosphere(1), node_name="ball",
                       transform=trimesh.transformations.translation_matrix([3, 0, 0]))
    path = tmp_path / "two.3mf"
    scene.export(path)
    parts = _parts(mp.load(path, parts=True))
    assert sorted(parts.face_counts().tolist()) == [12, 80]
    assert len(set(parts.names)) == 2
