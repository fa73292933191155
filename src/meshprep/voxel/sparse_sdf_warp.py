"""The sparse SDF band with Warp, every step on the device (a GPU when there is one).

The same file as the CPU path of :mod:`meshprep.voxel.sparse_sdf`, nodes in the same order,
from the same output mesh (the watertight step's contour, in grid coordinates):

1. **Blocks**: each output triangle marks the 8³ blocks within ``reach`` of the block of its
   lowest cell; an exclusive scan numbers the marked blocks in raster order (the CPU path's
   ``_band_blocks``).
2. **Signs**: each output vertex on an x grid edge sets that edge's bit in a dense ``res³``
   bit grid (128 MB at 1024³, on the device); one thread per 32 x lines turns the bits into
   the parity of the crossings below each node. The grid border is outside, so the parity is the
   watertight step's own sign, the CPU path's ``_x_lines`` parity.
3. **Values**: one closest-point query per node of the blocks on Warp's BVH of the output,
   limited to ``truncation`` (exact, where the CPU path propagates).
4. **Compaction**: an exclusive scan of the kept flags places each kept node; the node
   indices (uint16) and ``distance / truncation`` (float16) are written on the device, so only
   the result comes back.
"""

from __future__ import annotations

import math

import numpy as np

from ..warp_device import _mesh, _warp, resolve_device
from .sparse_sdf import NOT_A_CONTOUR

_KERNELS = None
#: a contour vertex is at least ~0.02 voxel from both ends of its edge (the field's floor):
#: float32 grid coordinates on a grid line are far closer than this to the integer
_ON_LINE = 1.0e-3


def _kernels():  # noqa: C901  (Warp kernels are defined together, once)
    """Warp kernels, defined on first use (importing this module does not need Warp)."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    wp = _warp()

    @wp.func
    def off_line(x: float, tolerance: float):
        return wp.abs(x - wp.round(x)) >= tolerance

    @wp.func
    def word_of(i: int, j: int, k: int, res: int, words: int):
        """The parity grid's word of node (i, j, k): 32 nodes along z per word, x slowest."""
        return (i * res + j) * words + (k >> 5)

    @wp.kernel
    def mark_crossings(gv: wp.array(dtype=wp.vec3), res: int, words: int, tolerance: float,
                       crossing: wp.array(dtype=wp.uint32), bad: wp.array(dtype=wp.int32)):
        v = wp.tid()
        x = gv[v]
        fx = off_line(x[0], tolerance)
        n = int(fx)
        if off_line(x[1], tolerance):
            n += 1
        if off_line(x[2], tolerance):
            n += 1
        if n != 1:
            wp.atomic_add(bad, 0, 1)  # not a contour vertex: one grid edge, strictly inside
            return
        if fx:  # one vertex per edge: adding the bit is setting it
            k = int(wp.round(x[2]))
            bit = wp.uint32(1) << wp.uint32(k & 31)
            wp.atomic_add(crossing, word_of(int(wp.floor(x[0])), int(wp.round(x[1])), k, res,
                                            words), bit)

    @wp.kernel
    def parity_along_x(res: int, words: int, crossing: wp.array(dtype=wp.uint32)):
        column = wp.tid()  # j * words + k // 32: 32 x lines at once
        below = wp.uint32(0)
        for i in range(res):
            at = i * res * words + column
            here = crossing[at]
            crossing[at] = below  # bit set: an odd number of crossings below node i
            below = below ^ here

    @wp.kernel
    def mark_blocks(gv: wp.array(dtype=wp.vec3), faces: wp.array(dtype=wp.int32), res: int,
                    nbx: int, reach: int, near: wp.array(dtype=wp.int32),
                    bad: wp.array(dtype=wp.int32)):
        t = wp.tid()
        a, b, c = gv[faces[3 * t]], gv[faces[3 * t + 1]], gv[faces[3 * t + 2]]
        lo = wp.min(wp.min(a, b), c)
        extent = wp.max(wp.max(a, b), c) - lo
        if wp.max(wp.max(extent[0], extent[1]), extent[2]) > 7.0:
            wp.atomic_add(bad, 1, 1)  # a contour triangle lies in one cell
        cx = wp.clamp(int(wp.floor(lo[0])), 0, res - 1) >> 3
        cy = wp.clamp(int(wp.floor(lo[1])), 0, res - 1) >> 3
        cz = wp.clamp(int(wp.floor(lo[2])), 0, res - 1) >> 3
        for x in range(wp.max(cx - reach, 0), wp.min(cx + reach, nbx - 1) + 1):
            for y in range(wp.max(cy - reach, 0), wp.min(cy + reach, nbx - 1) + 1):
                for z in range(wp.max(cz - reach, 0), wp.min(cz + reach, nbx - 1) + 1):
                    near[(x * nbx + y) * nbx + z] = 1

    @wp.kernel
    def block_origins(near: wp.array(dtype=wp.int32), block_id: wp.array(dtype=wp.int32),
                      nbx: int, origins: wp.array(dtype=wp.vec3i)):
        code = wp.tid()
        if near[code] != 0:
            origins[block_id[code]] = wp.vec3i(code // (nbx * nbx) * 8, code // nbx % nbx * 8,
                                               code % nbx * 8)

    @wp.kernel
    def measure(mesh: wp.uint64, origins: wp.array(dtype=wp.vec3i), res: int,
                truncation: float, dist: wp.array(dtype=float),
                kept: wp.array(dtype=wp.int32)):
        slot = wp.tid()
        o = origins[slot >> 9]
        p = slot & 511
        i = o[0] + (p >> 6)
        j = o[1] + ((p >> 3) & 7)
        k = o[2] + (p & 7)
        kept[slot] = 0
        if i >= res or j >= res or k >= res:
            return
        node = wp.vec3(float(i), float(j), float(k))
        query = wp.mesh_query_point_no_sign(mesh, node, truncation * 1.001)
        if query.result:
            closest = wp.mesh_eval_position(mesh, query.face, query.u, query.v)
            d = wp.length(closest - node)
            if d <= truncation:
                dist[slot] = d
                kept[slot] = 1

    @wp.kernel
    def emit(origins: wp.array(dtype=wp.vec3i), dist: wp.array(dtype=float),
             kept: wp.array(dtype=wp.int32), place: wp.array(dtype=wp.int32),
             parity: wp.array(dtype=wp.uint32), res: int, words: int, truncation: float,
             index: wp.array2d(dtype=wp.uint16), value: wp.array(dtype=wp.float16)):
        slot = wp.tid()
        if kept[slot] == 0:
            return
        o = origins[slot >> 9]
        p = slot & 511
        i = o[0] + (p >> 6)
        j = o[1] + ((p >> 3) & 7)
        k = o[2] + (p & 7)
        m = place[slot]
        index[m, 0] = wp.uint16(i)
        index[m, 1] = wp.uint16(j)
        index[m, 2] = wp.uint16(k)
        v = wp.min(dist[slot] / truncation, 1.0)
        if (parity[word_of(i, j, k, res, words)] >> wp.uint32(k & 31)) & wp.uint32(1) != \
                wp.uint32(0):
            v = -v
        value[m] = wp.float16(v)

    _KERNELS = {"mark_crossings": mark_crossings, "parity_along_x": parity_along_x,
                "mark_blocks": mark_blocks, "block_origins": block_origins,
                "measure": measure, "emit": emit}
    return _KERNELS


