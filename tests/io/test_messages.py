"""Every refusal is a LoadError whose one-line message names the file and says what is wrong,
never a Python internal (issue 27)."""

from __future__ import annotations

import json
import re
import struct
import sys
import zipfile
from pathlib import Path

import pytest

from meshprep.errors import LoadError
from meshprep.io import load

DATA = Path(__file__).parent.parent / "data"

# texts that name Python internals rather than what is wrong with the file
LEAKS = [
    re.compile(r"^'[^' ]+'$"),                 # a KeyError's whole text: 'POSITION'
    re.compile(r": '[^' ]+'$"),                # ... or at the end of a message
    re.compile(r"local variable"),
    re.compile(r"AssertionError"),
    re.compile(r"reshape"),
    re.compile(r"\b(KeyError|IndexError|TypeError|AttributeError|ValueError|Exception)\b"
               r"|NoneType"),
    re.compile(r"No module named"),
    re.compile(r"object is not subscriptable|has no attribute|unhashable|not iterable"),
    re.compile(r"invalid literal for int|could not convert string"),
]

TETRA = ("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n"
         "f 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
PLY_HEAD = ("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
            "property float z\nelement face 4\nproperty list uchar int vertex_indices\n"
            "end_header\n")
PLY_VERTS = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n"


def gltf(tree_changes: dict | None = None, positions: dict | None = None,
         buffer_bytes: int = 36) -> str:
    """A one-triangle glTF with an embedded buffer, broken as asked."""
    data = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)[:buffer_bytes]
    import base64

    uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    accessor = {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                "min": [0, 0, 0], "max": [1, 1, 0]}
    accessor.update(positions or {})
    tree = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": len(data), "uri": uri}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(data)}],
        "accessors": [accessor],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}],
        "scene": 0,
    }
    tree.update(tree_changes or {})
    return json.dumps(tree)


def broken_files() -> dict[str, bytes | str]:
    """File name -> contents of many ways a model file can be broken."""
    cases: dict[str, bytes | str] = {
        "truncated.ply": PLY_HEAD + PLY_VERTS + "3 0 2 1\n3 0 1",
        "rows_missing.ply": PLY_HEAD + PLY_VERTS + "3 0 2 1\n",
        "no_end_header.ply": PLY_HEAD.replace("end_header\n", "") + PLY_VERTS,
        "bad_property.ply": PLY_HEAD.replace("float x", "flaot x") + PLY_VERTS + "3 0 1 2\n" * 4,
        "binary_truncated.ply": PLY_HEAD.replace("ascii", "binary_little_endian").encode()
        + b"\x00" * 20,
        "face_past_vertices.ply": PLY_HEAD + PLY_VERTS + "3 0 1 12\n" * 4,
        "face_past_vertices.obj": TETRA + "f 1 2 12\n",
        "letters.obj": "v 0 0 0\nv 1 x 0\nv 0 1 0\nf 1 2 3\n",
        "truncated.obj": TETRA[:-9],
        "zero_index.obj": TETRA + "f 0 1 2\n",
        "truncated_binary.stl": b"\x00" * 80 + struct.pack("<I", 10) + b"\x00" * 60,
        "truncated_ascii.stl": "solid t\n facet normal 0 0 1\n  outer loop\n   vertex 0 0 0\n",
        "letters_ascii.stl": ("solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 zero\n"
                              "vertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n"),
        "short.off": "OFF\n4 4 0\n0 0 0\n1 0 0\n",
        "face_past.off": "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 9\n",
        "no_counts.off": "OFF\nhello\n",
        "not_json.gltf": "{\"asset\": {\"version\": \"2.0\"}, ",
        "no_asset.gltf": gltf({"asset": None}),
        "no_position.gltf": gltf({"meshes": [{"primitives": [{"attributes": {}}]}]}),
        "no_primitives.gltf": gltf({"meshes": [{}]}),
        "accessor_past_buffer.gltf": gltf(positions={"count": 30}),
        "short_buffer.gltf": gltf(buffer_bytes=20),
        "bad_accessor_type.gltf": gltf(positions={"type": "VEC7"}),
        "bad_component_type.gltf": gltf(positions={"componentType": 1234}),
        "missing_accessor.gltf": gltf({"meshes": [{"primitives": [{"attributes":
                                                                   {"POSITION": 5}}]}]}),
        "no_buffer_view.gltf": gltf(positions={"bufferView": 7}),
        "indices_past_vertices.gltf": gltf({"meshes": [{"primitives": [
            {"attributes": {"POSITION": 0}, "indices": 0}]}]}),
        "bad_ref.dae": ('<?xml version="1.0"?><COLLADA xmlns="http://www.collada.org/2005/11/'
                        'COLLADASchema" version="1.4.1"><library_visual_scenes><visual_scene '
                        'id="s"><node><instance_geometry url="#nothing"/></node></visual_scene>'
                        '</library_visual_scenes><scene><instance_visual_scene url="#s"/>'
                        "</scene></COLLADA>"),
        "unclosed.dae": '<?xml version="1.0"?><COLLADA><library_geometries><geometry',
        "bad_source.dae": ('<?xml version="1.0"?><COLLADA xmlns="http://www.collada.org/2005/11/'
                           'COLLADASchema" version="1.4.1"><library_geometries><geometry id="g">'
                           '<mesh><vertices id="v"><input semantic="POSITION" source="#none"/>'
                           '</vertices><triangles count="1"><input semantic="VERTEX" source="#v"'
                           ' offset="0"/><p>0 1 2</p></triangles></mesh></geometry>'
                           '</library_geometries><library_visual_scenes><visual_scene id="s">'
                           '<node><instance_geometry url="#g"/></node></visual_scene>'
                           '</library_visual_scenes><scene><instance_visual_scene url="#s"/>'
                           "</scene></COLLADA>"),
    }
    return cases


