"""Skeleton and skin weights at frame 0 through ``meshprep.load(path, rig=True)`` (issue 30).

The file is written here: a two-bone chain (joints ``hip`` -> ``knee`` -> ``toe``) under a
non-joint ``armature`` node that moves and scales it, a strip of six vertices weighted to the
first two joints, an unskinned triangle beside it, and an animation whose first keyframe turns
the second bone (``knee``) a quarter about z. Every expected number is worked out by hand below.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

import meshprep as mp
from meshprep.io.rig import Rig
from tests.io.test_gltf_conformance import _DRACO, _Gltf

# armature: translation (1, 2, 3), uniform scale 2; hip at (0, 0.5, 0) in it, knee and toe one
# unit further along y each: bind-pose world positions (1, 3, 3), (1, 5, 3), (1, 7, 3)
ARMATURE = {"translation": [1.0, 2.0, 3.0], "scale": [2.0, 2.0, 2.0]}
LOCAL_Y = (0.5, 1.0, 1.0)
QUARTER_TURN_Z = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]
# frame 0: the knee turns 90 degrees about z, so the toe goes from knee + 2 * (0, 1, 0) to
# knee + 2 * (-1, 0, 0); hip and knee stay where the bind pose has them
FRAME0_JOINTS = np.array([[1.0, 3.0, 3.0], [1.0, 5.0, 3.0], [-1.0, 5.0, 3.0]])
# the strip, in bind-pose world coordinates: rows at the hip, the knee and halfway to the toe
STRIP = np.array([[x, y, 3.0] for y in (3.0, 5.0, 6.0) for x in (0.5, 1.5)], np.float32)
STRIP_FACES = np.array([[0, 1, 3], [0, 3, 2], [2, 3, 5], [2, 5, 4]], np.uint32)
STRIP_JOINTS = np.array([[0, 1, 0, 0]] * 6, np.uint8)
STRIP_WEIGHTS = np.array([[1, 0, 0, 0]] * 2 + [[0.25, 0.75, 0, 0]] * 2 + [[0, 1, 0, 0]] * 2,
                         np.float32)
TRIANGLE = np.array([[5, 0, 0], [6, 0, 0], [5, 1, 0]], np.float32)


def _translation(y: float) -> np.ndarray:
    out = np.eye(4)
    out[1, 3] = y
    return out


def _bind_worlds() -> np.ndarray:
    """World matrices of hip, knee, toe in the bind pose (no animation)."""
    armature = np.diag([2.0, 2.0, 2.0, 1.0])
    armature[:3, 3] = ARMATURE["translation"]
    worlds, world = [], armature
    for y in LOCAL_Y:
        world = world @ _translation(y)
        worlds.append(world)
    return np.stack(worlds)


def _skinned_primitive(gltf: _Gltf, codec: str, weights: np.ndarray) -> dict:
    if codec != "draco":
        return {"attributes": {"POSITION": gltf.accessor(STRIP, "VEC3", 5126),
                               "JOINTS_0": gltf.accessor(STRIP_JOINTS, "VEC4", 5121),
                               "WEIGHTS_0": gltf.accessor(weights, "VEC4", 5126)},
                "indices": gltf.accessor(STRIP_FACES.ravel(), "SCALAR", 5125)}
    import DracoPy

    stream = DracoPy.encode(STRIP, STRIP_FACES, quantization_bits=14,
                            generic_attributes={1: STRIP_JOINTS, 2: weights})
    position = next(a["unique_id"] for a in DracoPy.decode(stream).attributes
                    if a["attribute_type"] == 0)
    gltf.tree["extensionsUsed"] = gltf.tree["extensionsRequired"] = [_DRACO]
    return {"attributes": {"POSITION": gltf.placeholder(6, "VEC3", 5126),
                           "JOINTS_0": gltf.placeholder(6, "VEC4", 5121),
                           "WEIGHTS_0": gltf.placeholder(6, "VEC4", 5126)},
            "indices": gltf.placeholder(STRIP_FACES.size, "SCALAR", 5125),
            "extensions": {_DRACO: {"bufferView": gltf.view(stream), "attributes": {
                "POSITION": position, "JOINTS_0": 1, "WEIGHTS_0": 2}}}}


def _two_bones(path: Path, codec: str = "plain", weights: np.ndarray = STRIP_WEIGHTS
               ) -> Path:
    gltf = _Gltf()
    # a skinned mesh ignores its own node transform (glTF 2.0, 3.7.3): this one must not count
    strip = gltf.mesh(_skinned_primitive(gltf, codec, weights))
    gltf.node(mesh=strip, skin=0, translation=[9, 9, 9])
    gltf.node(mesh=gltf.mesh({"attributes": {
        "POSITION": gltf.accessor(TRIANGLE, "VEC3", 5126)},
        "indices": gltf.accessor(np.arange(3), "SCALAR", 5125)}))
    armature = gltf.node(name="armature", **ARMATURE)
    hip, knee, toe = (gltf.node(name=name, translation=[0.0, y, 0.0])
                      for name, y in zip(("hip", "knee", "toe"), LOCAL_Y, strict=True))
    for parent, child in ((armature, hip), (hip, knee), (knee, toe)):
        gltf.tree["nodes"][parent]["children"] = [child]
        gltf.tree["scenes"][0]["nodes"].remove(child)
    inverse = np.linalg.inv(_bind_worlds()).transpose(0, 2, 1).reshape(3, 16)  # column-major
    gltf.tree["skins"] = [{"joints": [hip, knee, toe],
                           "inverseBindMatrices": gltf.accessor(inverse, "MAT4", 5126)}]
    gltf.tree["animations"] = [{"samplers": [{
        "input": gltf.accessor(np.float32([0, 1]), "SCALAR", 5126),
        "output": gltf.accessor(np.float32([QUARTER_TURN_Z, [0, 0, 0, 1]]), "VEC4", 5126)}],
        "channels": [{"sampler": 0, "target": {"node": knee, "path": "rotation"}}]}]
    return gltf.write(path)


def _rig(mesh) -> Rig:
    rig = mesh.metadata["meshprep_rig"]
    assert isinstance(rig, Rig)
    return rig


def test_two_bones_at_frame_0(tmp_path: Path) -> None:
    mesh = mp.load(_two_bones(tmp_path / "two_bones.glb"), rig=True)
    rig = _rig(mesh)
    assert rig.names == ["hip", "knee", "toe"]
    assert rig.parents.tolist() == [-1, 0, 1]  # the armature node is not a joint
    np.testing.assert_allclose(rig.joints, FRAME0_JOINTS, atol=1e-6)
    np.testing.assert_allclose(rig.world[:, :3, 3], rig.joints)
    np.testing.assert_allclose(rig.inverse_bind, np.linalg.inv(_bind_worlds()), atol=1e-6)
    # the strip first, then the unskinned triangle (the loader's vertex order)
    assert len(mesh.vertices) == len(rig.weights) == 9
    np.testing.assert_allclose(rig.dense()[:6], STRIP_WEIGHTS[:, :3], atol=1e-6)
    assert rig.skinned.tolist() == [True] * 6 + [False] * 3
    assert not rig.dense()[6:].any()
    assert rig.indices.dtype == np.int32 and rig.weights.dtype == np.float32


def test_mesh_is_posed_by_the_rig_joints(tmp_path: Path) -> None:
    # the top row (weighted to the knee) turns about the knee with it: (x, 6) -> knee + (-1, x - 1)
    mesh = mp.load(_two_bones(tmp_path / "two_bones.glb"), rig=True)
    np.testing.assert_allclose(mesh.vertices[4:6], [[0.0, 4.5, 3.0], [0.0, 5.5, 3.0]],
                               atol=1e-6)
    np.testing.assert_allclose(_reskinned(_rig(mesh), STRIP)[:6], mesh.vertices[:6], atol=1e-6)


def _reskinned(rig: Rig, bind_vertices: np.ndarray) -> np.ndarray:
    """Linear blend skinning of bind-pose vertices with the rig's own matrices."""
    skinning = rig.world @ rig.inverse_bind
    homogeneous = np.c_[bind_vertices, np.ones(len(bind_vertices))]
    per_joint = np.einsum("jab,vb->vja", skinning, homogeneous)[..., :3]
    return np.einsum("vj,vja->va", rig.dense()[:len(bind_vertices)], per_joint)


