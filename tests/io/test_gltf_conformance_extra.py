"""glTF conformance, node graph and extensions: what the conformance sweep found (issue 27).

Each file is written here and its expectation follows from its own declarations by the rules
of glTF 2.0 (or the named extension's README), worked out in the test, never from meshprep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import meshprep as mp
from tests.io.test_gltf_conformance import _Gltf

_TRIANGLE = np.float32([[0, 0, 0], [1, 0, 0], [0, 1, 0]])
_CAMERA = {"type": "perspective", "perspective": {"yfov": 1.0, "znear": 0.1}}


def _one_triangle() -> tuple[_Gltf, int]:
    """A file holding one triangle mesh and no node yet."""
    gltf = _Gltf()
    position = gltf.accessor(_TRIANGLE, "VEC3", 5126, min=[0, 0, 0], max=[1, 1, 0])
    return gltf, gltf.mesh({"attributes": {"POSITION": position}})


def _corners(mesh) -> np.ndarray:
    """Triangle corners, sorted, so that instance order does not matter."""
    corners = np.asarray(mesh.vertices)[np.asarray(mesh.faces)].reshape(-1, 3)
    return corners[np.lexsort(corners.T[::-1])]


def _expect(mesh, *triangles: np.ndarray) -> None:
    expected = np.vstack(triangles).astype(np.float64)
    assert len(mesh.faces) == len(triangles)
    np.testing.assert_allclose(_corners(mesh), expected[np.lexsort(expected.T[::-1])],
                               atol=1e-6)


def _quarter_turn_z() -> list[float]:
    return [0.0, 0.0, float(np.sin(np.pi / 4)), float(np.cos(np.pi / 4))]


def _animate(gltf: _Gltf, node: int, path: str, values: np.ndarray) -> None:
    """One LINEAR channel whose first keyframe sets ``values[0]``."""
    times = gltf.accessor(np.float32([0, 1]), "SCALAR", 5126, min=[0], max=[1])
    kind = {3: "VEC3", 4: "VEC4"}[values.shape[1]]
    output = gltf.accessor(values.astype(np.float32), kind, 5126)
    gltf.tree["animations"] = [{"samplers": [{"input": times, "output": output}],
                                "channels": [{"sampler": 0,
                                              "target": {"node": node, "path": path}}]}]


@pytest.mark.parametrize("animated", [False, True])
def test_camera_node_keeps_its_mesh_and_children(tmp_path: Path, animated: bool) -> None:
    """A node with a camera and a mesh draws the mesh; its children keep its transform
    (trimesh dropped both)."""
    gltf, mesh = _one_triangle()
    gltf.tree["cameras"] = [_CAMERA]
    child = gltf.node(mesh=mesh, translation=[5, 0, 0])
    gltf.tree["scenes"][0]["nodes"].remove(child)
    parent = gltf.node(camera=0, mesh=mesh, translation=[0, 7, 0], children=[child])
    if animated:
        _animate(gltf, parent, "translation", np.array([[0, 7, 0], [0, 9, 0]]))
    loaded = mp.load(gltf.write(tmp_path / "camera.glb"))
    _expect(loaded, _TRIANGLE + [0, 7, 0], _TRIANGLE + [5, 7, 0])


@pytest.mark.parametrize("animated", [False, True])
def test_gpu_instancing_draws_every_instance(tmp_path: Path, animated: bool) -> None:
    """EXT_mesh_gpu_instancing README: instance i is drawn at node world x T_i * R_i * S_i."""
    gltf, mesh = _one_triangle()
    translation = gltf.accessor(np.float32([[0, 0, 0], [10, 0, 0]]), "VEC3", 5126)
    # normalized shorts are allowed for ROTATION: a quarter turn about z for instance 1
    quarter = np.round(np.array([[0, 0, 0, 1], _quarter_turn_z()]) * 32767).astype(np.int16)
    rotation = gltf.accessor(quarter, "VEC4", 5122, normalized=True)
    scale = gltf.accessor(np.float32([[1, 1, 1], [2, 2, 2]]), "VEC3", 5126)
    node = gltf.node(mesh=mesh, translation=[0, 0, 1], extensions={"EXT_mesh_gpu_instancing": {
        "attributes": {"TRANSLATION": translation, "ROTATION": rotation, "SCALE": scale}}})
    gltf.tree["extensionsUsed"] = ["EXT_mesh_gpu_instancing"]
    if animated:
        _animate(gltf, node, "translation", np.array([[0, 0, 1], [0, 0, 3]]))
    loaded = mp.load(gltf.write(tmp_path / "instanced.glb"))
    # instance 1: scale 2, (x, y) -> (-y, x), then +10 in x, then the node's +1 in z
    turned = np.c_[-2 * _TRIANGLE[:, 1], 2 * _TRIANGLE[:, 0], _TRIANGLE[:, 2]]
    _expect(loaded, _TRIANGLE + [0, 0, 1], turned + [10, 0, 1])
    assert loaded.vertices[:, 0].max() == pytest.approx(10, abs=1e-4)


@pytest.mark.parametrize("animated", [False, True])
def test_file_without_scenes_draws_its_root_nodes(tmp_path: Path, animated: bool) -> None:
    """No ``scenes``: every root node with its children, each child once and under its
    parent's transform."""
    gltf, mesh = _one_triangle()
    child = gltf.node(mesh=mesh, translation=[1, 0, 0])
    root = gltf.node(children=[child], translation=[0, 2, 0])
    del gltf.tree["scenes"], gltf.tree["scene"]
    if animated:
        _animate(gltf, root, "translation", np.array([[0, 4, 0], [0, 5, 0]]))
    loaded = mp.load(gltf.write(tmp_path / "no_scenes.glb"))
    _expect(loaded, _TRIANGLE + [1, 4 if animated else 2, 0])


