"""Compact encodings of the store's sample arrays: a quarter of the bytes at a stated fidelity.

The canonical store (``meshprep run``'s ``surface.npz`` / ``sdf.npz``) holds hundreds of
thousands of points per asset. Float32 rows cost 12 bytes a point and do not compress (float
noise); this module stores them at a fidelity chosen for training data:

* **positions**: 16-bit fixed point over ``[-POSITION_RANGE, POSITION_RANGE]`` per axis (the
  canonical cube with the near samples' margin): error at most ``POSITION_RANGE / 65535``
  (2.3e-5, under 2^-15 of the cube's half-width). The three 16-bit coordinates are interleaved
  into one 48-bit Morton code (:mod:`meshprep.geometry.morton`), the codes sorted and stored
  as byte-planed deltas: points near a surface differ from their predecessor by a few low
  bits, which Zstandard then compresses.
* **row order**: sorting forgets the sampling order, which matters (trainers and layouts take a
  prefix of i.i.d. rows as a random subset). Rows are read back in the order
  ``sorted[shuffle(n)]``, a fixed permutation drawn from the row count alone
  (:func:`read_order`): as random with respect to position as the sampler's, the same on every
  read (:func:`read_rows` says which input row each read row is; index arrays such as
  farthest-point orders are remapped with it).
* **normals**: octahedral, two 16-bit components (error under 0.01 degrees);
* **signed distances**: float16 (relative error 2^-11, absolute under 4e-6 for ``|d| < 0.01``)
  whose sign never changes: a non-zero distance that would round to zero keeps the smallest
  float16 of its sign;

all byte-planed (the bytes of each element split into planes, a "shuffle" filter), then
compressed with Zstandard (:func:`squeeze`: zlib's ratio at several times its decoding speed).
"""

from __future__ import annotations

import functools

import numpy as np

from meshprep._jit import njit
from meshprep.geometry.morton import _compact, morton_encode

#: positions are stored over [-POSITION_RANGE, POSITION_RANGE] on every axis: the canonical
#: cube, the volume samples' margin (1.05) and near samples' offsets (up to 0.25 around the
#: surface, Gaussian around salient samples)
POSITION_RANGE = 1.5
_LEVELS = 65535
#: smallest positive float16 (subnormal): what a non-zero distance keeps instead of zero
_TINY_HALF = np.float16(2.0 ** -24)


class CompactRangeError(ValueError):
    """A position lies outside the stored range (the store's samples are in the canonical cube)."""


def quantize_positions(points: np.ndarray) -> np.ndarray:
    """``(N, 3)`` uint16: each coordinate on the 16-bit grid over ``[-R, R]``.

    Raises
    ------
    CompactRangeError
        When a coordinate lies outside ``[-R, R]`` (or is not finite).
    """
    points = np.asarray(points, np.float64).reshape(-1, 3)
    if len(points) and not (np.isfinite(points).all()
                            and np.abs(points).max() <= POSITION_RANGE * (1 + 1e-6)):
        raise CompactRangeError(f"positions must lie in [-{POSITION_RANGE}, {POSITION_RANGE}]^3")
    scaled = (points + POSITION_RANGE) * (_LEVELS / (2.0 * POSITION_RANGE))
    return np.clip(np.rint(scaled), 0, _LEVELS).astype(np.uint16)


