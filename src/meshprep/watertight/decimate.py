"""Decimation that keeps a closed mesh closed: quadric edge collapses with a link condition.

fast-simplification (the usual choice) collapses edges without checking the topology around
them; on the thin slivers this package makes from sheets it pinches edges into non-manifold
ones (measured on the corpus's ``wallhole``). This module is a plain Garland-Heckbert quadric
decimator in numba that refuses any collapse that would break the 2-manifold:

- the *link condition*: the two end vertices share exactly two neighbours (the tips of the two
  triangles on the edge), and the merged vertex keeps at least three neighbours;
- no triangle around the edge may flip or collapse to zero area when the vertex moves.

A collapse that passes both keeps a closed, oriented 2-manifold closed and oriented, so the
result is closed by construction (and :func:`decimate_closed` re-checks it anyway).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ..geometry.topology import check_topology

#: most neighbours a merged vertex may have (keeps rings short and triangles well shaped)
MAX_VALENCE = 24


@nb.njit(cache=True, error_model="numpy")
def _face_quadrics(vertices, faces):
    """Sum of the plane quadrics (area-weighted) of the faces around each vertex, as 10 terms."""
    q = np.zeros((vertices.shape[0], 10))
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        e1 = (vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1],
              vertices[b, 2] - vertices[a, 2])
        e2 = (vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1],
              vertices[c, 2] - vertices[a, 2])
        nx = e1[1] * e2[2] - e1[2] * e2[1]
        ny = e1[2] * e2[0] - e1[0] * e2[2]
        nz = e1[0] * e2[1] - e1[1] * e2[0]
        length = math.sqrt(nx * nx + ny * ny + nz * nz)
        if length == 0.0:
            continue
        weight = 0.5 * length  # area: big faces weigh more
        nx, ny, nz = nx / length, ny / length, nz / length
        d = -(nx * vertices[a, 0] + ny * vertices[a, 1] + nz * vertices[a, 2])
        terms = (nx * nx, nx * ny, nx * nz, nx * d, ny * ny, ny * nz, ny * d, nz * nz, nz * d,
                 d * d)
        for k in range(3):
            for t in range(10):
                q[faces[f, k], t] += weight * terms[t]
    return q


@nb.njit(cache=True, error_model="numpy", inline="always")
def _quadric_cost(q, x, y, z):
    return (q[0] * x * x + 2 * q[1] * x * y + 2 * q[2] * x * z + q[4] * y * y + 2 * q[5] * y * z
            + q[7] * z * z + 2 * (q[3] * x + q[6] * y + q[8] * z) + q[9])


@nb.njit(cache=True, error_model="numpy")
def _optimal_point(q, pu, pv):
    """Minimiser of the quadric ``q`` (or the best of the midpoint and ends) and its cost."""
    a00, a01, a02, b0 = q[0], q[1], q[2], q[3]
    a11, a12, b1, a22, b2 = q[4], q[5], q[6], q[7], q[8]
    det = a00 * (a11 * a22 - a12 * a12) - a01 * (a01 * a22 - a12 * a02) \
        + a02 * (a01 * a12 - a11 * a02)
    scale = (a00 + a11 + a22) ** 3
    if scale > 0 and abs(det) > 1e-6 * scale:
        # a well-conditioned quadric: Cramer's rule on A x = -b
        x = (-b0 * (a11 * a22 - a12 * a12) + a01 * (b1 * a22 - a12 * b2)
             - a02 * (b1 * a12 - a11 * b2)) / det
        y = (a00 * (-b1 * a22 + a12 * b2) + b0 * (a01 * a22 - a12 * a02)
             + a02 * (-a01 * b2 + b1 * a02)) / det
        z = (a00 * (-a11 * b2 + b1 * a12) - a01 * (-a01 * b2 + b1 * a02)
             - b0 * (a01 * a12 - a11 * a02)) / det
    else:  # flat or a crease: a line or plane of minimisers; the midpoint is among the best
        x, y, z = 0.5 * (pu[0] + pv[0]), 0.5 * (pu[1] + pv[1]), 0.5 * (pu[2] + pv[2])
    cost = _quadric_cost(q, x, y, z)
    for p in (pu, pv):
        other = _quadric_cost(q, p[0], p[1], p[2])
        if other < cost - 1e-12 * abs(cost):
            x, y, z, cost = p[0], p[1], p[2], other
    return x, y, z, max(cost, 0.0)


@nb.njit(cache=True)
def _ring(vertex, head, next_corner, faces, alive, out):
    """Distinct neighbours of ``vertex`` (written to ``out``); prunes dead faces from its list."""
    n = 0
    c = head[vertex]
    prev = -1
    while c >= 0:
        f = c // 3
        nxt = next_corner[c]
        if not alive[f]:  # unlink corners of collapsed faces as we go
            if prev < 0:
                head[vertex] = nxt
            else:
                next_corner[prev] = nxt
            c = nxt
            continue
        for k in range(3):
            w = faces[f, k]
            if w == vertex:
                continue
            seen = False
            for m in range(n):
                if out[m] == w:
                    seen = True
                    break
            if not seen and n < out.shape[0]:
                out[n] = w
                n += 1
        prev = c
        c = nxt
    return n


@nb.njit(cache=True, error_model="numpy")
def _no_flip(vertex, other, tx, ty, tz, head, next_corner, faces, alive, vertices):
    """True when moving ``vertex`` to ``(tx, ty, tz)`` flips or flattens none of its faces
    that do not also hold ``other`` (those two disappear with the collapse)."""
    px, py, pz = vertices[vertex, 0], vertices[vertex, 1], vertices[vertex, 2]
    c = head[vertex]
    while c >= 0:
        f = c // 3
        if alive[f] and faces[f, 0] != other and faces[f, 1] != other and faces[f, 2] != other:
            k = c % 3
            a, b = faces[f, (k + 1) % 3], faces[f, (k + 2) % 3]
            ax, ay, az = vertices[a, 0], vertices[a, 1], vertices[a, 2]
            bx, by, bz = vertices[b, 0], vertices[b, 1], vertices[b, 2]
            # normals before and after the move: (a - p) x (b - p)
            n0 = (ay - py) * (bz - pz) - (az - pz) * (by - py)
            n1 = (az - pz) * (bx - px) - (ax - px) * (bz - pz)
            n2 = (ax - px) * (by - py) - (ay - py) * (bx - px)
            m0 = (ay - ty) * (bz - tz) - (az - tz) * (by - ty)
            m1 = (az - tz) * (bx - tx) - (ax - tx) * (bz - tz)
            m2 = (ax - tx) * (by - ty) - (ay - ty) * (bx - tx)
            before = math.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
            after = math.sqrt(m0 * m0 + m1 * m1 + m2 * m2)
            if after == 0.0:
                return False
            if before > 0.0 and n0 * m0 + n1 * m1 + n2 * m2 < 0.2 * before * after:
                return False
        c = next_corner[c]
    return True


@nb.njit(cache=True, error_model="numpy")
def _edge_costs(face, vertices, faces, quadrics, err):
    for k in range(3):
        u, v = faces[face, k], faces[face, (k + 1) % 3]
        err[face, k] = _optimal_point(quadrics[u] + quadrics[v], vertices[u], vertices[v])[3]


@nb.njit(cache=True, error_model="numpy")
def _sweep_threshold(err, alive, fraction, rng_state):
    """Cost below which about ``fraction`` of the live edges lie (from a sample)."""
    live = np.flatnonzero(alive)
    n = min(live.shape[0], 1 << 16)
    sample = np.empty(3 * n)
    for s in range(n):
        # a cheap linear congruential step: deterministic, no global random state
        rng_state = (rng_state * 6364136223846793005 + 1442695040888963407) & ((1 << 63) - 1)
        f = live[rng_state % live.shape[0]]
        sample[3 * s], sample[3 * s + 1], sample[3 * s + 2] = err[f, 0], err[f, 1], err[f, 2]
    sample.sort()
    return sample[min(3 * n - 1, int(fraction * 3 * n))], rng_state


@nb.njit(cache=True, error_model="numpy")
def _try_collapse(u, v, vertices, faces, quadrics, alive, head, next_corner, ring_u, ring_v,
                  mark, token):
    """Collapse ``v`` into ``u`` if the link condition and the flip test allow; returns the
    number of faces removed (0 or 2)."""
    nu = _ring(u, head, next_corner, faces, alive, ring_u)
    nv = _ring(v, head, next_corner, faces, alive, ring_v)
    for m in range(nu):
        mark[ring_u[m]] = token
    shared = 0
    for m in range(nv):
        if mark[ring_v[m]] == token:
            shared += 1
    # link condition (anything else pinches the surface), and a bounded valence
    if shared != 2 or nu + nv - 4 < 3 or nu + nv - 4 > MAX_VALENCE:
        return 0
    q = quadrics[u] + quadrics[v]
    tx, ty, tz, _ = _optimal_point(q, vertices[u], vertices[v])
    if not (_no_flip(u, v, tx, ty, tz, head, next_corner, faces, alive, vertices)
            and _no_flip(v, u, tx, ty, tz, head, next_corner, faces, alive, vertices)):
        return 0
    # the two faces on the edge die; v's other faces take u
    removed = 0
    c = head[v]
    while c >= 0:
        f = c // 3
        nxt = next_corner[c]
        if alive[f]:
            if faces[f, 0] == u or faces[f, 1] == u or faces[f, 2] == u:
                alive[f] = False
                removed += 1
            else:
                faces[f, c % 3] = u
                next_corner[c] = head[u]
                head[u] = c
        c = nxt
    head[v] = -1
    vertices[u, 0], vertices[u, 1], vertices[u, 2] = tx, ty, tz
    quadrics[u] = q
    return removed


@nb.njit(cache=True, error_model="numpy")
def _collapse_edges(vertices, faces, target_faces):
    """Sweeps over all faces collapsing every cheap edge whose neighbourhood is untouched.

    Each sweep collapses an independent set of edges whose cost is below a threshold taken from
    the live costs (no priority queue: a heap of millions of edges is bound by cache misses).
    """
    n_vertices, n_faces = vertices.shape[0], faces.shape[0]
    vertices = vertices.copy()
    faces = faces.copy()
    quadrics = _face_quadrics(vertices, faces)
    alive = np.ones(n_faces, np.bool_)
    head = np.full(n_vertices, -1, np.int64)
    next_corner = np.full(3 * n_faces, -1, np.int64)
    for c in range(3 * n_faces - 1, -1, -1):
        v = faces[c // 3, c % 3]
        next_corner[c] = head[v]
        head[v] = c
    err = np.empty((n_faces, 3))
    for f in range(n_faces):
        _edge_costs(f, vertices, faces, quadrics, err)
    ring_u = np.empty(4 * MAX_VALENCE, np.int64)
    ring_v = np.empty(4 * MAX_VALENCE, np.int64)
    mark = np.zeros(n_vertices, np.int64)
    touched = np.full(n_vertices, -1, np.int64)
    token, rng_state = 0, 12345
    remaining = n_faces
    for sweep in range(200):
        if remaining <= target_faces:
            break
        fraction = min(0.3, max(0.02, (remaining - target_faces) / remaining))
        threshold, rng_state = _sweep_threshold(err, alive, fraction, rng_state)
        collapsed = 0
        for f in range(n_faces):
            if remaining <= target_faces:
                break
            if not alive[f]:
                continue
            for k in range(3):
                u, v = faces[f, k], faces[f, (k + 1) % 3]
                if err[f, k] > threshold or touched[u] == sweep or touched[v] == sweep:
                    continue
                token += 1
                removed = _try_collapse(u, v, vertices, faces, quadrics, alive, head,
                                        next_corner, ring_u, ring_v, mark, token)
                if removed == 0:
                    continue
                remaining -= removed
                collapsed += 1
                # freeze the neighbourhood for this sweep and refresh the costs around u
                touched[u] = sweep
                c = head[u]
                while c >= 0:
                    g = c // 3
                    if alive[g]:
                        for m in range(3):
                            touched[faces[g, m]] = sweep
                        _edge_costs(g, vertices, faces, quadrics, err)
                    c = next_corner[c]
                break
        if collapsed == 0 and fraction >= 0.3:
            break  # nothing cheap enough can go without breaking the manifold
    return vertices, faces[alive]


def decimate_closed(
    vertices: np.ndarray, faces: np.ndarray, target_faces: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Reduce a closed 2-manifold to about ``target_faces`` faces, keeping it closed.

    Parameters
    ----------
    vertices : (V, 3) float
    faces : (F, 3) int
        A closed, oriented 2-manifold.
    target_faces : int
        Wanted face count. Fewer collapses happen when the link condition or a flip blocks
        them, so the result can have more faces (never fewer).

    Returns
    -------
    vertices, faces : arrays
        The decimated mesh with unused vertices dropped (or the input, see below).
    decimated : bool
        False when nothing was collapsed, or (never expected) the result failed the check and
        the input was returned instead.

    Examples
    --------
    >>> import trimesh
    >>> s = trimesh.creation.icosphere(4)
    >>> v, f, ok = decimate_closed(s.vertices, s.faces, 500)
    >>> ok, len(f) <= 500
    (True, True)
    """
    if target_faces <= 0 or len(faces) <= target_faces:
        return vertices, faces, False
    out_v, out_f = _collapse_edges(np.ascontiguousarray(vertices, np.float64),
                                   np.ascontiguousarray(faces, np.int64), int(target_faces))
    used = np.zeros(len(out_v), bool)
    used[out_f] = True
    remap = np.cumsum(used) - 1
    out_v, out_f = out_v[used], remap[out_f]
    if len(out_f) == len(faces) or not check_topology(out_v, out_f).closed_2manifold:
        return vertices, faces, False
    return out_v, out_f, True
