"""Topology checks: is a triangle mesh a closed, consistently oriented 2-manifold?

The checks run in O(faces) with numba (no sorting of edge lists), so they can be run on every
output of the watertight step, including meshes of tens of millions of faces.

A mesh is a *closed 2-manifold* here when
- no face repeats a vertex (no degenerate faces),
- every undirected edge is shared by exactly two faces, which traverse it in opposite
  directions (closed, edge-manifold, consistently oriented),
- around every vertex the incident faces form one single fan (vertex-manifold).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba as nb
import numpy as np

from .._jit import njit
from ..errors import TopologyError


@dataclass(frozen=True)
class TopologyReport:
    """Counts that describe the topology of a triangle mesh."""

    vertices: int
    faces: int
    edges: int
    degenerate_faces: int
    boundary_edges: int
    nonmanifold_edges: int
    misoriented_edges: int
    nonmanifold_vertices: int
    components: int
    euler: int
    genus: int | None
    closed_2manifold: bool

    def as_dict(self) -> dict:
        """The report as a plain ``dict`` (for JSON)."""
        return asdict(self)


@njit(cache=True, parallel=True)
def _fill_outgoing(faces, starts):
    """Scatter the directed edges ``a -> b`` of every face ``(a, b, c)`` into CSR rows.

    Faces are cut into ``len(starts)`` chunks written in parallel; ``starts[t, v]`` is where
    chunk ``t`` writes its first edge leaving vertex ``v``, so the chunks never collide.
    """
    n_chunks = starts.shape[0]
    ends = np.empty(3 * faces.shape[0], faces.dtype)
    thirds = np.empty(3 * faces.shape[0], faces.dtype)
    size = (faces.shape[0] + n_chunks - 1) // n_chunks
    for t in nb.prange(n_chunks):
        fill = starts[t]
        for f in range(t * size, min(faces.shape[0], (t + 1) * size)):
            a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
            ends[fill[a]], thirds[fill[a]] = b, c
            fill[a] += 1
            ends[fill[b]], thirds[fill[b]] = c, a
            fill[b] += 1
            ends[fill[c]], thirds[fill[c]] = a, b
            fill[c] += 1
    return ends, thirds


def _outgoing_edges(faces: np.ndarray, n_vertices: int):
    """CSR table of directed edges grouped by their start vertex.

    Returns offsets (n_vertices + 1), the end vertex and the opposite (third) vertex of the face
    for each directed edge ``a -> b`` of every face ``(a, b, c)``.
    """
    n_chunks = max(1, min(nb.get_num_threads(), len(faces) // 100_000))
    size = -(-len(faces) // n_chunks)
    # positions fit int32 below 2^31 directed edges: half the memory on huge meshes
    index = np.int32 if 3 * len(faces) < np.iinfo(np.int32).max else np.int64
    counts = [np.bincount(faces[t * size:(t + 1) * size].ravel(), minlength=n_vertices)
              .astype(index) for t in range(n_chunks)]
    offsets = np.zeros(n_vertices + 1, np.int64)
    offsets[1:] = np.cumsum(sum(counts), dtype=np.int64)
    # chunk t starts each row after the edges that chunks 0..t-1 put there
    starts = np.empty((n_chunks, n_vertices), index)
    running = offsets[:-1].astype(index)
    for t, count in enumerate(counts):
        starts[t] = running
        running += count
    del counts, running
    ends, thirds = _fill_outgoing(faces, starts)
    return offsets, ends, thirds


@njit(cache=True, parallel=True)
def _edge_defects(offsets, ends, n_vertices):
    """Boundary, non-manifold and misoriented directed-edge counts (parallel reductions)."""
    boundary = 0
    nonmanifold = 0
    misoriented = 0
    for a in nb.prange(n_vertices):
        for i in range(offsets[a], offsets[a + 1]):
            b = ends[i]
            same = 0
            for j in range(offsets[a], offsets[a + 1]):
                if ends[j] == b:
                    same += 1
            reverse = 0
            for j in range(offsets[b], offsets[b + 1]):
                if ends[j] == a:
                    reverse += 1
            if same > 1:
                misoriented += 1
            if same + reverse == 1:
                boundary += 1
            elif same + reverse > 2:
                nonmanifold += 1
    return boundary, nonmanifold, misoriented


@njit(cache=True, parallel=True)
def _nonmanifold_vertices(offsets, ends, thirds, n_vertices):
    """Count vertices whose incident faces do not form one closed fan.

    Only meaningful when every edge is manifold and oriented; the link of vertex ``v`` is then a
    permutation ``b -> c`` over its neighbours, and the vertex is manifold when it is one cycle.
    """
    bad = 0
    for v in nb.prange(n_vertices):
        start, stop = offsets[v], offsets[v + 1]
        degree = stop - start
        if degree == 0:
            continue
        current = start
        steps = 0
        while True:
            steps += 1
            nxt = thirds[current]
            found = -1
            for j in range(start, stop):
                if ends[j] == nxt:
                    found = j
                    break
            if found < 0 or found == start or steps > degree:
                break
            current = found
        if not (found == start and steps == degree):
            bad += 1
    return bad


@njit(cache=True, parallel=True)
def _count_degenerate(faces):
    """Faces that use a vertex twice (no temporary arrays: outputs can have 10^8 faces)."""
    count = 0
    for f in nb.prange(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        if a == b or b == c or c == a:
            count += 1
    return count


@nb.njit(cache=True)
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression keeps later finds O(1)
        parent[x], x = root, parent[x]
    return root


@nb.njit(cache=True)
def _components(faces, n_vertices):
    """Number of connected components of the vertices used by ``faces``."""
    parent = np.arange(n_vertices).astype(faces.dtype)
    used = np.zeros(n_vertices, np.bool_)
    for f in range(faces.shape[0]):
        a = _find(parent, faces[f, 0])
        used[faces[f, 0]] = True
        for k in range(1, 3):
            used[faces[f, k]] = True
            b = _find(parent, faces[f, k])
            if a != b:
                parent[b] = a
    count = 0
    for v in range(n_vertices):
        if used[v] and _find(parent, v) == v:
            count += 1
    return count


@njit(cache=True, parallel=True)
def _count_undirected_edges(offsets, ends, n_vertices):
    """Distinct undirected edges, from the directed-edge table (no sort, no key array)."""
    count = 0
    for a in nb.prange(n_vertices):
        for i in range(offsets[a], offsets[a + 1]):
            b = ends[i]
            repeated = False
            for j in range(offsets[a], i):
                if ends[j] == b:
                    repeated = True
                    break
            if repeated:
                continue
            if a < b:
                count += 1
                continue
            reverse = False
            for j in range(offsets[b], offsets[b + 1]):
                if ends[j] == a:
                    reverse = True
                    break
            if not reverse:
                count += 1
    return count


def weld_exact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices with bit-identical coordinates (STL-style soups) and reindex faces."""
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    # each row as one 24-byte value: a byte sort, several times faster than unique(axis=0)
    rows = vertices.view(np.dtype((np.void, 24))).reshape(-1)
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return vertices[first], inverse.reshape(-1)[faces]


