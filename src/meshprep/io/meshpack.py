"""The compact store's triangle meshes (``watertight.npz``): 16-bit vertices, packed faces.

A store's watertight mesh has about a million faces; as binary PLY it takes 23 MB, as Draco
0.4 MB (median of the corpus) but 0.15 s to decode, ten times a PLY read. This encoding takes
1.1 MB and reads about as fast as the PLY (``benchmarks/bench_store.py``): sequential passes,
the vertices and each half of the faces on the decode threads
(:func:`meshprep.io.packing.decode_pool`):

* **vertices**: 16-bit fixed point over the mesh's box (one step for all axes,
  ``extent / 65535``: error at most half a step, as Draco's 16-bit quantization), interleaved
  into 48-bit Morton codes (:mod:`meshprep.geometry.morton`), sorted, stored as deltas;
* **faces**: indices into the sorted vertices, each face rotated to start at its smallest
  index (winding kept) and the faces sorted; stored as three non-negative streams: the first
  index's step from the previous face's, and the other two indices' offsets from the first
  (neighbours on a surface sit close in Morton order, so the offsets are small);

each stream as byte planes of the fewest bytes its largest value needs, compressed with
Zstandard (:mod:`meshprep.io.packing`). Vertices and faces come back reordered, every triangle
(and its winding) unchanged. The file is an ``.npz`` whose ``encoding`` key says
:data:`MESH_ENCODING`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from meshprep._jit import njit
from meshprep.errors import CorruptFileError
from meshprep.geometry.morton import decode_to_grid, morton_encode
from meshprep.io.packing import (
    decode_pool,
    load_members,
    narrow_planes,
    running_codes,
    scratch,
    squeeze,
    unsqueeze,
)

#: the ``encoding`` key of a packed mesh file
MESH_ENCODING = "meshprep-mesh-1"
_LEVELS = 65535


def pack_mesh(vertices: np.ndarray, faces: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of a packed mesh file (for ``np.savez``).

    Parameters
    ----------
    vertices : (N, 3) float array
        Finite coordinates.
    faces : (M, 3) integer array
        Indices into ``vertices``.

    Returns
    -------
    dict
        ``encoding``, ``counts`` (vertices, faces), ``origin`` and ``step`` of the grid,
        ``widths`` (bytes per value of the vertex and three face streams), ``vertices_z`` and
        ``faces_z`` (the compressed planes).
    """
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    origin = vertices.min(axis=0) if len(vertices) else np.zeros(3)
    extent = float((vertices.max(axis=0) - origin).max()) if len(vertices) else 0.0
    step = extent / _LEVELS if extent > 0 else 1.0
    grid = np.clip(np.rint((vertices - origin) / step), 0, _LEVELS).astype(np.int64)
    morton = morton_encode(grid)
    sort = np.argsort(morton, kind="stable")
    vertex_planes, vertex_width = narrow_planes(np.diff(morton[sort], prepend=np.int64(0)))
    rank = np.empty(len(sort), np.int64)
    rank[sort] = np.arange(len(sort))
    streams, face_widths = _face_streams(rank[faces])
    return {
        "encoding": np.array(MESH_ENCODING),
        "counts": np.array([len(vertices), len(faces)], np.int64),
        "origin": origin.astype(np.float64),
        "step": np.float64(step),
        "widths": np.array([vertex_width, *face_widths], np.int64),
        "vertices_z": squeeze(vertex_planes),
        "faces_z": squeeze(streams),
    }


