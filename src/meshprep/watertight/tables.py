"""Marching-cubes tables built from first principles, consistent by construction.

Classic marching-cubes tables leave ambiguous faces to chance, which creates cracks and
non-manifold edges. Here every cube face decides its own ambiguity by a rule that depends only
on the signs of that face's four corners (inside corners that are diagonal on a face are joined,
outside ones separated), so the two cubes sharing a face always cut it the same way. On each
face the cut is a set of oriented segments between crossed edges; chained together they form
closed cycles, and each cycle becomes one polygon. The result, for any scalar field without
exact zeros at grid points, is a closed, oriented 2-manifold: every mesh edge lies either on a
cube face (shared by exactly the two cubes beside it) or inside one polygon.

Polygons of more than three vertices are fanned from a vertex whose diagonals stay off the
cube faces (a diagonal lying on a face could be repeated by the neighbouring cube). With the
face rule above such a vertex exists for all 256 cases; the builder asserts it.

Conventions
-----------
Corner ``c`` of a cube sits at offset ``(c & 1, (c >> 1) & 1, (c >> 2) & 1)`` along (x, y, z).
A corner is *inside* when its value is negative; bit ``c`` of the case index is set then.
Triangles are oriented counter-clockwise seen from outside (normals point out).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

CORNERS = np.array([(c & 1, (c >> 1) & 1, (c >> 2) & 1) for c in range(8)], dtype=np.int64)

# edge k joins corners EDGES[k] = (lower, upper), along axis EDGE_AXIS[k]
EDGES = np.array(
    [(c, c | (1 << a)) for a in range(3) for c in range(8) if not c & (1 << a)], dtype=np.int64
)
EDGE_AXIS = np.array([a for a in range(3) for c in range(8) if not c & (1 << a)], dtype=np.int64)

MAX_TRIANGLES = 5


def _edge_between(c0: int, c1: int) -> int:
    lo, hi = min(c0, c1), max(c0, c1)
    return int(np.flatnonzero((EDGES[:, 0] == lo) & (EDGES[:, 1] == hi))[0])


def _faces() -> list[tuple[np.ndarray, np.ndarray]]:
    """The 6 cube faces: (corners counter-clockwise about the outward normal, outward normal)."""
    faces = []
    for axis, side in itertools.product(range(3), (0, 1)):
        corners = [c for c in range(8) if ((c >> axis) & 1) == side]
        normal = np.zeros(3)
        normal[axis] = 1.0 if side else -1.0
        centre = CORNERS[corners].mean(axis=0)
        u, v = [a for a in range(3) if a != axis]
        angle = [np.arctan2(CORNERS[c][v] - centre[v], CORNERS[c][u] - centre[u]) for c in corners]
        ordered = [corners[i] for i in np.argsort(angle)]
        p = CORNERS[ordered].astype(float)
        if np.dot(np.cross(p[1] - p[0], p[2] - p[1]), normal) < 0:
            ordered = ordered[::-1]
        faces.append((np.array(ordered), normal))
    return faces


def _midpoint(edge: int) -> np.ndarray:
    return CORNERS[EDGES[edge]].mean(axis=0).astype(float)


def _face_segments(case: int, corners: np.ndarray, normal: np.ndarray) -> list[tuple[int, int]]:
    """Oriented segments (edge -> edge) cutting one face, inside corners on their right."""
    inside = [bool(case >> c & 1) for c in corners]
    crossed = [i for i in range(4) if inside[i] != inside[(i + 1) % 4]]
    if not crossed:
        return []
    edge_of = {i: _edge_between(corners[i], corners[(i + 1) % 4]) for i in crossed}
    if len(crossed) == 2:
        pairs = [(edge_of[crossed[0]], edge_of[crossed[1]])]
        inside_points = [CORNERS[c] for c, flag in zip(corners, inside, strict=True) if flag]
        reference, inside_on_right = np.mean(inside_points, axis=0), True
    else:
        # ambiguous face: cut off each outside corner on its own, which joins the inside ones
        pairs, reference = [], None
        for i in range(4):
            if not inside[i]:
                pairs.append((edge_of[(i - 1) % 4], edge_of[i]))
    segments = []
    for a, b in pairs:
        if reference is None:  # ambiguous case: the outside corner between a and b is on the left
            corner = corners[[i for i in range(4) if not inside[i] and
                              {edge_of.get((i - 1) % 4), edge_of.get(i)} == {a, b}][0]]
            target, inside_on_right = CORNERS[corner], False
        else:
            target = reference
        d = _midpoint(b) - _midpoint(a)
        left = np.cross(normal, d)
        side = np.dot(left, target - (_midpoint(a) + _midpoint(b)) / 2)
        on_right = side < 0
        if on_right != inside_on_right:
            a, b = b, a
        segments.append((a, b))
    return segments


def _cycles(segments: list[tuple[int, int]]) -> list[list[int]]:
    nxt = dict(segments)
    if len(nxt) != len(segments) or set(nxt) != set(nxt.values()):
        raise AssertionError("face segments do not chain into cycles")
    cycles, seen = [], set()
    for start in sorted(nxt):
        if start in seen:
            continue
        cycle, e = [], start
        while e not in seen:
            seen.add(e)
            cycle.append(e)
            e = nxt[e]
        cycles.append(cycle)
    return cycles


def _share_face(e0: int, e1: int, faces) -> bool:
    corners = set(EDGES[e0]) | set(EDGES[e1])
    return any(corners <= set(face) for face, _ in faces)


def _triangulate(cycle: list[int], faces) -> list[tuple[int, int, int]]:
    n = len(cycle)
    for apex in range(n):
        rotated = cycle[apex:] + cycle[:apex]
        if not any(_share_face(rotated[0], rotated[m], faces) for m in range(2, n - 1)):
            return [(rotated[0], rotated[m], rotated[m + 1]) for m in range(1, n - 1)]
    raise AssertionError(f"no fan apex keeps the diagonals of {cycle} off the cube faces")


@functools.cache
def marching_cubes_tables() -> tuple[np.ndarray, np.ndarray]:
    """Build the 256-case tables.

    Returns
    -------
    triangles : (256, MAX_TRIANGLES, 3) int64
        Per case, the cube edges (0..11) whose vertices make each triangle; padded with -1.
    n_triangles : (256,) int64
        Number of triangles per case.
    """
    faces = _faces()
    triangles = np.full((256, MAX_TRIANGLES, 3), -1, dtype=np.int64)
    n_triangles = np.zeros(256, dtype=np.int64)
    for case in range(256):
        segments = [s for corners, normal in faces for s in _face_segments(case, corners, normal)]
        tris = [t for cycle in _cycles(segments) for t in _triangulate(cycle, faces)]
        n_triangles[case] = len(tris)
        if tris:
            triangles[case, : len(tris)] = tris
    return triangles, n_triangles
