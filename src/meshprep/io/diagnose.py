"""Say what is wrong with a model file a parser refused, in the file's own terms.

A parser's exception names its internals (a ``KeyError`` of ``'POSITION'``, numpy's "cannot
reshape array of size 9 into shape (30,3)"). After a failure, :func:`explain` looks at the file
itself and returns what it lacks or what is broken ("glTF accessor 0 needs 360 bytes, its buffer
view has 36"), or None when it cannot tell. :func:`ply_rows_problem` catches an ASCII PLY that
trimesh accepts with rows missing. Each check reads the file again: they run on failures only
(the row count excepted), so the happy path pays nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lxml import etree

from meshprep.errors import CorruptFileError, InvalidGeometryError, LoadError
from meshprep.io.text import decode

_NUMPY_BOUNDS = re.compile(r"index (-?\d+) is out of bounds for axis \d+ with size (\d+)")
_PLY_TYPES = {"char", "uchar", "short", "ushort", "int", "uint", "float", "double", "int8",
              "uint8", "int16", "uint16", "int32", "uint32", "float32", "float64"}
_GLTF_COMPONENTS = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_GLTF_TYPES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                              huge_tree=False)
# how much of a text file is scanned for a malformed line
_SCAN_BYTES = 64 << 20


def explain(exc: Exception, path: Path, fmt: str,
            tree: dict[str, Any] | None = None) -> LoadError | None:
    """The error to raise for a parser failure, when the file shows what is wrong.

    Parameters
    ----------
    exc : Exception
        What the parser raised.
    path : Path
        The model file.
    fmt : str
        Its extension without the dot.
    tree : dict, optional
        A glTF's JSON, when already read.

    Returns
    -------
    LoadError or None
        A one-line error naming the file, the format and, where known, the element.
    """
    check = _CHECKS.get(fmt)
    try:
        found = check(exc, path, tree) if check is not None else None
    except Exception:  # a diagnosis must never replace the error it explains
        found = None
    if found is None:
        return None
    kind, text = found
    return kind(f"{path.name}: {text}")


def fallback(exc: Exception, path: Path, fmt: str) -> LoadError:
    """The error for a failure nothing explains: the format only (the parser's own exception,
    whose text names Python internals, stays chained as ``__cause__`` for a developer)."""
    label = {"gltf": "glTF", "glb": "glTF", "dae": "COLLADA"}.get(fmt, fmt.upper())
    return CorruptFileError(f"{path.name}: cannot parse {label}: the parser failed on "
                            "malformed data that no check here names; validate the file or "
                            "re-export it")


def _ply(exc: Exception, path: Path, tree: Any) -> tuple[type, str] | None:
    data = path.read_bytes()
    end = data.find(b"end_header")
    if end < 0:
        return CorruptFileError, "PLY header has no end_header line"
    header = decode(data[:end]).splitlines()
    for line in header:
        words = line.split()
        if words[:1] == ["property"]:
            types = words[2:4] if words[1:2] == ["list"] else words[1:2]
            bad = [t for t in types if t not in _PLY_TYPES]
            if bad:
                return CorruptFileError, f"PLY property type {bad[0]!r} is not a PLY type"
    rows = ply_rows_problem(path, data)
    if rows:
        return CorruptFileError, rows
    if b"binary" in data[:end]:
        return CorruptFileError, "binary PLY is shorter or longer than its header declares"
    return _bounds(exc, "PLY face references vertex {i} of {n} (0-based)")


def ply_rows_problem(path: Path, data: bytes | None = None) -> str | None:
    """An ASCII PLY with fewer data rows than its elements declare (None: no such problem).

    Parameters
    ----------
    path : Path
        The PLY file.
    data : bytes, optional
        Its bytes, when already read.

    Returns
    -------
    str or None
        ``"PLY element 'face' has fewer rows than declared (2 of 4)"`` or None.
    """
    if data is None:
        with open(path, "rb") as f:
            head = f.read(65536)
        if b"format ascii" not in head:
            return None
        data = path.read_bytes()
    end = data.find(b"end_header")
    if end < 0 or b"format ascii" not in data[:end]:
        return None
    elements: list[tuple[str, int, list[bool]]] = []  # name, rows, which properties are lists
    for line in decode(data[:end]).splitlines():
        words = line.split()
        if words[:1] == ["element"] and len(words) >= 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"] and elements:
            elements[-1][2].append(words[1:2] == ["list"])
    start = data.find(b"\n", end) + 1
    lines = data.count(b"\n", start) + (not data.endswith(b"\n"))
    if lines >= sum(rows for _, rows, _ in elements):
        return None  # one row a line: enough rows (the cheap test every ASCII PLY takes)
    return _ply_walk(elements, data[start:].split())


def _ply_walk(elements: list[tuple[str, int, list[bool]]], tokens: list[bytes]) -> str | None:
    """Walk an ASCII PLY's values row by row; the first element that runs out of them."""
    at = 0
    for name, rows, lists in elements:
        for row in range(rows):
            for is_list in lists:
                at += 1 + (int(float(tokens[at])) if is_list and at < len(tokens) else 0)
            if at > len(tokens):
                return f"PLY element '{name}' has fewer rows than declared ({row} of {rows})"
    return None


