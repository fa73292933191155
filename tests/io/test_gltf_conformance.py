"""glTF conformance: meshprep loads the geometry a file declares (issue 27).

Every expectation comes from the file's own declarations (accessor ``min``/``max``, its numbers
read here with a reader of this module) and the glTF 2.0 rules written out in the test, never
from what meshprep produced. Two sources: small Khronos sample models shipped in
``tests/data/gltf_conformance`` (CC0, see tests/data/LICENSES.md) and files written here by
:class:`_Gltf` (sparse accessors, strips and fans, morph weights, Draco / meshopt / quantized
twins of a skinned, animated file, an animated textured file).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial import cKDTree

import meshprep as mp
from meshprep.io.gltf_decode import MissingPositionWarning
from tests.io.helpers import GlbBuilder
from tests.io.meshopt_encoder import encode_vertices

DATA = Path(__file__).resolve().parents[1] / "data" / "gltf_conformance"
_DTYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DRACO = "KHR_draco_mesh_compression"


class _Gltf(GlbBuilder):
    """A tiny GLB writer: one binary chunk, one buffer view per accessor or blob."""

    def __init__(self) -> None:
        super().__init__({"asset": {"version": "2.0"}, "buffers": [{}], "bufferViews": [],
                          "accessors": [], "scenes": [{"nodes": []}], "scene": 0,
                          "nodes": [], "meshes": []})

    def accessor(self, array, kind: str, component: int, **extra) -> int:
        array = np.asarray(array, dtype=_DTYPES[component])
        count = len(array) if kind != "SCALAR" else array.size
        entry = {"componentType": component, "count": count, "type": kind, **extra}
        if array.size:
            entry["bufferView"] = self.view(np.ascontiguousarray(array).tobytes())
        self.tree["accessors"].append(entry)
        return len(self.tree["accessors"]) - 1

    def placeholder(self, count: int, kind: str, component: int, **extra) -> int:
        """An accessor without data (Draco fills it; sparse substitutes into zeros)."""
        self.tree["accessors"].append({"componentType": component, "count": count,
                                       "type": kind, **extra})
        return len(self.tree["accessors"]) - 1

    def node(self, **entry) -> int:
        self.tree["nodes"].append(entry)
        self.tree["scenes"][0]["nodes"].append(len(self.tree["nodes"]) - 1)
        return len(self.tree["nodes"]) - 1

    def mesh(self, *primitives: dict, **entry) -> int:
        self.tree["meshes"].append({"primitives": list(primitives), **entry})
        return len(self.tree["meshes"]) - 1


def _declared(path: Path, index: int) -> np.ndarray:
    """Accessor ``index`` of a ``.gltf`` with data URIs, as written (sparse applied)."""
    tree = json.loads(path.read_text())
    buffers = [base64.b64decode(b["uri"].split(",", 1)[1]) for b in tree["buffers"]]

    def read(view_index: int, offset: int, dtype: str, count: int, width: int) -> np.ndarray:
        view = tree["bufferViews"][view_index]
        start = view.get("byteOffset", 0) + offset
        stride = view.get("byteStride", np.dtype(dtype).itemsize * width)
        rows = [np.frombuffer(buffers[view["buffer"]], dtype, width, start + i * stride)
                for i in range(count)]
        return np.array(rows).reshape(count, width)

    accessor = tree["accessors"][index]
    width, dtype = _WIDTHS[accessor["type"]], _DTYPES[accessor["componentType"]]
    values = (read(accessor["bufferView"], accessor.get("byteOffset", 0), dtype,
                   accessor["count"], width) if "bufferView" in accessor
              else np.zeros((accessor["count"], width), dtype))
    sparse = accessor.get("sparse")
    if sparse:
        rows = read(sparse["indices"]["bufferView"], sparse["indices"].get("byteOffset", 0),
                    _DTYPES[sparse["indices"]["componentType"]], sparse["count"], 1)
        values[rows.ravel()] = read(sparse["values"]["bufferView"],
                                    sparse["values"].get("byteOffset", 0), dtype,
                                    sparse["count"], width)
    return values.astype(np.float64)


def _box(path: Path) -> np.ndarray:
    """The POSITION accessor's declared ``[min, max]`` (the first primitive's)."""
    tree = json.loads(path.read_text())
    accessor = tree["accessors"][tree["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    return np.array([accessor["min"], accessor["max"]], np.float64)


def _normals(mesh) -> np.ndarray:
    corners = mesh.vertices[mesh.faces]
    return np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])


# ---- Khronos sample models (as shipped) ----

def test_simple_sparse_accessor_substitutes_its_rows() -> None:
    path = DATA / "SimpleSparseAccessor.gltf"
    mesh = mp.load(path)
    assert len(mesh.faces) == 36 // 3  # indices accessor: count 36
    np.testing.assert_allclose(mesh.bounds, _box(path))  # declared min/max: [0,0,0]-[6,4,0]
    np.testing.assert_allclose(mesh.vertices, _declared(path, 1))
    assert mesh.vertices[:, 1].max() == 4.0  # only the substituted rows reach y = 4


def test_simple_morph_first_keyframe_sets_the_weights() -> None:
    # the animation's first keyframe sets weights [0, 0]: the base positions (glTF 2.0, 3.11)
    path = DATA / "SimpleMorph.gltf"
    mesh = mp.load(path)
    assert len(mesh.faces) == 1
    assert mesh.metadata["meshprep_pose"]["animated"]
    np.testing.assert_allclose(mesh.vertices, _declared(path, 1), atol=1e-6)
    np.testing.assert_allclose(mesh.bounds, _box(path), atol=1e-6)


@pytest.mark.parametrize("node_weights", [None, [1.0, 0.0]])
def test_simple_morph_default_weights_without_animation(tmp_path: Path, node_weights) -> None:
    # glTF 2.0, 3.7.2.2: base + sum(w_i * target_i); node.weights override mesh.weights
    tree = json.loads((DATA / "SimpleMorph.gltf").read_text())
    del tree["animations"]
    if node_weights is not None:
        tree["nodes"][0]["weights"] = node_weights
    path = tmp_path / "SimpleMorph.gltf"
    path.write_text(json.dumps(tree))
    weights = node_weights or tree["meshes"][0]["weights"]
    assert tree["meshes"][0]["weights"] == [0.5, 0.5]
    expected = _declared(path, 1) + weights[0] * _declared(path, 2) \
        + weights[1] * _declared(path, 3)
    np.testing.assert_allclose(mp.load(path).vertices, expected, atol=1e-6)


def test_simple_skin_at_frame_0() -> None:
    # the first rotation keyframe is the identity: the declared box, skinned
    path = DATA / "SimpleSkin.gltf"
    mesh = mp.load(path)
    assert len(mesh.faces) == 24 // 3
    np.testing.assert_allclose(mesh.bounds, _box(path), atol=1e-6)
    assert mesh.metadata["meshprep_pose"]["skinned"]


# ---- sparse accessors written here ----

def test_sparse_accessor_without_buffer_view_substitutes_into_zeros(tmp_path: Path) -> None:
    gltf = _Gltf()
    rows = np.array([1, 2, 3], np.uint16)
    values = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    sparse = {"count": 3, "indices": {"bufferView": gltf.view(rows.tobytes()),
                                      "componentType": 5123},
              "values": {"bufferView": gltf.view(values.tobytes())}}
    position = gltf.placeholder(4, "VEC3", 5126, sparse=sparse)
    indices = gltf.accessor([0, 1, 2, 1, 3, 2], "SCALAR", 5125)
    gltf.node(mesh=gltf.mesh({"attributes": {"POSITION": position}, "indices": indices}))
    mesh = mp.load(gltf.write(tmp_path / "sparse.glb"))
    expected = np.zeros((4, 3))
    expected[rows] = values  # glTF 2.0, 3.6.2.3: zeros, then the substitutions
    np.testing.assert_array_equal(mesh.vertices, expected)
    assert len(mesh.faces) == 2


def test_sparse_morph_target(tmp_path: Path) -> None:
    gltf = _Gltf()
    base = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    sparse = {"count": 1, "indices": {"bufferView": gltf.view(np.uint8([2]).tobytes()),
                                      "componentType": 5121},
              "values": {"bufferView": gltf.view(np.float32([0, 0, 2]).tobytes())}}
    target = gltf.placeholder(3, "VEC3", 5126, sparse=sparse)
    primitive = {"attributes": {"POSITION": gltf.accessor(base, "VEC3", 5126)},
                 "targets": [{"POSITION": target}]}
    gltf.node(mesh=gltf.mesh(primitive, weights=[0.5]))
    mesh = mp.load(gltf.write(tmp_path / "sparse_target.glb"))
    np.testing.assert_allclose(mesh.vertices, base + [[0, 0, 0], [0, 0, 0], [0, 0, 1]])


# ---- triangle strips and fans (glTF 2.0, 3.7.2.1) ----

def _strip_vertices(count: int) -> np.ndarray:
    """A zigzag in z = 0 whose strip triangles all face +z by the spec's order."""
    return np.array([[i // 2, 1 - i % 2, 0] for i in range(count)], np.float32)


def _fan_vertices(count: int) -> np.ndarray:
    """A centre and a counter-clockwise arc in z = 0."""
    angles = np.linspace(0, np.pi, count - 1)
    arc = np.c_[np.cos(angles), np.sin(angles), np.zeros(count - 1)]
    return np.vstack([[0, 0, 0], arc]).astype(np.float32)


def _spec_triangles(mode: int, count: int) -> np.ndarray:
    """The spec's triangle list, written out: strip p_i = {v_i, v_(i+(1+i%2)), v_(i+(2-i%2))},
    fan p_i = {v_(i+1), v_(i+2), v_0}."""
    if mode == 5:
        return np.array([[i, i + (1 + i % 2), i + (2 - i % 2)] for i in range(count - 2)])
    return np.array([[i + 1, i + 2, 0] for i in range(count - 2)])


@pytest.mark.parametrize("mode", [5, 6])
@pytest.mark.parametrize("indexed", [False, True])
def test_strips_and_fans_draw_the_spec_triangles(tmp_path: Path, mode: int,
                                                 indexed: bool) -> None:
    count = 7
    vertices = (_strip_vertices if mode == 5 else _fan_vertices)(count)
    gltf = _Gltf()
    primitive: dict = {"mode": mode}
    if indexed:
        order = np.random.default_rng(0).permutation(count)  # stored shuffled, drawn in order
        stored = np.empty_like(vertices)
        stored[order] = vertices
        primitive["attributes"] = {"POSITION": gltf.accessor(stored, "VEC3", 5126)}
        primitive["indices"] = gltf.accessor(order.astype(np.uint16), "SCALAR", 5123)
    else:
        primitive["attributes"] = {"POSITION": gltf.accessor(vertices, "VEC3", 5126)}
    gltf.node(mesh=gltf.mesh(primitive))
    mesh = mp.load(gltf.write(tmp_path / f"mode{mode}.glb"))
    assert len(mesh.faces) == count - 2
    np.testing.assert_allclose(mesh.vertices[mesh.faces], vertices[_spec_triangles(mode, count)])
    assert (_normals(mesh)[:, 2] > 0).all()  # winding kept: every triangle faces +z


def test_primitive_without_position_is_skipped_with_a_named_warning(tmp_path: Path) -> None:
    gltf = _Gltf()
    triangle = gltf.accessor(np.eye(3), "VEC3", 5126)
    gltf.node(mesh=gltf.mesh({"attributes": {"NORMAL": triangle}},
                             {"attributes": {"POSITION": triangle}}))
    with pytest.warns(MissingPositionWarning, match=r"meshes\[0\]\.primitives\[0\]"):
        mesh = mp.load(gltf.write(tmp_path / "no_position.glb"))
    assert len(mesh.faces) == 1


# ---- morph weights written here ----

def _morph_file(path: Path, mesh_weights, node_weights, animated=None) -> tuple:
    gltf = _Gltf()
    base = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    targets = [np.array([[0, 0, 1]] * 3, np.float32), np.array([[2, 0, 0]] * 3, np.float32)]
    primitive = {"attributes": {"POSITION": gltf.accessor(base, "VEC3", 5126)},
                 "targets": [{"POSITION": gltf.accessor(t, "VEC3", 5126)} for t in targets]}
    mesh = gltf.mesh(primitive, weights=mesh_weights)
    gltf.node(mesh=mesh)
    gltf.node(mesh=mesh, translation=[5, 0, 0], **({"weights": node_weights}
                                                    if node_weights else {}))
    if animated is not None:
        # a cubic spline: per keyframe in-tangents, values, out-tangents (glTF 2.0, 3.11)
        output = np.array([[9, 9], animated, [9, 9], [7, 7], [0, 0], [7, 7]], np.float32)
        gltf.tree["animations"] = [{"samplers": [{
            "input": gltf.accessor(np.float32([0, 1]), "SCALAR", 5126),
            "output": gltf.accessor(output.ravel(), "SCALAR", 5126),
            "interpolation": "CUBICSPLINE"}],
            "channels": [{"sampler": 0, "target": {"node": 1, "path": "weights"}}]}]
    return gltf.write(path), base, targets


@pytest.mark.parametrize("animated", [None, [0.0, 0.25]])
def test_morph_weights_per_node(tmp_path: Path, animated) -> None:
    path, base, targets = _morph_file(tmp_path / "morph.glb", [0.5, 0.0], [1.0, 0.5], animated)
    mesh = mp.load(path)
    first = base + 0.5 * targets[0]  # node 0: the mesh's weights
    weights = animated or [1.0, 0.5]  # node 1: its own, or the first keyframe's
    second = base + weights[0] * targets[0] + weights[1] * targets[1] + [5, 0, 0]
    assert len(mesh.faces) == 2
    corners = mesh.vertices[mesh.faces].reshape(-1, 3)
    expected = np.vstack([first, second])
    assert np.allclose(np.sort(corners, axis=0), np.sort(expected, axis=0), atol=1e-6)


# ---- compressed twins of a skinned, animated file ----

_CUBE = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float32)
_CUBE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
_QUARTER_TURN_Z = [0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]


def _skinned_geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two cubes: the first bound to joint 0, the second (at x in [2, 3]) to joint 1."""
    vertices = np.vstack([_CUBE, _CUBE + [2, 0, 0]]).astype(np.float32)
    faces = np.vstack([_CUBE_FACES, _CUBE_FACES + 8]).astype(np.uint32)
    joints = np.zeros((16, 4), np.uint8)
    joints[8:, 0] = 1
    weights = np.zeros((16, 4), np.float32)
    weights[:, 0] = 1
    return vertices, faces, joints, weights


def _expected_frame0() -> np.ndarray:
    """Frame 0 by hand: joint 1 turns a quarter about z at the origin (inverse bind matrices
    are the identity), so the second cube's (x, y, z) goes to (-y, x, z)."""
    vertices = _skinned_geometry()[0].astype(np.float64)
    vertices[8:] = np.c_[-vertices[8:, 1], vertices[8:, 0], vertices[8:, 2]]
    return vertices


def _skinned_file(path: Path, codec: str) -> Path:
    vertices, faces, joints, weights = _skinned_geometry()
    gltf = _Gltf()
    attributes: dict = {}
    primitive: dict = {"attributes": attributes}
    if codec == "draco":
        import DracoPy

        stream = DracoPy.encode(vertices, faces, quantization_bits=14,
                                generic_attributes={1: joints, 2: weights})
        ids = {a["attribute_type"]: a["unique_id"] for a in DracoPy.decode(stream).attributes
               if a["attribute_type"] == 0}
        primitive["extensions"] = {_DRACO: {"bufferView": gltf.view(stream), "attributes": {
            "POSITION": ids[0], "JOINTS_0": 1, "WEIGHTS_0": 2}}}
        attributes["POSITION"] = gltf.placeholder(16, "VEC3", 5126)
        attributes["JOINTS_0"] = gltf.placeholder(16, "VEC4", 5121)
        attributes["WEIGHTS_0"] = gltf.placeholder(16, "VEC4", 5126)
        primitive["indices"] = gltf.placeholder(faces.size, "SCALAR", 5125)
        gltf.tree["extensionsUsed"] = gltf.tree["extensionsRequired"] = [_DRACO]
    else:
        if codec == "quantized":  # KHR_mesh_quantization: normalized shorts, scaled by 3
            quantized = np.round(vertices / 3 * 32767).astype(np.int16)
            attributes["POSITION"] = gltf.accessor(quantized, "VEC3", 5122, normalized=True)
            gltf.tree["extensionsUsed"] = ["KHR_mesh_quantization"]
        else:
            attributes["POSITION"] = gltf.accessor(vertices, "VEC3", 5126)
        attributes["JOINTS_0"] = gltf.accessor(joints, "VEC4", 5121)
        attributes["WEIGHTS_0"] = gltf.accessor(weights, "VEC4", 5126)
        primitive["indices"] = gltf.accessor(faces.ravel(), "SCALAR", 5125)
    if codec == "meshopt":
        _meshopt_compress(gltf, gltf.tree["accessors"][attributes["POSITION"]]["bufferView"])
    mesh = gltf.mesh(primitive)
    scale = {"scale": [3, 3, 3]} if codec == "quantized" else {}
    skinned = gltf.node(mesh=mesh, skin=0)
    first, second = gltf.node(), gltf.node()
    gltf.tree["nodes"][first]["children"] = [second]
    gltf.tree["scenes"][0]["nodes"].remove(second)
    gltf.tree["skins"] = [{"joints": [first, second]}]
    if scale:  # a skinned mesh ignores its node: the root joint scales the positions back
        gltf.tree["nodes"][first].update(scale)
    del skinned
    gltf.tree["animations"] = [{"samplers": [{
        "input": gltf.accessor(np.float32([0, 1]), "SCALAR", 5126),
        "output": gltf.accessor(np.float32([_QUARTER_TURN_Z, [0, 0, 0, 1]]), "VEC4", 5126)}],
        "channels": [{"sampler": 0, "target": {"node": second, "path": "rotation"}}]}]
    return gltf.write(path)


def _meshopt_compress(gltf: _Gltf, view_index: int) -> None:
    """Move a buffer view into an EXT_meshopt_compression stream (a fallback buffer holds
    nothing)."""
    view = gltf.tree["bufferViews"][view_index]
    start, length = view["byteOffset"], view["byteLength"]
    rows = np.frombuffer(bytes(gltf.bin[start:start + length]), np.uint8).reshape(-1, 12)
    stream = encode_vertices(rows)
    gltf.bin += b"\0" * (-len(gltf.bin) % 4)
    view["extensions"] = {"EXT_meshopt_compression": {
        "buffer": 0, "byteOffset": len(gltf.bin), "byteLength": len(stream),
        "byteStride": 12, "count": len(rows), "mode": "ATTRIBUTES"}}
    gltf.bin += stream
    gltf.tree["buffers"].append({"byteLength": length,
                                 "extensions": {"EXT_meshopt_compression": {"fallback": True}}})
    view.update(buffer=1, byteOffset=0)
    gltf.tree["extensionsUsed"] = ["EXT_meshopt_compression"]


def _corner_distance(mesh, expected_vertices: np.ndarray, expected_faces: np.ndarray) -> float:
    """Largest distance of a face corner to the nearest expected corner, both ways."""
    got = mesh.vertices[mesh.faces].reshape(-1, 3)
    want = expected_vertices[expected_faces].reshape(-1, 3)
    return max(cKDTree(want).query(got)[0].max(), cKDTree(got).query(want)[0].max())


@pytest.mark.parametrize("codec, tolerance", [("plain", 1e-6), ("draco", 2e-3),
                                              ("quantized", 1e-4), ("meshopt", 1e-6)])
def test_compressed_twins_pose_alike(tmp_path: Path, codec: str, tolerance: float) -> None:
    mesh = mp.load(_skinned_file(tmp_path / f"skinned_{codec}.glb", codec))
    faces = _skinned_geometry()[1]
    assert len(mesh.faces) == len(faces)
    assert mesh.metadata["meshprep_pose"]["skinned"]
    assert _corner_distance(mesh, _expected_frame0(), faces) < tolerance
    assert mesh.bounds[0, 0] == pytest.approx(-1.0, abs=tolerance)  # the turned cube


@pytest.mark.parametrize("quantization_bits", [0, 16])
def test_draco_normalized_positions_are_dequantized(tmp_path: Path,
                                                    quantization_bits: int) -> None:
    # the accessor declares normalized SHORTs: c / 32767 (glTF 2.0, 3.6.2.2), not c
    import DracoPy

    shorts = np.array([[0, 0, 0], [32767, 0, 0], [0, 32767, 0], [-32767, 0, 16384]], np.int16)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)
    stream = DracoPy.encode(shorts, faces, quantization_bits=quantization_bits or 16,
                            preserve_order=True)
    gltf = _Gltf()
    position = gltf.placeholder(4, "VEC3", 5122, normalized=True)
    primitive = {"attributes": {"POSITION": position},
                 "indices": gltf.placeholder(6, "SCALAR", 5125),
                 "extensions": {_DRACO: {"bufferView": gltf.view(stream),
                                         "attributes": {"POSITION": 0}}}}
    gltf.node(mesh=gltf.mesh(primitive))
    gltf.tree["extensionsUsed"] = gltf.tree["extensionsRequired"] = [_DRACO]
    mesh = mp.load(gltf.write(tmp_path / "draco_shorts.glb"))
    expected = np.maximum(shorts / 32767.0, -1.0)
    np.testing.assert_allclose(mesh.bounds, [expected.min(axis=0), expected.max(axis=0)],
                               atol=1e-3)


# ---- an animated, textured file keeps its look ----

def _png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (4, 4), color).save(out, format="PNG")
    return out.getvalue()


