"""Write meshes atomically: a reader sees the old file or the complete new one, never a partial one.

Binary PLY is written here with numpy structured arrays (float32 ``x y z``, faces as
``list uchar int``): it is the format meshprep's outputs use, and this is many times faster than a
generic exporter. Every other extension goes through ``trimesh`` export.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import trimesh

from meshprep.io.meshpack import write_packed_mesh

_INT32_MAX = np.iinfo(np.int32).max
_FACE_RECORD = np.dtype([("count", "u1"), ("indices", "<i4", (3,))])


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[str]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    The temporary file is created in the target's folder (so the final ``os.replace`` is atomic on
    one filesystem), keeps the target's extension (so extension-sniffing writers work), is
    fsync'ed before the rename, and is removed if the block raises. The new file gets the mode of
    the file it replaces, or 0o644.

    Parameters
    ----------
    path : str or os.PathLike
        Final file path. Its folder must exist.
    durable : bool
        fsync the file and its folder (survives a power cut). ``False`` keeps the rename's
        all-or-nothing guarantee against a killed process at a fraction of the cost, for
        many small files that are published together later (render frames).

    Yields
    ------
    str
        Path of the temporary file to write to (it exists and is empty).

    Examples
    --------
    >>> with atomic_write("out.npy") as tmp:  # doctest: +SKIP
    ...     np.save(tmp, array)
    """
    target = Path(os.fspath(path))
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    try:
        yield tmp
        if durable:
            _fsync_file(tmp)
        # mkstemp creates the file 0o600; give the output ordinary permissions
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(target.parent)


def _mode_for(target: Path) -> int:
    """Return the permission bits of the file being replaced, or 0o644 for a new file."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644


def _fsync_file(path: str) -> None:
    """Flush a written file's data to disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself; best effort (not every platform can fsync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_mesh(mesh: trimesh.Trimesh, path: str | os.PathLike[str], *, binary: bool = True) -> Path:
    """Write a triangle mesh atomically, choosing the format from the extension.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The mesh; only vertices and faces are written for ``.ply``.
    path : str or os.PathLike
        Output path: ``.ply`` (binary little-endian, float32 vertices, int32 indices, written by
        meshprep), ``.npz`` (:mod:`meshprep.io.meshpack`: the compact store's meshes), ``.drc``
        (Draco: :func:`encode_draco`, the compact store's meshes before ``meshpack``), ``.stl``
        or any other extension trimesh can export (``.obj``, ``.glb``, ``.off`` ...).
    binary : bool
        Binary encoding for ``.ply`` and ``.stl``; False writes ASCII. Ignored by other formats.

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    ValueError
        The mesh is not an ``(M, 3)`` triangle mesh with in-range indices, a coordinate is not
        finite in float32 (PLY), or trimesh cannot export the extension.
    """
    target = Path(os.fspath(path))
    ext = target.suffix.lower()
    vertices, faces = _checked_mesh(mesh)
    with atomic_write(target) as tmp:
        if ext == ".ply" and binary:
            with open(tmp, "wb") as stream:
                write_ply_binary(stream, vertices, faces)
        elif ext == ".drc":
            with open(tmp, "wb") as stream:
                stream.write(encode_draco(vertices, faces))
        elif ext == ".npz":
            write_packed_mesh(tmp, vertices, faces)
        else:
            data = _export_with_trimesh(mesh, ext, binary)
            with open(tmp, "wb") as stream:
                stream.write(data)
    return target


#: Draco's position quantization of the store's meshes: 16 bits over the mesh's box (error at
#: most the box's longest side / 2^17: under 2^-15 of the canonical cube's half-width)
DRACO_POSITION_BITS = 16
DRACO_COMPRESSION_LEVEL = 7


def encode_draco(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """A Draco mesh (DracoPy: positions quantized to :data:`DRACO_POSITION_BITS` over the box,
    edgebreaker connectivity; Draco may reorder vertices and faces, never changes a triangle).

    Parameters
    ----------
    vertices : (N, 3) array
    faces : (M, 3) integer array

    Returns
    -------
    bytes
    """
    import DracoPy

    return DracoPy.encode(np.asarray(vertices, np.float32), np.asarray(faces, np.uint32),
                          quantization_bits=DRACO_POSITION_BITS,
                          compression_level=DRACO_COMPRESSION_LEVEL)


def _checked_mesh(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Return vertices and faces after checking shapes and index range."""
    vertices = np.asarray(mesh.vertices)
    faces = np.asarray(mesh.faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"not a triangle mesh: vertices {vertices.shape}, faces {faces.shape}")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("face index out of range of the vertex array")
    return vertices, faces


def write_ply_binary(stream: BinaryIO, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a binary little-endian PLY with float32 vertices and int32 triangle indices.

    Parameters
    ----------
    stream : binary file object
        Open for writing.
    vertices : numpy.ndarray
        ``(N, 3)`` coordinates; stored as float32.
    faces : numpy.ndarray
        ``(M, 3)`` indices into ``vertices``; stored as int32.

    Raises
    ------
    ValueError
        A coordinate is NaN, infinite, or beyond float32 range, or there are more than 2**31 - 1
        vertices.
    """
    if len(vertices) > _INT32_MAX:
        raise ValueError(f"{len(vertices)} vertices do not fit int32 PLY indices")
    # casting beyond float32 range gives inf, which the check below reports
    with np.errstate(over="ignore"):
        v32 = np.ascontiguousarray(vertices, dtype="<f4")
    if not np.isfinite(v32).all():
        raise ValueError("vertex coordinates are not finite in float32 (NaN, inf or out of range)")
    records = np.empty(len(faces), dtype=_FACE_RECORD)
    records["count"] = 3
    records["indices"] = faces
    stream.write(_ply_header(len(v32), len(records)))
    # write the arrays' memory directly: no per-element formatting, no extra copy
    stream.write(v32.data)
    stream.write(records.view(np.uint8).data)


def _ply_header(n_vertices: int, n_faces: int) -> bytes:
    """Return the ASCII header of meshprep's binary PLY layout."""
    return (
        "ply\n"
        "format binary_little_endian 1.0\n"
        "comment written by meshprep\n"
        f"element vertex {n_vertices}\n"
        "property float x\n"
        "property float y\n"
        "property float z\n"
        f"element face {n_faces}\n"
        "property list uchar int vertex_indices\n"
        "end_header\n"
    ).encode("ascii")


def _export_with_trimesh(mesh: trimesh.Trimesh, ext: str, binary: bool) -> bytes:
    """Serialise with trimesh; STL and PLY honour ``binary``."""
    file_type = ext.lstrip(".")
    options: dict[str, str] = {}
    if file_type == "stl" and not binary:
        file_type = "stl_ascii"
    if file_type == "ply":
        options["encoding"] = "binary" if binary else "ascii"
    try:
        data = mesh.export(file_type=file_type, **options)
    except (ValueError, NotImplementedError, KeyError) as exc:
        raise ValueError(f"cannot write {ext or 'a file without extension'}: {exc}") from exc
    if isinstance(data, str):
        return data.encode("utf-8")
    if not isinstance(data, bytes | bytearray):
        raise ValueError(f"cannot write {ext}: exporter returned {type(data).__name__}")
    return bytes(data)
