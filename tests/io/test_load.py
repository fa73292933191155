"""Tests of meshprep.io.load: good files, broken files, hostile files, scene flattening."""

from __future__ import annotations

import builtins
import contextlib
import csv
import importlib.util
import io
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh

from meshprep.errors import (
    ArchiveError,
    CorruptFileError,
    EmptyFileError,
    InvalidGeometryError,
    LoadError,
    MissingCompanionError,
    NoTrianglesError,
    SceneGraphError,
    UnsafePathError,
    UnsupportedFormatError,
)
from meshprep.io import SUPPORTED_EXTENSIONS, load
from meshprep.io.gltf import read_gltf_json
from tests.io.helpers import (
    ascii_ply,
    ascii_stl,
    binary_stl,
    data_uri,
    gltf_tree,
    write_glb,
    write_gltf,
)

# file in tests/data -> faces trimesh 5.2 sees (corpus manifest)
GOOD_FILES = {
    "plane.ply": 2,
    "wallhole.obj": 66,
    "box_textured.glb": 12,
    "nested_glb.glb": 36,
    "soup.stl": 100,
    "two_objects.obj": 16,
    "joined_tetrahedra.obj": 8,
    "kenney_flag.glb": 132,
    "fandisk.obj": 5750,
    "test_scene_gltf/TestScene.gltf": 1096,
}

BROKEN_FILES = {
    "empty_ply.ply": NoTrianglesError,
    "points_only.ply": NoTrianglesError,
    "box_infinites.glb": InvalidGeometryError,
    "index_out_of_range/IndexOutOfRange.gltf": InvalidGeometryError,
    "recursive_nodes.gltf": SceneGraphError,
    "missing_bin.gltf": MissingCompanionError,
    "bad_uri_traversal/scene.gltf": UnsafePathError,
}

# what every corpus file must give; files not listed must load
CORPUS_ERRORS = {
    "empty_ply": NoTrianglesError,
    "points_only": NoTrianglesError,
    "pond_scan": NoTrianglesError,
    "bad_truncated": CorruptFileError,
    "bad_nan": InvalidGeometryError,
    "box_infinites": InvalidGeometryError,
    "index_out_of_range": InvalidGeometryError,
    "recursive_nodes": SceneGraphError,
    "missing_bin": MissingCompanionError,
    "bad_uri_traversal": UnsafePathError,
    "spider_fbx": UnsupportedFormatError,
    "anim_skeleton_fbx": UnsupportedFormatError,
    "human_blend": UnsupportedFormatError,
    "teapots_dae": CorruptFileError,
}


def assert_one_line(exc: BaseException) -> None:
    """The message is one non-empty line without traceback text."""
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text


def assert_valid_mesh(mesh: trimesh.Trimesh) -> None:
    """The loader's output contract."""
    assert isinstance(mesh, trimesh.Trimesh)
    assert mesh.vertices.dtype == np.float64 and mesh.vertices.shape[1] == 3
    assert mesh.faces.dtype == np.int64 and mesh.faces.shape[1] == 3
    assert len(mesh.faces) > 0
    assert np.isfinite(mesh.vertices).all()
    assert mesh.faces.min() >= 0 and mesh.faces.max() < len(mesh.vertices)


@pytest.mark.parametrize("name", sorted(GOOD_FILES))
def test_good_files_load(data_dir: Path, name: str) -> None:
    mesh = load(data_dir / name)
    assert_valid_mesh(mesh)
    assert len(mesh.faces) == GOOD_FILES[name]
    assert mesh.metadata["meshprep_source"] == str(data_dir / name)
    assert mesh.metadata["meshprep_format"] == Path(name).suffix[1:]


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_broken_files_raise_typed_error(data_dir: Path, name: str) -> None:
    start = time.process_time()
    with pytest.raises(BROKEN_FILES[name]) as info:
        load(data_dir / name)
    # fails fast: CPU seconds (a loop or a runaway recursion burns them; a loaded machine only
    # stretches the wall clock)
    assert time.process_time() - start < 2.0
    assert_one_line(info.value)


