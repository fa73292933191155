"""Non-glTF formats load exactly: encodings, COLLADA controllers and primitives, 3MF production
extension, PLY / STL / OFF variants (issue 27)."""

from __future__ import annotations

import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from meshprep.errors import CorruptFileError, SceneGraphError, UnsafePathError
from meshprep.io import load

FORMATS = Path(__file__).parent.parent / "data" / "formats"

# a unit tetrahedron, the accented names a cp1252 exporter writes
TETRA_V = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
TETRA_F = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]
OBJ_TEXT = ("# pièce d'essai\nmtllib matériau.mtl\no Tétraèdre\ng façade\nusemtl rouge_é\n"
            + "".join(f"v {x} {y} {z}\n" for x, y, z in TETRA_V)
            + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in TETRA_F))
MTL_TEXT = "newmtl rouge_é\nKd 0.8 0.1 0.1\n# créé à la main\n"


@pytest.fixture
def no_charset_normalizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import charset_normalizer`` fail, as where trimesh's undeclared import is absent."""
    monkeypatch.setitem(sys.modules, "charset_normalizer", None)


def tetra_volume(mesh) -> float:
    return float(abs(mesh.volume))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1252", "utf-16-le"])
def test_obj_in_other_encodings(tmp_path: Path, encoding: str, no_charset_normalizer) -> None:
    # "utf-16" writes a byte order mark; "utf-16-le" is UTF-16 without one
    path = tmp_path / "tetra.obj"
    path.write_bytes(OBJ_TEXT.encode(encoding))
    (tmp_path / "matériau.mtl").write_bytes(MTL_TEXT.encode(encoding))
    for appearance in (False, True):
        mesh = load(path, appearance=appearance)
        assert mesh.vertices.shape == (4, 3) and mesh.faces.shape == (4, 3)
        assert tetra_volume(mesh) == pytest.approx(1 / 6)


def test_shipped_utf16_and_cp1252_obj(no_charset_normalizer) -> None:
    for name in ("tetra_utf16_bom.obj", "tetra_cp1252.obj"):
        mesh = load(FORMATS / name)
        assert len(mesh.faces) == 4 and tetra_volume(mesh) == pytest.approx(1 / 6)


def test_cp1252_mtl_keeps_its_colour(tmp_path: Path, no_charset_normalizer) -> None:
    path = tmp_path / "tetra.obj"
    path.write_bytes(OBJ_TEXT.encode("utf-8"))
    (tmp_path / "matériau.mtl").write_bytes(MTL_TEXT.encode("cp1252"))
    look = load(path, appearance=True).metadata["meshprep_appearance"]
    assert look is not None


def ply_text(header_extra: str = "", face_list: str = "uchar int") -> str:
    return ("ply\nformat ascii 1.0\ncomment écrit à la main\nobj_info généré\n"
            f"{header_extra}element vertex 4\nproperty float x\nproperty float y\n"
            f"property float z\nelement face 4\nproperty list {face_list} vertex_indices\n"
            "end_header\n" + "".join(f"{x} {y} {z}\n" for x, y, z in TETRA_V)
            + "".join(f"3 {a} {b} {c}\n" for a, b, c in TETRA_F))


@pytest.mark.parametrize("face_list", ["uchar int", "uchar uint", "uint8 uint16", "ushort ushort",
                                       "uchar ushort", "char uint32"])
def test_ply_list_types_comments_latin1(tmp_path: Path, face_list: str,
                                        no_charset_normalizer) -> None:
    path = tmp_path / "tetra.ply"
    path.write_bytes(ply_text(face_list=face_list).encode("latin-1"))
    mesh = load(path)
    assert len(mesh.faces) == 4 and tetra_volume(mesh) == pytest.approx(1 / 6)


def test_binary_ply_with_latin1_header(tmp_path: Path, no_charset_normalizer) -> None:
    header = ("ply\nformat binary_little_endian 1.0\ncomment modèle\nelement vertex 4\n"
              "property float x\nproperty float y\nproperty float z\nelement face 4\n"
              "property list uchar ushort vertex_indices\nend_header\n").encode("latin-1")
    body = np.asarray(TETRA_V, dtype="<f4").tobytes()
    body += b"".join(struct.pack("<B3H", 3, *face) for face in TETRA_F)
    path = tmp_path / "tetra.ply"
    path.write_bytes(header + body)
    mesh = load(path)
    assert len(mesh.faces) == 4 and tetra_volume(mesh) == pytest.approx(1 / 6)