def test_file_without_nodes_draws_each_mesh(tmp_path: Path) -> None:
    gltf, mesh = _one_triangle()
    del gltf.tree["scenes"], gltf.tree["scene"]
    _expect(mp.load(gltf.write(tmp_path / "library.glb")), _TRIANGLE)


def test_scene_absent_means_scene_zero(tmp_path: Path) -> None:
    gltf, mesh = _one_triangle()
    first, second = gltf.node(mesh=mesh), gltf.node(mesh=mesh, translation=[3, 0, 0])
    gltf.tree["scenes"] = [{"nodes": [first]}, {"nodes": [second]}]
    del gltf.tree["scene"]
    _expect(mp.load(gltf.write(tmp_path / "two_scenes.glb")), _TRIANGLE)


def test_second_joint_set_is_skinned(tmp_path: Path) -> None:
    """JOINTS_1 / WEIGHTS_1 carry influences five to eight (glTF 2.0, 3.7.3.1): half of each
    vertex follows joint 1, moved 4 in x, so the triangle moves 2."""
    gltf, mesh = _one_triangle()
    attributes = gltf.tree["meshes"][mesh]["primitives"][0]["attributes"]
    attributes["JOINTS_0"] = gltf.accessor(np.zeros((3, 4)), "VEC4", 5121)
    attributes["WEIGHTS_0"] = gltf.accessor([[0.5, 0, 0, 0]] * 3, "VEC4", 5126)
    attributes["JOINTS_1"] = gltf.accessor([[1, 0, 0, 0]] * 3, "VEC4", 5121)
    attributes["WEIGHTS_1"] = gltf.accessor([[0.5, 0, 0, 0]] * 3, "VEC4", 5126)
    gltf.node(mesh=mesh, skin=0)
    joints = [gltf.node(), gltf.node(translation=[4, 0, 0])]
    gltf.tree["skins"] = [{"joints": joints}]
    _expect(mp.load(gltf.write(tmp_path / "eight_influences.glb")), _TRIANGLE + [2, 0, 0])


def test_joint_outside_the_scene_still_poses(tmp_path: Path) -> None:
    """A skin's joints need not be drawn by the scene: their transform still applies."""
    gltf, mesh = _one_triangle()
    attributes = gltf.tree["meshes"][mesh]["primitives"][0]["attributes"]
    attributes["JOINTS_0"] = gltf.accessor(np.zeros((3, 4)), "VEC4", 5121)
    attributes["WEIGHTS_0"] = gltf.accessor([[1, 0, 0, 0]] * 3, "VEC4", 5126)
    gltf.node(mesh=mesh, skin=0)
    gltf.tree["nodes"].append({"translation": [0, 0, 6]})
    gltf.tree["skins"] = [{"joints": [len(gltf.tree["nodes"]) - 1]}]
    _expect(mp.load(gltf.write(tmp_path / "outside_joint.glb")), _TRIANGLE + [0, 0, 6])