def _scan(wp, flags, device):
    """Exclusive prefix sum of int32 ``flags`` and their total (one small read back)."""
    place = wp.empty_like(flags)
    wp.utils.array_scan(flags, place, inclusive=False)
    if len(flags) == 0:
        return place, 0
    tail = wp.empty(2, dtype=wp.int32, device=device)
    wp.copy(tail, place, 0, len(flags) - 1, 1)
    wp.copy(tail, flags, 1, len(flags) - 1, 1)
    last = tail.numpy()
    return place, int(last[0] + last[1])


def _check(bad: np.ndarray) -> None:
    if bad[0]:
        raise ValueError(NOT_A_CONTOUR)
    if bad[1]:
        raise ValueError("an output triangle spans more than 7 voxels: not a contour output")


def sparse_sdf_warp(grid_vertices: np.ndarray, faces: np.ndarray, res: int, truncation: float,
                    device: str = "auto") -> tuple[np.ndarray, np.ndarray, dict]:
    """Node indices and values of the sparse SDF band of a contour output, on ``device``.

    Parameters
    ----------
    grid_vertices : (V, 3) array
        The watertight step's output vertices in grid coordinates ``[0, res - 1]``.
    faces : (F, 3) array
        Its triangles.
    res : int
        Grid nodes per axis.
    truncation : float
        Band half-width in voxels.
    device : str
        A Warp device: ``"cuda"``, ``"cuda:N"``, ``"auto"`` or ``"cpu"`` (Warp's CPU backend).

    Returns
    -------
    sparse_index : (N, 3) uint16
    values : (N,) float16
        ``distance / truncation``, negative inside.
    stats : dict
        ``blocks``, ``device``, ``bytes`` (the device arrays).

    Raises
    ------
    ValueError
        The mesh is not a contour of the band method.
    """
    wp = _warp()
    device = resolve_device(device)
    k = _kernels()
    nbx = (res + 7) // 8
    reach = max(1, math.ceil((truncation + 2.0) / 8))
    with wp.ScopedDevice(device):
        mesh = _mesh(wp, grid_vertices, faces, device)
        bad = wp.zeros(2, dtype=wp.int32)
        words = (res + 31) // 32
        parity = wp.zeros(res * res * words, dtype=wp.uint32)
        wp.launch(k["mark_crossings"], dim=len(grid_vertices),
                  inputs=[mesh.points, res, words, _ON_LINE, parity, bad])
        near = wp.zeros(nbx * nbx * nbx, dtype=wp.int32)
        wp.launch(k["mark_blocks"], dim=len(faces),
                  inputs=[mesh.points, mesh.indices, res, nbx, reach, near, bad])
        _check(bad.numpy())
        wp.launch(k["parity_along_x"], dim=res * words, inputs=[res, words, parity])
        block_id, n_blocks = _scan(wp, near, device)
        origins = wp.empty(n_blocks, dtype=wp.vec3i)
        wp.launch(k["block_origins"], dim=len(near), inputs=[near, block_id, nbx, origins])
        del near, block_id
        dist = wp.empty(n_blocks * 512, dtype=float)
        kept = wp.empty(n_blocks * 512, dtype=wp.int32)
        wp.launch(k["measure"], dim=n_blocks * 512,
                  inputs=[mesh.id, origins, res, float(truncation), dist, kept])
        place, n = _scan(wp, kept, device)
        index = wp.empty((n, 3), dtype=wp.uint16)
        value = wp.empty(n, dtype=wp.float16)
        wp.launch(k["emit"], dim=n_blocks * 512,
                  inputs=[origins, dist, kept, place, parity, res, words, float(truncation),
                          index, value])
        stats = {"blocks": n_blocks, "device": device,  # the device arrays at the peak
                 "bytes": 4 * len(parity) + 12 * len(dist) + 8 * n}
        return index.numpy(), value.numpy(), stats
