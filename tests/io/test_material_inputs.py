"""Material inputs of PBR shading (issue 28, part 1): normal maps, emission, double-sidedness,
and the file's own vertex normals and tangents, moved like the geometry.

The files are built here; each expected value comes from the declared numbers by the specs'
rules (glTF 2.0 3.7.2.1 / 5.19 "material", KHR_materials_emissive_strength, the MTL ``Ke``
statement), not from meshprep's code.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from meshprep.io import load
from meshprep.io.appearance import Appearance

CLAMP = 33071
QUAD = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
QUAD_UV = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
QUAD_FACES = np.array([0, 1, 2, 0, 2, 3], np.uint16)


def _png(pixels: np.ndarray) -> str:
    stream = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(stream, "PNG")
    return "data:image/png;base64," + base64.b64encode(stream.getvalue()).decode()


class _Builder:
    """A glTF tree with its accessors in one data-URI buffer."""

    def __init__(self) -> None:
        self.blob = b""
        self.tree: dict[str, Any] = {"asset": {"version": "2.0"}, "bufferViews": [],
                                     "accessors": [], "meshes": [], "nodes": []}

    def accessor(self, array: np.ndarray, kind: str) -> int:
        data = np.ascontiguousarray(array)
        component = {np.float32: 5126, np.uint16: 5123, np.uint8: 5121}[data.dtype.type]
        self.tree["bufferViews"].append({"buffer": 0, "byteOffset": len(self.blob),
                                         "byteLength": data.nbytes})
        entry = {"bufferView": len(self.tree["bufferViews"]) - 1, "componentType": component,
                 "count": len(data) if kind != "SCALAR" else data.size, "type": kind}
        if kind == "VEC3" and data.dtype == np.float32:
            entry.update(min=data.min(0).tolist(), max=data.max(0).tolist())
        self.tree["accessors"].append(entry)
        self.blob += data.tobytes() + b"\0" * (-data.nbytes % 4)
        return len(self.tree["accessors"]) - 1

    def quad(self, normals: np.ndarray | None = None, tangents: np.ndarray | None = None,
             material: int | None = None, extra: dict[str, np.ndarray] | None = None) -> int:
        """A quad mesh; returns its index."""
        attributes = {"POSITION": self.accessor(QUAD, "VEC3"),
                      "TEXCOORD_0": self.accessor(QUAD_UV, "VEC2")}
        if normals is not None:
            attributes["NORMAL"] = self.accessor(np.asarray(normals, np.float32), "VEC3")
        if tangents is not None:
            attributes["TANGENT"] = self.accessor(np.asarray(tangents, np.float32), "VEC4")
        for name, array in (extra or {}).items():
            attributes[name] = self.accessor(array, "VEC4")
        primitive = {"attributes": attributes, "indices": self.accessor(QUAD_FACES, "SCALAR")}
        if material is not None:
            primitive["material"] = material
        self.tree["meshes"].append({"primitives": [primitive]})
        return len(self.tree["meshes"]) - 1

    def write(self, path: Path, roots: list[int] | None = None) -> Path:
        self.tree["buffers"] = [{"byteLength": len(self.blob), "uri": "data:application/"
                                 "octet-stream;base64," + base64.b64encode(self.blob).decode()}]
        nodes = roots if roots is not None else list(range(len(self.tree["nodes"])))
        self.tree["scenes"], self.tree["scene"] = [{"nodes": nodes}], 0
        path.write_text(json.dumps(self.tree))
        return path


def _look(path: Path) -> Appearance:
    return load(path, appearance=True).metadata["meshprep_appearance"]


def _to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def test_gltf_normal_map_emission_and_double_sided(tmp_path: Path) -> None:
    normal_pixels = np.full((2, 2, 4), (128, 128, 255, 255), np.uint8)
    emissive_pixels = np.full((2, 2, 4), (200, 100, 50, 255), np.uint8)
    builder = _Builder()
    builder.quad(material=0)
    builder.tree["nodes"] = [{"mesh": 0}]
    builder.tree.update(
        materials=[{"normalTexture": {"index": 0, "scale": 0.5},
                    "emissiveTexture": {"index": 1}, "emissiveFactor": [0.2, 0.4, 0.6],
                    "doubleSided": True,
                    "extensions": {"KHR_materials_emissive_strength": {"emissiveStrength": 5.0}}}],
        textures=[{"source": 0, "sampler": 0}, {"source": 1}],
        images=[{"uri": _png(normal_pixels)}, {"uri": _png(emissive_pixels)}],
        samplers=[{"wrapS": CLAMP, "wrapT": CLAMP, "magFilter": 9728}],
        extensionsUsed=["KHR_materials_emissive_strength"])
    material = _look(builder.write(tmp_path / "m.gltf")).materials[0]
    np.testing.assert_array_equal(material.normal_texture, normal_pixels)
    assert material.normal_scale == 0.5
    np.testing.assert_allclose(material.emissive_factor, [0.2, 0.4, 0.6], atol=1e-6)
    np.testing.assert_array_equal(material.emissive_texture, emissive_pixels)
    assert material.emissive_strength == 5.0
    assert material.double_sided is True
    assert (material.normal_sampler.wrap_s, material.normal_sampler.wrap_t) == (CLAMP, CLAMP)
    assert material.normal_sampler.nearest
    assert material.emissive_sampler.is_default()


def test_defaults_without_the_inputs(tmp_path: Path) -> None:
    builder = _Builder()
    builder.quad(material=0)
    builder.tree["nodes"] = [{"mesh": 0}]
    builder.tree["materials"] = [{"pbrMetallicRoughness": {"metallicFactor": 0.3}}]
    look = _look(builder.write(tmp_path / "plain.gltf"))
    material = look.materials[0]
    assert material.normal_texture is None and material.emissive_texture is None
    np.testing.assert_array_equal(material.emissive_factor, np.zeros(3))
    assert (material.normal_scale, material.emissive_strength) == (1.0, 1.0)
    assert material.double_sided is False
    assert look.vertex_normal is None and look.tangent is None


def _rotation_z(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def _matrix_node(mesh: int, linear: np.ndarray, translation=(0.0, 0.0, 0.0)) -> dict:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = linear, translation
    return {"mesh": mesh, "matrix": matrix.T.reshape(-1).tolist()}  # column-major


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_declared_normals_and_tangents_follow_the_node_transform(tmp_path: Path) -> None:
    normals = _unit(np.array([[0, 0, 1], [0.3, 0, 1], [0, 0.3, 1], [0.2, 0.2, 1]]))
    tangents = np.array([[1, 0, 0, 1], [1, 0, 0, 1], [1, 0, 0, -1], [1, 0, 0, -1]], np.float32)
    linear = _rotation_z(90) @ np.diag([2.0, 1.0, 0.5])  # non-uniform scale, then a rotation
    builder = _Builder()
    builder.quad(normals, tangents)
    builder.tree["nodes"] = [_matrix_node(0, linear, (1, 2, 3))]
    look = _look(builder.write(tmp_path / "moved.gltf"))
    expected_n = _unit(normals @ np.linalg.inv(linear))  # rows: (L^-T n)^T
    np.testing.assert_allclose(look.vertex_normal, expected_n, atol=1e-5)
    assert look.vertex_normal.dtype == np.float32 and look.vertex_normal.shape == (4, 3)
    np.testing.assert_allclose(look.tangent[:, :3], _unit(tangents[:, :3] @ linear.T),
                               atol=1e-5)
    np.testing.assert_array_equal(look.tangent[:, 3], tangents[:, 3])


def test_mirrored_node_keeps_normals_on_the_winding_side(tmp_path: Path) -> None:
    normals = np.tile([0.0, 0.0, 1.0], (4, 1))  # the quad's winding faces +Z
    tangents = np.tile([1.0, 0.0, 0.0, 1.0], (4, 1))
    mirror = np.diag([1.0, 1.0, -1.0])
    builder = _Builder()
    builder.quad(normals, tangents)
    builder.tree["nodes"] = [_matrix_node(0, mirror)]
    path = builder.write(tmp_path / "mirror.gltf")
    mesh = load(path, appearance=True)
    look = mesh.metadata["meshprep_appearance"]
    np.testing.assert_allclose(look.vertex_normal, np.tile([0, 0, -1], (4, 1)), atol=1e-6)
    # the flattened winding (reversed under the mirror) agrees with the moved normals
    assert (mesh.face_normals @ np.array([0, 0, -1.0]) > 0.99).all()
    np.testing.assert_array_equal(look.tangent[:, 3], -1.0)  # bitangent sign flips


def test_parts_without_normals_get_smoothed_ones(tmp_path: Path) -> None:
    builder = _Builder()
    builder.quad(np.tile([0.0, 0.6, 0.8], (4, 1)))
    builder.quad()
    builder.tree["nodes"] = [{"mesh": 0}, _matrix_node(1, _rotation_z(0) * 1.0, (0, 0, 5))]
    mesh = load(builder.write(tmp_path / "two.gltf"), appearance=True)
    look = mesh.metadata["meshprep_appearance"]
    moved = mesh.vertices[:, 2] > 4  # the instance without normals (scene order is trimesh's)
    np.testing.assert_allclose(look.vertex_normal[~moved], np.tile([0, 0.6, 0.8], (4, 1)),
                               atol=1e-6)
    np.testing.assert_allclose(look.vertex_normal[moved], np.tile([0, 0, 1], (4, 1)), atol=1e-6)
    assert look.tangent is None


def test_skinned_normals_follow_the_frame0_pose(tmp_path: Path) -> None:
    builder = _Builder()
    joints = np.zeros((4, 4), np.uint8)
    weights = np.tile(np.array([1, 0, 0, 0], np.float32), (4, 1))
    normals = np.tile([1.0, 0.0, 0.0], (4, 1))
    builder.quad(normals, np.tile([0.0, 1.0, 0.0, 1.0], (4, 1)),
                 extra={"JOINTS_0": joints, "WEIGHTS_0": weights})
    quarter = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]  # 90 degrees about Z
    builder.tree["nodes"] = [{"mesh": 0, "skin": 0}, {"rotation": quarter}]
    builder.tree["skins"] = [{"joints": [1]}]
    look = _look(builder.write(tmp_path / "skinned.gltf", roots=[0, 1]))
    np.testing.assert_allclose(look.vertex_normal, np.tile([0, 1, 0], (4, 1)), atol=1e-6)
    np.testing.assert_allclose(look.tangent, np.tile([-1, 0, 0, 1], (4, 1)), atol=1e-6)


def test_obj_vn_and_mtl_emission(tmp_path: Path) -> None:
    (tmp_path / "m.mtl").write_text("newmtl lit\nKd 0.5 0.5 0.5\nKe 0.1 0.2 0.3\n")
    (tmp_path / "m.obj").write_text(
        "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0.6 0.8\nvn 0 0 1\nvn 0.6 0 0.8\n"
        "usemtl lit\nf 1//1 2//2 3//3\n")
    look = _look(tmp_path / "m.obj")
    np.testing.assert_allclose(look.materials[0].emissive_factor, [0.1, 0.2, 0.3], atol=1e-6)
    assert look.vertex_normal is not None
    # trimesh may reorder OBJ vertices: compare the normal found at each position
    mesh = load(tmp_path / "m.obj", appearance=True)
    by_position = {tuple(np.round(v, 3)): n for v, n in
                   zip(mesh.vertices, mesh.metadata["meshprep_appearance"].vertex_normal,
                       strict=True)}
    np.testing.assert_allclose(by_position[(1.0, 0.0, 0.0)], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(by_position[(0.0, 1.0, 0.0)], [0.6, 0, 0.8], atol=1e-6)


def test_ply_normals(tmp_path: Path) -> None:
    rows = ["0 0 0 0 0 1", "1 0 0 0 0.6 0.8", "0 1 0 0.6 0 0.8"]
    (tmp_path / "n.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nproperty float nx\nproperty float ny\nproperty float nz\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
        + "\n".join(rows) + "\n3 0 1 2\n")
    look = _look(tmp_path / "n.ply")
    np.testing.assert_allclose(look.vertex_normal, [[0, 0, 1], [0, 0.6, 0.8], [0.6, 0, 0.8]],
                               atol=1e-6)


def test_stl_has_no_declared_normals(tmp_path: Path) -> None:
    (tmp_path / "t.stl").write_text(
        "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
        "endloop\nendfacet\nendsolid t\n")
    look = _look(tmp_path / "t.stl")
    assert look.vertex_normal is None and look.tangent is None
    assert look.materials[0].emissive_strength == 1.0


def test_mtl_normal_and_emission_maps(tmp_path: Path) -> None:
    normal = np.full((2, 2, 4), (128, 128, 255, 255), np.uint8)
    emissive = np.full((2, 2, 4), (250, 20, 20, 255), np.uint8)
    Image.fromarray(normal).save(tmp_path / "n.png")
    Image.fromarray(emissive).save(tmp_path / "e.png")
    (tmp_path / "m.mtl").write_text("newmtl a\nKd 1 1 1\nmap_Bump -bm 0.5 n.png\n"
                                    "Ke 1 1 1\nmap_Ke e.png\n")
    (tmp_path / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\n"
                                    "vt 1 0\nvt 0 1\nusemtl a\nf 1/1 2/2 3/3\n")
    material = _look(tmp_path / "m.obj").materials[0]
    np.testing.assert_array_equal(material.normal_texture, normal)
    assert material.normal_scale == 0.5
    np.testing.assert_array_equal(material.emissive_texture, emissive)
    np.testing.assert_allclose(material.emissive_factor, [1, 1, 1])


def test_mtl_missing_normal_map_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "m.mtl").write_text("newmtl a\nKd 1 1 1\nnorm missing.png\n")
    (tmp_path / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\n"
                                    "usemtl a\nf 1 2 3\n")
    assert _look(tmp_path / "m.obj").materials[0].normal_texture is None