def test_load_accepts_str_path(data_dir: Path) -> None:
    assert len(load(str(data_dir / "plane.ply")).faces) == 2


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.glb"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="0 bytes"):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file"):
        load(tmp_path / "nothing.obj")


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "model.obj"
    folder.mkdir()
    with pytest.raises(LoadError, match="not a regular file"):
        load(folder)


@pytest.mark.parametrize("name", ["a.fbx", "b.FBX", "c.blend", "d.usdz", "e.usd"])
def test_blender_formats_unsupported(tmp_path: Path, name: str, no_blender: None) -> None:
    path = tmp_path / name
    path.write_bytes(b"binary stuff")
    with pytest.raises(UnsupportedFormatError, match="needs the Blender backend"):
        load(path)


@pytest.mark.parametrize("name", ["a.max", "b.c4d", "c.ma", "d.mb", "e.xyz", "noext", "f.txt"])
def test_other_formats_unsupported(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"data")
    with pytest.raises(UnsupportedFormatError) as info:
        load(path)
    assert_one_line(info.value)


def test_supported_extensions_listed() -> None:
    assert {".glb", ".gltf", ".obj", ".ply", ".stl", ".off", ".dae", ".3mf", ".drc", ".npz",
            ".zip"} == set(SUPPORTED_EXTENSIONS)


def test_draco_files_load_and_refuse_clearly(tmp_path: Path) -> None:
    """A Draco ``.drc`` (the compact store's watertight mesh): its triangles within the 16-bit
    quantization of its box; a point cloud and broken bytes are refused in one line."""
    import DracoPy
    import trimesh

    from meshprep.io import write_mesh

    box = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    mesh = load(write_mesh(box, tmp_path / "box.drc"))
    assert len(mesh.faces) == 12 and len(mesh.vertices) == 8
    assert np.abs(np.sort(mesh.vertices, axis=0) - np.sort(box.vertices, axis=0)).max() \
        <= 2.0 / 2 ** 16
    (tmp_path / "points.drc").write_bytes(DracoPy.encode(box.vertices.astype(np.float32)))
    for name, error in (("points.drc", "point cloud"), ("broken.drc", "not a Draco mesh")):
        if name == "broken.drc":
            (tmp_path / name).write_bytes(b"DRACO" + bytes(40))
        with pytest.raises(CorruptFileError, match=error) as info:
            load(tmp_path / name)
        assert_one_line(info.value)


# ---------------------------------------------------------------- corrupt bytes


def test_truncated_glb(data_dir: Path, tmp_path: Path) -> None:
    data = (data_dir / "box_textured.glb").read_bytes()
    path = tmp_path / "cut.glb"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="truncated") as info:
        load(path)
    assert_one_line(info.value)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("junk.glb", b"NOPE" + b"\0" * 40),
        ("short.glb", b"glTF\x02\0\0\0"),
        ("junk.gltf", b"{not json"),
        ("list.gltf", b"[1, 2]"),
        ("junk.3mf", b"PK\x03\x04 not really a zip" * 4),
        ("junk.dae", b"<COLLADA><unclosed>"),
        ("junk.zip", b"PK\x05\x06 broken"),
    ],
)
def test_garbage_bytes_are_corrupt(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CorruptFileError) as info:
        load(path)
    assert_one_line(info.value)


def test_truncated_binary_stl(tmp_path: Path) -> None:
    path = binary_stl(tmp_path / "cut.stl", count=10)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match="header declares 10 triangles"):
        load(path)


def test_truncated_ply_is_load_error(tmp_path: Path) -> None:
    mesh = trimesh.Trimesh(*_box())
    data = mesh.export(file_type="ply")
    path = tmp_path / "cut.ply"
    path.write_bytes(data[: len(data) - 40])
    with pytest.raises(LoadError) as info:
        load(path)
    assert_one_line(info.value)