def dequantize_positions(codes: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float32 positions of :func:`quantize_positions`'s grid codes."""
    step = 2.0 * POSITION_RANGE / _LEVELS
    return (np.asarray(codes, np.float64) * step - POSITION_RANGE).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _read_order(count: int) -> np.ndarray:
    order = np.random.default_rng(count).permutation(count)
    order.flags.writeable = False
    return order


def read_order(count: int) -> np.ndarray:
    """The fixed permutation rows are read back in: ``sorted_rows[read_order(n)]``.

    Drawn from the row count alone (PCG64 seeded with ``n``), so every read of a set gives the
    same order, independent of where the points lie.
    """
    return _read_order(count)  # cached: a dataset's sets share a few counts


def read_rows(sort: np.ndarray) -> np.ndarray:
    """The input rows a decode returns, in order: ``sort[read_order(n)]``.

    Parameters
    ----------
    sort : (N,) int64 array
        What :func:`encode_points` returned.

    Returns
    -------
    (N,) int64 array
        Row ``k`` of the decoded set is input row ``rows[k]``: index arrays that point into the
        input (farthest-point orders) are remapped with its inverse.
    """
    return sort[read_order(len(sort))]


def encode_points(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte-planed Morton deltas of the sorted quantized points, and the sorting permutation.

    Parameters
    ----------
    points : (N, 3) array
        In ``[-R, R]^3``.

    Returns
    -------
    packed : uint8 array
        The stored bytes (``N * 8``).
    sort : (N,) int64 array
        ``points[sort]`` are the rows in stored (sorted) order: paired arrays are stored so.
    """
    morton = morton_encode(quantize_positions(points))  # int64 below 2^48
    sort = np.argsort(morton, kind="stable")
    deltas = np.diff(morton[sort], prepend=np.int64(0))
    return byte_planes(deltas), sort


def decode_points(packed: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Points of :func:`encode_points` in read order, and the read permutation.

    Returns
    -------
    points : (N, 3) float32
    order : (N,) int64
        ``stored[order]`` is the read order: apply it to the paired arrays in stored order.
    """
    deltas = from_byte_planes(packed, np.int64, count)
    morton = np.cumsum(deltas, dtype=np.int64)
    order = read_order(count)
    step = 2.0 * POSITION_RANGE / _LEVELS
    return _positions(morton, order, step, POSITION_RANGE), order


@njit(cache=True)
def _positions(morton, order, step, offset):
    """float32 ``(N, 3)`` positions of ``morton[order]`` (decode and dequantize in one pass)."""
    out = np.empty((order.shape[0], 3), np.float32)
    for i in range(order.shape[0]):
        m = morton[order[i]]  # geometry.morton's layout: x in bit 3b + 2, y 3b + 1, z 3b
        out[i, 0] = _compact(m >> 2) * step - offset
        out[i, 1] = _compact(m >> 1) * step - offset
        out[i, 2] = _compact(m) * step - offset
    return out


def byte_planes(array: np.ndarray) -> np.ndarray:
    """The bytes of ``array``'s elements split into planes (all first bytes, then all second
    bytes...): uint8, ready for zlib."""
    flat = np.ascontiguousarray(array).reshape(-1)
    return np.ascontiguousarray(flat.view(np.uint8).reshape(len(flat), flat.itemsize).T).ravel()


def from_byte_planes(planes: np.ndarray, dtype, count: int) -> np.ndarray:
    """Inverse of :func:`byte_planes`: ``count`` elements of ``dtype`` (flat)."""
    dtype = np.dtype(dtype)
    size = count * dtype.itemsize
    if planes.size != size:
        raise ValueError(f"{planes.size} stored bytes for {count} {dtype} values")
    return _interleave(np.ascontiguousarray(planes, np.uint8), dtype.itemsize).view(dtype)


@njit(cache=True)
def _interleave(planes, width):
    """Bytes of ``width`` planes back into consecutive elements (uint8, flat)."""
    count = planes.shape[0] // width
    out = np.empty(planes.shape[0], np.uint8)
    for b in range(width):
        for i in range(count):
            out[i * width + b] = planes[b * count + i]
    return out


#: Zstandard level of the stored byte planes (level 9: zlib -6's size or smaller, written at
#: about the same speed; decoding is level-independent)
ZSTD_LEVEL = 9


def squeeze(planes: np.ndarray) -> np.ndarray:
    """``planes`` (uint8) compressed with Zstandard, as a uint8 array for an ``.npz``."""
    import zstandard

    data = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(np.ascontiguousarray(planes))
    return np.frombuffer(data, np.uint8)


def unsqueeze(packed: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` uint8 bytes :func:`squeeze` compressed."""
    import zstandard

    data = zstandard.ZstdDecompressor().decompress(np.ascontiguousarray(packed).tobytes(),
                                                   max_output_size=size)
    if len(data) != size:
        raise ValueError(f"{len(data)} bytes decompressed, {size} expected")
    return np.frombuffer(data, np.uint8)


def encode_normals(normals: np.ndarray) -> np.ndarray:
    """``(N, 2)`` uint16 octahedral codes of unit normals (zero vectors map to +Z)."""
    n = np.asarray(normals, np.float64).reshape(-1, 3)
    length = np.abs(n).sum(axis=1, keepdims=True)
    n = np.where(length > 0, n / np.where(length > 0, length, 1.0), [0.0, 0.0, 1.0])
    x, y = n[:, 0], n[:, 1]
    below = n[:, 2] < 0
    fx = np.where(below, (1.0 - np.abs(y)) * np.where(x >= 0, 1.0, -1.0), x)
    fy = np.where(below, (1.0 - np.abs(x)) * np.where(y >= 0, 1.0, -1.0), y)
    out = np.stack([fx, fy], axis=1)
    return np.clip(np.rint((out + 1.0) * (_LEVELS / 2.0)), 0, _LEVELS).astype(np.uint16)


def decode_normals(codes: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """``(N, 3)`` float32 unit normals of :func:`encode_normals`' codes (rows ``order`` of
    them when given)."""
    codes = np.ascontiguousarray(codes, np.uint16).reshape(-1, 2)
    order = np.arange(len(codes)) if order is None else np.asarray(order, np.int64)
    return _normals(codes, order, 2.0 / _LEVELS)


@njit(cache=True)
def _normals(codes, order, scale):
    out = np.empty((order.shape[0], 3), np.float32)
    for i in range(order.shape[0]):
        fx = codes[order[i], 0] * scale - 1.0
        fy = codes[order[i], 1] * scale - 1.0
        z = 1.0 - abs(fx) - abs(fy)
        t = max(-z, 0.0)
        x = fx - t if fx >= 0 else fx + t
        y = fy - t if fy >= 0 else fy + t
        length = np.sqrt(x * x + y * y + z * z)
        out[i, 0] = x / length
        out[i, 1] = y / length
        out[i, 2] = z / length
    return out


def encode_distances(values: np.ndarray) -> np.ndarray:
    """float16 signed distances whose sign (and zero-ness) never changes."""
    values = np.asarray(values, np.float32).reshape(-1)
    half = values.astype(np.float16)
    lost = (half == 0) & (values != 0)
    half[lost] = np.where(values[lost] < 0, -_TINY_HALF, _TINY_HALF)
    return half
