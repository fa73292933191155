"""glTF at frame 0: node animations and skins applied (files built here, byte by byte)."""

import json
import struct

import numpy as np
import pytest

import meshprep as mp
from meshprep.curate import decide
from meshprep.pipeline import resolve_config

CUBE = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float32)
CUBE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                       [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]],
                      np.uint16)


class _Glb:
    """A tiny GLB writer: accessors appended to one buffer."""

    def __init__(self):
        self.bin = bytearray()
        self.tree = {"asset": {"version": "2.0"}, "buffers": [{}], "bufferViews": [],
                     "accessors": []}

    def add(self, array: np.ndarray, kind: str, component: int) -> int:
        while len(self.bin) % 4:
            self.bin += b"\0"
        data = np.ascontiguousarray(array).tobytes()
        self.tree["bufferViews"].append({"buffer": 0, "byteOffset": len(self.bin),
                                         "byteLength": len(data)})
        self.bin += data
        count = array.shape[0] if kind != "SCALAR" else array.size
        self.tree["accessors"].append({"bufferView": len(self.tree["bufferViews"]) - 1,
                                       "componentType": component, "count": count,
                                       "type": kind})
        return len(self.tree["accessors"]) - 1

    def write(self, path) -> None:
        while len(self.bin) % 4:
            self.bin += b"\0"
        self.tree["buffers"][0]["byteLength"] = len(self.bin)
        text = json.dumps(self.tree).encode()
        text += b" " * (-len(text) % 4)
        body = (struct.pack("<II", len(text), 0x4E4F534A) + text
                + struct.pack("<II", len(self.bin), 0x004E4942) + bytes(self.bin))
        path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)


def _animated_cube(path, translation):
    glb = _Glb()
    pos = glb.add(CUBE, "VEC3", 5126)
    ind = glb.add(CUBE_FACES.ravel(), "SCALAR", 5123)
    times = glb.add(np.array([0.0, 1.0], np.float32), "SCALAR", 5126)
    values = glb.add(np.array([translation, [0, 0, 0]], np.float32), "VEC3", 5126)
    glb.tree.update(
        meshes=[{"primitives": [{"attributes": {"POSITION": pos}, "indices": ind}]}],
        nodes=[{"mesh": 0}], scenes=[{"nodes": [0]}], scene=0,
        animations=[{"samplers": [{"input": times, "output": values}],
                     "channels": [{"sampler": 0, "target": {"node": 0,
                                                            "path": "translation"}}]}])
    glb.write(path)


def _skinned_pair(path, joint_offset):
    """Two cubes, each weighted to its own joint; frame 0 moves joint 1 by ``joint_offset``."""
    glb = _Glb()
    verts = np.concatenate([CUBE, CUBE + np.array([2, 0, 0], np.float32)]).astype(np.float32)
    faces = np.concatenate([CUBE_FACES, CUBE_FACES + 8]).astype(np.uint16)
    joints = np.zeros((16, 4), np.uint8)
    joints[8:, 0] = 1
    weights = np.zeros((16, 4), np.float32)
    weights[:, 0] = 1
    pos = glb.add(verts, "VEC3", 5126)
    ind = glb.add(faces.ravel(), "SCALAR", 5123)
    jnt = glb.add(joints, "VEC4", 5121)
    wgt = glb.add(weights, "VEC4", 5126)
    ibm = glb.add(np.stack([np.eye(4), np.eye(4)]).astype(np.float32).reshape(2, 16), "MAT4",
                  5126)
    times = glb.add(np.array([0.0], np.float32), "SCALAR", 5126)
    values = glb.add(np.array([joint_offset], np.float32), "VEC3", 5126)
    glb.tree.update(
        meshes=[{"primitives": [{"attributes": {"POSITION": pos, "JOINTS_0": jnt,
                                                "WEIGHTS_0": wgt}, "indices": ind}]}],
        nodes=[{"mesh": 0, "skin": 0}, {"children": [2]}, {}],
        skins=[{"joints": [1, 2], "inverseBindMatrices": ibm}],
        scenes=[{"nodes": [0, 1]}], scene=0,
        animations=[{"samplers": [{"input": times, "output": values}],
                     "channels": [{"sampler": 0, "target": {"node": 2,
                                                            "path": "translation"}}]}])
    glb.write(path)


def test_node_animation_is_applied_at_its_first_keyframe(tmp_path):
    _animated_cube(tmp_path / "cube.glb", [5, 0, 0])
    mesh = mp.load(tmp_path / "cube.glb")
    assert np.allclose(mesh.vertices.min(axis=0), (5, 0, 0))
    assert mesh.metadata["meshprep_pose"]["animated"] is True
    assert mesh.metadata["meshprep_pose"]["pose_bbox_ratio"] == pytest.approx(1.0)


def test_skin_at_frame_0_and_a_broken_pose_is_flagged(tmp_path):
    _skinned_pair(tmp_path / "fine.glb", [0.5, 0, 0])
    fine = mp.load(tmp_path / "fine.glb")
    assert np.allclose(fine.vertices[8:].min(axis=0), (2.5, 0, 0))  # joint 1 moved the cube
    assert np.allclose(fine.vertices[:8], CUBE)  # joint 0 did not
    assert fine.metadata["meshprep_pose"]["skinned"] is True

    _skinned_pair(tmp_path / "broken.glb", [40, 0, 0])
    broken = mp.load(tmp_path / "broken.glb")
    ratio = broken.metadata["meshprep_pose"]["pose_bbox_ratio"]
    assert ratio > 3
    decision, reason = decide({"pose_bbox_ratio": ratio}, resolve_config()["curate"])
    assert decision == "flag" and reason.startswith("flag: broken animation")


def test_static_gltf_is_untouched(tmp_path):
    glb = _Glb()
    pos = glb.add(CUBE, "VEC3", 5126)
    ind = glb.add(CUBE_FACES.ravel(), "SCALAR", 5123)
    glb.tree.update(meshes=[{"primitives": [{"attributes": {"POSITION": pos},
                                             "indices": ind}]}],
                    nodes=[{"mesh": 0, "translation": [1, 2, 3]}], scenes=[{"nodes": [0]}])
    glb.write(tmp_path / "static.glb")
    mesh = mp.load(tmp_path / "static.glb")
    assert "meshprep_pose" not in mesh.metadata
    assert np.allclose(mesh.vertices.min(axis=0), (1, 2, 3))
