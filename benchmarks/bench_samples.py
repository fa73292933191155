"""Sweep a folder of public sample files: does ``meshprep.load`` give what each file declares?

Usage::

    .venv/bin/python benchmarks/bench_samples.py FOLDER [FOLDER ...] [--only SUBSTRING]
        [--timeout 60] [--quiet]

Every model file under the folders is loaded with :func:`meshprep.load`; the result is compared
with an expectation computed here from the file's own declarations, never from meshprep:

* glTF / GLB: per primitive instance of the default scene (every root node when there is no
  scene), triangles from the mode and the index (or POSITION) accessor count: TRIANGLES
  ``count // 3``, TRIANGLE_STRIP / TRIANGLE_FAN ``count - 2``, POINTS / LINES none. The box is
  each POSITION accessor's ``min`` / ``max`` corners moved by the node's world matrix; it is not
  checked when the file has animations, skins or non-zero morph weights, and only containment is
  checked under a rotation (the corner box is then larger than the vertices' box).
* OBJ / OFF / PLY / STL: triangles of a fan over each declared face, counted from the file.
* other formats (DAE, 3MF): loaded, not compared.

A glTF-Validator sample with a ``.report.json`` beside it counts as invalid when the report
has errors; elsewhere a file whose name says ``invalid`` / ``broken`` / ``error`` does.

Status per file: ``ok``; ``SILENT-MISMATCH`` (loaded, but faces or box differ); ``refused``
(a one-line ``LoadError``; ``REFUSED-VALID`` when the file is valid); ``INTERNAL`` (the message
names a Python internal, or an exception that is not a ``LoadError`` escaped); ``loaded``
(unchecked formats); ``TIMEOUT``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import signal
import struct
import sys
import time
import urllib.parse
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import meshprep as mp
from meshprep.errors import LoadError

MODEL_EXTENSIONS = {".gltf", ".glb", ".obj", ".ply", ".stl", ".off", ".dae", ".3mf"}
_INTERNAL = re.compile(
    r"local variable|has no attribute|NoneType|not subscriptable|unhashable|reshape|"
    r"Traceback|AssertionError|KeyError|IndexError|TypeError|ValueError|list index|"
    r"index \d+ is out of bounds|unsupported operand|could not broadcast|positional argument|"
    r"setting an array element|object is not|^\S+: '[^']*'$|invalid literal|cannot unpack|"
    r"\(\w+Error\)|operands could not|broadcast"
)
_INVALID_NAME = re.compile(r"invalid|broken|error|corrupt|wrong|bad|fail", re.IGNORECASE)
_COUNTS = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_NORMALIZED = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}
_BOX_TOLERANCE = 1e-3
_COMPRESSION = {"EXT_meshopt_compression", "KHR_meshopt_compression", "KHR_mesh_quantization"}


@dataclass
class Expected:
    """What a file declares: its triangle count and, when checkable, its box."""

    faces: int | None
    box: np.ndarray | None = None
    rotated: bool = False
    note: str = ""


@dataclass
class Row:
    """One line of the table."""

    file: str
    expected: int | None
    got: int | None
    box_error: float | None
    status: str
    message: str = ""


# ---------------------------------------------------------------------------- glTF expectation


def gltf_json(path: Path) -> dict[str, Any]:
    """Return the JSON tree of a .gltf or .glb file."""
    data = path.read_bytes()
    if data[:4] == b"glTF":
        length, kind = struct.unpack_from("<I4s", data, 12)
        if kind != b"JSON":
            raise ValueError("first GLB chunk is not JSON")
        data = data[20:20 + length]
    return json.loads(data.decode("utf-8-sig"))


def node_matrix(node: dict[str, Any]) -> np.ndarray:
    """A node's local 4x4 matrix from ``matrix`` or translation / rotation / scale."""
    if "matrix" in node:
        return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
    x, y, z, w = node.get("rotation", [0.0, 0.0, 0.0, 1.0])
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * np.asarray(node.get("scale", [1.0, 1.0, 1.0]))
    matrix[:3, 3] = node.get("translation", [0.0, 0.0, 0.0])
    return matrix