def test_unexpected_parser_exception_becomes_corrupt(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise KeyError("accessors")

    monkeypatch.setattr(trimesh, "load_scene", explode)
    with pytest.raises(CorruptFileError, match=r"plane\.ply: cannot parse PLY: the parser "
                       r"failed on malformed data that no check here names"):
        load(data_dir / "plane.ply")


# ---------------------------------------------------------------- synthetic formats


def _box() -> tuple[np.ndarray, np.ndarray]:
    box = trimesh.creation.box()
    return np.asarray(box.vertices), np.asarray(box.faces)


def test_ascii_stl(tmp_path: Path) -> None:
    mesh = load(ascii_stl(tmp_path / "tri.stl"))
    assert_valid_mesh(mesh)
    assert len(mesh.faces) == 1


def test_binary_stl(tmp_path: Path) -> None:
    mesh = load(binary_stl(tmp_path / "tri.stl", count=2))
    assert_valid_mesh(mesh)
    assert len(mesh.faces) == 2
    # not merged: each facet keeps its own three vertices
    assert len(mesh.vertices) == 6


def test_off(tmp_path: Path) -> None:
    path = tmp_path / "quad.off"
    path.write_text("OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n3 0 1 2\n3 1 3 2\n")
    mesh = load(path)
    assert_valid_mesh(mesh)
    assert len(mesh.faces) == 2


def test_off_index_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "bad.off"
    path.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    with pytest.raises(InvalidGeometryError):
        load(path)


def test_obj_without_mtl_loads(tmp_path: Path) -> None:
    path = tmp_path / "tri.obj"
    path.write_text(
        "mtllib missing.mtl\nusemtl red\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1\n"
    )
    mesh = load(path)
    assert_valid_mesh(mesh)
    assert len(mesh.faces) == 1


def test_obj_mtl_outside_folder_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "secret.mtl").write_text("newmtl x\nKd 1 0 0\n")
    path = tmp_path / "asset" / "tri.obj"
    path.parent.mkdir()
    path.write_text("mtllib ../secret.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with _opened_paths() as opened:
        assert len(load(path).faces) == 1
    assert (tmp_path / "secret.mtl").resolve() not in opened


def test_obj_face_index_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "bad.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    with pytest.raises(InvalidGeometryError) as info:
        load(path)
    assert_one_line(info.value)


def test_obj_lines_only_has_no_triangles(tmp_path: Path) -> None:
    path = tmp_path / "lines.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nl 1 2\nl 2 3\n")
    with pytest.raises(NoTrianglesError, match="no triangles"):
        load(path)


def test_obj_quads_are_triangulated(tmp_path: Path) -> None:
    path = tmp_path / "quad.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 4 3\n")
    assert len(load(path).faces) == 2


def test_ply_with_nan(tmp_path: Path) -> None:
    vertices, faces = _box()
    vertices = vertices.copy()
    vertices[3, 1] = np.nan
    with pytest.raises(InvalidGeometryError, match="non-finite vertex coordinates"):
        load(ascii_ply(tmp_path / "nan.ply", vertices, faces))


def test_ply_with_inf(tmp_path: Path) -> None:
    vertices, faces = _box()
    vertices = vertices.copy()
    vertices[0, 2] = np.inf
    with pytest.raises(InvalidGeometryError, match="non-finite"):
        load(ascii_ply(tmp_path / "inf.ply", vertices, faces))


def test_unreferenced_nan_vertex_is_dropped(tmp_path: Path) -> None:
    vertices, faces = _box()
    vertices = np.vstack([vertices, [[np.nan, 0, 0]]])
    mesh = load(ascii_ply(tmp_path / "extra.ply", vertices, faces))
    assert len(mesh.vertices) == 8 and len(mesh.faces) == 12
    assert np.isfinite(mesh.vertices).all()


def test_ply_face_index_out_of_range(tmp_path: Path) -> None:
    vertices, faces = _box()
    faces = faces.copy()
    faces[5, 1] = 99
    with pytest.raises(InvalidGeometryError, match="out of range"):
        load(ascii_ply(tmp_path / "oor.ply", vertices, faces))


