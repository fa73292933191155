"""Tests of the FBX fallback (meshprep.io.fbx): ufbx reads what Blender refuses or lacks."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from meshprep.errors import CorruptFileError, UnsupportedFormatError
from meshprep.io import fbx, load
from tests.io.test_load import assert_one_line

needs_ufbx = pytest.mark.skipif(not fbx.ufbx_available(), reason="ufbx (meshprep[fbx]) missing")

# a unit cube (-1..1) as six quads; FBX ends each polygon with its last index as -(i + 1)
CUBE = [-1, -1, -1, 1, -1, -1, 1, 1, -1, -1, 1, -1, -1, -1, 1, 1, -1, 1, 1, 1, 1, -1, 1, 1]
QUADS = [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [2, 3, 7, 6], [1, 2, 6, 5], [0, 4, 7, 3]]
Y_UP = (1, 1, 2, 1, 0, 1)  # UpAxis, UpAxisSign, FrontAxis, FrontAxisSign, CoordAxis, sign
Z_UP = (2, 1, 1, -1, 0, 1)  # 3ds Max's axes: Z up, -Y front


def _numbers(values: list[float] | tuple[float, ...]) -> str:
    return ",".join(str(v) for v in values)


def _polygons() -> list[int]:
    return [i for quad in QUADS for i in (*quad[:-1], -quad[-1] - 1)]


def fbx7_ascii(translation=(0, 0, 0), scale=(1, 1, 1), unit_cm: float = 100.0,
               axes: tuple[int, ...] = Y_UP) -> str:
    """An FBX 7.4 ASCII file: the cube under one node, a red material, given axes and unit."""
    names = ["UpAxis", "UpAxisSign", "FrontAxis", "FrontAxisSign", "CoordAxis", "CoordAxisSign"]
    settings = "\n".join(f'\t\tP: "{n}", "int", "Integer", "",{v}'
                         for n, v in zip(names, axes, strict=True))
    return f"""; FBX 7.4.0 project file
FBXHeaderExtension:  {{
\tFBXHeaderVersion: 1003
\tFBXVersion: 7400
}}
GlobalSettings:  {{
\tVersion: 1000
\tProperties70:  {{
{settings}
\t\tP: "UnitScaleFactor", "double", "Number", "",{unit_cm}
\t}}
}}
Objects:  {{
\tGeometry: 100, "Geometry::Cube", "Mesh" {{
\t\tVertices: *{len(CUBE)} {{
\t\t\ta: {_numbers(CUBE)}
\t\t}}
\t\tPolygonVertexIndex: *{len(_polygons())} {{
\t\t\ta: {_numbers(_polygons())}
\t\t}}
\t\tGeometryVersion: 124
\t}}
\tModel: 200, "Model::Cube", "Mesh" {{
\t\tVersion: 232
\t\tProperties70:  {{
\t\t\tP: "Lcl Translation", "Lcl Translation", "", "A",{_numbers(translation)}
\t\t\tP: "Lcl Scaling", "Lcl Scaling", "", "A",{_numbers(scale)}
\t\t}}
\t}}
\tMaterial: 300, "Material::Red", "" {{
\t\tVersion: 102
\t\tShadingModel: "phong"
\t\tProperties70:  {{
\t\t\tP: "DiffuseColor", "Color", "", "A",0.8,0.1,0.1
\t\t}}
\t}}
}}
Connections:  {{
\tC: "OO",200,0
\tC: "OO",100,200
\tC: "OO",300,200
}}
"""


def fbx6_ascii(translation=(0, 0, 0)) -> str:
    """An FBX 6.1 ASCII file (geometry inside the model, no global settings: centimetres)."""
    return f"""; FBX 6.1.0 project file