def test_joints_move_with_the_vertices_when_normalized(tmp_path: Path) -> None:
    mesh = mp.load(_two_bones(tmp_path / "two_bones.glb"), rig=True)
    normalized, transform = mp.normalize(mesh)
    rig = _rig(mesh).transformed(transform)
    scale = transform[0, 0]
    np.testing.assert_allclose(rig.joints, FRAME0_JOINTS * scale + transform[:3, 3], atol=1e-9)
    # joint-to-vertex offsets scale with the mesh: the hip row stays where the hip is
    np.testing.assert_allclose(normalized.vertices[0] - rig.joints[0],
                               scale * (mesh.vertices[0] - FRAME0_JOINTS[0]), atol=1e-9)
    # the moved bind pose skins the moved bind vertices into the normalized mesh
    moved_bind = STRIP @ transform[:3, :3].T + transform[:3, 3]
    np.testing.assert_allclose(_reskinned(rig, moved_bind), normalized.vertices[:6], atol=1e-9)
    assert rig.weights is _rig(mesh).weights


def test_draco_twin_reads_the_same_rig(tmp_path: Path) -> None:
    plain = mp.load(_two_bones(tmp_path / "plain.glb"), rig=True)
    draco = mp.load(_two_bones(tmp_path / "draco.glb", "draco"), rig=True)
    a, b = _rig(plain), _rig(draco)
    assert b.names == a.names and b.parents.tolist() == a.parents.tolist()
    np.testing.assert_allclose(b.joints, a.joints, atol=1e-6)
    # Draco may reorder vertices: match each to the plain file's nearest (14-bit positions)
    distance, match = cKDTree(plain.vertices).query(draco.vertices)
    assert distance.max() < 1e-3
    np.testing.assert_allclose(b.dense(), a.dense()[match], atol=1e-6)


