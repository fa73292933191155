"""What the public sample sweep (benchmarks/bench_samples.py) found meshprep loading wrong.

Sweep of the glTF-Validator's test files, assimp's test models, Magnum's glTF importer tests
and Draco's test data (issue 27). Each case is a small file written here; its expectation comes
from its own declarations and the glTF 2.0 rules, worked out in the test, never from meshprep.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

import meshprep as mp
from meshprep.errors import LoadError, NoTrianglesError

# what a refusal may never say: the text of a Python exception rather than the file's fault
_INTERNAL = ("KeyError", "UnboundLocalError", "AssertionError", "local variable", "reshape",
             "NoneType", "broadcast")


def _write(path: Path, tree: dict) -> Path:
    path.write_text(json.dumps(tree), encoding="utf-8")
    return path


def _refused(path: Path, kind: type[LoadError] = LoadError) -> str:
    """Load ``path``, expect ``kind``, and check its message names no Python internal."""
    with pytest.raises(kind) as caught:
        mp.load(path)
    message = str(caught.value)
    assert "\n" not in message and not any(word in message for word in _INTERNAL), message
    return message


@pytest.mark.parametrize("extra", [
    {"buffers": [{"byteLength": 1, "customProperty": True}]},
    {"buffers": [{"byteLength": 4, "uri": "data:application/octet-stream;base64,AAAAAA=="}],
     "bufferViews": [{"buffer": 0, "byteLength": 4}], "images": [{"bufferView": 0}]},
    {"bufferViews": []},
])
def test_gltf_without_meshes_is_no_triangles(tmp_path: Path, extra: dict) -> None:
    """Buffers, views or images alone (glTF-Validator's buffer / buffer_view / image tests):
    nothing to draw, said as such (trimesh failed with KeyError 'uri' / 'accessors')."""
    path = _write(tmp_path / "meshless.gltf", {"asset": {"version": "2.0"}, **extra})
    assert "declares no meshes" in _refused(path, NoTrianglesError)


def test_accessors_without_buffer_view_read_as_zeros(tmp_path: Path) -> None:
    """glTF 2.0, 3.6.2.3: an accessor without ``bufferView`` holds zeros. glTF-Validator's
    mesh/valid.gltf (no buffer at all; trimesh failed with UnboundLocalError): two triangles
    of six zero indices over four zero positions."""
    tree = {
        "asset": {"version": "2.0"},
        "meshes": [{"primitives": [{"attributes": {"POSITION": 1}, "indices": 0}]}],
        "accessors": [
            {"type": "SCALAR", "componentType": 5123, "count": 6},
            {"type": "VEC3", "componentType": 5126, "count": 4,
             "min": [-1, -1, -1], "max": [1, 1, 1]},
        ],
    }
    mesh = mp.load(_write(tmp_path / "zeros.gltf", tree))
    assert mesh.faces.shape == (2, 3)
    np.testing.assert_array_equal(mesh.vertices[mesh.faces.ravel()], 0.0)


def test_zero_indices_over_real_positions(tmp_path: Path) -> None:
    """Indices without ``bufferView`` (zeros) over positions read from a buffer: one
    degenerate triangle at vertex 0, the buffer's first position."""
    positions = np.float32([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    uri = "data:application/octet-stream;base64," + base64.b64encode(positions).decode()
    tree = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": 36, "uri": uri}],
        "bufferViews": [{"buffer": 0, "byteLength": 36}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 1}, "indices": 0}]}],
        "accessors": [
            {"type": "SCALAR", "componentType": 5125, "count": 3},
            {"type": "VEC3", "componentType": 5126, "count": 3, "bufferView": 0,
             "min": [1, 2, 3], "max": [7, 8, 9]},
        ],
        "nodes": [{"mesh": 0}], "scenes": [{"nodes": [0]}], "scene": 0,
    }
    mesh = mp.load(_write(tmp_path / "zero_indices.gltf", tree))
    assert mesh.faces.shape == (1, 3)
    np.testing.assert_allclose(mesh.vertices[mesh.faces[0]], [[1, 2, 3]] * 3)


@pytest.mark.parametrize("indexed", [False, True])
def test_triangles_count_not_multiple_of_three(tmp_path: Path, indexed: bool) -> None:
    """glTF-Validator's mesh/primitive_incompatible_mode.gltf: TRIANGLES over 4 vertices (or 4
    indices) draws one whole triangle; the 4th is left over (trimesh failed to reshape)."""
    positions = np.float32([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]])
    indices = np.uint32([0, 1, 2, 3])
    data = positions.tobytes() + indices.tobytes()
    uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    primitive = {"attributes": {"POSITION": 0}, **({"indices": 1} if indexed else {})}
    tree = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": len(data), "uri": uri}],
        "bufferViews": [{"buffer": 0, "byteLength": 48},
                        {"buffer": 0, "byteOffset": 48, "byteLength": 16}],
        "accessors": [
            {"type": "VEC3", "componentType": 5126, "count": 4, "bufferView": 0,
             "min": [0, 0, 0], "max": [5, 5, 5]},
            {"type": "SCALAR", "componentType": 5125, "count": 4, "bufferView": 1},
        ],
        "meshes": [{"primitives": [primitive]}],
        "nodes": [{"mesh": 0}], "scenes": [{"nodes": [0]}], "scene": 0,
    }
    mesh = mp.load(_write(tmp_path / "ragged.gltf", tree))
    assert mesh.faces.shape == (1, 3)
    np.testing.assert_allclose(mesh.vertices[mesh.faces[0]], positions[:3])


def test_empty_strided_primitive_is_skipped(tmp_path: Path) -> None:
    """Magnum's mesh-buffers.gltf: a primitive whose POSITION and NORMAL hold 0 vertices in
    strided views draws nothing, beside one that draws a triangle (trimesh failed on the
    zero-length normals, and computed a negative length for a strided count-0 accessor)."""
    positions = np.float32([[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    uri = "data:application/octet-stream;base64," + base64.b64encode(positions).decode()
    tree = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": 36, "uri": uri}],
        "bufferViews": [{"buffer": 0, "byteLength": 36},
                        {"buffer": 0, "byteOffset": 8, "byteLength": 16, "byteStride": 8}],
        "accessors": [
            {"type": "VEC3", "componentType": 5126, "count": 3, "bufferView": 0,
             "min": [0, 0, 0], "max": [1, 1, 0]},
            {"type": "VEC3", "componentType": 5123, "count": 0, "bufferView": 1,
             "normalized": True},
            {"type": "VEC3", "componentType": 5126, "count": 0, "bufferView": 0},
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}},
                                   {"attributes": {"POSITION": 1, "NORMAL": 2}}]}],
        "nodes": [{"mesh": 0}], "scenes": [{"nodes": [0]}], "scene": 0,
    }
    mesh = mp.load(_write(tmp_path / "empty.gltf", tree))
    assert mesh.faces.shape == (1, 3)
    np.testing.assert_allclose(mesh.vertices[mesh.faces[0]], positions)


def test_gltf_1_is_named(tmp_path: Path) -> None:
    """assimp's glTF (1.0) models: the version is named, not "'buffers' is not an array"
    (glTF 1.0 keeps buffers, meshes and nodes in dictionaries)."""
    tree = {"asset": {"version": "1.0"}, "buffers": {"box": {"uri": "box.bin"}},
            "meshes": {"box": {"primitives": []}}}
    message = _refused(_write(tmp_path / "v1.gltf", tree), mp.errors.UnsupportedFormatError)
    assert "glTF 1.0 (only glTF 2.0 is read)" in message