def test_binary_stl_with_non_utf8_header(tmp_path: Path, no_charset_normalizer) -> None:
    header = b"\xa9 SolidWorks export \xff\xfe\x00" + bytes(range(128, 185))
    triangles = b"".join(
        struct.pack("<12fH", 0, 0, 0, *np.asarray(TETRA_V, dtype=np.float32)[list(f)].ravel(), 0)
        for f in TETRA_F)
    path = tmp_path / "tetra.stl"
    path.write_bytes(header[:80].ljust(80, b" ") + struct.pack("<I", 4) + triangles)
    mesh = load(path)
    assert len(mesh.faces) == 4 and tetra_volume(mesh) == pytest.approx(1 / 6)


def ascii_stl(sep: str = " ", newline: str = "\n", indent: str = "  ") -> str:
    lines = ["solid tétraèdre"]
    for face in TETRA_F:
        lines += [f"{indent}facet{sep}normal{sep}0{sep}0{sep}0", f"{indent}{indent}outer loop"]
        lines += [f"{indent * 3}vertex{sep}" + sep.join(str(c) for c in TETRA_V[i])
                  for i in face]
        lines += [f"{indent}{indent}endloop", f"{indent}endfacet"]
    return newline.join(lines + ["endsolid tétraèdre", ""])


@pytest.mark.parametrize(("sep", "newline", "indent", "encoding"), [
    (" ", "\n", "  ", "utf-8"),
    ("\t", "\r\n", "\t", "utf-8"),
    ("   ", "\r\n", "", "cp1252"),
    (" \t ", "\n\n", " ", "utf-16"),
])
def test_ascii_stl_odd_whitespace(tmp_path: Path, sep: str, newline: str, indent: str,
                                  encoding: str, no_charset_normalizer) -> None:
    path = tmp_path / "tetra.stl"
    path.write_bytes(ascii_stl(sep, newline, indent).encode(encoding))
    mesh = load(path)
    assert len(mesh.faces) == 4 and tetra_volume(mesh) == pytest.approx(1 / 6)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "utf-16"])
def test_off_with_comments(tmp_path: Path, encoding: str, no_charset_normalizer) -> None:
    text = ("OFF\n# tétraèdre\n4 4 6\n" + "".join(f"{x} {y} {z}\n" for x, y, z in TETRA_V)
            + "".join(f"3  {a} {b}\t{c}\n" for a, b, c in TETRA_F))
    path = tmp_path / "tetra.off"
    path.write_bytes(text.encode(encoding))
    mesh = load(path)
    assert len(mesh.faces) == 4 and tetra_volume(mesh) == pytest.approx(1 / 6)


# -- COLLADA ---------------------------------------------------------------------------------

CUBE_POSITIONS = " ".join(f"{x} {y} {z}" for x in (0, 1) for y in (0, 1) for z in (0, 1))
# the cube's six faces as quads (outward), corner index = 4x + 2y + z
CUBE_QUADS = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4),
              (1, 5, 7, 3)]


def cube_primitive(kind: str) -> str:
    """The cube as one COLLADA primitive of the given kind."""
    inp = '<input semantic="VERTEX" source="#g-vertices" offset="0"/>'
    if kind == "polylist":
        p = " ".join(str(i) for q in CUBE_QUADS for i in q)
        return (f'<polylist count="6">{inp}<vcount>{"4 " * 6}</vcount><p>{p}</p></polylist>')
    if kind == "polygons":
        ps = "".join(f"<p>{' '.join(map(str, q))}</p>" for q in CUBE_QUADS)
        return f'<polygons count="6">{inp}{ps}</polygons>'
    if kind == "triangles":
        p = " ".join(f"{a} {b} {c} {a} {c} {d}" for a, b, c, d in CUBE_QUADS)
        return f'<triangles count="12">{inp}<p>{p}</p></triangles>'
    if kind == "tristrips":
        # a quad a b c d as the strip a b d c
        ps = "".join(f"<p>{a} {b} {d} {c}</p>" for a, b, c, d in CUBE_QUADS)
        return f'<tristrips count="6">{inp}{ps}</tristrips>'
    ps = "".join(f"<p>{' '.join(map(str, q))}</p>" for q in CUBE_QUADS)
    return f'<trifans count="6">{inp}{ps}</trifans>'