def _obj(exc: Exception, path: Path, tree: Any) -> tuple[type, str] | None:
    bounds = _bounds(exc, "OBJ face references vertex {i1} of {n}")
    if bounds:
        return bounds
    return _malformed_line(path, ("v", "vt", "vn", "f"), "OBJ")


def _stl(exc: Exception, path: Path, tree: Any) -> tuple[type, str] | None:
    return _malformed_line(path, ("vertex", "facet"), "ASCII STL")


def _off(exc: Exception, path: Path, tree: Any) -> tuple[type, str] | None:
    lines = [line.split("#", 1)[0].split() for line in decode(path.read_bytes()).splitlines()]
    lines = [words for words in lines if words]
    if not lines or not lines[0][0].upper().endswith("OFF"):
        return CorruptFileError, "OFF file does not start with 'OFF'"
    counts = lines[0][1:] if len(lines[0]) > 1 else (lines[1] if len(lines) > 1 else [])
    if len(counts) < 2 or not all(c.isdigit() for c in counts[:2]):
        return CorruptFileError, "OFF counts line is not 'vertices faces edges' integers"
    vertices, faces = int(counts[0]), int(counts[1])
    body = len(lines) - (1 if len(lines[0]) > 1 else 2)
    if body < vertices + faces:
        return CorruptFileError, (f"OFF declares {vertices} vertices and {faces} faces, the "
                                  f"file has {body} data lines")
    return _bounds(exc, "OFF face references vertex {i} of {n} (0-based)")


def _gltf(exc: Exception, path: Path, tree: dict[str, Any] | None) -> tuple[type, str] | None:
    if tree is None:
        from meshprep.io.gltf import read_gltf_json

        tree = read_gltf_json(path)
    if not isinstance(tree.get("asset"), dict):
        return CorruptFileError, "glTF has no 'asset' object (required)"
    accessors = tree.get("accessors") or []
    for m, mesh in enumerate(tree.get("meshes") or []):
        found = _gltf_mesh(m, mesh, accessors)
        if found:
            return found
    for a, accessor in enumerate(accessors):
        found = _gltf_accessor(a, accessor, tree)
        if found:
            return found
    return None


def _gltf_mesh(m: int, mesh: Any, accessors: list) -> tuple[type, str] | None:
    primitives = mesh.get("primitives") if isinstance(mesh, dict) else None
    if not isinstance(primitives, list) or not primitives:
        return CorruptFileError, f"glTF mesh {m} has no primitives (required)"
    for p, primitive in enumerate(primitives):
        where = f"glTF mesh {m} primitive {p}"
        attributes = primitive.get("attributes") if isinstance(primitive, dict) else None
        if not isinstance(attributes, dict) or "POSITION" not in attributes:
            return CorruptFileError, f"{where} has no POSITION attribute"
        refs = [*attributes.items(), ("indices", primitive.get("indices"))]
        for name, index in refs:
            if index is not None and not (isinstance(index, int) and 0 <= index < len(accessors)):
                return (CorruptFileError, f"{where}: {name} references accessor {index}, the "
                        f"file has {len(accessors)}")
    return None


def _gltf_accessor(a: int, accessor: Any, tree: dict[str, Any]) -> tuple[type, str] | None:
    where = f"glTF accessor {a}"
    if not isinstance(accessor, dict):
        return CorruptFileError, f"{where} is not an object"
    size = _GLTF_COMPONENTS.get(accessor.get("componentType"))
    width = _GLTF_TYPES.get(accessor.get("type"))
    if size is None:
        kind = accessor.get("componentType")
        return CorruptFileError, f"{where} has unknown componentType {kind}"
    if width is None:
        return CorruptFileError, f"{where} has unknown type {accessor.get('type')}"
    count = accessor.get("count")
    if not isinstance(count, int) or count < 0:
        return CorruptFileError, f"{where} has no valid count"
    views = tree.get("bufferViews") or []
    view = accessor.get("bufferView")
    if view is None:
        return None
    if not (isinstance(view, int) and 0 <= view < len(views)):
        return CorruptFileError, f"{where} references buffer view {view}, the file has {len(views)}"
    length = views[view].get("byteLength", 0) if isinstance(views[view], dict) else 0
    stride = (views[view].get("byteStride") or size * width) if isinstance(views[view], dict) \
        else size * width
    need = accessor.get("byteOffset", 0) + (count - 1) * stride + size * width if count else 0
    if need > length:
        return (CorruptFileError, f"{where} needs {need} bytes, its buffer view {view} has "
                f"{length}")
    return _gltf_buffer(view, views[view], tree)


