"""Tests of meshprep.io.write: PLY layout, round trips, atomicity."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh

from meshprep.io import atomic_write, load, write_mesh
from meshprep.io import write as write_module


@pytest.fixture
def mesh() -> trimesh.Trimesh:
    """An icosphere with coordinates that are not exactly representable in float32."""
    sphere = trimesh.creation.icosphere(subdivisions=2)
    return trimesh.Trimesh(sphere.vertices * 1.1 + 0.3, sphere.faces, process=False)


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` (temporary files included, they start with a dot)."""
    return sorted(p.name for p in folder.iterdir())


def test_ply_binary_layout(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    path = write_mesh(mesh, tmp_path / "out.ply")
    assert path == tmp_path / "out.ply"
    data = path.read_bytes()
    header, body = data.split(b"end_header\n", 1)
    text = header.decode("ascii")
    assert "format binary_little_endian 1.0" in text
    assert "property float x" in text and "property double" not in text
    assert "property list uchar int vertex_indices" in text
    assert f"element vertex {len(mesh.vertices)}" in text
    assert len(body) == 12 * len(mesh.vertices) + 13 * len(mesh.faces)
    vertices = np.frombuffer(body[: 12 * len(mesh.vertices)], dtype="<f4").reshape(-1, 3)
    assert np.array_equal(vertices, mesh.vertices.astype(np.float32))


def test_ply_round_trip_through_trimesh(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    path = write_mesh(mesh, tmp_path / "out.ply")
    back = trimesh.load(path, process=False)
    assert np.array_equal(back.faces, mesh.faces)
    assert np.allclose(back.vertices, mesh.vertices, atol=1e-6)


def test_ply_round_trip_through_load(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    back = load(write_mesh(mesh, tmp_path / "out.ply"))
    assert back.vertices.dtype == np.float64 and back.faces.dtype == np.int64
    assert np.array_equal(back.faces, mesh.faces)
    assert np.array_equal(back.vertices, mesh.vertices.astype(np.float32).astype(np.float64))


def test_ply_ascii(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    path = write_mesh(mesh, tmp_path / "out.ply", binary=False)
    assert b"format ascii" in path.read_bytes()[:200]
    back = load(path)
    assert np.array_equal(back.faces, mesh.faces)
    assert np.allclose(back.vertices, mesh.vertices, atol=1e-6)


@pytest.mark.parametrize(("name", "binary"), [("o.obj", True), ("o.stl", True), ("o.stl", False)])
def test_other_formats_round_trip(
    tmp_path: Path, mesh: trimesh.Trimesh, name: str, binary: bool
) -> None:
    back = load(write_mesh(mesh, tmp_path / name, binary=binary))
    assert len(back.faces) == len(mesh.faces)
    assert np.allclose(back.bounds, mesh.bounds, atol=1e-5)
    assert np.isclose(back.area, mesh.area, rtol=1e-5)


def test_glb_round_trip(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    back = load(write_mesh(mesh, tmp_path / "o.glb"))
    assert np.array_equal(back.faces, mesh.faces)
    assert np.allclose(back.vertices, mesh.vertices, atol=1e-6)


def test_stl_ascii_is_text(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    path = write_mesh(mesh, tmp_path / "o.stl", binary=False)
    assert path.read_bytes().startswith(b"solid")


def test_write_leaves_no_temporary_file(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    write_mesh(mesh, tmp_path / "a.ply")
    write_mesh(mesh, tmp_path / "b.obj")
    assert leftovers(tmp_path) == ["a.ply", "b.obj"]
    assert (tmp_path / "a.ply").stat().st_mode & 0o777 == 0o644


def test_failing_write_leaves_nothing(
    tmp_path: Path, mesh: trimesh.Trimesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_fail(stream, vertices, faces):  # noqa: ANN001, ANN202
        stream.write(b"ply\npartial")
        raise OSError("disk went away")

    monkeypatch.setattr(write_module, "write_ply_binary", half_then_fail)
    with pytest.raises(OSError, match="disk went away"):
        write_mesh(mesh, tmp_path / "out.ply")
    assert leftovers(tmp_path) == []


def test_failing_write_keeps_old_file(
    tmp_path: Path, mesh: trimesh.Trimesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.ply"
    write_mesh(mesh, path)
    before = path.read_bytes()
    monkeypatch.setattr(write_module, "write_ply_binary", _raise_runtime)
    with pytest.raises(RuntimeError):
        write_mesh(trimesh.creation.box(), path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == ["out.ply"]


def _raise_runtime(*args: object) -> None:
    raise RuntimeError("boom")


def test_non_finite_vertices_refused(tmp_path: Path) -> None:
    box = trimesh.creation.box()
    vertices = box.vertices.copy()
    vertices[0, 0] = np.nan
    bad = trimesh.Trimesh(vertices, box.faces, process=False)
    with pytest.raises(ValueError, match="not finite"):
        write_mesh(bad, tmp_path / "nan.ply")
    assert leftovers(tmp_path) == []


def test_beyond_float32_refused(tmp_path: Path) -> None:
    box = trimesh.creation.box()
    huge = trimesh.Trimesh(box.vertices * 1e300, box.faces, process=False)
    with pytest.raises(ValueError, match="not finite"):
        write_mesh(huge, tmp_path / "huge.ply")


def test_out_of_range_faces_refused(tmp_path: Path) -> None:
    box = trimesh.creation.box()
    faces = box.faces.copy()
    faces[0, 0] = 100
    bad = trimesh.Trimesh(box.vertices, faces, process=False, validate=False)
    with pytest.raises(ValueError, match="out of range"):
        write_mesh(bad, tmp_path / "bad.ply")
    assert leftovers(tmp_path) == []


def test_unknown_extension_refused(tmp_path: Path, mesh: trimesh.Trimesh) -> None:
    with pytest.raises(ValueError, match="cannot write"):
        write_mesh(mesh, tmp_path / "out.unknownext")
    assert leftovers(tmp_path) == []


def test_atomic_write_success(tmp_path: Path) -> None:
    target = tmp_path / "data.npy"
    with atomic_write(target) as tmp:
        assert Path(tmp).parent == tmp_path and Path(tmp).exists()
        assert tmp.endswith(".npy") and not target.exists()
        np.save(tmp, np.arange(5))
    assert np.array_equal(np.load(target), np.arange(5))
    assert leftovers(tmp_path) == ["data.npy"]


def test_atomic_write_error_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    with pytest.raises(ZeroDivisionError), atomic_write(target) as tmp:
        Path(tmp).write_bytes(b"partial")
        _ = 1 / 0
    assert leftovers(tmp_path) == []


def test_atomic_write_keeps_mode_of_replaced_file(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    with atomic_write(target) as tmp:
        Path(tmp).write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600


def test_ply_writer_is_fast(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vertices = rng.random((500_000, 3))
    faces = rng.integers(0, len(vertices), size=(1_000_000, 3))
    big = trimesh.Trimesh(vertices, faces, process=False, validate=False)
    start = time.process_time()
    write_mesh(big, tmp_path / "big.ply")
    # the writer is a few memory copies (~0.1 s): CPU seconds of this process, which a loaded
    # machine does not stretch the way it stretches wall-clock time, still catch a Python loop
    assert time.process_time() - start < 2.0
    size = (tmp_path / "big.ply").stat().st_size
    assert size > 12 * 500_000 + 13 * 1_000_000