def _face_streams(faces: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Faces rotated to their smallest index and sorted, as three byte-planed streams."""
    faces = _rotated(np.ascontiguousarray(faces, np.int64))
    faces = faces[np.argsort(faces[:, 0] * (faces[:, 1].max(initial=0) + 1) + faces[:, 1])]
    parts, widths = [], []
    for values in (np.diff(faces[:, 0], prepend=np.int64(0)), faces[:, 1] - faces[:, 0],
                   faces[:, 2] - faces[:, 0]):
        planes, width = narrow_planes(values)
        parts.append(planes)
        widths.append(width)
    return np.concatenate(parts) if parts else np.zeros(0, np.uint8), widths


@njit(cache=True, nogil=True)
def _rotated(faces):
    """Each face turned (cyclically: the winding is kept) to start at its smallest index."""
    out = np.empty_like(faces)
    for i in range(faces.shape[0]):
        a, b, c = faces[i, 0], faces[i, 1], faces[i, 2]
        if b < a and b <= c:
            a, b, c = b, c, a
        elif c < a and c < b:
            a, b, c = c, a, b
        out[i, 0], out[i, 1], out[i, 2] = a, b, c
    return out


def unpack_mesh(arrays) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (float64 ``(N, 3)``, trimesh's dtype) and faces (int64 ``(M, 3)``) of
    :func:`pack_mesh`'s arrays (a dict or an open ``.npz``)."""
    if str(arrays["encoding"]) != MESH_ENCODING:
        raise ValueError(f"unknown mesh encoding {arrays['encoding']}")
    vertex_count, face_count = (int(c) for c in arrays["counts"])
    vertex_width, *face_widths = (int(w) for w in arrays["widths"])
    pool = decode_pool()  # vertices, and each half of the faces, decoded in parallel
    vertices = pool.submit(_unpack_vertices, arrays["vertices_z"], vertex_width, vertex_count,
                           np.asarray(arrays["origin"], np.float64), float(arrays["step"]))
    size = sum(face_widths) * face_count  # in the scratch buffer 0 of this thread, which waits
    streams = unsqueeze(arrays["faces_z"], size, out=scratch(0, size))
    widths = np.array(face_widths, np.int64)
    faces = np.empty((face_count, 3), np.int64)
    half = face_count // 2
    first = _stream_sum(streams, widths[0], face_count, half)  # the running index at ``half``
    largest = [pool.submit(_faces_into, faces, streams, widths, begin, end, start)
               for begin, end, start in ((0, half, 0), (half, face_count, first))]
    if max((job.result() for job in largest), default=-1) >= vertex_count:
        raise ValueError("a face index beyond the vertices")
    return vertices.result(), faces


def _unpack_vertices(packed: np.ndarray, width: int, count: int, origin: np.ndarray,
                     step: float) -> np.ndarray:
    return decode_to_grid(running_codes(packed, width, count), origin, step,
                          np.empty((count, 3), np.float64))


@njit(cache=True, nogil=True)
def _stream_sum(streams, width, count, stop):
    """Sum of the first ``stop`` values of the first byte-planed stream."""
    total = np.int64(0)
    for b in range(width):
        plane = np.int64(0)
        for i in range(stop):
            plane += streams[b * count + i]
        total += plane << (8 * b)
    return total


@njit(cache=True, nogil=True)
def _faces_into(out, streams, widths, begin, end, first):
    """Faces ``begin:end`` of the three byte-planed streams into ``out`` (``first``: the first
    index's running value before ``begin``), in one sequential pass; the largest index."""
    count = out.shape[0]
    second = widths[0] * count  # where each stream's planes start
    third = second + widths[1] * count
    largest = np.int64(-1)
    for i in range(begin, end):
        first += _planed(streams, i, 0, widths[0], count)
        b = first + _planed(streams, i, second, widths[1], count)
        c = first + _planed(streams, i, third, widths[2], count)
        out[i, 0], out[i, 1], out[i, 2] = first, b, c
        largest = max(largest, max(b, c))  # b, c >= first: offsets are non-negative
    return largest


@njit(cache=True, nogil=True, inline="always")
def _planed(streams, i, start, width, count):
    """Value ``i`` of a stream of ``width`` byte planes at ``start`` (the usual widths, 1 to 3,
    unrolled: 20 % faster than a loop over the planes)."""
    value = np.int64(streams[start + i])
    if width > 1:
        value |= np.int64(streams[start + count + i]) << 8
    if width > 2:
        value |= np.int64(streams[start + 2 * count + i]) << 16
    for b in range(3, width):
        value |= np.int64(streams[start + b * count + i]) << (8 * b)
    return value


def write_packed_mesh(path: str | os.PathLike[str], vertices: np.ndarray, faces: np.ndarray
                      ) -> None:
    """Write :func:`pack_mesh`'s arrays to ``path`` (an ``.npz``, not compressed again)."""
    with open(path, "wb") as stream:
        np.savez(stream, **pack_mesh(vertices, faces))


def read_packed_mesh(path: str | os.PathLike[str]) -> trimesh.Trimesh:
    """The triangle mesh of a :func:`write_packed_mesh` file.

    Raises
    ------
    CorruptFileError
        When the file is not a packed mesh or its data do not decode.
    """
    path = Path(path)
    try:
        vertices, faces = unpack_mesh(load_members(path))
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"{path.name}: not a meshprep packed mesh ({exc})") from exc
    return trimesh.Trimesh(vertices, faces, process=False)