def _gltf_buffer(v: int, view: dict, tree: dict[str, Any]) -> tuple[type, str] | None:
    buffers = tree.get("buffers") or []
    index = view.get("buffer")
    if not (isinstance(index, int) and 0 <= index < len(buffers)):
        return CorruptFileError, f"glTF buffer view {v} references buffer {index}, the file has " \
            f"{len(buffers)}"
    end = view.get("byteOffset", 0) + view.get("byteLength", 0)
    declared = buffers[index].get("byteLength", 0) if isinstance(buffers[index], dict) else 0
    if end > declared:
        return (CorruptFileError, f"glTF buffer view {v} ends at byte {end}, past its buffer "
                f"{index} ({declared} bytes)")
    return CorruptFileError, f"glTF buffer {index} holds fewer bytes than its views read"


def _dae(exc: Exception, path: Path, tree: Any) -> tuple[type, str] | None:
    try:
        root = etree.fromstring(path.read_bytes(), _XML_PARSER)
    except etree.XMLSyntaxError as error:
        return CorruptFileError, f"COLLADA XML is not well-formed (line {error.lineno})"
    return dae_reference_problem(root)


def dae_reference_problem(root: etree._Element) -> tuple[type, str] | None:
    """The first ``#id`` reference (url, source, target) that names no element, if any."""
    ids = {element.get("id") for element in root.iter() if element.get("id")}
    for element in root.iter():
        for key in ("url", "source", "target"):
            value = element.get(key)
            if value and value.startswith("#") and value[1:] not in ids:
                tag = etree.QName(element).localname
                return (CorruptFileError, f"COLLADA <{tag}> references {value}, which no "
                        "element of the file defines")
    return None


def dae_problem(path: Path) -> str | None:
    """Why a COLLADA file that parsed gave no triangles, when a broken reference explains it."""
    try:
        found = dae_reference_problem(etree.fromstring(path.read_bytes(), _XML_PARSER))
    except Exception:
        return None
    return None if found is None else found[1]


def _bounds(exc: Exception, template: str) -> tuple[type, str] | None:
    """numpy's out-of-bounds text as the format's own sentence ({i}: 0-based, {i1}: 1-based)."""
    found = _NUMPY_BOUNDS.search(str(exc))
    if found is None:
        return None
    index, size = int(found.group(1)), int(found.group(2))
    return InvalidGeometryError, template.format(i=index, i1=index + 1, n=size)


def _malformed_line(path: Path, keywords: tuple[str, ...], label: str
                    ) -> tuple[type, str] | None:
    """The first line whose keyword is followed by something that is not a number."""
    with open(path, "rb") as f:
        text = decode(f.read(_SCAN_BYTES))
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0] not in keywords or (words[0] == "facet" and len(words) < 2):
            continue
        values = words[2:] if words[0] == "facet" else words[1:]
        for value in values:
            head = value.split("/")[0] if words[0] == "f" else value
            try:
                float(head) if head else None
            except ValueError:
                return (CorruptFileError, f"{label} line {number}: {line.strip()[:60]!r} has a "
                        "value that is not a number")
    return None


_CHECKS = {"ply": _ply, "obj": _obj, "stl": _stl, "off": _off, "gltf": _gltf, "glb": _gltf,
           "dae": _dae}


def empty_reason(path: Path, ext: str) -> str | None:
    """Why a file that parsed holds no triangles, when the file shows a defect.

    Parameters
    ----------
    path : Path
        The model file.
    ext : str
        Its lower-case extension.

    Returns
    -------
    str or None
        A glTF primitive without POSITION, a COLLADA reference to nothing, an ASCII STL cut
        inside a facet; None when nothing is broken (the file really has no triangles).
    """
    try:
        if ext in (".gltf", ".glb"):
            found = _gltf(ValueError(), path, None)
            return None if found is None else found[1]
        if ext == ".dae":
            return dae_problem(path)
        if ext == ".stl":
            with open(path, "rb") as f:
                head = f.read(_SCAN_BYTES)
            if b"vertex" in head and b"endsolid" not in head[-4096:]:
                return "ASCII STL ends inside a facet (truncated: no 'endsolid')"
    except Exception:
        return None
    return None