def test_base_colour_from_the_second_uv_set(tmp_path: Path) -> None:
    """``baseColorTexture.texCoord: 1`` without a transform: the texture is drawn with
    TEXCOORD_1 (trimesh read TEXCOORD_0). meshprep's UVs have their origin bottom-left, so
    glTF's (u, v) is (u, 1 - v)."""
    from tests.io.test_gltf_conformance import _png

    gltf, mesh = _one_triangle()
    attributes = gltf.tree["meshes"][mesh]["primitives"][0]["attributes"]
    second = np.float32([[0.25, 0.5], [0.75, 0.5], [0.25, 0.0]])
    attributes["TEXCOORD_0"] = gltf.accessor(np.zeros((3, 2)), "VEC2", 5126)
    attributes["TEXCOORD_1"] = gltf.accessor(second, "VEC2", 5126)
    gltf.tree["meshes"][mesh]["primitives"][0]["material"] = 0
    gltf.tree["images"] = [{"bufferView": gltf.view(_png((0, 255, 0, 255))),
                            "mimeType": "image/png"}]
    gltf.tree["textures"] = [{"source": 0}]
    gltf.tree["materials"] = [{"pbrMetallicRoughness": {
        "baseColorTexture": {"index": 0, "texCoord": 1}}}]
    gltf.node(mesh=mesh)
    loaded = mp.load(gltf.write(tmp_path / "uv1.glb"), appearance=True)
    look = loaded.metadata["meshprep_appearance"]
    uv = look.uv[np.asarray(loaded.faces).ravel()]
    corners = np.asarray(loaded.vertices)[np.asarray(loaded.faces).ravel()]
    order = np.lexsort(corners.T[::-1])
    expected = np.c_[second[:, 0], 1 - second[:, 1]]
    np.testing.assert_allclose(uv[order], expected[np.lexsort(_TRIANGLE.T[::-1])], atol=1e-6)


def test_draco_point_cloud_beside_triangles(tmp_path: Path) -> None:
    """A Draco-compressed POINTS primitive decodes without faces; the triangle beside it is
    the file's surface (it was refused: 'buffer 0 holds fewer bytes than its views read')."""
    import DracoPy

    points = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    stream = DracoPy.encode(points, quantization_bits=14)
    ids = {a["attribute_type"]: a["unique_id"] for a in DracoPy.decode(stream).attributes}
    gltf, mesh = _one_triangle()
    placeholder = gltf.placeholder(50, "VEC3", 5126, min=[0, 0, 0], max=[1, 1, 1])
    gltf.tree["meshes"][mesh]["primitives"].append({
        "attributes": {"POSITION": placeholder}, "mode": 0, "extensions": {
            "KHR_draco_mesh_compression": {"bufferView": gltf.view(stream),
                                           "attributes": {"POSITION": ids[0]}}}})
    gltf.tree["extensionsUsed"] = ["KHR_draco_mesh_compression"]
    gltf.tree["extensionsRequired"] = ["KHR_draco_mesh_compression"]
    gltf.node(mesh=mesh)
    _expect(mp.load(gltf.write(tmp_path / "draco_points.glb")), _TRIANGLE)


def test_hidden_node_hides_its_subtree(tmp_path: Path) -> None:
    """KHR_node_visibility: ``visible: false`` hides the node and all its descendants."""
    gltf, mesh = _one_triangle()
    child = gltf.node(mesh=mesh, translation=[0, 0, 5])
    gltf.tree["scenes"][0]["nodes"].remove(child)
    gltf.node(mesh=mesh, children=[child], translation=[3, 0, 0],
              extensions={"KHR_node_visibility": {"visible": False}})
    gltf.node(mesh=mesh)
    gltf.tree["extensionsUsed"] = ["KHR_node_visibility"]
    _expect(mp.load(gltf.write(tmp_path / "hidden.glb")), _TRIANGLE)


def test_file_of_points_is_refused_as_such(tmp_path: Path) -> None:
    """A valid glTF that draws no triangles is refused for that, not for a short buffer."""
    gltf, mesh = _one_triangle()
    gltf.tree["meshes"][mesh]["primitives"][0]["mode"] = 0
    gltf.node(mesh=mesh)
    with pytest.raises(mp.errors.NoTrianglesError, match="no triangles") as refusal:
        mp.load(gltf.write(tmp_path / "points.glb"))
    assert "buffer" not in str(refusal.value)


@pytest.mark.parametrize("required", [["KHR_made_up_compression"],
                                      ["KHR_texture_transform", "EXT_future_geometry"]])
def test_unimplemented_required_extension_is_refused(tmp_path: Path, required) -> None:
    """The glTF spec: a loader must not load a file whose ``extensionsRequired`` it does not
    implement (its data would be read wrong); the refusal names the extension."""
    gltf, mesh = _one_triangle()
    gltf.tree["extensionsUsed"] = gltf.tree["extensionsRequired"] = required
    gltf.node(mesh=mesh)
    with pytest.raises(mp.errors.UnsupportedFormatError, match=required[-1]):
        mp.load(gltf.write(tmp_path / "required.glb"))


def test_implemented_or_ignorable_required_extensions_load(tmp_path: Path) -> None:
    """Required extensions meshprep implements (or whose content it never reads) still load;
    one only *used* and unknown is ignored, as the spec allows."""
    gltf, mesh = _one_triangle()
    gltf.tree["extensionsRequired"] = ["KHR_texture_transform", "KHR_lights_punctual"]
    gltf.tree["extensionsUsed"] = gltf.tree["extensionsRequired"] + ["EXT_some_hint"]
    gltf.node(mesh=mesh)
    _expect(mp.load(gltf.write(tmp_path / "required_ok.glb")), _TRIANGLE)