def check_topology(vertices: np.ndarray, faces: np.ndarray) -> TopologyReport:
    """Measure the topology of a triangle mesh.

    Parameters
    ----------
    vertices : (N, 3) array
    faces : (M, 3) integer array

    Returns
    -------
    TopologyReport
        ``closed_2manifold`` is True when the mesh is closed, edge- and vertex-manifold,
        consistently oriented and free of degenerate faces. ``genus`` is given for closed
        2-manifolds (summed over components), else None.

    Examples
    --------
    >>> import trimesh
    >>> box = trimesh.creation.box()
    >>> check_topology(box.vertices, box.faces).closed_2manifold
    True
    """
    n_vertices = len(vertices)
    faces = np.asarray(faces)
    # int32 whenever the indices fit (half the memory of the edge tables on huge outputs),
    # whatever the input's dtype: one specialization of each kernel to compile, not an int32
    # one for the watertight output and an int64 one for the input (a fresh install compiles
    # every kernel on first use)
    small = n_vertices < np.iinfo(np.int32).max and 3 * len(faces) < np.iinfo(np.int32).max
    faces = np.ascontiguousarray(faces, dtype=np.int32 if small else np.int64)
    if len(faces) == 0:
        return TopologyReport(n_vertices, 0, 0, 0, 0, 0, 0, 0, 0, n_vertices, None, False)
    n_degenerate = int(_count_degenerate(faces))
    offsets, ends, thirds = _outgoing_edges(faces, n_vertices)
    boundary, nonmanifold, misoriented = _edge_defects(offsets, ends, n_vertices)
    edges_ok = boundary == 0 and nonmanifold == 0 and misoriented == 0 and n_degenerate == 0
    # the fan test assumes manifold, oriented edges; without them the vertex count is moot
    bad_vertices = int(_nonmanifold_vertices(offsets, ends, thirds, n_vertices)) if edges_ok else -1
    n_edges = (3 * len(faces) // 2 if edges_ok
               else int(_count_undirected_edges(offsets, ends, n_vertices)))
    n_used = int(np.count_nonzero(np.diff(offsets)))  # vertices with at least one face
    components = int(_components(faces, n_vertices))
    euler = n_used - n_edges + len(faces)
    closed = bool(edges_ok and bad_vertices == 0)
    genus = (2 * components - euler) // 2 if closed else None
    return TopologyReport(
        vertices=n_used,
        faces=len(faces),
        edges=int(n_edges),
        degenerate_faces=n_degenerate,
        boundary_edges=int(boundary),
        nonmanifold_edges=int(nonmanifold),
        misoriented_edges=int(misoriented),
        nonmanifold_vertices=bad_vertices,
        components=components,
        euler=int(euler),
        genus=genus,
        closed_2manifold=closed,
    )


def require_closed_manifold(vertices: np.ndarray, faces: np.ndarray) -> TopologyReport:
    """Like :func:`check_topology`, but raise :class:`TopologyError` unless closed 2-manifold."""
    report = check_topology(vertices, faces)
    if not report.closed_2manifold:
        raise TopologyError(
            "output is not a closed 2-manifold: "
            f"{report.boundary_edges} boundary, {report.nonmanifold_edges} non-manifold, "
            f"{report.misoriented_edges} misoriented edges, "
            f"{report.nonmanifold_vertices} non-manifold vertices, "
            f"{report.degenerate_faces} degenerate faces"
        )
    return report
