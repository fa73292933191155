"""Morton (Z-order) codes of 3D integer coordinates, in numba.

The bit layout is TRELLIS.2's ``z_order`` serialization (``o-voxel/src/serialize/z_order.cu``,
``expandBits`` / ``extractBits`` and ``code = xx * 4 + yy * 2 + zz``): the bits of ``x``, ``y``
and ``z`` are interleaved three by three with ``x`` the most significant of each group,

``code = sum_b (x_b << (3 b + 2)) | (y_b << (3 b + 1)) | (z_b << 3 b)``.

o_voxel keeps 10 bits per axis (30-bit ``int32`` codes); here codes are ``int64`` with up to
:data:`MAX_BITS` = 21 bits per axis, identical to o_voxel's for coordinates below 1024.
"""

from __future__ import annotations

import numba as nb
import numpy as np

MAX_BITS = 21  # bits per axis: 63-bit codes fit a signed int64

__all__ = ["MAX_BITS", "decode_to_grid", "morton_decode", "morton_encode"]


@nb.njit(cache=True, inline="always")
def _spread(v):
    # put two zero bits above each of the 21 low bits of v
    v &= 0x1FFFFF
    v = (v | (v << 32)) & 0x1F00000000FFFF
    v = (v | (v << 16)) & 0x1F0000FF0000FF
    v = (v | (v << 8)) & 0x100F00F00F00F00F
    v = (v | (v << 4)) & 0x10C30C30C30C30C3
    v = (v | (v << 2)) & 0x1249249249249249
    return v


@nb.njit(cache=True, inline="always")
def _compact(v):
    # inverse of _spread: keep every third bit, packed into the low 21 bits
    v &= 0x1249249249249249
    v = (v ^ (v >> 2)) & 0x10C30C30C30C30C3
    v = (v ^ (v >> 4)) & 0x100F00F00F00F00F
    v = (v ^ (v >> 8)) & 0x1F0000FF0000FF
    v = (v ^ (v >> 16)) & 0x1F00000000FFFF
    v = (v ^ (v >> 32)) & 0x1FFFFF
    return v


@nb.njit(cache=True, nogil=True)
def _encode(coords):
    n = coords.shape[0]
    out = np.empty(n, np.int64)
    for i in range(n):
        x = np.int64(coords[i, 0])
        y = np.int64(coords[i, 1])
        z = np.int64(coords[i, 2])
        out[i] = (_spread(x) << 2) | (_spread(y) << 1) | _spread(z)
    return out


@nb.njit(cache=True, nogil=True)
def _decode(codes):
    n = codes.shape[0]
    out = np.empty((n, 3), np.int32)
    for i in range(n):
        c = np.int64(codes[i])
        out[i, 0] = _compact(c >> 2)
        out[i, 1] = _compact(c >> 1)
        out[i, 2] = _compact(c)
    return out


def morton_encode(coords: np.ndarray) -> np.ndarray:
    """Interleave the bits of non-negative integer coordinates into Morton codes.

    Parameters
    ----------
    coords : numpy.ndarray
        ``(N, 3)`` integer array, every value in ``[0, 2**21)``.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` int64 codes; ``x`` holds bit ``3b + 2``, ``y`` bit ``3b + 1``, ``z`` bit
        ``3b`` for each coordinate bit ``b``.

    Raises
    ------
    ValueError
        If ``coords`` is not ``(N, 3)`` integers or a value is outside ``[0, 2**21)``.
    """
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 3 or not np.issubdtype(coords.dtype, np.integer):
        raise ValueError(
            f"coords must be an (N, 3) integer array, got {coords.dtype} {coords.shape}"
        )
    if coords.size and (coords.min() < 0 or coords.max() >= 1 << MAX_BITS):
        raise ValueError(f"coords must lie in [0, 2**{MAX_BITS}) for Morton encoding")
    return _encode(np.ascontiguousarray(coords))


def morton_decode(codes: np.ndarray) -> np.ndarray:
    """Split Morton codes back into coordinates (inverse of :func:`morton_encode`).

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N,)`` non-negative integer codes below ``2**63``.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` int32 coordinates ``x, y, z``.

    Raises
    ------
    ValueError
        If ``codes`` is not a 1-D integer array or holds a negative value.
    """
    codes = np.asarray(codes)
    if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"codes must be a 1-D integer array, got {codes.dtype} {codes.shape}")
    if codes.size and codes.min() < 0:
        raise ValueError("Morton codes must be non-negative")
    if codes.dtype == np.uint64 and codes.size and codes.max() >= 1 << 63:
        raise ValueError("Morton codes must be below 2**63")
    return _decode(np.ascontiguousarray(codes.astype(np.int64, copy=False)))


def _chunk_table() -> np.ndarray:
    """For every 12-bit piece of a code (4 bits of each axis), those bits of ``x``, ``y`` and
    ``z`` at bits 0-3, 16-19 and 32-35 of an int64: a code's grid point is four look-ups."""
    chunk = np.arange(1 << 12, dtype=np.int64)
    table = np.zeros(1 << 12, np.int64)
    for bit in range(4):
        for axis_shift, code_bit in ((0, 2), (16, 1), (32, 0)):  # x, y, z
            table |= ((chunk >> (3 * bit + code_bit)) & 1) << (axis_shift + bit)
    return table


_CHUNK_TABLE = _chunk_table()


def decode_to_grid(codes: np.ndarray, origin: np.ndarray, step: float, out: np.ndarray
                   ) -> np.ndarray:
    """Points ``origin + step * (x, y, z)`` of Morton codes of 16-bit coordinates, written
    into ``out``.

    Parameters
    ----------
    codes : (N,) int64 array
        Codes below ``2**48`` (not checked: this is the decoders' inner loop; higher bits are
        ignored).
    origin : (3,) float64 array
    step : float
    out : (N, 3) float32 or float64 array

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    _decode_to_grid(codes, np.asarray(origin, np.float64), float(step), _CHUNK_TABLE, out)
    return out


@nb.njit(cache=True, nogil=True)
def _decode_to_grid(codes, origin, step, table, out):
    # four table look-ups per code: 1.7x faster than _compact's shifts and masks per axis
    for i in range(codes.shape[0]):
        c = codes[i]
        xyz = (table[c & 0xFFF] | (table[(c >> 12) & 0xFFF] << 4)
               | (table[(c >> 24) & 0xFFF] << 8) | (table[(c >> 36) & 0xFFF] << 12))
        out[i, 0] = origin[0] + (xyz & 0xFFFF) * step
        out[i, 1] = origin[1] + ((xyz >> 16) & 0xFFFF) * step
        out[i, 2] = origin[2] + ((xyz >> 32) & 0xFFFF) * step
