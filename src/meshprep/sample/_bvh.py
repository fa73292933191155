"""A bounding volume hierarchy over triangles for exact closest-point queries, in numba.

The tree is implicit: triangles are sorted along a Morton (Z-order) curve of their centroids and
a complete binary tree of ``2**depth`` leaves is laid over them. Node ``k`` has children
``2k + 1`` and ``2k + 2``; leaf ``j`` holds triangles ``[j * M >> depth, (j + 1) * M >> depth)``,
about ``LEAF_TRIANGLES`` of them. No child pointers and no surface-area heuristic: building is
one sort and a few linear passes.

Each node is bounded twice: by its axis-aligned box and by a box oriented along the mean normal
of its triangles. On a smooth patch the oriented box is a thin slab, so for a point at distance
``d`` it excludes the patch unless the patch lies within about its own width of the foot point;
the axis-aligned box of a tilted patch is as thick as the patch is wide and excludes far less
(measured: twice fewer triangle tests for points far from the surface).

Queries run point by point, depth first, nearest node first, two levels at a time (a node's four
grandchildren are consecutive rows), pruning nodes whose lower bound is not below the best
distance so far. Points are sorted along the same Morton curve, and each query starts from the
triangle closest to the previous point (or a hinted one), which makes the first bound tight.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

from .._jit import njit

# average triangles per leaf (leaves hold floor or ceil of it); 2.5 and 10 measured ~10 % slower
LEAF_TRIANGLES = 5.0
# points per parallel work item; warm starts run along a chunk
CHUNK = 256
# nodes over at most this many triangles get an oriented box (larger ones are too curved)
ORIENTED_MAX_TRIANGLES = 256
# per node, float32: box lo xyz, hi xyz; oriented box centre xyz, axes n, u, v (xyz each),
# half-extents along n, u, v (inf: no oriented box)
NODE_WIDTH = 21
# absolute widening of the float32 cylinder bounds: far above the rounding of coordinates in
# the canonical cube (~1e-7), far below any distance that matters
_MARGIN = 1e-6

# closest-feature codes returned by the point-triangle kernel
FACE = 0
EDGE01, EDGE12, EDGE20 = 1, 2, 3
VERT0, VERT1, VERT2 = 4, 5, 6


class Bvh(NamedTuple):
    """Arrays of the implicit tree (see the module docstring)."""

    triangles: np.ndarray  # (M, 9) float64 corners in tree order
    order: np.ndarray  # (M,) int64: tree position -> original face index
    nodes: np.ndarray  # (2**(depth + 1) - 1, NODE_WIDTH) float32 bounds
    depth: int  # levels below the root; leaves start at node 2**depth - 1


@nb.njit(cache=True, inline="always")
def _spread10(x):
    # insert two zero bits between each of the 10 low bits (x in [0, 1023])
    x = (x | (x << 16)) & 0x030000FF
    x = (x | (x << 8)) & 0x0300F00F
    x = (x | (x << 4)) & 0x030C30C3
    x = (x | (x << 2)) & 0x09249249
    return x


@nb.njit(cache=True, inline="always", error_model="numpy")
def _morton(x, y, z, lo, scale):
    qx = min(max(int((x - lo[0]) * scale), 0), 1023)
    qy = min(max(int((y - lo[1]) * scale), 0), 1023)
    qz = min(max(int((z - lo[2]) * scale), 0), 1023)
    return (_spread10(qx) << 2) | (_spread10(qy) << 1) | _spread10(qz)


@njit(cache=True, parallel=True, error_model="numpy")
def _point_codes(points, lo, scale):
    out = np.empty(points.shape[0], np.int64)
    for i in nb.prange(points.shape[0]):
        out[i] = _morton(points[i, 0], points[i, 1], points[i, 2], lo, scale)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def _triangle_codes(vertices, faces, lo, scale):
    out = np.empty(faces.shape[0], np.int64)
    for f in nb.prange(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        x = (vertices[a, 0] + vertices[b, 0] + vertices[c, 0]) / 3.0
        y = (vertices[a, 1] + vertices[b, 1] + vertices[c, 1]) / 3.0
        z = (vertices[a, 2] + vertices[b, 2] + vertices[c, 2]) / 3.0
        out[f] = _morton(x, y, z, lo, scale)
    return out


def _grid(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, float]:
    extent = float((hi - lo).max())
    return lo, (1023.999 / extent if extent > 0 else 0.0)


def morton_order(points: np.ndarray) -> np.ndarray:
    """Indices that sort ``points`` (N, 3) along a Z-order curve over their bounding box."""
    if len(points) == 0:
        return np.zeros(0, np.int64)
    points = np.ascontiguousarray(points, dtype=np.float64)
    lo, scale = _grid(points.min(axis=0), points.max(axis=0))
    return np.argsort(_point_codes(points, lo, scale), kind="stable")


@njit(cache=True, parallel=True)
def _gather_triangles(vertices, faces, order):
    out = np.empty((order.shape[0], 9))
    for t in nb.prange(order.shape[0]):
        f = order[t]
        for c in range(3):
            for a in range(3):
                out[t, 3 * c + a] = vertices[faces[f, c], a]
    return out


@nb.njit(cache=True, inline="always")
def _leaf_range(j, depth, n_tri):
    return (j * n_tri) >> depth, ((j + 1) * n_tri) >> depth


@nb.njit(cache=True, inline="always")
def _down(x):
    # the largest float32 not above x
    y = np.float32(x)
    return np.nextafter(y, np.float32(-np.inf)) if np.float64(y) > x else y


@nb.njit(cache=True, inline="always")
def _up(x):
    # the smallest float32 not below x
    y = np.float32(x)
    return np.nextafter(y, np.float32(np.inf)) if np.float64(y) < x else y


@njit(cache=True, parallel=True, error_model="numpy")
def _leaf_boxes(triangles, depth, nodes):
    # float32 boxes rounded outwards, so that storage never shrinks them
    first = (1 << depth) - 1
    for j in nb.prange(1 << depth):
        start, stop = _leaf_range(j, depth, triangles.shape[0])
        node = first + j
        for a in range(3):
            lo, hi = np.inf, -np.inf
            for t in range(start, stop):
                for c in range(3):
                    x = triangles[t, 3 * c + a]
                    lo = min(lo, x)
                    hi = max(hi, x)
            nodes[node, a] = _down(lo)
            nodes[node, 3 + a] = _up(hi)


@nb.njit(cache=True, error_model="numpy")
def _inner_boxes(depth, nodes):
    # the union of the children, bottom-up
    for node in range((1 << depth) - 2, -1, -1):
        left, right = 2 * node + 1, 2 * node + 2
        for a in range(3):
            nodes[node, a] = min(nodes[left, a], nodes[right, a])
            nodes[node, 3 + a] = max(nodes[left, 3 + a], nodes[right, 3 + a])


@njit(cache=True, parallel=True, error_model="numpy")
def _leaf_normals(triangles, depth, sums):
    # area-weighted normal sums (cross products) of each leaf's triangles
    first = (1 << depth) - 1
    for j in nb.prange(1 << depth):
        start, stop = _leaf_range(j, depth, triangles.shape[0])
        sx = sy = sz = 0.0
        for t in range(start, stop):
            e1x = triangles[t, 3] - triangles[t, 0]
            e1y = triangles[t, 4] - triangles[t, 1]
            e1z = triangles[t, 5] - triangles[t, 2]
            e2x = triangles[t, 6] - triangles[t, 0]
            e2y = triangles[t, 7] - triangles[t, 1]
            e2z = triangles[t, 8] - triangles[t, 2]
            sx += e1y * e2z - e1z * e2y
            sy += e1z * e2x - e1x * e2z
            sz += e1x * e2y - e1y * e2x
        sums[first + j, 0], sums[first + j, 1], sums[first + j, 2] = sx, sy, sz


@njit(cache=True, parallel=True, error_model="numpy")
def _oriented_boxes(triangles, depth, max_level, sums, nodes):
    # for every node at level >= max_level, the tightest box with axes n (area-weighted mean
    # normal), u (the coordinate axis most perpendicular to n, made perpendicular) and
    # v = n x u: on a smooth patch a thin slab whose sides follow its Morton cell
    n_tri = triangles.shape[0]
    nodes[:, 6:18] = 0.0
    nodes[:, 18:21] = np.inf
    first = (1 << max_level) - 1
    for node in nb.prange(first, nodes.shape[0]):
        level = max_level
        while (1 << (level + 1)) - 1 <= node:
            level += 1
        j = node - ((1 << level) - 1)
        shift = depth - level
        start, _ = _leaf_range(j << shift, depth, n_tri)
        _, stop = _leaf_range(((j + 1) << shift) - 1, depth, n_tri)
        sx, sy, sz = sums[node, 0], sums[node, 1], sums[node, 2]
        norm = math.sqrt(sx * sx + sy * sy + sz * sz)
        if norm == 0.0 or stop <= start:
            continue
        # the axes as the query will read them (float32)
        nx = np.float64(np.float32(sx / norm))
        ny = np.float64(np.float32(sy / norm))
        nz = np.float64(np.float32(sz / norm))
        ax, ay, az = abs(nx), abs(ny), abs(nz)
        if ax <= ay and ax <= az:
            ux, uy, uz = 1.0 - nx * nx, -nx * ny, -nx * nz
        elif ay <= az:
            ux, uy, uz = -ny * nx, 1.0 - ny * ny, -ny * nz
        else:
            ux, uy, uz = -nz * nx, -nz * ny, 1.0 - nz * nz
        norm = math.sqrt(ux * ux + uy * uy + uz * uz)
        ux = np.float64(np.float32(ux / norm))
        uy = np.float64(np.float32(uy / norm))
        uz = np.float64(np.float32(uz / norm))
        vx = np.float64(np.float32(ny * uz - nz * uy))
        vy = np.float64(np.float32(nz * ux - nx * uz))
        vz = np.float64(np.float32(nx * uy - ny * ux))
        # extents of the corners along each axis, then the box centre and half sizes
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for t in range(start, stop):
            for c in range(3):
                x, y, z = triangles[t, 3 * c], triangles[t, 3 * c + 1], triangles[t, 3 * c + 2]
                h = x * nx + y * ny + z * nz
                a = x * ux + y * uy + z * uz
                b = x * vx + y * vy + z * vz
                lo[0], hi[0] = min(lo[0], h), max(hi[0], h)
                lo[1], hi[1] = min(lo[1], a), max(hi[1], a)
                lo[2], hi[2] = min(lo[2], b), max(hi[2], b)
        mh, ma, mb = 0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), 0.5 * (lo[2] + hi[2])
        cx = np.float32(mh * nx + ma * ux + mb * vx)
        cy = np.float32(mh * ny + ma * uy + mb * vy)
        cz = np.float32(mh * nz + ma * uz + mb * vz)
        nodes[node, 6], nodes[node, 7], nodes[node, 8] = cx, cy, cz
        nodes[node, 9], nodes[node, 10], nodes[node, 11] = nx, ny, nz
        nodes[node, 12], nodes[node, 13], nodes[node, 14] = ux, uy, uz
        nodes[node, 15], nodes[node, 16], nodes[node, 17] = vx, vy, vz
        # half extents measured from the stored (rounded) centre, exactly as the query does
        ch = np.float64(cx) * nx + np.float64(cy) * ny + np.float64(cz) * nz
        ca = np.float64(cx) * ux + np.float64(cy) * uy + np.float64(cz) * uz
        cb = np.float64(cx) * vx + np.float64(cy) * vy + np.float64(cz) * vz
        nodes[node, 18] = max(hi[0] - ch, ch - lo[0]) + _MARGIN
        nodes[node, 19] = max(hi[1] - ca, ca - lo[1]) + _MARGIN
        nodes[node, 20] = max(hi[2] - cb, cb - lo[2]) + _MARGIN


@nb.njit(cache=True, error_model="numpy")
def _inner_sums(depth, sums):
    for node in range((1 << depth) - 2, -1, -1):
        for a in range(3):
            sums[node, a] = sums[2 * node + 1, a] + sums[2 * node + 2, a]


@nb.njit(cache=True)
def _bounds(vertices):
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for i in range(vertices.shape[0]):
        for a in range(3):
            lo[a] = min(lo[a], vertices[i, a])
            hi[a] = max(hi[a], vertices[i, a])
    return lo, hi


def build_bvh(vertices: np.ndarray, faces: np.ndarray) -> Bvh:
    """Build the implicit BVH of a triangle mesh (float64 vertices, int64 faces, M > 0)."""
    n_tri = len(faces)
    lo, scale = _grid(*_bounds(vertices))
    order = np.argsort(_triangle_codes(vertices, faces, lo, scale), kind="stable")
    triangles = _gather_triangles(vertices, faces, order)
    depth = max(0, math.ceil(math.log2(max(1.0, n_tri / LEAF_TRIANGLES))))
    nodes = np.empty(((1 << (depth + 1)) - 1, NODE_WIDTH), np.float32)
    _leaf_boxes(triangles, depth, nodes)
    _inner_boxes(depth, nodes)
    sums = np.empty((len(nodes), 3))
    _leaf_normals(triangles, depth, sums)
    _inner_sums(depth, sums)
    # oriented boxes on the levels whose nodes hold at most ORIENTED_MAX_TRIANGLES
    levels = int(math.floor(math.log2(max(1.0, ORIENTED_MAX_TRIANGLES / LEAF_TRIANGLES))))
    _oriented_boxes(triangles, depth, max(0, depth - levels), sums, nodes)
    return Bvh(triangles, order, nodes, depth)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _lower_bound(nodes, k, px, py, pz, limit):
    """Squared distance from p to node ``k``: the larger of its oriented and its plain box.

    The oriented box goes first: deep in the tree it is the one that prunes.
    """
    slab = 0.0
    eh = np.float64(nodes[k, 18])
    if eh != np.inf:
        rx = px - np.float64(nodes[k, 6])
        ry = py - np.float64(nodes[k, 7])
        rz = pz - np.float64(nodes[k, 8])
        dh = abs(rx * np.float64(nodes[k, 9]) + ry * np.float64(nodes[k, 10])
                 + rz * np.float64(nodes[k, 11])) - eh
        du = abs(rx * np.float64(nodes[k, 12]) + ry * np.float64(nodes[k, 13])
                 + rz * np.float64(nodes[k, 14])) - np.float64(nodes[k, 19])
        dv = abs(rx * np.float64(nodes[k, 15]) + ry * np.float64(nodes[k, 16])
                 + rz * np.float64(nodes[k, 17])) - np.float64(nodes[k, 20])
        dh, du, dv = max(dh, 0.0), max(du, 0.0), max(dv, 0.0)
        slab = dh * dh + du * du + dv * dv
        if slab >= limit:
            return slab
    dx = max(np.float64(nodes[k, 0]) - px, 0.0, px - np.float64(nodes[k, 3]))
    dy = max(np.float64(nodes[k, 1]) - py, 0.0, py - np.float64(nodes[k, 4]))
    dz = max(np.float64(nodes[k, 2]) - pz, 0.0, pz - np.float64(nodes[k, 5]))
    return max(slab, dx * dx + dy * dy + dz * dz)


@nb.njit(cache=True, inline="always")
def _d2(x, y, z):
    return x * x + y * y + z * z


@nb.njit(cache=True, error_model="numpy")
def closest_on_triangle(px, py, pz, tri, t):
    """Closest point of triangle ``t`` (a row of ``tri``) to ``p``, and its feature code.

    The Voronoi-region walk of Ericson, *Real-Time Collision Detection* 5.1.5: the point is
    tested against the regions of the three corners, then the three edges, then the face, so
    the returned feature is exact up to rounding. A zero-area triangle resolves to a corner or
    an edge. Returns ``(d2, code, cx, cy, cz)``.
    """
    ax, ay, az = tri[t, 0], tri[t, 1], tri[t, 2]
    bx, by, bz = tri[t, 3], tri[t, 4], tri[t, 5]
    cx, cy, cz = tri[t, 6], tri[t, 7], tri[t, 8]
    abx, aby, abz = bx - ax, by - ay, bz - az
    acx, acy, acz = cx - ax, cy - ay, cz - az
    apx, apy, apz = px - ax, py - ay, pz - az
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    if d1 <= 0.0 and d2 <= 0.0:
        return _d2(apx, apy, apz), VERT0, ax, ay, az
    bpx, bpy, bpz = px - bx, py - by, pz - bz
    d3 = abx * bpx + aby * bpy + abz * bpz
    d4 = acx * bpx + acy * bpy + acz * bpz
    if d3 >= 0.0 and d4 <= d3:
        return _d2(bpx, bpy, bpz), VERT1, bx, by, bz
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        v = d1 / (d1 - d3) if d1 != d3 else 0.0
        qx, qy, qz = ax + v * abx, ay + v * aby, az + v * abz
        return _d2(px - qx, py - qy, pz - qz), EDGE01, qx, qy, qz
    cpx, cpy, cpz = px - cx, py - cy, pz - cz
    d5 = abx * cpx + aby * cpy + abz * cpz
    d6 = acx * cpx + acy * cpy + acz * cpz
    if d6 >= 0.0 and d5 <= d6:
        return _d2(cpx, cpy, cpz), VERT2, cx, cy, cz
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        w = d2 / (d2 - d6) if d2 != d6 else 0.0
        qx, qy, qz = ax + w * acx, ay + w * acy, az + w * acz
        return _d2(px - qx, py - qy, pz - qz), EDGE20, qx, qy, qz
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        span = (d4 - d3) + (d5 - d6)
        w = (d4 - d3) / span if span != 0.0 else 0.0
        qx, qy, qz = bx + w * (cx - bx), by + w * (cy - by), bz + w * (cz - bz)
        return _d2(px - qx, py - qy, pz - qz), EDGE12, qx, qy, qz
    denom = va + vb + vc
    if denom <= 0.0:
        # rounding on a needle triangle: its corners and edges were all tested above
        return _d2(apx, apy, apz), VERT0, ax, ay, az
    v = vb / denom
    w = vc / denom
    qx, qy, qz = ax + abx * v + acx * w, ay + aby * v + acy * w, az + abz * v + acz * w
    return _d2(px - qx, py - qy, pz - qz), FACE, qx, qy, qz


@njit(cache=True, parallel=True, error_model="numpy")
def closest_points(points, triangles, nodes, depth, chunk, hints):
    """Exact closest triangle for every point (points already in Morton order).

    ``hints`` (tree positions, -1 for none) name a triangle known to be near each point, e.g.
    the face a near-surface point was offset from. The first bound is the distance to it or to
    the previous point's closest triangle, whichever is smaller.
    The binary tree is walked two levels at a time: a visited node's four grandchildren (four
    consecutive rows) are bounded at once, which skips bounding the children in between.
    Returns ``(d2, tri, code, closest)``: squared distance, tree position of the triangle, its
    feature code and the closest point.
    """
    n = points.shape[0]
    out_d2 = np.empty(n)
    out_t = np.empty(n, np.int64)
    out_code = np.empty(n, np.int8)
    out_c = np.empty((n, 3))
    first_leaf = (1 << depth) - 1
    n_tri = triangles.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    for c in nb.prange(n_chunks):
        stack = np.empty(2 * depth + 8, np.int64)
        stack_d2 = np.empty(2 * depth + 8)
        bound = np.empty(4)
        prev = 0
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            px, py, pz = points[i, 0], points[i, 1], points[i, 2]
            # warm start: the previous point's triangle or a hinted one, whichever is nearer,
            # bounds the distance
            bt = prev
            best, bcode, bx, by, bz = closest_on_triangle(px, py, pz, triangles, bt)
            if hints[i] >= 0:
                d2, code, qx, qy, qz = closest_on_triangle(px, py, pz, triangles, hints[i])
                if d2 < best:
                    best, bt, bcode, bx, by, bz = d2, hints[i], code, qx, qy, qz
            stack[0] = 0
            stack_d2[0] = 0.0
            top = 1
            while top > 0:
                top -= 1
                node = stack[top]
                if stack_d2[top] >= best:
                    continue
                if node >= first_leaf:
                    start, stop = _leaf_range(node - first_leaf, depth, n_tri)
                    for t in range(start, stop):
                        d2, code, qx, qy, qz = closest_on_triangle(px, py, pz, triangles, t)
                        if d2 < best:
                            best, bt, bcode, bx, by, bz = d2, t, code, qx, qy, qz
                    continue
                # grandchildren if there are two levels below, else the two leaf children
                if 4 * node + 3 < nodes.shape[0]:
                    base, width = 4 * node + 3, 4
                else:
                    base, width = 2 * node + 1, 2
                for j in range(width):
                    bound[j] = _lower_bound(nodes, base + j, px, py, pz, best)
                # push survivors sorted by decreasing bound: the nearest is popped first
                low = top
                for j in range(width):
                    d = bound[j]
                    if d >= best:
                        continue
                    k = top
                    while k > low and stack_d2[k - 1] < d:
                        stack[k] = stack[k - 1]
                        stack_d2[k] = stack_d2[k - 1]
                        k -= 1
                    stack[k] = base + j
                    stack_d2[k] = d
                    top += 1
            out_d2[i] = best
            out_t[i] = bt
            out_code[i] = bcode
            out_c[i, 0], out_c[i, 1], out_c[i, 2] = bx, by, bz
            prev = bt
    return out_d2, out_t, out_code, out_c