FBXHeaderExtension:  {{
\tFBXHeaderVersion: 1003
\tFBXVersion: 6100
}}
Objects:  {{
\tModel: "Model::Cube", "Mesh" {{
\t\tVersion: 232
\t\tProperties60:  {{
\t\t\tProperty: "Lcl Translation", "Lcl Translation", "A",{_numbers(translation)}
\t\t}}
\t\tVertices: {_numbers(CUBE)}
\t\tPolygonVertexIndex: {_numbers(_polygons())}
\t\tGeometryVersion: 124
\t}}
}}
Connections:  {{
\tConnect: "OO", "Model::Cube", "Model::Scene"
}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def binary_header(version: int) -> bytes:
    return b"Kaydara FBX Binary  \x00\x1a\x00" + struct.pack("<I", version)


# --- the header ------------------------------------------------------------------------------

def test_version_from_the_header(tmp_path: Path) -> None:
    binary = tmp_path / "b.fbx"
    binary.write_bytes(binary_header(7500) + bytes(40))
    assert fbx.fbx_version(binary) == (7500, "binary")
    assert fbx.fbx_version(write(tmp_path, "a.fbx", fbx7_ascii())) == (7400, "ASCII")
    comment_only = write(tmp_path, "c.fbx", "; FBX 6.1.0 project file\nObjects: {\n}\n")
    assert fbx.fbx_version(comment_only) == (6100, "ASCII")
    assert fbx.describe_version(comment_only) == "FBX 6100 (ASCII)"
    other = tmp_path / "d.fbx"
    other.write_bytes(b"\x00\x01 not an fbx")
    assert fbx.describe_version(other) == "FBX (version unknown)"


# --- files only ufbx reads -------------------------------------------------------------------

@needs_ufbx
def test_ascii_fbx7_cube(tmp_path: Path, no_blender: None) -> None:
    mesh = load(write(tmp_path, "cube.fbx", fbx7_ascii()))
    assert len(mesh.faces) == 12
    np.testing.assert_allclose(mesh.bounds, [[-1, -1, -1], [1, 1, 1]], atol=1e-9)
    assert mesh.metadata["meshprep_format"] == "fbx"
    assert mesh.metadata["meshprep_via"] == "ufbx"
    assert len(mesh.vertices) == 8  # the file's vertices, not split per corner


@needs_ufbx
def test_ascii_fbx6_cube(tmp_path: Path, no_blender: None) -> None:
    mesh = load(write(tmp_path, "old.fbx", fbx6_ascii(translation=(10, 0, 0))))
    assert len(mesh.faces) == 12
    # no GlobalSettings: FBX's default unit, the centimetre, turned into metres
    np.testing.assert_allclose(mesh.bounds, [[0.09, -0.01, -0.01], [0.11, 0.01, 0.01]],
                               atol=1e-9)


@needs_ufbx
@pytest.mark.parametrize("translation, scale", [((1, 2, 3), (2, 2, 2)), ((0, -5, 0), (1, 3, 1))])
def test_node_transform_is_applied(tmp_path: Path, no_blender: None, translation, scale) -> None:
    mesh = load(write(tmp_path, "moved.fbx", fbx7_ascii(translation, scale)))
    t, s = np.array(translation, float), np.array(scale, float)
    np.testing.assert_allclose(mesh.bounds, [t - s, t + s], atol=1e-9)


@needs_ufbx
def test_units_and_axes_are_converted(tmp_path: Path, no_blender: None) -> None:
    centimetres = load(write(tmp_path, "cm.fbx", fbx7_ascii(unit_cm=1.0)))
    np.testing.assert_allclose(centimetres.extents, [0.02] * 3, atol=1e-12)
    # a Z-up file (3ds Max): its +Z goes to +Y, its +Y (the back) to -Z
    up = load(write(tmp_path, "up.fbx", fbx7_ascii(translation=(0, 0, 5), axes=Z_UP)))
    np.testing.assert_allclose(up.bounds.mean(axis=0), [0, 5, 0], atol=1e-9)
    back = load(write(tmp_path, "back.fbx", fbx7_ascii(translation=(0, 3, 0), axes=Z_UP)))
    np.testing.assert_allclose(back.bounds.mean(axis=0), [0, 0, -3], atol=1e-9)


@needs_ufbx
def test_material_base_colour(tmp_path: Path, no_blender: None) -> None:
    mesh = load(write(tmp_path, "red.fbx", fbx7_ascii()), appearance=True)
    look = mesh.metadata["meshprep_appearance"]
    assert look.face_color is not None and look.face_color.shape == (12, 4)
    red, green, blue, alpha = look.face_color.mean(axis=0)
    assert red > 0.5 > green + blue and alpha == pytest.approx(1.0)


# --- errors ------------------------------------------------------------------------------------

@needs_ufbx
def test_unreadable_fbx_names_its_version(tmp_path: Path, no_blender: None) -> None:
    path = tmp_path / "broken.fbx"
    path.write_bytes(binary_header(7500) + b"garbage" * 8)
    with pytest.raises(UnsupportedFormatError, match=r"FBX 7500 \(binary\): ufbx cannot read it"
                       ) as info:
        load(path)
    assert_one_line(info.value)
    assert "meshprep[blender]" in str(info.value)


@needs_ufbx
def test_refused_and_unreadable_is_corrupt(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.fbx", "; FBX 6.1.0 project file\nObjects:  {\n\tModel: \x01")
    with pytest.raises(CorruptFileError, match=r"FBX 6100 \(ASCII\)") as info:
        fbx.read_fbx(path, refusal="ASCII FBX files are not supported")
    assert_one_line(info.value)
    assert "Blender's importer refuses it (ASCII FBX files are not supported)" in str(info.value)


def test_without_ufbx_the_error_names_version_and_extra(tmp_path: Path, no_blender: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fbx, "ufbx_available", lambda: False)
    path = write(tmp_path, "old.fbx", fbx6_ascii())
    with pytest.raises(UnsupportedFormatError, match=r"FBX 6100 \(ASCII\)") as info:
        load(path)
    assert_one_line(info.value)
    assert "needs the Blender backend" in str(info.value) and "meshprep[fbx]" in str(info.value)
    with pytest.raises(UnsupportedFormatError) as refused:
        fbx.read_fbx(path, refusal="Version 6100 unsupported, must be 7100 or later")
    assert str(refused.value) == (
        "old.fbx: FBX 6100 (ASCII): Blender's importer refuses it (Version 6100 unsupported, "
        'must be 7100 or later) and ufbx is not installed (pip install "meshprep[fbx]")')


def test_modules_import_without_ufbx() -> None:
    """The base install has no ufbx: both modules import, and the reader says it is missing."""
    code = ("import sys; sys.modules['ufbx'] = None\n"
            "import meshprep.io.fbx as f, meshprep.io.fbx_worker\n"
            "print(f.ufbx_available())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# --- the corpus --------------------------------------------------------------------------------

@needs_ufbx
@pytest.mark.corpus
@pytest.mark.parametrize("name, faces", [("spider_fbx.fbx", 1368), ("anim_skeleton_fbx.fbx", 2112)])
def test_corpus_fbx_through_ufbx(corpus_dir: Path, no_blender: None, name: str,
                                 faces: int) -> None:
    mesh = load(corpus_dir / name)
    assert mesh.metadata["meshprep_via"] == "ufbx"
    assert len(mesh.faces) == faces
    assert np.isfinite(mesh.vertices).all()
    assert 0.5 < mesh.extents.max() < 500  # metres: no centimetre blow-up or shrink


@pytest.fixture
def with_blender() -> None:
    """Skip unless the Blender backend is installed."""
    from meshprep.blender import blender_python

    if blender_python() is None:
        pytest.skip("the Blender backend (bpy) is not installed")


def _by_both_routes(path: Path, monkeypatch: pytest.MonkeyPatch):
    """``(through Blender, through ufbx)`` for one file."""
    from meshprep.blender import blender_python

    by_blender = load(path)
    monkeypatch.setenv("MESHPREP_BLENDER_PYTHON", "/nonexistent/python-with-bpy")
    blender_python.cache_clear()
    try:
        by_ufbx = load(path)
    finally:
        monkeypatch.undo()
        blender_python.cache_clear()
    assert (by_blender.metadata["meshprep_via"], by_ufbx.metadata["meshprep_via"]) == (
        "blender", "ufbx")
    return by_blender, by_ufbx


@needs_ufbx
@pytest.mark.parametrize("text", [fbx7_ascii((1, 2, 3), (2, 2, 2)), fbx7_ascii(unit_cm=1.0),
                                  fbx7_ascii((0, 3, 5), axes=Z_UP), fbx6_ascii((10, 0, 0))],
                         ids=["moved", "centimetres", "z-up", "fbx6"])
def test_fixtures_agree_with_blender(tmp_path: Path, with_blender: None, text: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Where Blender reads the file too, both routes give the same triangles and bounds."""
    by_blender, by_ufbx = _by_both_routes(write(tmp_path, "cube.fbx", text), monkeypatch)
    assert len(by_ufbx.faces) == len(by_blender.faces) == 12
    np.testing.assert_allclose(by_ufbx.bounds, by_blender.bounds, atol=1e-6)


def _normalized(vertices: np.ndarray) -> np.ndarray:
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    return (vertices - (low + high) / 2) / (high - low).max()


@needs_ufbx
@pytest.mark.corpus
@pytest.mark.parametrize("name", ["spider_fbx.fbx", "anim_skeleton_fbx.fbx"])
def test_corpus_agrees_with_blender(corpus_dir: Path, with_blender: None, name: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same file gives the same mesh by either route (normalized, within 1e-3)."""
    by_blender, by_ufbx = _by_both_routes(corpus_dir / name, monkeypatch)
    assert len(by_ufbx.faces) == len(by_blender.faces)
    np.testing.assert_allclose(by_ufbx.bounds, by_blender.bounds, atol=1e-3 * by_blender.scale)
    a, b = _normalized(by_ufbx.vertices), _normalized(by_blender.vertices)
    assert cKDTree(b).query(a)[0].max() < 1e-3 and cKDTree(a).query(b)[0].max() < 1e-3