_QUAD = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
_QUAD_UV = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32)
_QUAD_FACES = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)


def _textured_animated(path: Path, draco: bool) -> Path:
    """A mirrored triangle with a red factor on the left, a quad with a green texture on the
    right; the right node is animated (the poser used to drop the look when its faces differed
    from trimesh's: here by the mirrored winding)."""
    gltf = _Gltf()
    quad, uv, faces = _QUAD, _QUAD_UV, _QUAD_FACES
    gltf.tree["images"] = [{"bufferView": gltf.view(_png((0, 255, 0, 255))),
                            "mimeType": "image/png"}]
    gltf.tree["textures"] = [{"source": 0}]
    gltf.tree["materials"] = [
        {"pbrMetallicRoughness": {"baseColorFactor": [1, 0, 0, 1]}},
        {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}]
    for material, x in ((0, -2.0), (1, 2.0)):
        if material == 0:  # one triangle: the two parts' face lists differ
            quad, uv, faces = quad[:3], uv[:3], faces[:1]
        else:
            quad, uv, faces = _QUAD, _QUAD_UV, _QUAD_FACES
        attributes: dict = {}
        primitive: dict = {"attributes": attributes, "material": material}
        if draco:
            import DracoPy

            stream = DracoPy.encode(quad, faces.copy(), quantization_bits=14,
                                    tex_coord=uv.astype(np.float64),
                                    tex_coord_quantization_bits=12)
            ids = {a["attribute_type"]: a["unique_id"]
                   for a in DracoPy.decode(stream).attributes}
            attributes["POSITION"] = gltf.placeholder(len(quad), "VEC3", 5126)
            attributes["TEXCOORD_0"] = gltf.placeholder(len(quad), "VEC2", 5126)
            primitive["indices"] = gltf.placeholder(faces.size, "SCALAR", 5125)
            primitive["extensions"] = {_DRACO: {"bufferView": gltf.view(stream), "attributes": {
                "POSITION": ids[0], "TEXCOORD_0": ids[3]}}}  # Draco GeometryAttribute types
            gltf.tree["extensionsUsed"] = gltf.tree["extensionsRequired"] = [_DRACO]
        else:
            attributes["POSITION"] = gltf.accessor(quad, "VEC3", 5126)
            attributes["TEXCOORD_0"] = gltf.accessor(uv, "VEC2", 5126)
            primitive["indices"] = gltf.accessor(faces.ravel(), "SCALAR", 5125)
        mirror = {"scale": [-1, 1, 1]} if material == 0 else {}  # a mirrored instance
        gltf.node(mesh=gltf.mesh(primitive), translation=[x, 0, 0], **mirror)
    gltf.tree["animations"] = [{"samplers": [{
        "input": gltf.accessor(np.float32([0, 1]), "SCALAR", 5126),
        "output": gltf.accessor(np.float32([[2, 3, 0], [2, 0, 0]]), "VEC3", 5126)}],
        "channels": [{"sampler": 0, "target": {"node": 1, "path": "translation"}}]}]
    return gltf.write(path)


