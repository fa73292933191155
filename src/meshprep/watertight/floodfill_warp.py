"""The watertight step's flood fill and signing with Warp: the same labels as the numba path.

:func:`meshprep.watertight.floodfill.sign_band` finds the exterior with one depth-first search.
That search is inherently serial; here the same set (every node reachable from the grid's
border through the moves the CPU path allows) is found as a fixed point, the way a GPU likes
it: each pass lets every stored block spread the outside through its own 8³ points until
nothing changes inside it (one thread per block, so a pass carries the outside across a whole
block), then lets every empty block take the outside from its neighbours. Passes repeat until
no label changes. Labels only ever turn from inside to outside, and a move is allowed or not by
the same rule as on the CPU, so the fixed point is exactly the CPU's reachable set, whatever
order the threads run in. The slivers and the signed field are one thread per point.

The results are equal, array for array, to the numba path's (tested on Warp's CPU backend; on
a GPU where one is present).
"""

# no "from __future__ import annotations": Warp reads the kernels' annotations as objects
import numpy as np

from meshprep.warp_device import _warp, resolve_device

from .band import SparseBand

_KERNELS = None
#: passes inside one block before its thread hands over (the outer loop goes on anyway)
_LOCAL_PASSES = 64


def _kernels():  # noqa: C901  (Warp kernels are defined together, once)
    """Warp functions and kernels, defined on first use."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    wp = _warp()
    # loops stay loops: unrolling the 6 neighbours x 8 x 8 face points makes compiling take
    # minutes (LLVM on Warp's CPU backend) for no measured gain
    wp.set_module_options({"max_unroll": 0})

    @wp.func
    def locate(index: wp.array3d(dtype=wp.int32), res: int, i: int, j: int, k: int):
        # (block id, local index); block id -1: an empty block, -2: off the grid
        if i < 0 or j < 0 or k < 0 or i >= res or j >= res or k >= res:
            return wp.vec2i(-2, 0)
        b = index[i >> 3, j >> 3, k >> 3]
        return wp.vec2i(b, ((i & 7) << 6) | ((j & 7) << 3) | (k & 7))

    @wp.func
    def unit(flag: bool):
        # 1 or 0 (a bool as an int)
        if flag:
            return 1
        return 0

    @wp.func
    def may_enter(udf: wp.array2d(dtype=float), crossed: wp.array2d(dtype=wp.uint8),
                  eps: float, pb: int, pl: int, p_udf: float, axis: int, forward: int,
                  qb: int, ql: int):
        # the CPU path's rule (floodfill._may_enter): may the outside go from p to q?
        q_udf = udf[qb, ql]
        if q_udf >= eps:
            return p_udf >= eps
        if not (q_udf < p_udf):
            return False
        if pb < 0:
            return True
        bits = int(0)
        if forward == 1:
            bits = int(crossed[pb, pl])
        else:
            bits = int(crossed[qb, ql])
        return ((bits >> axis) & 1) == 0

    @wp.kernel
    def seed_points(origins: wp.array2d(dtype=wp.int32), res: int,
                    label: wp.array2d(dtype=wp.int32)):
        b, p = wp.tid()
        i = origins[b, 0] + (p >> 6)
        j = origins[b, 1] + ((p >> 3) & 7)
        k = origins[b, 2] + (p & 7)
        if i < res and j < res and k < res:
            if i == 0 or j == 0 or k == 0 or i == res - 1 or j == res - 1 or k == res - 1:
                label[b, p] = 1

    @wp.kernel
    def seed_blocks(index: wp.array3d(dtype=wp.int32), nbx: int,
                    block_out: wp.array(dtype=wp.int32)):
        bx, by, bz = wp.tid()
        if index[bx, by, bz] >= 0:
            return
        if bx == 0 or by == 0 or bz == 0 or bx == nbx - 1 or by == nbx - 1 or bz == nbx - 1:
            block_out[(bx * nbx + by) * nbx + bz] = 1

    @wp.kernel
    def spread_points(index: wp.array3d(dtype=wp.int32), origins: wp.array2d(dtype=wp.int32),
                      udf: wp.array2d(dtype=float), crossed: wp.array2d(dtype=wp.uint8),
                      label: wp.array2d(dtype=wp.int32), block_out: wp.array(dtype=wp.int32),
                      res: int, nbx: int, eps: float, passes: int,
                      changed: wp.array(dtype=wp.int32)):
        b = wp.tid()
        ox, oy, oz = origins[b, 0], origins[b, 1], origins[b, 2]
        again = int(1)
        count = int(0)
        while again == 1 and count < passes:
            again = int(0)
            count += 1
            for p in range(512):
                if label[b, p] == 1:
                    continue
                i = ox + (p >> 6)
                j = oy + ((p >> 3) & 7)
                k = oz + (p & 7)
                if i >= res or j >= res or k >= res:
                    continue
                reached = int(0)
                for axis in range(3):
                    for side in range(2):
                        step = 2 * side - 1
                        ni = i + step * unit(axis == 0)
                        nj = j + step * unit(axis == 1)
                        nk = k + step * unit(axis == 2)
                        found = locate(index, res, ni, nj, nk)
                        nb = found[0]
                        if nb == -1:
                            code = ((ni >> 3) * nbx + (nj >> 3)) * nbx + (nk >> 3)
                            if block_out[code] == 1:
                                reached = int(1)  # from an outside empty block: always
                        elif nb >= 0:
                            nl = found[1]
                            # the move goes from the neighbour to this point: forward when
                            # the neighbour is on the - side (step < 0)
                            if label[nb, nl] == 1 and may_enter(
                                    udf, crossed, eps, nb, nl, udf[nb, nl], axis,
                                    unit(step < 0), b, p):
                                reached = int(1)
                if reached == 1:
                    label[b, p] = 1
                    again = int(1)
                    changed[0] = int(1)

    @wp.kernel
    def spread_blocks(index: wp.array3d(dtype=wp.int32), udf: wp.array2d(dtype=float),
                      label: wp.array2d(dtype=wp.int32), block_out: wp.array(dtype=wp.int32),
                      res: int, nbx: int, eps: float, changed: wp.array(dtype=wp.int32)):
        bx, by, bz = wp.tid()
        code = (bx * nbx + by) * nbx + bz
        if index[bx, by, bz] >= 0 or block_out[code] == 1:
            return
        reached = int(0)
        for axis in range(3):
            for side in range(2):
                step = 2 * side - 1
                cx = bx + step * unit(axis == 0)
                cy = by + step * unit(axis == 1)
                cz = bz + step * unit(axis == 2)
                if cx < 0 or cy < 0 or cz < 0 or cx >= nbx or cy >= nbx or cz >= nbx:
                    continue
                qb = index[cx, cy, cz]
                if qb < 0:
                    if block_out[(cx * nbx + cy) * nbx + cz] == 1:
                        reached = int(1)
                    continue
                # the stored block's face toward this one: its outside points in free space
                # (udf >= eps) pass the outside on, when the point across is on the grid
                fixed = int(7)
                if step > 0:
                    fixed = 0
                for s in range(8):
                    for t in range(8):
                        li, lj, lk = fixed, s, t
                        if axis == 1:
                            li, lj, lk = s, fixed, t
                        elif axis == 2:
                            li, lj, lk = s, t, fixed
                        ql = (li << 6) | (lj << 3) | lk
                        across_i = (cx << 3) + li - step * unit(axis == 0)
                        across_j = (cy << 3) + lj - step * unit(axis == 1)
                        across_k = (cz << 3) + lk - step * unit(axis == 2)
                        on_grid = (cx << 3) + li < res and (cy << 3) + lj < res \
                            and (cz << 3) + lk < res and across_i < res and across_j < res \
                            and across_k < res
                        if on_grid and label[qb, ql] == 1 and udf[qb, ql] >= eps:
                            reached = int(1)
        if reached == 1:
            block_out[code] = 1
            changed[0] = 1

    @wp.kernel
    def mark_slivers(index: wp.array3d(dtype=wp.int32), origins: wp.array2d(dtype=wp.int32),
                     udf: wp.array2d(dtype=float), crossed: wp.array2d(dtype=wp.uint8),
                     label: wp.array2d(dtype=wp.int32), res: int,
                     sliver: wp.array2d(dtype=wp.int32)):
        pb, pl = wp.tid()
        bits = int(crossed[pb, pl])
        if bits == 0 or label[pb, pl] != 1:
            return
        i = origins[pb, 0] + (pl >> 6)
        j = origins[pb, 1] + ((pl >> 3) & 7)
        k = origins[pb, 2] + (pl & 7)
        for axis in range(3):
            if ((bits >> axis) & 1) == 0:
                continue
            found = locate(index, res, i + unit(axis == 0), j + unit(axis == 1),
                           k + unit(axis == 2))
            qb = found[0]
            ql = found[1]
            if qb < 0:
                continue
            if label[qb, ql] != 1:
                continue
            if udf[qb, ql] < udf[pb, pl]:
                sliver[qb, ql] = 1
            else:
                sliver[pb, pl] = 1

    @wp.kernel
    def signed_field(origins: wp.array2d(dtype=wp.int32), udf: wp.array2d(dtype=float),
                     label: wp.array2d(dtype=wp.int32), sliver: wp.array2d(dtype=wp.int32),
                     floor: float, cap: float, res: int, field: wp.array2d(dtype=float)):
        b, p = wp.tid()
        d = wp.min(wp.max(udf[b, p], floor), cap)
        inside = label[b, p] != 1 or sliver[b, p] != 0
        i = origins[b, 0] + (p >> 6)
        j = origins[b, 1] + ((p >> 3) & 7)
        k = origins[b, 2] + (p & 7)
        if i == 0 or j == 0 or k == 0 or i >= res - 1 or j >= res - 1 or k >= res - 1:
            inside = False
        if inside:
            field[b, p] = -d
        else:
            field[b, p] = d

    _KERNELS = {"seed_points": seed_points, "seed_blocks": seed_blocks,
                "spread_points": spread_points, "spread_blocks": spread_blocks,
                "mark_slivers": mark_slivers, "signed_field": signed_field}
    return _KERNELS


def sign_band_warp(band: SparseBand, eps: float, floor: float = 0.05, device: str = "auto"
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`meshprep.watertight.floodfill.sign_band` on ``device`` with Warp.

    Returns
    -------
    field : (n_blocks, 512) float32
        Signed distance in voxels, negative inside (equal to the CPU path's).
    empty_outside : (nb^3,) uint8
        1 where an empty block is outside.
    passes : int
        Fixed-point passes it took (each pass: one launch over stored blocks, one over block
        positions).
    """
    if not eps < band.band:
        raise ValueError("the band must be wider than eps")
    wp = _warp()
    device = resolve_device(device)
    k = _kernels()
    nbx = band.block_index.shape[0]
    n_blocks = band.n_blocks

    def put(array, dtype):
        return wp.array(np.ascontiguousarray(array), dtype=dtype, device=device)

    index = put(band.block_index.astype(np.int32), wp.int32)
    origins = put(band.block_origin.astype(np.int32), wp.int32)
    udf = put(band.udf.astype(np.float32), float)
    crossed = put(band.crossed.astype(np.uint8), wp.uint8)
    label = wp.zeros((n_blocks, 512), dtype=wp.int32, device=device)
    block_out = wp.zeros(nbx * nbx * nbx, dtype=wp.int32, device=device)
    changed = wp.zeros(1, dtype=wp.int32, device=device)
    if n_blocks:
        wp.launch(k["seed_points"], dim=(n_blocks, 512), inputs=[origins, band.res, label],
                  device=device)
    wp.launch(k["seed_blocks"], dim=(nbx, nbx, nbx), inputs=[index, nbx, block_out],
              device=device)
    passes = 0
    while True:
        passes += 1
        changed.zero_()
        if n_blocks:
            wp.launch(k["spread_points"], dim=n_blocks,
                      inputs=[index, origins, udf, crossed, label, block_out, band.res, nbx,
                              float(eps), _LOCAL_PASSES, changed], device=device)
        wp.launch(k["spread_blocks"], dim=(nbx, nbx, nbx),
                  inputs=[index, udf, label, block_out, band.res, nbx, float(eps), changed],
                  device=device)
        if int(changed.numpy()[0]) == 0:
            break
    sliver = wp.zeros((n_blocks, 512), dtype=wp.int32, device=device)
    field = wp.zeros((n_blocks, 512), dtype=float, device=device)
    if n_blocks:
        wp.launch(k["mark_slivers"], dim=(n_blocks, 512),
                  inputs=[index, origins, udf, crossed, label, band.res, sliver], device=device)
        wp.launch(k["signed_field"], dim=(n_blocks, 512),
                  inputs=[origins, udf, label, sliver, float(floor), float(band.band), band.res,
                          field], device=device)
    return field.numpy(), block_out.numpy().astype(np.uint8), passes
