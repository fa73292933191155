"""Salient-edge samples: points on the sharp edges of a mesh (the Dora recipe).

The reference recipe (Dora, as published and as re-implemented in meshiki): take the edges whose
dihedral angle exceeds a threshold, put their end vertices first, then points along each edge in
proportion to its length at ``t = (j + 1) / (k + 1)``, then farthest point sampling down to
exactly ``N``. The published form rounds every edge's share up and lets farthest point sampling
trim the excess; here the shares are apportioned exactly (largest remainders), so the candidates
number exactly ``N`` and the sampling step is needed only when the salient vertices alone exceed
``N``. Everything is compiled (numba) and linear in the mesh size.

The edge set is the reference's (trimesh's face adjacency, angle between face normals), with
one deliberate difference: the reference gives a zero-area face a zero normal, so every edge it
shares measures 90 degrees and counts as salient; here such edges are not salient (they are an
artefact of the triangulation, not a crease).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from ._mesh import MeshLike, face_normals, mesh_arrays, weld
from .fps import farthest_point_sampling
from .surface import sample_surface

# the reference drops salient edges shorter than this (absolute, canonical-cube units)
MIN_EDGE_LENGTH = 1e-8


@dataclass(frozen=True)
class SalientEdges:
    """Salient edges of a mesh.

    Attributes
    ----------
    vertices : (V, 3) float64
        Vertex positions the edges index (welded if welding was asked for).
    edges : (E, 2) int64
        Vertex pairs, each row sorted, rows in lexicographic order.
    normals : (E, 3) float64
        Unit mean of the adjacent face normals (the one face's normal on a boundary edge).
    boundary : (E,) bool
        True for boundary edges (only present when asked for).
    """

    vertices: np.ndarray
    edges: np.ndarray
    normals: np.ndarray
    boundary: np.ndarray


@dataclass(frozen=True)
class SalientStats:
    """How a salient sample was made.

    Attributes
    ----------
    salient_edges : int
        Salient edges found (boundary edges included when asked for).
    salient_vertices : int
        Distinct end vertices of those edges.
    edge_points : int
        Points placed on the edges (vertices included).
    uniform_points : int
        Points filled in by uniform surface sampling because the mesh has no salient edge.
    farthest_point_sampled : bool
        Whether farthest point sampling reduced the salient vertices to the count.
    """

    salient_edges: int
    salient_vertices: int
    edge_points: int
    uniform_points: int
    farthest_point_sampled: bool

    @property
    def fallback(self) -> bool:
        """True when uniform samples stand in for missing salient edges."""
        return self.uniform_points > 0


@nb.njit(cache=True, error_model="numpy")
def _salient_table(vertices, faces, normals, threshold, boundary):
    """Group the face edges by undirected edge and keep the salient ones, in one pass.

    Face edges are bucketed by their smaller vertex (a counting sort, no global sort) and each
    small bucket is sorted by (larger vertex, face), so edges come out in lexicographic order.
    An edge is salient when exactly two distinct faces with normals meet on it at an angle
    (between normals: ``arccos`` of their dot product clipped to [-1, 1]) above ``threshold``,
    or, with ``boundary``, when it has one face with a normal; and it is longer than
    ``MIN_EDGE_LENGTH``. Returns ``(edges (E, 2), mean normals (E, 3), is_boundary (E,))``.
    """
    n_faces = faces.shape[0]
    n_vertices = vertices.shape[0]
    cos_threshold = math.cos(threshold)
    offsets = np.zeros(n_vertices + 1, np.int64)
    for f in range(n_faces):
        for k in range(3):
            a, b = faces[f, k], faces[f, (k + 1) % 3]
            offsets[min(a, b) + 1] += 1
    for v in range(n_vertices):
        offsets[v + 1] += offsets[v]
    fill = offsets[:-1].copy()
    other = np.empty(3 * n_faces, np.int64)
    owner = np.empty(3 * n_faces, np.int64)
    for f in range(n_faces):
        for k in range(3):
            a, b = faces[f, k], faces[f, (k + 1) % 3]
            lo = min(a, b)
            other[fill[lo]] = max(a, b)
            owner[fill[lo]] = f
            fill[lo] += 1
    edges = np.empty((16, 2), np.int64)
    mean = np.empty((16, 3))
    is_boundary = np.empty(16, np.bool_)
    n_out = 0
    for v in range(n_vertices):
        start, stop = offsets[v], offsets[v + 1]
        # insertion sort of the bucket by (other vertex, face): buckets hold a handful of entries
        for i in range(start + 1, stop):
            o, w = other[i], owner[i]
            j = i - 1
            while j >= start and (other[j] > o or (other[j] == o and owner[j] > w)):
                other[j + 1] = other[j]
                owner[j + 1] = owner[j]
                j -= 1
            other[j + 1] = o
            owner[j + 1] = w
        i = start
        while i < stop:
            j = i + 1
            while j < stop and other[j] == other[i]:
                j += 1
            count, u = j - i, other[i]
            f = owner[i]
            g = owner[i + 1] if count >= 2 else f
            i = j
            if count > 2 or (count == 2 and f == g) or (count == 1 and not boundary):
                continue  # non-manifold, folded inside one degenerate face, or not wanted
            n0x, n0y, n0z = normals[f, 0], normals[f, 1], normals[f, 2]
            n1x, n1y, n1z = normals[g, 0], normals[g, 1], normals[g, 2]
            if (n0x == 0.0 and n0y == 0.0 and n0z == 0.0) or \
                    (n1x == 0.0 and n1y == 0.0 and n1z == 0.0):
                continue  # a zero-area face has no normal, hence no angle
            if count == 2:
                dot = min(max(n0x * n1x + n0y * n1y + n0z * n1z, -1.0), 1.0)
                # acos only near or past the threshold: far above its cosine it is flat for sure
                if not (dot < cos_threshold + 1e-6 and math.acos(dot) > threshold):
                    continue
            dx = vertices[u, 0] - vertices[v, 0]
            dy = vertices[u, 1] - vertices[v, 1]
            dz = vertices[u, 2] - vertices[v, 2]
            if not math.sqrt(dx * dx + dy * dy + dz * dz) > MIN_EDGE_LENGTH:
                continue
            if n_out == edges.shape[0]:
                edges = _grow_int(edges)
                mean = _grow_float(mean)
                is_boundary = _grow_bool(is_boundary)
            edges[n_out, 0], edges[n_out, 1] = v, u
            is_boundary[n_out] = count == 1
            mx, my, mz = n0x, n0y, n0z
            if count == 2:
                mx, my, mz = n0x + n1x, n0y + n1y, n0z + n1z
            norm = math.sqrt(mx * mx + my * my + mz * mz)
            if norm > 1e-12:
                mean[n_out, 0], mean[n_out, 1], mean[n_out, 2] = mx / norm, my / norm, mz / norm
            else:
                # opposite normals (a folded sheet) have no mean: keep the first face's
                mean[n_out, 0], mean[n_out, 1], mean[n_out, 2] = n0x, n0y, n0z
            n_out += 1
    return edges[:n_out].copy(), mean[:n_out].copy(), is_boundary[:n_out].copy()


@nb.njit(cache=True)
def _grow_int(array):
    # double the rows of an output buffer
    out = np.empty((2 * array.shape[0], array.shape[1]), array.dtype)
    for row in range(array.shape[0]):  # loops: a slice assignment compiles 3 s longer
        for column in range(array.shape[1]):
            out[row, column] = array[row, column]
    return out


@nb.njit(cache=True)
def _grow_float(array):
    out = np.empty((2 * array.shape[0], array.shape[1]), array.dtype)
    for row in range(array.shape[0]):  # loops: a slice assignment compiles 3 s longer
        for column in range(array.shape[1]):
            out[row, column] = array[row, column]
    return out


@nb.njit(cache=True)
def _grow_bool(array):
    out = np.empty(2 * array.shape[0], array.dtype)
    for row in range(array.shape[0]):
        out[row] = array[row]
    return out


@nb.njit(cache=True)
def _used_vertices(edges, n_vertices):
    # the distinct end vertices, ascending (np.unique without the sort)
    seen = np.zeros(n_vertices, np.bool_)
    for e in range(edges.shape[0]):
        seen[edges[e, 0]] = True
        seen[edges[e, 1]] = True
    return np.flatnonzero(seen)


def salient_edges(
    mesh: MeshLike,
    angle: float = 30.0,
    *,
    boundary: bool = False,
    weld_vertices: bool = True,
) -> SalientEdges:
    """Find the edges whose dihedral angle exceeds ``angle`` degrees.

    The dihedral angle here is the angle between the two adjacent face normals (0 on a flat
    surface, as in the reference recipe and ``trimesh.Trimesh.face_adjacency_angles``). Only
    edges shared by exactly two distinct faces are measured; non-manifold edges are skipped, as
    in the reference. Edges next to a zero-area face (no normal) are not salient.

    Parameters
    ----------
    mesh : trimesh.Trimesh or (vertices, faces)
    angle : float
        Threshold in degrees; an edge is salient when its angle is strictly greater.
    boundary : bool
        Also count boundary edges (one adjacent face) of open meshes as salient.
    weld_vertices : bool
        Merge bit-identical vertices first. Exporters split vertices along hard edges, which
        would otherwise turn exactly the salient edges into boundaries.

    Returns
    -------
    SalientEdges

    Examples
    --------
    >>> import trimesh
    >>> len(salient_edges(trimesh.creation.box()).edges)  # the 12 edges of a cube
    12
    """
    vertices, faces = mesh_arrays(mesh)
    if weld_vertices:
        vertices, faces = weld(vertices, faces)
    if len(faces) == 0:
        empty = np.zeros((0, 2), np.int64)
        return SalientEdges(vertices, empty, np.zeros((0, 3)), np.zeros(0, bool))
    normals, _ = face_normals(vertices, faces)
    edges, mean, is_boundary = _salient_table(vertices, faces, normals, math.radians(angle),
                                              boundary)
    return SalientEdges(vertices, edges, mean, is_boundary)


def _apportion(lengths: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` points over edges in proportion to length, summing to ``total`` exactly.

    Largest-remainder rounding (Hamilton's method): floor every share, then give one more point
    to the edges with the largest fractional parts (ties to the lower index, deterministic).
    """
    share = lengths * (total / lengths.sum())
    counts = np.floor(share).astype(np.int64)
    short = total - int(counts.sum())
    if short > 0:
        # stable sort on the negated remainders: ties keep edge order
        counts[np.argsort(counts - share, kind="stable")[:short]] += 1
    return counts


@nb.njit(cache=True, error_model="numpy")
def _assemble(vertices, ids, id_normals, edges, edge_normals, counts, offsets, slot,
              points, normals):
    # write every candidate straight to its (shuffled) row, as float32: vertices first, then
    # k points strictly inside each edge at t = (j + 1) / (k + 1), as in the reference
    n_ids = ids.shape[0]
    for i in range(n_ids):
        row = slot[i]
        for c in range(3):
            points[row, c] = vertices[ids[i], c]
            normals[row, c] = id_normals[i, c]
    for e in range(edges.shape[0]):
        k = counts[e]
        a, b = edges[e, 0], edges[e, 1]
        for j in range(k):
            t = (j + 1.0) / (k + 1.0)
            row = slot[n_ids + offsets[e] + j]
            for c in range(3):
                points[row, c] = vertices[a, c] + t * (vertices[b, c] - vertices[a, c])
                normals[row, c] = edge_normals[e, c]


@nb.njit(cache=True, error_model="numpy")
def _vertex_normals(n_vertices, edges, edge_normals, ids):
    """Unit sum of the normals of the salient edges meeting at each vertex in ``ids``.

    Where they cancel (a vertex between opposite creases), the normal of its first edge.
    """
    summed = np.zeros((n_vertices, 3))
    first = np.full(n_vertices, -1, np.int64)
    for e in range(edges.shape[0]):
        for end in range(2):
            v = edges[e, end]
            if first[v] < 0:
                first[v] = e
            for c in range(3):
                summed[v, c] += edge_normals[e, c]
    out = np.empty((ids.shape[0], 3))
    for i in range(ids.shape[0]):
        v = ids[i]
        norm = np.sqrt(summed[v, 0] ** 2 + summed[v, 1] ** 2 + summed[v, 2] ** 2)
        for c in range(3):
            out[i, c] = summed[v, c] / norm if norm > 1e-12 else edge_normals[first[v], c]
    return out


def sample_salient(
    mesh: MeshLike,
    count: int,
    *,
    angle: float = 30.0,
    boundary: bool = False,
    weld_vertices: bool = True,
    seed: int | np.random.Generator | None = 0,
    shuffle: bool = True,
    return_stats: bool = False,
) -> tuple:
    """Sample exactly ``count`` points on the salient (sharp) edges of a mesh.

    The reference recipe: salient edges (dihedral angle above ``angle``), their end vertices
    first, then points along each edge in proportion to its length (``t = (j + 1) / (k + 1)``),
    then farthest point sampling down to ``count`` when the vertices alone are more than
    ``count``. A mesh without any salient edge is filled with uniform surface samples instead,
    so the count is always exact; ``return_stats`` reports it.

    Which mesh to sample is the caller's choice: the original asset (its creases are exact) or
    the watertight one (what the SDF supervision is computed against).

    Parameters
    ----------
    mesh : trimesh.Trimesh or (vertices, faces)
    count : int
        Number of points, ``>= 0``.
    angle : float
        Dihedral threshold in degrees (default 30, as in Dora).
    boundary : bool
        Count boundary edges of open meshes as salient.
    weld_vertices : bool
        Merge bit-identical vertices before finding edges (see :func:`salient_edges`).
    seed : int, numpy.random.Generator or None
        Seeds the farthest point sampling start, the uniform fallback and the shuffle.
    shuffle : bool
        Return the points in a seeded random order. Without it vertices come first, then edge
        points edge by edge; trainers that slice the array (e.g. Hunyuan3D's per-sigma blocks)
        want it shuffled.
    return_stats : bool
        Also return a :class:`SalientStats`.

    Returns
    -------
    points : (count, 3) float32
    normals : (count, 3) float32
        Unit mean of the adjacent face normals (at a vertex: of its salient edges' normals;
        face normals for uniform fill points).
    stats : SalientStats
        Only when ``return_stats``.

    Examples
    --------
    >>> import trimesh
    >>> points, normals = sample_salient(trimesh.creation.box(), 5000, seed=0)
    >>> points.shape
    (5000, 3)
    >>> bool((abs(abs(points) - 0.5) < 1e-6).sum(axis=1).min() >= 2)  # all on cube edges
    True
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = np.random.default_rng(seed)
    found = salient_edges(mesh, angle, boundary=boundary, weld_vertices=weld_vertices)
    if len(found.edges) == 0:
        points, normals = sample_surface(mesh, count, seed=rng)
        stats = SalientStats(0, 0, 0, count, False)
        return (points, normals, stats) if return_stats else (points, normals)
    ids = _used_vertices(found.edges, len(found.vertices))
    n_vertices = len(ids)
    fps = n_vertices > count
    if fps:
        # more salient vertices than points: spread the count over them by farthest points
        ids = ids[farthest_point_sampling(found.vertices[ids], count, seed=rng)]
        per_edge = np.zeros(len(found.edges), np.int64)
    else:
        lengths = np.linalg.norm(
            found.vertices[found.edges[:, 1]] - found.vertices[found.edges[:, 0]], axis=1
        )
        per_edge = _apportion(lengths, count - n_vertices)
    offsets = np.cumsum(per_edge) - per_edge
    slot = rng.permutation(count) if shuffle else np.arange(count)
    points = np.empty((count, 3), np.float32)
    normals = np.empty((count, 3), np.float32)
    id_normals = _vertex_normals(len(found.vertices), found.edges, found.normals, ids)
    _assemble(found.vertices, ids, id_normals, found.edges, found.normals, per_edge, offsets,
              slot, points, normals)
    stats = SalientStats(len(found.edges), n_vertices, count, 0, fps)
    return (points, normals, stats) if return_stats else (points, normals)