def test_file_without_a_skin_gives_none(data_dir: Path) -> None:
    assert mp.load(data_dir / "box_textured.glb", rig=True).metadata["meshprep_rig"] is None
    assert mp.load(data_dir / "fandisk.obj", rig=True).metadata["meshprep_rig"] is None


def test_rig_is_read_only_when_asked(tmp_path: Path) -> None:
    path = _two_bones(tmp_path / "two_bones.glb")
    plain, rigged = mp.load(path), mp.load(path, rig=True)
    assert "meshprep_rig" not in plain.metadata
    np.testing.assert_array_equal(plain.vertices, rigged.vertices)
    np.testing.assert_array_equal(plain.faces, rigged.faces)


@pytest.mark.parametrize("weights", [[2, 6, 0, 0], [0.1, 0.3, 0, 0]])
def test_weights_are_normalized_per_vertex(tmp_path: Path, weights: list[float]) -> None:
    path = _two_bones(tmp_path / "scaled.glb", weights=np.array([weights] * 6, np.float32))
    rig = _rig(mp.load(path, rig=True))
    np.testing.assert_allclose(rig.dense()[:6, :2], [[0.25, 0.75]] * 6, atol=1e-6)
    np.testing.assert_allclose(rig.totals, [sum(weights)] * 6 + [0] * 3, rtol=1e-6)


def _weighted_triangle(gltf: _Gltf, joint: int) -> int:
    """A mesh of one triangle, every vertex weighted to ``joint`` of its skin."""
    return gltf.mesh({"attributes": {
        "POSITION": gltf.accessor(TRIANGLE, "VEC3", 5126),
        "JOINTS_0": gltf.accessor(np.array([[joint, 0, 0, 0]] * 3), "VEC4", 5121),
        "WEIGHTS_0": gltf.accessor(np.array([[1.0, 0, 0, 0]] * 3), "VEC4", 5126)},
        "indices": gltf.accessor(np.arange(3), "SCALAR", 5125)})


def test_two_skins_share_one_joint_list(tmp_path: Path) -> None:
    # skin 0 lists (a, b), skin 1 lists (b, c): one list a, b, c; b keeps skin 0's index
    gltf = _Gltf()
    first, second = _weighted_triangle(gltf, 1), _weighted_triangle(gltf, 1)
    gltf.node(mesh=first, skin=0)
    gltf.node(mesh=second, skin=1)
    a, b, c = (gltf.node(name=name, translation=[0.0, 1.0, 0.0]) for name in "abc")
    for parent, child in ((a, b), (b, c)):
        gltf.tree["nodes"][parent]["children"] = [child]
        gltf.tree["scenes"][0]["nodes"].remove(child)
    gltf.tree["skins"] = [{"joints": [a, b]}, {"joints": [b, c]}]
    mesh = mp.load(gltf.write(tmp_path / "two_skins.glb"), rig=True)
    rig = _rig(mesh)
    assert rig.names == ["a", "b", "c"] and rig.parents.tolist() == [-1, 0, 1]
    np.testing.assert_allclose(rig.joints, [[0, 1, 0], [0, 2, 0], [0, 3, 0]])
    np.testing.assert_allclose(rig.dense(), [[0, 1, 0]] * 3 + [[0, 0, 1]] * 3)
    np.testing.assert_array_equal(rig.inverse_bind, np.repeat(np.eye(4)[None], 3, axis=0))
    # no inverse bind matrices: each triangle is moved by its joint's world matrix alone
    np.testing.assert_allclose(mesh.vertices, np.r_[TRIANGLE + [0, 2, 0], TRIANGLE + [0, 3, 0]])


