"""The compact store's packed meshes (issue 31): every triangle and its winding survive, vertices
within half a 16-bit step of the box, extremes and empty meshes round-trip, broken files fail
clearly, and the store's readers take the new file as well as the older Draco and PLY ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from meshprep.errors import CorruptFileError
from meshprep.io import load, write_mesh
from meshprep.io.meshpack import MESH_ENCODING, pack_mesh, read_packed_mesh, unpack_mesh
from meshprep.sample.layouts import stored_watertight


def _cyclic(face: tuple[int, int, int]) -> tuple[int, int, int]:
    """A face's indices rotated to start at the smallest (the same oriented triangle)."""
    k = face.index(min(face))
    return face[k:] + face[:k]


def _grid_mesh(seed: int, vertex_count: int, face_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices on the integer grid 0..65535 (the encoding's grid when the box spans it), so the
    round trip is exact and triangles can be matched by their coordinates."""
    rng = np.random.default_rng(seed)
    coords = rng.choice(65536 ** 2, size=vertex_count, replace=False)
    vertices = np.stack([coords % 65536, coords // 65536, rng.integers(0, 65536, vertex_count)],
                        axis=1).astype(np.float64)
    vertices[0], vertices[1] = (0, 0, 0), (65535, 65535, 65535)  # the box spans the grid
    faces = np.stack([rng.choice(vertex_count, 3, replace=False) for _ in range(face_count)])
    return vertices, faces


def test_every_oriented_triangle_survives_exactly_on_the_grid():
    vertices, faces = _grid_mesh(0, 5000, 20000)  # offsets need 2-3 bytes: wide planes
    got_vertices, got_faces = unpack_mesh(pack_mesh(vertices, faces))
    assert got_vertices.dtype == np.float64 and got_faces.dtype == np.int64
    index = {tuple(v): i for i, v in enumerate(vertices)}
    back = np.array([index[tuple(v)] for v in got_vertices])  # exact: the grid is the input's
    expected = sorted(_cyclic(tuple(int(i) for i in f)) for f in faces)
    assert sorted(_cyclic(tuple(int(i) for i in back[f])) for f in got_faces) == expected


def test_a_real_surface_within_half_a_step_with_its_volume():
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=0.9)
    mesh.apply_translation([0.05, -0.1, 0.02])
    vertices, faces = unpack_mesh(pack_mesh(mesh.vertices, mesh.faces))
    extent = float(np.ptp(mesh.vertices, axis=0).max())
    nearest = cKDTree(mesh.vertices).query(vertices)[1]  # per axis: half a step at most
    assert np.abs(vertices - mesh.vertices[nearest]).max() <= extent / 65535 / 2 * (1 + 1e-9)
    back = trimesh.Trimesh(vertices, faces, process=False)
    assert len(back.faces) == len(mesh.faces) and back.is_watertight
    assert back.volume == pytest.approx(mesh.volume, rel=1e-4)  # winding kept: positive volume


@pytest.mark.parametrize("vertices, faces", [
    (np.zeros((0, 3)), np.zeros((0, 3), np.int64)),                      # empty
    (np.zeros((3, 3)), np.array([[0, 1, 2]])),                           # a zero box
    (np.array([[-1e6, 0, 0], [1e6, 1, 0], [0, 2, 1e6]]), np.array([[2, 0, 1]])),  # far out
    (np.eye(3), np.array([[0, 0, 1], [1, 2, 2]])),                       # repeated indices
])
def test_extremes_round_trip(vertices, faces):
    got_vertices, got_faces = unpack_mesh(pack_mesh(vertices, faces))
    assert got_faces.shape == faces.shape and got_vertices.shape == vertices.shape
    if len(vertices):
        tolerance = max(float(np.ptp(vertices, axis=0).max()), 1.0) / 65535
        distance, back = cKDTree(vertices).query(got_vertices)
        assert distance.max() <= tolerance
        if len(np.unique(vertices, axis=0)) == len(vertices):  # triangles matched by position
            assert sorted(_cyclic(tuple(int(i) for i in back[f])) for f in got_faces) == \
                sorted(_cyclic(tuple(int(i) for i in f)) for f in faces)


def test_store_readers_take_packed_draco_and_ply(tmp_path: Path):
    mesh = trimesh.creation.box(extents=(1.0, 0.5, 0.25))
    for name in ("watertight.ply", "watertight.drc", "watertight.npz"):  # oldest to newest
        write_mesh(mesh, tmp_path / name)
        assert stored_watertight(tmp_path).name == name
        loaded = load(tmp_path / name)
        assert len(loaded.faces) == 12 and loaded.volume == pytest.approx(0.125, rel=1e-4)
    with np.load(tmp_path / "watertight.npz") as arrays:
        assert str(arrays["encoding"]) == MESH_ENCODING


def test_broken_files_fail_clearly(tmp_path: Path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(CorruptFileError, match="not a meshprep packed mesh"):
        read_packed_mesh(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", points=np.zeros((4, 3)))  # some other npz
    with pytest.raises(CorruptFileError, match="not a meshprep packed mesh"):
        read_packed_mesh(tmp_path / "other.npz")
    arrays = pack_mesh(np.eye(3), np.array([[0, 1, 2]]))
    arrays["counts"] = np.array([2, 1])  # a face index beyond the vertices
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CorruptFileError):
        read_packed_mesh(tmp_path / "bad.npz")


def test_reads_inside_decode_threads_do_not_wait_on_themselves(tmp_path: Path):
    """A packed mesh read from a decode thread decodes inline: two such reads at once on the
    two decode threads would otherwise each wait for work queued behind the other."""
    from meshprep.io.packing import decode_pool

    mesh = trimesh.creation.icosphere(subdivisions=3)
    write_mesh(mesh, tmp_path / "watertight.npz")
    jobs = [decode_pool().submit(read_packed_mesh, tmp_path / "watertight.npz")
            for _ in range(4)]
    for job in jobs:
        assert len(job.result(timeout=60).faces) == len(mesh.faces)
