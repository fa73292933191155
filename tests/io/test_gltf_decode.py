"""glTF from the wild: KHR_mesh_quantization, KHR_draco_mesh_compression,
EXT_/KHR_meshopt_compression, KHR_texture_transform, KHR_texture_basisu.

The compressed fixtures were written by glTF-Transform 4.5.1 (see tests/data/LICENSES.md for the
commands); each is compared with the uncompressed file it was made from.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from meshprep.errors import CorruptFileError
from meshprep.io import basisu, gltf_decode, load
from meshprep.io.basisu import KTX2TextureWarning
from meshprep.io.gltf_decode import TextureTransformWarning, uv_matrix
from tests.io.meshopt_encoder import encode_vertices

# glTF-Transform's defaults: 14-bit positions, 12-bit texture coordinates (quantize and draco)
POSITION_BITS, TEXCOORD_BITS = 14, 12


def _look(mesh: trimesh.Trimesh):
    return mesh.metadata["meshprep_appearance"]


def _step(mesh: trimesh.Trimesh, bits: int) -> float:
    """One quantization step of the largest bounding-box side."""
    return float(np.ptp(mesh.vertices, axis=0).max()) / (2**bits - 1)


def test_quantized_box_is_not_32767_times_too_large(data_dir: Path) -> None:
    plain = load(data_dir / "box_textured.glb")
    quantized = load(data_dir / "box_textured_quantized.glb")
    assert len(quantized.faces) == len(plain.faces)
    np.testing.assert_allclose(quantized.bounds, plain.bounds, atol=_step(plain, POSITION_BITS))


def test_trimesh_alone_misreads_the_quantized_box(data_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the bug this module fixes: without the rewrite the normalized SHORTs are read raw
    monkeypatch.setattr(gltf_decode, "decoded_glb", lambda *args: None)
    raw = load(data_dir / "box_textured_quantized.glb")
    assert np.ptp(raw.vertices, axis=0).max() > 1000


def test_quantized_flag_positions_and_uvs_within_one_step(data_dir: Path) -> None:
    # positions, normals, tangents and (with a texture transform) UVs are all normalized integers
    plain = load(data_dir / "kenney_flag_textured.glb", appearance=True)
    quantized = load(data_dir / "kenney_flag_quantized.glb", appearance=True)
    np.testing.assert_array_equal(quantized.faces, plain.faces)
    error = np.abs(quantized.vertices - plain.vertices).max()
    assert error <= _step(plain, POSITION_BITS)
    uv_error = np.abs(_look(quantized).uv - _look(plain).uv).max()
    assert uv_error <= 1.0 / (2**TEXCOORD_BITS - 1)
    assert _look(quantized).textured


def _corners(mesh: trimesh.Trimesh) -> np.ndarray:
    """(3F, 5) position and UV of every face corner."""
    corners = mesh.faces.reshape(-1)
    return np.column_stack([mesh.vertices[corners], _look(mesh).uv[corners]])


@pytest.mark.parametrize("codec", ["draco", "meshopt"])
@pytest.mark.parametrize("name", ["box_textured", "kenney_flag"])
def test_compressed_matches_uncompressed(data_dir: Path, name: str, codec: str) -> None:
    # Draco welds and reorders vertices; glTF-Transform's meshopt writes TRIANGLES (0xe1)
    # indices, version 0 ATTRIBUTES, OCTAHEDRAL 8-bit normals (and tangents in the flag),
    # quantized positions and UVs without a filter. Either way: match each face corner
    # (position and UV) with the nearest corner of the original, allowing one quantization
    # step of each
    original = {"box_textured": "box_textured.glb", "kenney_flag": "kenney_flag_textured.glb"}
    plain = load(data_dir / original[name], appearance=True)
    compressed = load(data_dir / f"{name}_{codec}.glb", appearance=True)
    assert len(compressed.faces) == len(plain.faces)
    ref = _corners(plain)
    uv_step = float(np.ptp(ref[:, 3:], axis=0).max()) / (2**TEXCOORD_BITS - 1)
    distance, _ = cKDTree(ref).query(_corners(compressed))
    assert distance.max() <= math.hypot(_step(plain, POSITION_BITS), uv_step)
    assert _look(compressed).textured


def _meshopt_variant(data_dir: Path, target: Path, edit) -> Path:
    tree, binary = _glb_parts(data_dir / "kenney_flag_meshopt.glb")
    edit(tree)
    _write_glb(target, tree, binary)
    return target


def test_khr_meshopt_name_loads_alike(data_dir: Path, tmp_path: Path) -> None:
    def rename(tree: dict) -> None:
        text = json.dumps(tree).replace("EXT_meshopt_compression", "KHR_meshopt_compression")
        tree.clear()
        tree.update(json.loads(text))

    khr = load(_meshopt_variant(data_dir, tmp_path / "khr.glb", rename))
    ext = load(data_dir / "kenney_flag_meshopt.glb")
    np.testing.assert_array_equal(khr.vertices, ext.vertices)
    np.testing.assert_array_equal(khr.faces, ext.faces)


def test_meshopt_short_stream_is_corrupt(data_dir: Path, tmp_path: Path) -> None:
    def shorten(tree: dict) -> None:
        tree["bufferViews"][4]["extensions"]["EXT_meshopt_compression"]["byteLength"] -= 5

    with pytest.raises(CorruptFileError, match=r"bufferViews\[4\].*does not decode") as info:
        load(_meshopt_variant(data_dir, tmp_path / "short.glb", shorten))
    assert "\n" not in str(info.value)


def test_uncompressed_view_into_fallback_buffer_is_corrupt(data_dir: Path,
                                                           tmp_path: Path) -> None:
    def strip(tree: dict) -> None:
        tree["bufferViews"][5].pop("extensions")

    with pytest.raises(CorruptFileError, match="fallback"):
        load(_meshopt_variant(data_dir, tmp_path / "fallback.glb", strip))


def test_meshopt_animation_is_posed(data_dir: Path, tmp_path: Path) -> None:
    # the frame-0 poser reads sampler accessors itself: here both are meshopt-compressed
    tree, binary = _glb_parts(data_dir / "kenney_flag_meshopt.glb")
    binary = bytearray(binary[:tree["buffers"][0]["byteLength"]])
    fallback = tree["buffers"][1]
    for values in (np.zeros((1, 1)), np.array([[0.0, 5.0, 0.0]])):
        rows = values.astype(np.float32).view(np.uint8).reshape(1, -1)
        stream = encode_vertices(rows)
        binary += b"\0" * (-len(binary) % 4)
        extension = {"buffer": 0, "byteOffset": len(binary), "byteLength": len(stream),
                     "byteStride": rows.shape[1], "count": 1, "mode": "ATTRIBUTES"}
        binary += stream
        tree["bufferViews"].append({"buffer": 1, "byteOffset": fallback["byteLength"],
                                    "byteLength": rows.shape[1],
                                    "extensions": {"EXT_meshopt_compression": extension}})
        fallback["byteLength"] += rows.shape[1]
        tree["accessors"].append({"bufferView": len(tree["bufferViews"]) - 1, "count": 1,
                                  "componentType": 5126,
                                  "type": "SCALAR" if values.shape[1] == 1 else "VEC3"})
    tree["buffers"][0]["byteLength"] = len(binary)
    count = len(tree["accessors"])
    tree["animations"] = [{"samplers": [{"input": count - 2, "output": count - 1}],
                           "channels": [{"sampler": 0,
                                         "target": {"node": 0, "path": "translation"}}]}]
    _write_glb(tmp_path / "animated.glb", tree, bytes(binary))
    rest = load(data_dir / "kenney_flag_meshopt.glb")
    posed = load(tmp_path / "animated.glb")
    assert posed.metadata["meshprep_pose"]["animated"]
    shift = np.array([0.0, 5.0, 0.0]) - tree["nodes"][0]["translation"]
    np.testing.assert_allclose(posed.vertices - rest.vertices,
                               np.tile(shift, (len(rest.vertices), 1)), atol=1e-5)


def test_plain_files_are_not_rewritten(data_dir: Path) -> None:
    from meshprep.io.gltf import read_gltf_json

    path = data_dir / "box_textured.glb"
    assert gltf_decode.decoded_glb(path, read_gltf_json(path)) is None


def test_uv_matrix_order_is_translate_rotate_scale() -> None:
    matrix = uv_matrix((0.5, 0.25), math.pi / 2, (2.0, 3.0))
    # KHR_texture_transform: R = [[cos, sin], [-sin, cos]], applied after the scale
    u, v = 0.1, 0.2
    expected = (3.0 * v + 0.5, -2.0 * u + 0.25)
    np.testing.assert_allclose((matrix @ [u, v, 1.0])[:2], expected, atol=1e-12)


def _glb_parts(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    json_length = struct.unpack_from("<I", data, 12)[0]
    tree = json.loads(data[20:20 + json_length])
    binary = data[20 + json_length + 8:]
    return tree, binary


def _write_glb(path: Path, tree: dict, binary: bytes) -> None:
    text = json.dumps(tree).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, total)
                     + struct.pack("<II", len(text), 0x4E4F534A) + text
                     + struct.pack("<II", len(binary), 0x004E4942) + binary)


def _with_transform(source: Path, target: Path, transform: dict, mr: dict | None = None) -> None:
    tree, binary = _glb_parts(source)
    for material in tree["materials"]:
        pbr = material.setdefault("pbrMetallicRoughness", {})
        pbr["baseColorTexture"].setdefault("extensions", {})["KHR_texture_transform"] = transform
        if mr is not None:
            pbr["metallicRoughnessTexture"] = {"index": pbr["baseColorTexture"]["index"],
                                               "extensions": {"KHR_texture_transform": mr}}
    tree.setdefault("extensionsUsed", []).append("KHR_texture_transform")
    _write_glb(target, tree, binary)


def test_texture_transform_is_baked_into_uvs(data_dir: Path, tmp_path: Path) -> None:
    transform = {"offset": [0.5, 0.25], "rotation": math.pi / 2, "scale": [2.0, 3.0]}
    _with_transform(data_dir / "box_textured.glb", tmp_path / "moved.glb", transform)
    plain = _look(load(data_dir / "box_textured.glb", appearance=True)).uv
    moved = _look(load(tmp_path / "moved.glb", appearance=True)).uv
    # loaded UVs have trimesh's bottom-left origin: v_gltf = 1 - v
    u, v = plain[:, 0], 1.0 - plain[:, 1]
    expected = np.column_stack([3.0 * v + 0.5, 1.0 - (-2.0 * u + 0.25)])
    np.testing.assert_allclose(moved, expected, atol=1e-5)


def test_texture_transform_texcoord_override(data_dir: Path, tmp_path: Path) -> None:
    # texCoord 1 does not exist in the box: the UVs stay as they are rather than failing
    _with_transform(data_dir / "box_textured.glb", tmp_path / "t1.glb",
                    {"texCoord": 1, "scale": [2.0, 2.0]})
    plain = _look(load(data_dir / "box_textured.glb", appearance=True)).uv
    np.testing.assert_allclose(_look(load(tmp_path / "t1.glb", appearance=True)).uv, plain)


def test_differing_metallic_roughness_transform_warns(data_dir: Path, tmp_path: Path) -> None:
    _with_transform(data_dir / "box_textured.glb", tmp_path / "mr.glb",
                    {"scale": [2.0, 2.0]}, mr={"scale": [4.0, 4.0]})
    with pytest.warns(TextureTransformWarning, match="metallic-roughness"):
        load(tmp_path / "mr.glb", appearance=True)


# --- KHR_texture_basisu: box_textured_{etc1s,uastc}.glb, KTX2 only (tests/data/LICENSES.md) ---


def _texture_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a[..., :3].astype(np.float64) - b[..., :3]) ** 2))
    return 10 * math.log10(255.0**2 / mse)


@pytest.mark.skipif(not basisu.decoder_available(), reason="alktx2 (the ktx2 extra) not installed")
@pytest.mark.parametrize("codec", ["etc1s", "uastc"])
def test_ktx2_base_colour_is_decoded(data_dir: Path, codec: str) -> None:
    plain = load(data_dir / "box_textured.glb", appearance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", KTX2TextureWarning)
        ktx2 = load(data_dir / f"box_textured_{codec}.glb", appearance=True)
    np.testing.assert_array_equal(ktx2.faces, plain.faces)
    assert _look(ktx2).textured
    reference, decoded = _look(plain).materials[0].texture, _look(ktx2).materials[0].texture
    assert decoded.shape == reference.shape
    # ETC1S measured 33.9 dB, UASTC 37.8 dB against the PNG it was encoded from (not flipped)
    assert _texture_psnr(decoded, reference) >= 30.0


def test_ktx2_without_decoder_warns_and_keeps_geometry(data_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basisu, "decoder_available", lambda: False)
    plain = load(data_dir / "box_textured.glb", appearance=True)
    with pytest.warns(KTX2TextureWarning, match="no KTX2 decoder"):
        ktx2 = load(data_dir / "box_textured_etc1s.glb", appearance=True)
    np.testing.assert_array_equal(ktx2.faces, plain.faces)
    np.testing.assert_allclose(ktx2.vertices, plain.vertices)
    np.testing.assert_allclose(_look(ktx2).uv, _look(plain).uv)  # UVs kept for a later decode
    assert not _look(ktx2).textured
    np.testing.assert_allclose(_look(ktx2).materials[0].factor, _look(plain).materials[0].factor)


def test_broken_ktx2_warns_and_keeps_geometry(data_dir: Path, tmp_path: Path) -> None:
    tree, binary = _glb_parts(data_dir / "box_textured_etc1s.glb")
    view = tree["bufferViews"][tree["images"][0]["bufferView"]]
    start, end = view["byteOffset"], view["byteOffset"] + view["byteLength"]
    binary = binary[:start + 20] + bytes(end - start - 20) + binary[end:]  # KTX2 magic kept
    _write_glb(tmp_path / "broken.glb", tree, binary)
    with pytest.warns(KTX2TextureWarning, match="KTX2"):
        broken = load(tmp_path / "broken.glb", appearance=True)
    assert len(broken.faces) == 12 and not _look(broken).textured


def test_ktx2_geometry_only_load_is_silent(data_dir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", KTX2TextureWarning)
        mesh = load(data_dir / "box_textured_etc1s.glb")
    assert len(mesh.faces) == 12
