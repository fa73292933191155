"""Builders of small synthetic model files for the meshprep.io tests."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

TRIANGLE = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)


def gltf_tree(buffer_uri: str, *, nodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return a glTF 2.0 tree drawing one triangle from a 36-byte buffer at ``buffer_uri``."""
    return {
        "asset": {"version": "2.0"},
        "buffers": [{"uri": buffer_uri, "byteLength": TRIANGLE.nbytes}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": TRIANGLE.nbytes}],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": 3,
                "type": "VEC3",
                "min": [0, 0, 0],
                "max": [1, 1, 0],
            }
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": nodes if nodes is not None else [{"mesh": 0}],
        "scenes": [{"nodes": [0]}],
        "scene": 0,
    }


def data_uri() -> str:
    """Return the triangle buffer as a base64 data URI."""
    payload = base64.b64encode(TRIANGLE.tobytes()).decode("ascii")
    return f"data:application/octet-stream;base64,{payload}"


def write_gltf(path: Path, tree: dict[str, Any]) -> Path:
    """Write ``tree`` as a .gltf file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tree))
    return path


def write_glb(path: Path, tree: dict[str, Any], binary: bytes = b"") -> Path:
    """Write ``tree`` (and an optional BIN chunk) as a .glb file and return its path."""
    text = json.dumps(tree).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        binary += b"\0" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks)
    return path


class GlbBuilder:
    """The packed binary buffer of a GLB being built: ``view`` appends a 4-byte aligned buffer
    view, ``write`` sets the buffer's length and writes ``tree`` with it (:func:`write_glb`).
    Subclasses add the accessors, meshes and nodes their tests need."""

    def __init__(self, tree: dict[str, Any]) -> None:
        self.bin = bytearray()
        self.tree = tree

    def view(self, data: bytes) -> int:
        """Append ``data`` as a buffer view; its index."""
        self.bin += b"\0" * (-len(self.bin) % 4)
        self.tree["bufferViews"].append({"buffer": 0, "byteOffset": len(self.bin),
                                         "byteLength": len(data)})
        self.bin += data
        return len(self.tree["bufferViews"]) - 1

    def write(self, path: Path) -> Path:
        """Write the GLB; its path."""
        self.bin += b"\0" * (-len(self.bin) % 4)
        self.tree["buffers"][0]["byteLength"] = len(self.bin)
        return write_glb(path, self.tree, bytes(self.bin))


def ascii_stl(path: Path) -> Path:
    """Write a one-facet ASCII STL."""
    path.write_text(
        "solid tri\n facet normal 0 0 1\n  outer loop\n"
        "   vertex 0 0 0\n   vertex 1 0 0\n   vertex 0 1 0\n"
        "  endloop\n endfacet\nendsolid tri\n"
    )
    return path


def binary_stl(path: Path, count: int = 2) -> Path:
    """Write a binary STL of ``count`` facets."""
    facet = struct.pack("<12fH", 0, 0, 1, *TRIANGLE.ravel(), 0)
    path.write_bytes(b"\0" * 80 + struct.pack("<I", count) + facet * count)
    return path


def ascii_ply(path: Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write an ASCII PLY (any float values, NaN included)."""
    lines = [
        "ply",
        "format ascii 1.0",
        f"element vertex {len(vertices)}",
        "property float x",
        "property float y",
        "property float z",
        f"element face {len(faces)}",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    lines += [" ".join(str(float(c)) for c in v) for v in vertices]
    lines += ["3 " + " ".join(str(int(i)) for i in f) for f in faces]
    path.write_text("\n".join(lines) + "\n")
    return path
