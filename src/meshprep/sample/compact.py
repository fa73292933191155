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
from meshprep.geometry.morton import decode_to_grid, morton_encode
from meshprep.io.packing import (  # noqa: F401  (re-exported: the encoding's building blocks)
    ZSTD_LEVEL,
    byte_planes,
    from_byte_planes,
    planes_to_int64,
    squeeze,
    unsqueeze,
)

#: positions are stored over [-POSITION_RANGE, POSITION_RANGE] on every axis: the canonical
#: cube, the volume samples' margin (1.05) and near samples' offsets (up to 0.25 around the
#: surface, Gaussian around salient samples)
POSITION_RANGE = 1.5
_LEVELS = 65535
_ORIGIN = np.full(3, -POSITION_RANGE)
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


# The decoders below gather small codes (8, 4 or 2 bytes a row, with numpy's 1-D take) into read
# order, then decode them in sequence: 2-3x faster than gathering or scattering 12-byte rows
# inside a decoding loop on this machine (benchmarks/RESULTS.md, the compact store).


def decode_points(packed: np.ndarray, count: int, out: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Points of :func:`encode_points` in read order, and the read permutation.

    ``out``, when given, is the ``(N, 3)`` float32 array they are written to.

    Returns
    -------
    points : (N, 3) float32
    order : (N,) int64
        ``stored[order]`` is the read order: pass it to :func:`decode_normal_planes` and
        :func:`decode_distance_planes` for the paired arrays.
    """
    morton = planes_to_int64(packed, 8, count, running=True)
    order = read_order(count)
    step = 2.0 * POSITION_RANGE / _LEVELS
    if out is None:
        out = np.empty((count, 3), np.float32)
    return decode_to_grid(morton[order], _ORIGIN, step, out), order


def decode_normal_planes(planes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """float32 ``(N, 3)`` unit normals of byte-planed octahedral codes (``byte_planes`` of
    :func:`encode_normals`' ``(N, 2)`` uint16), rows ``order`` of them."""
    count = len(order)
    if planes.size != 4 * count:
        raise ValueError(f"{planes.size} stored bytes for {count} normals")
    codes = from_byte_planes(planes, np.uint16, 2 * count).view(np.uint32)  # a row: one uint32
    return _normals(codes[np.asarray(order, np.int64)], 2.0 / _LEVELS)


@njit(cache=True, nogil=True)
def _normals(rows, scale):
    """Unit normals of octahedral code pairs packed little-endian in uint32 (x low, y high)."""
    out = np.empty((rows.shape[0], 3), np.float32)
    for i in range(rows.shape[0]):
        fx = (rows[i] & 0xFFFF) * scale - 1.0
        fy = (rows[i] >> 16) * scale - 1.0
        z = 1.0 - abs(fx) - abs(fy)
        t = max(-z, 0.0)
        x = fx - t if fx >= 0 else fx + t
        y = fy - t if fy >= 0 else fy + t
        length = np.sqrt(x * x + y * y + z * z)
        out[i, 0] = x / length
        out[i, 1] = y / length
        out[i, 2] = z / length
    return out


#: float32 value of every float16 bit pattern (decoding a distance is one lookup)
_HALF_VALUES = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(
    np.float32)


def decode_distance_planes(planes: np.ndarray, order: np.ndarray,
                           out: np.ndarray | None = None) -> np.ndarray:
    """float32 distances of byte-planed float16 (:func:`encode_distances`), rows ``order``
    (into ``out`` when given)."""
    codes = from_byte_planes(planes, np.uint16, len(order))
    return np.take(_HALF_VALUES, codes[np.asarray(order, np.int64)], out=out)


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


def decode_normals(codes: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float32 unit normals of :func:`encode_normals`' codes, in their order."""
    rows = np.ascontiguousarray(codes, np.uint16).reshape(-1, 2).view(np.uint32).reshape(-1)
    return _normals(rows, 2.0 / _LEVELS)


def encode_distances(values: np.ndarray) -> np.ndarray:
    """float16 signed distances whose sign (and zero-ness) never changes."""
    values = np.asarray(values, np.float32).reshape(-1)
    half = values.astype(np.float16)
    lost = (half == 0) & (values != 0)
    half[lost] = np.where(values[lost] < 0, -_TINY_HALF, _TINY_HALF)
    return half