def three_mf_cases(folder: Path) -> list[Path]:
    """3MF packages with broken XML, a missing model, a bad transform, a missing vertex."""
    model_ok = ('<?xml version="1.0"?><model xmlns="http://schemas.microsoft.com/3dmanufacturing/'
                'core/2015/02"><resources><object id="1"><mesh><vertices><vertex x="0" y="0" '
                'z="0"/><vertex x="1" y="0" z="0"/><vertex x="0" y="1" z="0"/></vertices>'
                '<triangles><triangle v1="0" v2="1" v3="2"/></triangles></mesh></object>'
                '</resources><build><item objectid="1"/></build></model>')
    variants = {
        "broken_xml.3mf": {"3D/3dmodel.model": model_ok[:-30]},
        "no_model.3mf": {"3D/other.model": model_ok},
        "bad_transform.3mf": {"3D/3dmodel.model": model_ok.replace(
            '<item objectid="1"/>', '<item objectid="1" transform="1 0 0"/>')},
        "vertex_without_y.3mf": {"3D/3dmodel.model": model_ok.replace(' y="1"', "")},
        "face_past.3mf": {"3D/3dmodel.model": model_ok.replace('v3="2"', 'v3="9"')},
        "undefined_object.3mf": {"3D/3dmodel.model": model_ok.replace(
            'objectid="1"', 'objectid="4"')},
    }
    paths = []
    for name, members in variants.items():
        path = folder / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, text in members.items():
                zf.writestr(member, text)
        paths.append(path)
    return paths


def all_broken(folder: Path) -> list[Path]:
    paths = []
    for name, content in broken_files().items():
        path = folder / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
        paths.append(path)
    paths += three_mf_cases(folder)
    shipped = [p for p in sorted(DATA.iterdir()) if p.is_file()
               and p.suffix in (".ply", ".obj", ".stl", ".gltf", ".glb", ".dae", ".zip")]
    return paths + shipped + [p for p in sorted((DATA / "index_out_of_range").glob("*"))]


def refusal(path: Path) -> LoadError | None:
    try:
        load(path)
    except LoadError as exc:
        return exc
    return None


def test_every_refusal_is_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "charset_normalizer", None)
    failures = []
    refused = 0
    for path in all_broken(tmp_path):
        try:
            error = refusal(path)
        except Exception as exc:  # anything not a LoadError is a failure of the test
            failures.append(f"{path.name}: not a LoadError: {type(exc).__name__}: {exc}")
            continue
        if error is None:
            continue  # a valid shipped file, or a broken one that still yields triangles
        refused += 1
        message = str(error)
        if path.name not in message:
            failures.append(f"{path.name}: file not named: {message}")
        if "\n" in message:
            failures.append(f"{path.name}: not one line: {message!r}")
        for leak in LEAKS:
            if leak.search(message):
                failures.append(f"{path.name}: leaks {leak.pattern!r}: {message}")
    assert not failures, "\n".join(failures)
    assert refused >= 30


@pytest.mark.parametrize(("name", "expected"), [
    ("no_position.gltf", "no POSITION attribute"),
    ("face_past_vertices.obj", "OBJ face references vertex 12 of 4"),
    ("rows_missing.ply", "PLY element 'face' has fewer rows than declared"),
    ("truncated_binary.stl", "truncated binary STL"),
    ("accessor_past_buffer.gltf", "glTF accessor 0 needs 360 bytes, its buffer view 0 has 36"),
    ("short.off", "OFF declares 4 vertices and 4 faces, the file has 2 data lines"),
    ("letters.obj", "OBJ line 2: 'v 1 x 0' has a value that is not a number"),
    ("bad_ref.dae", "COLLADA <instance_geometry> references #nothing"),
])
def test_messages_say_what_is_wrong(tmp_path: Path, name: str, expected: str) -> None:
    path = tmp_path / name
    content = broken_files()[name]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    error = refusal(path)
    assert error is not None and expected in str(error), str(error)


@pytest.mark.parametrize("magic", [b"Kaydara FBX Binary  \x00\x1a\x00",
                                   b"Kaydara FBX Binary\x00\x1a\x00"])
def test_binary_fbx_is_never_called_ascii(tmp_path: Path, magic: bytes) -> None:
    from meshprep.io import fbx

    path = tmp_path / "model.fbx"
    # node names such as FBXHeaderExtension appear in binary files too
    path.write_bytes(magic + struct.pack("<I", 7400) + b"\x00\x12FBXHeaderExtension" + bytes(64))
    assert fbx.fbx_version(path) == (7400, "binary")
    message = fbx._no_reader_message(path, "ASCII FBX files are not supported")
    assert "FBX 7400 (binary)" in message and "ASCII" not in message
    # binary bytes without the magic at all: unknown, not ASCII
    other = tmp_path / "other.fbx"
    other.write_bytes(b"\x01\x00\x02FBXHeaderExtension" + bytes(64))
    assert fbx.fbx_version(other) == (None, "unknown")