def test_dae_with_entities_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lol.dae"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE COLLADA [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<COLLADA>&b;</COLLADA>\n'
    )
    with pytest.raises(UnsafePathError, match="entity"):
        load(path)


def test_3mf_expanding_past_limit(tmp_path: Path) -> None:
    path = tmp_path / "box.3mf"
    path.write_bytes(trimesh.creation.box().export(file_type="3mf"))
    with pytest.raises(ArchiveError, match="limit"):
        load(path, max_archive_bytes=100)


def test_dae_and_3mf(tmp_path: Path) -> None:
    box = trimesh.creation.box()
    for ext in ("dae", "3mf"):
        path = tmp_path / f"box.{ext}"
        path.write_bytes(box.export(file_type=ext))
        mesh = load(path)
        assert_valid_mesh(mesh)
        assert len(mesh.faces) == 12
        assert np.allclose(mesh.bounds, box.bounds)


# ---------------------------------------------------------------- glTF checks


def test_gltf_external_buffer_loads(tmp_path: Path) -> None:
    from tests.io.helpers import TRIANGLE

    (tmp_path / "tri data.bin").write_bytes(TRIANGLE.tobytes())
    path = write_gltf(tmp_path / "tri.gltf", gltf_tree("tri%20data.bin"))
    mesh = load(path)
    assert_valid_mesh(mesh)
    assert len(mesh.faces) == 1


def test_gltf_data_uri_loads(tmp_path: Path) -> None:
    assert len(load(write_gltf(tmp_path / "tri.gltf", gltf_tree(data_uri()))).faces) == 1


def test_gltf_non_base64_data_uri_is_corrupt(tmp_path: Path) -> None:
    path = write_gltf(tmp_path / "tri.gltf", gltf_tree("data:application/octet-stream,%00%01"))
    with pytest.raises(CorruptFileError, match="not base64"):
        load(path)


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/tri.bin",
        "https://example.com/tri.bin",
        "file:///etc/hostname",
        "/etc/hostname",
        "C:\\Windows\\win.ini",
        "\\\\server\\share\\tri.bin",
        "../tri.bin",
        "sub/../../tri.bin",
        "%2e%2e/tri.bin",
        "..%2Ftri.bin",
        "..\\tri.bin",
    ],
)
def test_gltf_unsafe_buffer_uri(tmp_path: Path, uri: str) -> None:
    path = write_gltf(tmp_path / "asset" / "tri.gltf", gltf_tree(uri))
    with pytest.raises(UnsafePathError) as info:
        load(path)
    assert_one_line(info.value)


def test_gltf_unsafe_image_uri(tmp_path: Path) -> None:
    tree = gltf_tree(data_uri())
    tree["images"] = [{"uri": "../../secret.png"}]
    with pytest.raises(UnsafePathError, match=r"images\[0\]"):
        load(write_gltf(tmp_path / "tri.gltf", tree))


def test_gltf_missing_image_is_tolerated(tmp_path: Path) -> None:
    tree = gltf_tree(data_uri())
    tree["images"] = [{"uri": "missing.png"}]
    assert len(load(write_gltf(tmp_path / "tri.gltf", tree)).faces) == 1


def test_gltf_missing_buffer(tmp_path: Path) -> None:
    path = write_gltf(tmp_path / "tri.gltf", gltf_tree("gone.bin"))
    with pytest.raises(MissingCompanionError, match="gone.bin"):
        load(path)


@contextlib.contextmanager
def _opened_paths() -> Iterator[set[Path]]:
    """Record the resolved path of every file opened via builtins.open, io.open or os.open."""
    opened: set[Path] = set()

    def recording(real: Callable[..., Any]) -> Callable[..., Any]:
        def opener(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, str | bytes | os.PathLike):
                opened.add(Path(os.fsdecode(file)).resolve())
            return real(file, *args, **kwargs)

        return opener

    saved = (builtins.open, io.open, os.open)
    # pathlib calls io.open, our code and trimesh call builtins.open, low-level code os.open
    builtins.open, io.open, os.open = (recording(f) for f in saved)
    try:
        yield opened
    finally:
        builtins.open, io.open, os.open = saved