def scene_instances(tree: dict[str, Any]) -> list[tuple[int, np.ndarray]]:
    """(mesh index, world matrix) of every mesh instance of the scene meshprep should load."""
    nodes = tree.get("nodes", [])
    scenes = tree.get("scenes", [])
    if scenes:
        roots = scenes[tree.get("scene", 0)].get("nodes", [])
    elif not nodes:  # no node graph at all: every mesh once, where it is
        return [(m, np.eye(4)) for m in range(len(tree.get("meshes", [])))]
    else:
        children = {c for n in nodes for c in n.get("children", [])}
        roots = [i for i in range(len(nodes)) if i not in children]
    found: list[tuple[int, np.ndarray]] = []
    stack = [(r, np.eye(4)) for r in roots]
    seen: set[int] = set()
    while stack:
        index, parent = stack.pop()
        if index in seen:
            raise ValueError(f"node {index} is reached twice (a cycle or two parents)")
        seen.add(index)
        node = nodes[index]
        world = parent @ node_matrix(node)
        if "mesh" in node:
            found.append((node["mesh"], world))
        stack.extend((c, world) for c in node.get("children", []))
    return found


def primitive_triangles(tree: dict[str, Any], primitive: dict[str, Any]) -> int:
    """Triangles a primitive declares (its mode and its index or POSITION count)."""
    mode = primitive.get("mode", 4)
    if mode not in (4, 5, 6) or "POSITION" not in primitive.get("attributes", {}):
        return 0
    key = primitive["indices"] if "indices" in primitive else primitive["attributes"]["POSITION"]
    count = tree["accessors"][key]["count"]
    return count // 3 if mode == 4 else max(count - 2, 0)


def _position_box(tree: dict[str, Any], primitive: dict[str, Any]) -> np.ndarray | None:
    accessor = tree["accessors"][primitive["attributes"]["POSITION"]]
    if "min" not in accessor or "max" not in accessor:
        return None
    if "bufferView" not in accessor and "sparse" not in accessor and not _draco(primitive):
        return None  # all zeros (glTF 2.0, 3.6.2.3): the declared bounds describe nothing
    box = np.array([accessor["min"], accessor["max"]], dtype=np.float64)
    if accessor.get("normalized") and accessor.get("componentType") in _NORMALIZED:
        box = np.maximum(box / _NORMALIZED[accessor["componentType"]], -1.0)
    return box


def _draco(primitive: dict[str, Any]) -> bool:
    return "KHR_draco_mesh_compression" in primitive.get("extensions", {})


def _check_buffers(path: Path, tree: dict[str, Any]) -> None:
    """Raise when a buffer's data is nowhere (a .gltf buffer without ``uri``)."""
    glb = path.suffix.lower() == ".glb"
    for i, buffer in enumerate(tree.get("buffers", [])):
        if "uri" not in buffer and not (glb and i == 0):
            raise ValueError(f"buffers[{i}] has no data")


def _buffer_bytes(path: Path, tree: dict[str, Any], index: int) -> bytes:
    """A buffer's bytes: a data URI, a file beside the model or the GLB binary chunk."""
    uri = tree["buffers"][index].get("uri")
    if uri is None:
        data = path.read_bytes()
        json_length = struct.unpack_from("<I", data, 12)[0]
        start = 20 + json_length
        return data[start + 8:start + 8 + struct.unpack_from("<I", data, start)[0]]
    if uri.startswith("data:"):
        return base64.b64decode(uri.split(",", 1)[1])
    return (path.parent / urllib.parse.unquote(uri)).read_bytes()