def test_weights_follow_the_vertices_the_loader_drops(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # an unreferenced NaN vertex (weighted to the knee) is dropped by the loader: its row too
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "STRIP", np.r_[STRIP, [[np.nan, 0, 0]]].astype(np.float32))
    monkeypatch.setattr(module, "STRIP_JOINTS", np.r_[STRIP_JOINTS, [[1, 0, 0, 0]]])
    weights = np.r_[STRIP_WEIGHTS, [[1, 0, 0, 0]]].astype(np.float32)
    mesh = mp.load(_two_bones(tmp_path / "nan.glb", weights=weights), rig=True)
    rig = _rig(mesh)
    assert len(mesh.vertices) == len(rig.weights) == 9
    np.testing.assert_allclose(rig.dense()[:6], STRIP_WEIGHTS[:, :3], atol=1e-6)
    assert rig.skinned.tolist() == [True] * 6 + [False] * 3


def test_fbx_rig_through_blender(corpus_dir: Path) -> None:
    """An animated, skinned FBX (the corpus's ``anim_skeleton_fbx``) through the Blender
    backend: Blender exports it skinned, joints posed at its first frame; skinning that file
    must give the surface Blender itself poses (the rig=False route applies the armature in
    Blender), and every skinned vertex's weights sum to 1."""
    from meshprep.blender import blender_python

    if blender_python() is None:
        pytest.skip("no Python with bpy (MESHPREP_BLENDER_PYTHON)")
    path = corpus_dir / "anim_skeleton_fbx.fbx"
    skinned = mp.load(path, rig=True)
    posed_by_blender = mp.load(path)
    rig = _rig(skinned)
    assert len(rig.names) == 16 and rig.skinned.all()
    assert list(rig.parents[:3]) == [-1, 0, 1] and (rig.parents < np.arange(16)).all()
    extent = float(np.ptp(posed_by_blender.vertices, axis=0).max())
    gap = cKDTree(posed_by_blender.vertices).query(skinned.vertices)[0].max()
    assert gap < 1e-6 * extent
    np.testing.assert_allclose(rig.weights.sum(axis=1), 1.0, atol=1e-5)
    # the joints lie along the skinned surface (a chain through the mesh's box)
    lo, hi = skinned.vertices.min(axis=0), skinned.vertices.max(axis=0)
    assert ((rig.joints >= lo - 0.05 * extent) & (rig.joints <= hi + 0.05 * extent)).all()


def test_blender_weights_replace_the_exported_ones(tmp_path: Path) -> None:
    """``with_blender_weights``: each matched vertex takes Blender's vertex-group weights (an
    influence of 5e-5, which Blender's glTF exporter drops, included), normalized, with the raw
    sum in ``totals``; a vertex without a match keeps the exported weights; bones the rig
    does not know are ignored."""
    from meshprep.io.rig import with_blender_weights

    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    exported = Rig(["a", "b"], np.array([-1, 0]), np.zeros((2, 3)),
                   np.repeat(np.eye(4)[None], 2, axis=0), np.repeat(np.eye(4)[None], 2, axis=0),
                   np.arange(2), np.array([[0], [1], [1]], np.int32),
                   np.ones((3, 1), np.float32), np.ones(3, bool), np.ones(3, np.float32))
    np.savez(tmp_path / "w.npz", positions=vertices[:2] + 1e-9,
             weights=np.array([[0.6, 0.4 - 5e-5, 5e-5, 0.0], [0.0, 0.9, 0.0, 0.0]], np.float32),
             bones=np.array(["a", "b", "c", "unknown"]))
    exported = replace(exported, names=["a", "b", "c"],
                       parents=np.array([-1, 0, 1]), joints=np.zeros((3, 3)),
                       world=np.repeat(np.eye(4)[None], 3, axis=0),
                       inverse_bind=np.repeat(np.eye(4)[None], 3, axis=0), nodes=np.arange(3))
    rig = with_blender_weights(exported, vertices + [[0, 0, 0], [0, 0, 0], [0, 5, 0]],
                               tmp_path / "w.npz")
    dense = rig.dense()
    np.testing.assert_allclose(dense[0], [0.6, 0.4 - 5e-5, 5e-5], atol=1e-7)
    np.testing.assert_allclose(dense[1], [0.0, 1.0, 0.0], atol=1e-7)  # 0.9 normalized
    assert rig.totals[1] == pytest.approx(0.9) and rig.totals[0] == pytest.approx(1.0)
    np.testing.assert_array_equal(dense[2], [0.0, 1.0, 0.0])  # no match: as exported