def test_uri_traversal_never_opens_the_target(tmp_path: Path) -> None:
    from tests.io.helpers import TRIANGLE

    canary = tmp_path / "outside" / "canary.bin"
    canary.parent.mkdir()
    # a perfectly valid buffer: only the path check can stop it being read
    canary.write_bytes(TRIANGLE.tobytes())
    path = write_gltf(tmp_path / "asset" / "tri.gltf", gltf_tree("../outside/canary.bin"))
    with _opened_paths() as opened, pytest.raises(UnsafePathError):
        load(path)
    assert canary.resolve() not in opened
    assert path.resolve() in opened  # the recorder did see the glTF itself


def test_corpus_uri_traversal_never_opens_target(data_dir: Path) -> None:
    path = data_dir / "bad_uri_traversal" / "scene.gltf"
    target = (path.parent / "../../../../../../etc/hostname").resolve()
    with _opened_paths() as opened, pytest.raises(UnsafePathError):
        load(path)
    assert target not in opened
    assert not any(p.name == "hostname" for p in opened)


def test_symlink_buffer_leaving_folder_is_refused(tmp_path: Path) -> None:
    from tests.io.helpers import TRIANGLE

    outside = tmp_path / "outside.bin"
    outside.write_bytes(TRIANGLE.tobytes())
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "tri.bin").symlink_to(outside)
    path = write_gltf(asset / "tri.gltf", gltf_tree("tri.bin"))
    with _opened_paths() as opened, pytest.raises(UnsafePathError):
        load(path)
    assert outside.resolve() not in opened


@pytest.mark.parametrize(
    ("nodes", "match"),
    [
        ([{"mesh": 0, "children": [1]}, {"children": [0]}], "node cycle"),
        ([{"mesh": 0, "children": [0]}], "node cycle"),
        ([{"mesh": 0, "children": [1]}, {"children": [2]}, {"children": [1]}], "cycle|two parents"),
        ([{"mesh": 0, "children": [2]}, {"children": [2]}, {}], "two parents"),
        ([{"mesh": 0, "children": [5]}], "out of range"),
        ([{"mesh": 0, "children": [-1]}], "out of range"),
        ([{"mesh": 3}], "missing mesh"),
    ],
)
def test_gltf_broken_node_graph(tmp_path: Path, nodes: list, match: str) -> None:
    path = write_gltf(tmp_path / "g.gltf", gltf_tree(data_uri(), nodes=nodes))
    with pytest.raises(SceneGraphError, match=match) as info:
        load(path)
    assert_one_line(info.value)


def test_glb_node_cycle(tmp_path: Path) -> None:
    tree = gltf_tree(data_uri(), nodes=[{"mesh": 0, "children": [1]}, {"children": [0]}])
    with pytest.raises(SceneGraphError, match="node cycle"):
        load(write_glb(tmp_path / "g.glb", tree))


def test_gltf_scene_root_out_of_range(tmp_path: Path) -> None:
    tree = gltf_tree(data_uri())
    tree["scenes"] = [{"nodes": [4]}]
    with pytest.raises(SceneGraphError, match="root node"):
        load(write_gltf(tmp_path / "g.gltf", tree))


def test_gltf_draco_without_decoder_is_unsupported(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # DracoPy is a base dependency: an environment that lost it still gets the one-line error
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "DracoPy" else find_spec(name, *a))
    tree = gltf_tree(data_uri())
    tree["extensionsUsed"] = tree["extensionsRequired"] = ["KHR_draco_mesh_compression"]
    with pytest.raises(UnsupportedFormatError, match="DracoPy"):
        load(write_gltf(tmp_path / "d.gltf", tree))


# ---------------------------------------------------------------- scene flattening


@pytest.mark.parametrize("name", ["nested_glb.glb", "test_scene_gltf/TestScene.gltf"])
def test_scene_transforms_applied(data_dir: Path, name: str) -> None:
    reference = trimesh.load_scene(data_dir / name, process=False).to_mesh()
    mesh = load(data_dir / name)
    assert len(mesh.faces) == len(reference.faces)
    assert np.allclose(mesh.bounds, reference.bounds)
    assert np.isclose(mesh.area, reference.area)


