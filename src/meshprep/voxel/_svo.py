"""Sparse voxel octree (SVO) of one ``.vxz`` chunk and its attribute delta filters, in numba.

Written from the algorithms of TRELLIS.2's C++ (``o-voxel/src/io/svo.cpp``,
``filter_parent.cpp``, ``filter_neighbor.cpp``); the byte streams are the same, the code is not
a translation (no recursion, no dense grid).

Octree bytes (``svo.cpp``)
    A chunk of side ``2**depth`` holds voxels whose local Morton codes (:mod:`.morton`) have
    ``3 * depth`` bits. Level ``j`` (root ``j = 0``) branches on the 3-bit group
    ``(code >> 3 * (depth - 1 - j)) & 7``. Each internal node is one byte, the bit mask of its
    occupied children (bit ``k`` = child ``k``), and nodes are listed in depth-first pre-order
    from the root; the nodes of level ``depth - 1`` hold the masks of the voxels themselves.
    Encoding walks the sorted codes: voxel ``i`` shares the path of voxel ``i - 1`` down to the
    first level where their groups differ (at most ``depth - 1``), sets its bit there and opens
    one new node on each deeper level.

``parent`` filter (``filter_parent.cpp``)
    Stores ``N`` rows: row 0 is the first voxel's attributes; then, for each internal node in
    pre-order, one row per child after the first, ``value(child k) - value(child k - 1)``
    (uint8, modulo 256), where a node's value is that of its first voxel in depth-first order.
    Hence the row of voxel ``i > 0`` belongs to the node where its path leaves voxel ``i - 1``'s
    and is ``attr[i] - attr[p]``, ``p`` the first voxel of the previous sibling subtree, i.e. the
    last voxel before ``i`` that left its own predecessor's path at that level or above.

``neighbor`` filter (``filter_neighbor.cpp``)
    Row ``i`` is ``attr[i] - attr[m]`` with ``m`` the first occupied voxel among the offsets
    ``(-1,-1,-1), (0,-1,-1), (-1,0,-1), (-1,-1,0), (0,0,-1), (0,-1,0), (-1,0,0)`` (the C++ checks
    them in the reverse order and keeps the last hit), or ``attr[i]`` when none is occupied. Such
    a neighbour is dominated coordinate-wise, so its Morton code is smaller: decoding in Morton
    order always finds it already restored.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from meshprep.geometry.morton import _spread

# svo_decode status codes
OK = 0
TRUNCATED = 1  # a node's children run past the end of the bytes
TRAILING = 2  # bytes left after the root's subtree

# neighbour offsets of the ``neighbor`` filter, highest priority first (see the module docstring)
_NEIGHBOR_OFFSETS = np.array(
    [[1, 1, 1], [0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]], np.int64
)


@nb.njit(cache=True, inline="always")
def _split_level(a, b, depth):
    # first octree level whose 3-bit group differs between codes a and b (depth - 1 if none)
    x = a ^ b
    if x == 0:
        return depth - 1
    h = 0
    while x > 7:
        x >>= 3
        h += 1
    return depth - 1 - h


@nb.njit(cache=True, nogil=True)
def svo_encode(codes, depth):
    """Octree bytes of sorted, distinct Morton codes below ``8**depth`` (``depth >= 1``)."""
    n = codes.shape[0]
    size = 1
    if n > 0:
        size += depth - 1
    for i in range(1, n):
        size += depth - 1 - _split_level(codes[i], codes[i - 1], depth)
    svo = np.zeros(size, np.uint8)
    node = np.zeros(depth, np.int64)  # byte index of the open node on each level
    top = 0  # next free byte after the root
    for i in range(n):
        c = codes[i]
        f = 0 if i == 0 else _split_level(c, codes[i - 1], depth)
        for j in range(f, depth):
            if j > f:
                top += 1
                node[j] = top
            svo[node[j]] |= np.uint8(1 << ((c >> (3 * (depth - 1 - j))) & 7))
    return svo


@nb.njit(cache=True, nogil=True)
def _svo_walk(svo, depth, codes, write):
    # depth-first walk of the octree bytes; stores the codes when write, returns (count, status)
    n = svo.shape[0]
    if n == 0:
        return 0, TRUNCATED
    mask = np.zeros(depth, np.int64)  # children of the open node on each level not yet visited
    prefix = np.zeros(depth, np.int64)  # code prefix of the open node on each level
    mask[0] = svo[0]
    ptr = 1
    count = 0
    level = 0
    while level >= 0:
        m = mask[level]
        if level == depth - 1:
            base = prefix[level] << 3
            for k in range(8):
                if m & (1 << k):
                    if write:
                        codes[count] = base | k
                    count += 1
            mask[level] = 0
            level -= 1
        elif m == 0:
            level -= 1
        else:
            k = 0
            while not (m >> k) & 1:
                k += 1
            mask[level] = m & ~(1 << k)
            if ptr >= n:
                return count, TRUNCATED
            prefix[level + 1] = (prefix[level] << 3) | k
            level += 1
            mask[level] = svo[ptr]
            ptr += 1
    if ptr != n:
        return count, TRAILING
    return count, OK


@nb.njit(cache=True, nogil=True)
def svo_decode(svo, depth):
    """Sorted Morton codes of octree bytes and a status (``OK``, ``TRUNCATED``, ``TRAILING``)."""
    count, status = _svo_walk(svo, depth, np.empty(0, np.int64), False)
    codes = np.empty(count if status == OK else 0, np.int64)
    if status == OK:
        _svo_walk(svo, depth, codes, True)
    return codes, status


@nb.njit(cache=True, nogil=True)
def parent_rows(svo, codes, depth):
    """For the ``parent`` filter: each voxel's delta row and its reference voxel.

    Returns ``(row, ref)``, int64 arrays of ``len(codes)``; voxel 0 has row 0 and ref -1.
    ``svo`` must be the octree of ``codes``.
    """
    n = codes.shape[0]
    # first delta row of each node: nodes in pre-order, (children - 1) rows each, after row 0
    first_row = np.empty(svo.shape[0], np.int64)
    r = 1
    for b in range(svo.shape[0]):
        first_row[b] = r
        v = svo[b]
        cnt = 0
        while v:
            cnt += v & 1
            v >>= 1
        r += cnt - 1
    row = np.empty(n, np.int64)
    ref = np.empty(n, np.int64)
    node = np.zeros(depth, np.int64)  # byte index of the open node on each level
    nchild = np.zeros(depth, np.int64)  # children of the open node seen so far
    first = np.zeros(depth, np.int64)  # first voxel of the open node's latest child
    top = 0
    for i in range(n):
        f = 0 if i == 0 else _split_level(codes[i], codes[i - 1], depth)
        if i == 0:
            row[0] = 0
            ref[0] = -1
        else:
            row[i] = first_row[node[f]] + nchild[f] - 1
            ref[i] = first[f]
        for j in range(f, depth):
            if j > f:
                top += 1
                node[j] = top
                nchild[j] = 0
            nchild[j] += 1
            first[j] = i
    return row, ref


@nb.njit(cache=True, nogil=True)
def parent_decode(row, ref, delta):
    """Attributes from ``parent`` deltas, given :func:`parent_rows` of the chunk."""
    n, c = delta.shape
    attr = np.empty((n, c), np.uint8)
    for i in range(n):
        r = row[i]
        p = ref[i]
        for k in range(c):
            if p < 0:
                attr[i, k] = delta[r, k]
            else:
                attr[i, k] = attr[p, k] + delta[r, k]
    return attr


@nb.njit(cache=True, nogil=True)
def neighbor_refs(codes, coords):
    """For the ``neighbor`` filter: index of each voxel's reference neighbour, or -1.

    ``codes`` are the sorted Morton codes of the local ``coords`` (same order).
    """
    n = codes.shape[0]
    ref = np.full(n, -1, np.int64)
    for i in range(n):
        x = np.int64(coords[i, 0])
        y = np.int64(coords[i, 1])
        z = np.int64(coords[i, 2])
        for o in range(_NEIGHBOR_OFFSETS.shape[0]):
            dx = _NEIGHBOR_OFFSETS[o, 0]
            dy = _NEIGHBOR_OFFSETS[o, 1]
            dz = _NEIGHBOR_OFFSETS[o, 2]
            if x < dx or y < dy or z < dz:
                continue
            target = (_spread(x - dx) << 2) | (_spread(y - dy) << 1) | _spread(z - dz)
            lo = 0
            hi = i  # a dominated neighbour precedes voxel i in Morton order
            while lo < hi:
                mid = (lo + hi) >> 1
                if codes[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < i and codes[lo] == target:
                ref[i] = lo
                break
    return ref


@nb.njit(cache=True, nogil=True)
def neighbor_decode(ref, delta):
    """Attributes from ``neighbor`` deltas, given :func:`neighbor_refs` of the chunk."""
    n, c = delta.shape
    attr = np.empty((n, c), np.uint8)
    for i in range(n):
        p = ref[i]
        for k in range(c):
            if p < 0:
                attr[i, k] = delta[i, k]
            else:
                attr[i, k] = attr[p, k] + delta[i, k]
    return attr