def dae(primitive: str, instance: str, library: str = "", matrix: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" version="1.4.1">
 <asset><unit meter="1"/><up_axis>Y_UP</up_axis></asset>
 <library_geometries><geometry id="g"><mesh>
  <source id="g-pos"><float_array id="g-pos-array" count="24">{CUBE_POSITIONS}</float_array>
   <technique_common><accessor source="#g-pos-array" count="8" stride="3">
    <param name="X" type="float"/><param name="Y" type="float"/><param name="Z" type="float"/>
   </accessor></technique_common></source>
  <vertices id="g-vertices"><input semantic="POSITION" source="#g-pos"/></vertices>
  {primitive}
 </mesh></geometry></library_geometries>
 {library}
 <library_visual_scenes><visual_scene id="s">
  <node id="n">{matrix}{instance}</node>
 </visual_scene></library_visual_scenes>
 <scene><instance_visual_scene url="#s"/></scene>
</COLLADA>"""


@pytest.mark.parametrize("kind", ["polylist", "polygons", "triangles", "tristrips", "trifans"])
def test_dae_primitive_kinds(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.dae"
    path.write_text(dae(cube_primitive(kind), '<instance_geometry url="#g"/>'))
    mesh = load(path)
    assert len(mesh.faces) == 12
    assert mesh.is_volume or mesh.is_watertight
    assert mesh.volume == pytest.approx(1.0)


SKIN = """<library_controllers><controller id="skin"><skin source="#g">
 <bind_shape_matrix>2 0 0 10  0 2 0 0  0 0 2 0  0 0 0 1</bind_shape_matrix>
 <source id="joints"><Name_array id="joints-array" count="1">root</Name_array>
  <technique_common><accessor source="#joints-array" count="1" stride="1">
   <param name="JOINT" type="name"/></accessor></technique_common></source>
 <source id="binds"><float_array id="binds-array" count="16">1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1
  </float_array><technique_common><accessor source="#binds-array" count="1" stride="16">
   <param name="TRANSFORM" type="float4x4"/></accessor></technique_common></source>
 <source id="weights"><float_array id="weights-array" count="1">1</float_array>
  <technique_common><accessor source="#weights-array" count="1" stride="1">
   <param name="WEIGHT" type="float"/></accessor></technique_common></source>
 <joints><input semantic="JOINT" source="#joints"/>
  <input semantic="INV_BIND_MATRIX" source="#binds"/></joints>
 <vertex_weights count="8"><input semantic="JOINT" source="#joints" offset="0"/>
  <input semantic="WEIGHT" source="#weights" offset="1"/>
  <vcount>1 1 1 1 1 1 1 1</vcount><v>0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0</v></vertex_weights>
</skin></controller></library_controllers>"""


def test_dae_skinned_mesh_in_bind_pose(tmp_path: Path) -> None:
    """A mesh under <instance_controller> is placed by the node transform times the skin's
    bind_shape_matrix (bind pose)."""
    path = tmp_path / "skinned.dae"
    matrix = "<matrix>1 0 0 0  0 1 0 5  0 0 1 0  0 0 0 1</matrix>"
    path.write_text(dae(cube_primitive("triangles"), '<instance_controller url="#skin"/>',
                        SKIN, matrix))
    mesh = load(path)
    assert len(mesh.faces) == 12
    np.testing.assert_allclose(mesh.bounds, [[10, 5, 0], [12, 7, 2]])
    assert mesh.volume == pytest.approx(8.0)


def test_dae_instance_with_missing_material_is_read(tmp_path: Path) -> None:
    instance = ('<instance_geometry url="#g"><bind_material><technique_common>'
                '<instance_material symbol="m" target="#not-there"/></technique_common>'
                "</bind_material></instance_geometry>")
    path = tmp_path / "nomat.dae"
    path.write_text(dae(cube_primitive("polylist"), instance))
    mesh = load(path)
    assert len(mesh.faces) == 12 and mesh.volume == pytest.approx(1.0)


# -- 3MF -------------------------------------------------------------------------------------

CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
PROD = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.model"'
        ' Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>'
        "</Relationships>")


def tetra_model(scale: float = 1.0) -> str:
    vertices = "".join(f'<vertex x="{x * scale}" y="{y * scale}" z="{z * scale}"/>'
                       for x, y, z in TETRA_V)
    triangles = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in TETRA_F)
    return (f'<?xml version="1.0" encoding="UTF-8"?><model xmlns="{CORE}" unit="millimeter">'
            f'<resources><object id="1" type="model"><mesh><vertices>{vertices}</vertices>'
            f"<triangles>{triangles}</triangles></mesh></object></resources><build/></model>")


def root_model(resources: str, build: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><model xmlns="{CORE}" xmlns:p="{PROD}" '
            f'unit="millimeter" requiredextensions="p"><resources>{resources}</resources>'
            f"<build>{build}</build></model>")


def write_3mf(path: Path, root: str, parts: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("_rels/.rels", RELS)
        zf.writestr("3D/3dmodel.model", root)
        for name, text in parts.items():
            zf.writestr(name, text)
    return path


def test_3mf_production_components(tmp_path: Path) -> None:
    """Two external parts that both use objectid 1, placed by component and item transforms."""
    resources = (
        '<object id="2" type="model"><components>'
        '<component p:path="/3D/Objects/a.model" objectid="1"/>'
        '<component p:path="/3D/Objects/b.model" objectid="1" '
        'transform="1 0 0 0 1 0 0 0 1 20 0 0"/></components></object>')
    build = '<item objectid="2" transform="1 0 0 0 1 0 0 0 1 0 0 5"/>'
    path = write_3mf(tmp_path / "prod.3mf", root_model(resources, build), {
        "3D/Objects/a.model": tetra_model(), "3D/Objects/b.model": tetra_model(2.0)})
    mesh = load(path)
    assert len(mesh.faces) == 8
    assert mesh.volume == pytest.approx(1 / 6 + 8 / 6)
    np.testing.assert_allclose(mesh.bounds, [[0, 0, 5], [22, 2, 7]])


def test_3mf_production_build_items(tmp_path: Path) -> None:
    """Build items with p:path (the 3MF consortium's cube_gears layout), one rotated."""
    build = ('<item objectid="1" p:path="/3D/Objects/a.model"/>'
             '<item objectid="1" p:path="/3D/Objects/a.model" '
             'transform="0 1 0 -1 0 0 0 0 1 5 0 0"/>')
    path = write_3mf(tmp_path / "items.3mf", root_model("", build),
                     {"3D/Objects/a.model": tetra_model()})
    mesh = load(path)
    assert len(mesh.faces) == 8 and mesh.volume == pytest.approx(2 / 6)
    # rows are for row vectors: (1, 0, 0) -> (0, 1, 0), (0, 1, 0) -> (-1, 0, 0), then + (5, 0, 0)
    np.testing.assert_allclose(mesh.vertices[5], [5, 1, 0])
    np.testing.assert_allclose(mesh.vertices[6], [4, 0, 0])


def test_3mf_path_leaving_package_is_refused(tmp_path: Path) -> None:
    build = '<item objectid="1" p:path="/../../etc/passwd"/>'
    path = write_3mf(tmp_path / "escape.3mf", root_model("", build), {})
    with pytest.raises(UnsafePathError, match="escape.3mf: 3MF path .* leaves the package"):
        load(path)


def test_3mf_missing_part_and_cycle(tmp_path: Path) -> None:
    build = '<item objectid="1" p:path="/3D/Objects/none.model"/>'
    path = write_3mf(tmp_path / "missing.3mf", root_model("", build), {})
    with pytest.raises(CorruptFileError, match="none.model' named in 3D/3dmodel.model is not in"):
        load(path)
    resources = ('<object id="1"><components><component objectid="2"/></components></object>'
                 '<object id="2"><components><component objectid="1"/></components></object>')
    path = write_3mf(tmp_path / "cycle.3mf", root_model(resources, '<item objectid="1"/>'), {})
    with pytest.raises(SceneGraphError, match="cycle.3mf: 3MF components form a cycle"):
        load(path)