@pytest.mark.parametrize("draco", [False, True])
def test_animated_textured_file_keeps_its_materials(tmp_path: Path, draco: bool) -> None:
    mesh = mp.load(_textured_animated(tmp_path / "animated.glb", draco), appearance=True)
    look = mesh.metadata["meshprep_appearance"]
    assert mesh.metadata["meshprep_pose"]["animated"]
    assert len(mesh.faces) == 3
    centres = mesh.vertices[mesh.faces].mean(axis=1)
    right = centres[:, 0] > 0
    assert (centres[right, 1] > 3).all()  # the right quad at its first keyframe (y + 3)
    assert (_normals(mesh)[:, 2] > 0).all()  # the mirrored triangle's winding reversed too
    for face in range(len(mesh.faces)):
        material = look.materials[look.face_material[face]]
        if right[face]:
            assert material.texture is not None and material.texture[0, 0, 1] == 255
        else:
            assert material.texture is None
            np.testing.assert_allclose(material.factor, [1, 0, 0, 1])
    textured = mesh.faces[right].ravel()
    np.testing.assert_allclose(np.sort(look.uv[textured], axis=0).min(axis=0), [0, 0],
                               atol=1e-3)


# ---- refusals name the element ----

def test_refusals_name_the_element(tmp_path: Path) -> None:
    from meshprep.errors import CorruptFileError, InvalidGeometryError

    gltf = _Gltf()
    sparse = {"count": 1, "indices": {"bufferView": gltf.view(np.uint8([9]).tobytes()),
                                      "componentType": 5121},
              "values": {"bufferView": gltf.view(np.float32([0, 0, 1]).tobytes())}}
    position = gltf.accessor(np.eye(3), "VEC3", 5126, sparse=sparse)
    gltf.node(mesh=gltf.mesh({"attributes": {"POSITION": position}}))
    with pytest.raises(InvalidGeometryError, match=r"accessors\[0\]\.sparse: index out of range"):
        mp.load(gltf.write(tmp_path / "sparse_out_of_range.glb"))
    del gltf.tree["accessors"][0]["sparse"]
    gltf.tree["animations"] = [{"samplers": [], "channels": [
        {"sampler": 3, "target": {"node": 0, "path": "translation"}}]}]
    with pytest.raises(CorruptFileError, match=r"animations\[0\]\.channels\[0\]: sampler 3"):
        mp.load(gltf.write(tmp_path / "no_sampler.glb"))