def test_nested_transforms_move_geometry(data_dir: Path) -> None:
    scene = trimesh.load_scene(data_dir / "nested_glb.glb", process=False)
    raw = np.vstack([g.vertices for g in scene.geometry.values()])
    mesh = load(data_dir / "nested_glb.glb")
    # the flattened bounds differ from the untransformed geometry's: transforms were applied
    assert not np.allclose(mesh.bounds, [raw.min(axis=0), raw.max(axis=0)])


def _instanced_scene(transforms: list[np.ndarray]) -> trimesh.Scene:
    scene = trimesh.Scene()
    scene.add_geometry(
        trimesh.creation.box(), geom_name="box", node_name="n0", transform=transforms[0]
    )
    # further nodes reference the same geometry: instancing, not copies
    for i, matrix in enumerate(transforms[1:], start=1):
        scene.graph.update(
            frame_from=scene.graph.base_frame, frame_to=f"n{i}", matrix=matrix, geometry="box"
        )
    return scene


def test_instancing_doubles_faces(tmp_path: Path) -> None:
    shift = trimesh.transformations.translation_matrix([5, 0, 0])
    scene = _instanced_scene([np.eye(4), shift])
    path = tmp_path / "inst.glb"
    path.write_bytes(scene.export(file_type="glb"))
    tree = read_gltf_json(path)
    # one mesh drawn by two nodes
    assert len(tree["meshes"]) == 1 and sum("mesh" in n for n in tree["nodes"]) == 2
    mesh = load(path)
    assert len(mesh.faces) == 24
    assert np.allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [5.5, 0.5, 0.5]])


def test_mirror_transform_keeps_outward_winding(tmp_path: Path) -> None:
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    path = tmp_path / "mirror.glb"
    path.write_bytes(_instanced_scene([mirror]).export(file_type="glb"))
    mesh = load(path)
    assert mesh.volume > 0


def test_point_cloud_geometry_is_ignored(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), geom_name="box")
    scene.add_geometry(trimesh.PointCloud(np.random.default_rng(0).random((10, 3))))
    path = tmp_path / "mixed.glb"
    path.write_bytes(scene.export(file_type="glb"))
    mesh = load(path)
    assert len(mesh.faces) == 12 and len(mesh.vertices) == 8


def test_loaded_mesh_is_not_merged(data_dir: Path) -> None:
    # box_textured has split vertices along UV seams: 24, not 8
    assert len(load(data_dir / "box_textured.glb").vertices) == 24


# ---------------------------------------------------------------- corpus sweep


def _manifest(corpus_dir: Path) -> list[dict[str, str]]:
    with open(corpus_dir / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.corpus
def test_corpus_sweep(corpus_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Every corpus file loads or raises the expected LoadError subclass, printing nothing.

    Files that load must be finite with faces, and have the face count trimesh reported in the
    manifest (nothing merged or lost while flattening).
    """
    outcomes = {}
    for row in _manifest(corpus_dir):
        try:
            mesh = load(corpus_dir / row["file"])
        except LoadError as exc:
            assert_one_line(exc)
            outcomes[row["id"]] = type(exc)
            continue
        assert_valid_mesh(mesh)
        if row["faces"]:
            assert len(mesh.faces) == int(row["faces"]), row["id"]
        outcomes[row["id"]] = None
    from meshprep.blender import blender_python
    from meshprep.io.fbx import ufbx_available

    expected = dict(CORPUS_ERRORS)
    if blender_python() is not None:  # the Blender backend reads FBX and BLEND
        expected.pop("human_blend")
    if blender_python() is not None or ufbx_available():  # ufbx reads FBX without Blender
        expected.pop("spider_fbx")
        expected.pop("anim_skeleton_fbx")
    for asset_id, outcome in outcomes.items():
        assert outcome is expected.get(asset_id), asset_id
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