def bounds_disagree(path: Path, tree: dict[str, Any], primitive: dict[str, Any]) -> bool:
    """Whether a plain float32 POSITION accessor's data lies outside its declared min / max
    (the file is then wrong, not the loader). Read here with numpy, independently."""
    accessor = tree["accessors"][primitive["attributes"]["POSITION"]]
    if accessor.get("componentType") != 5126 or "sparse" in accessor or _draco(primitive) \
            or "bufferView" not in accessor or _COMPRESSION & set(tree.get("extensionsUsed", [])):
        return False
    view = tree["bufferViews"][accessor["bufferView"]]
    data = _buffer_bytes(path, tree, view["buffer"])
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    stride, count = view.get("byteStride", 12), accessor["count"]
    rows = np.array([np.frombuffer(data, "<f4", 3, start + i * stride) for i in range(count)])
    if not len(rows):
        return False
    scale = max(float(np.abs(rows).max()), 1.0) * 1e-4
    return bool((rows.min(axis=0) < np.asarray(accessor["min"]) - scale).any()
                or (rows.max(axis=0) > np.asarray(accessor["max"]) + scale).any())


def _moved_box(box: np.ndarray, world: np.ndarray) -> np.ndarray:
    corners = np.array([[box[i][0], box[j][1], box[k][2]]
                        for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    moved = corners @ world[:3, :3].T + world[:3, 3]
    return np.array([moved.min(axis=0), moved.max(axis=0)])


def _is_posed(tree: dict[str, Any]) -> bool:
    """Whether frame 0 may differ from the rest pose (animations, skins, morph weights)."""
    if tree.get("animations") or tree.get("skins"):
        return True
    weights = [w for m in tree.get("meshes", []) for w in m.get("weights", [])]
    weights += [w for n in tree.get("nodes", []) for w in n.get("weights", [])]
    return any(w != 0 for w in weights)


def _axis_aligned(world: np.ndarray) -> bool:
    linear = world[:3, :3]
    return int((np.abs(linear) > 1e-9).sum()) == 3 and bool((np.abs(linear) > 1e-9).any(0).all())


def gltf_expected(path: Path) -> Expected:
    """Triangles and box a glTF declares for its default scene."""
    tree = gltf_json(path)
    _check_buffers(path, tree)
    meshes = tree.get("meshes", [])
    faces, boxes, rotated, box_ok = 0, [], False, not _is_posed(tree)
    for mesh_index, world in scene_instances(tree):
        for primitive in meshes[mesh_index].get("primitives", []):
            count = primitive_triangles(tree, primitive)
            faces += count
            if not count or not box_ok:
                continue
            box = _position_box(tree, primitive)
            if box is None or bounds_disagree(path, tree, primitive):
                box_ok = False
                continue
            boxes.append(_moved_box(box, world))
            rotated = rotated or not _axis_aligned(world)
    box = None
    if box_ok and boxes:
        stacked = np.stack(boxes)
        box = np.array([stacked[:, 0].min(axis=0), stacked[:, 1].max(axis=0)])
    return Expected(faces, box, rotated, "" if box_ok else "box unchecked")


def gltf_invalid(path: Path) -> bool | None:
    """Validity from a glTF-Validator report beside the file (None: no report)."""
    report = path.with_name(path.name + ".report.json")
    if not report.exists():
        return None
    issues = json.loads(report.read_text("utf-8")).get("issues", {})
    return issues.get("numErrors", 0) > 0


# ------------------------------------------------------------------- text formats expectation


def _fan(n: int) -> int:
    return max(n - 2, 0)


def obj_expected(path: Path) -> Expected:
    """Triangles of the ``f`` lines of an OBJ (a fan per polygon), continuation lines joined."""
    data = path.read_bytes()
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"
    text = data.decode(encoding, "replace").replace("\\\n", " ")
    faces = 0
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "f":
            faces += _fan(len(parts) - 1)
    return Expected(faces)


def off_expected(path: Path) -> Expected:
    """Triangles of an OFF's face rows."""
    tokens = [ln.split("#")[0].split() for ln in path.read_text("utf-8", "replace").splitlines()]
    rows = [t for t in tokens if t]
    first = rows[0]
    head = first[1:] if first[0].upper().endswith("OFF") and len(first) > 1 else None
    if head is None:
        rows = rows[1:]
        head = rows[0]
    n_vertices, n_faces = int(head[0]), int(head[1])
    start = 1 + n_vertices
    return Expected(sum(_fan(int(r[0])) for r in rows[start:start + n_faces]))


def stl_expected(path: Path) -> Expected:
    """Facets of an ASCII or binary STL."""
    data = path.read_bytes()
    if data[:5].lower() == b"solid" and b"facet" in data[:4096]:
        return Expected(len(re.findall(rb"\bfacet\s+normal\b", data)))
    return Expected(struct.unpack_from("<I", data, 80)[0])


_PLY_TYPES = {"char": "b", "int8": "b", "uchar": "B", "uint8": "B", "short": "h", "int16": "h",
              "ushort": "H", "uint16": "H", "int": "i", "int32": "i", "uint": "I", "uint32": "I",
              "float": "f", "float32": "f", "double": "d", "float64": "d"}


def ply_expected(path: Path) -> Expected:
    """Triangles of a PLY's face lists (ASCII or binary)."""
    data = path.read_bytes()
    end = data.index(b"end_header") + len(b"end_header")
    end = data.index(b"\n", end) + 1
    header = data[:end].decode("ascii", "replace").splitlines()
    form = next(ln.split()[1] for ln in header if ln.startswith("format"))
    elements: list[tuple[str, int, list[list[str]]]] = []
    for line in header:
        words = line.split()
        if words[:1] == ["element"]:
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"]:
            elements[-1][2].append(words[1:])
    if form == "ascii":
        return Expected(_ply_ascii_faces(data[end:].split(), elements))
    order = "<" if form == "binary_little_endian" else ">"
    return Expected(_ply_binary_faces(data, end, order, elements))


def _ply_ascii_faces(tokens: list[bytes], elements: list) -> int:
    at, faces = 0, 0
    for name, count, props in elements:
        for _ in range(count):
            for prop in props:
                if prop[0] == "list":
                    n = int(float(tokens[at]))
                    if name == "face" and prop[-1] in ("vertex_indices", "vertex_index"):
                        faces += _fan(n)
                    at += 1 + n
                else:
                    at += 1
    return faces


def _ply_binary_faces(data: bytes, at: int, order: str, elements: list) -> int:
    faces = 0
    for name, count, props in elements:
        simple = all(p[0] != "list" for p in props)
        if simple:
            at += count * struct.calcsize(order + "".join(_PLY_TYPES[p[0]] for p in props))
            continue
        for _ in range(count):
            for prop in props:
                if prop[0] != "list":
                    at += struct.calcsize(_PLY_TYPES[prop[0]])
                    continue
                size_code, item = _PLY_TYPES[prop[1]], _PLY_TYPES[prop[2]]
                n = struct.unpack_from(order + size_code, data, at)[0]
                at += struct.calcsize(size_code) + n * struct.calcsize(item)
                if name == "face" and prop[-1] in ("vertex_indices", "vertex_index"):
                    faces += _fan(n)
    return faces


_EXPECTATIONS = {".gltf": gltf_expected, ".glb": gltf_expected, ".obj": obj_expected,
                 ".off": off_expected, ".stl": stl_expected, ".ply": ply_expected}


# ----------------------------------------------------------------------------------- the sweep


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Timeout()


def expected_for(path: Path) -> tuple[Expected | None, str]:
    """The file's declared expectation, or None and why it could not be computed."""
    reader = _EXPECTATIONS.get(path.suffix.lower())
    if reader is None:
        return None, "unchecked format"
    try:
        return reader(path), ""
    except Exception as exc:  # the file does not follow its own format: the loader must refuse
        return None, f"undeclared ({type(exc).__name__})"


def is_invalid(path: Path) -> bool:
    """Whether the file is a known-invalid sample (validator report, or its name says so)."""
    report = gltf_invalid(path) if path.suffix.lower() in (".gltf", ".glb") else None
    return report if report is not None else bool(_INVALID_NAME.search(path.as_posix()))


def box_error(expected: Expected, vertices: np.ndarray) -> float | None:
    """Largest corner difference over the declared box diagonal (None: not checked)."""
    if expected.box is None or not len(vertices):
        return None
    got = np.array([vertices.min(axis=0), vertices.max(axis=0)])
    scale = max(float(np.linalg.norm(expected.box[1] - expected.box[0])), 1e-12)
    if expected.rotated:  # the corner box only bounds the vertices' box
        over = np.concatenate([expected.box[0] - got[0], got[1] - expected.box[1]])
        return float(max(over.max(), 0.0)) / scale
    return float(np.abs(got - expected.box).max()) / scale


def sweep_file(path: Path, timeout: int) -> Row:
    """Load one file and compare it with its declarations."""
    expected, why = expected_for(path)
    name = path.as_posix()
    signal.alarm(timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mesh = mp.load(path)
    except _Timeout:
        return Row(name, _faces(expected), None, None, "TIMEOUT")
    except LoadError as exc:
        message = str(exc)
        internal = _INTERNAL.search(message) or "\n" in message
        valid = _valid(path, expected)
        status = "INTERNAL" if internal else "REFUSED-VALID" if valid else "refused"
        return Row(name, _faces(expected), None, None, status, message)
    except Exception as exc:
        return Row(name, _faces(expected), None, None, "INTERNAL",
                   f"{type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
    return _compare(name, expected, why, mesh)


def _faces(expected: Expected | None) -> int | None:
    return None if expected is None else expected.faces


def _valid(path: Path, expected: Expected | None) -> bool:
    return expected is not None and bool(expected.faces) and not is_invalid(path)


def _compare(name: str, expected: Expected | None, why: str, mesh) -> Row:
    got = len(mesh.faces)
    if expected is None:
        return Row(name, None, got, None, "loaded", why)
    error = box_error(expected, np.asarray(mesh.vertices))
    bad_box = error is not None and error > _BOX_TOLERANCE
    if expected.faces != got or bad_box:
        return Row(name, expected.faces, got, error, "SILENT-MISMATCH", expected.note)
    return Row(name, expected.faces, got, error, "ok", expected.note)


def model_files(folders: list[Path], only: str | None) -> list[Path]:
    """Every model file under the folders, sorted."""
    files = [p for folder in folders for p in sorted(folder.rglob("*"))
             if p.is_file() and p.suffix.lower() in MODEL_EXTENSIONS]
    return [p for p in files if only is None or only in p.as_posix()]


def print_row(row: Row, quiet: bool) -> None:
    """Print one row (nothing for an expected outcome with ``quiet``)."""
    if quiet and row.status in ("ok", "loaded", "refused"):
        return
    box = "" if row.box_error is None else f"{row.box_error:.2e}"
    expect = "" if row.expected is None else str(row.expected)
    got = "" if row.got is None else str(row.got)
    print(f"{row.status:16} {expect:>7} {got:>7} {box:>9}  {row.file}", flush=True)
    if row.message:
        print(f"{'':44}{row.message[:300]}", flush=True)


def print_totals(rows: list[Row]) -> None:
    """Print how many files ended in each status."""
    totals = Counter(row.status for row in rows)
    print(f"\n{len(rows)} files: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))


def main(argv: list[str] | None = None) -> int:
    """Sweep the folders given on the command line; exit 1 if anything is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--only", help="only paths containing this text")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per file")
    parser.add_argument("--quiet", action="store_true", help="print only the problems")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    print(f"{'status':16} {'expect':>7} {'got':>7} {'box err':>9}  file / message")
    rows = []
    for path in model_files(args.folders, args.only):
        rows.append(sweep_file(path, args.timeout))
        print_row(rows[-1], args.quiet)
    print_totals(rows)
    print(f"{time.perf_counter() - start:.0f} s")
    bad = {"SILENT-MISMATCH", "REFUSED-VALID", "INTERNAL", "TIMEOUT"}
    return int(any(row.status in bad for row in rows))


if __name__ == "__main__":
    sys.exit(main())
