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
    running_codes,
    scratch,
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


# Decoding a set: the running sum of the Morton deltas (with each row's float16 distance put in
# the 16 bits above its 48-bit code), one numpy 1-D take of those 8-byte rows into read order,
# then sequential table look-ups (Morton code to grid point, float16 to float32); normals as one
# uint32 per row, taken the same way. Intermediate arrays live in this thread's scratch buffers
# (meshprep.io.packing.scratch). Gathering or scattering whole 12-byte rows inside the decoding
# loops was 1.5-3x slower on this machine (benchmarks/RESULTS.md, the compact store).


def decode_set(count: int, points_z: np.ndarray, *, normals_z: np.ndarray | None = None,
               distances_z: np.ndarray | None = None, points_out: np.ndarray | None = None,
               distances_out: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One stored set in read order: points, and normals and distances where stored.

    Parameters
    ----------
    count : int
        Rows.
    points_z : uint8 array
        :func:`squeeze` of :func:`encode_points`' bytes.
    normals_z, distances_z : uint8 array, optional
        :func:`squeeze` of ``byte_planes`` of :func:`encode_normals` /
        :func:`encode_distances` (rows in the stored order).
    points_out, distances_out : array, optional
        ``(N, 3)`` / ``(N,)`` float32 arrays to write into.

    Returns
    -------
    points : (N, 3) float32
    normals : (N, 3) float32 or None
    distances : (N,) float32 or None
    """
    order = read_order(count)
    codes = running_codes(points_z, 8, count)
    if distances_z is not None:
        _attach_halves(codes, unsqueeze(distances_z, 2 * count, out=scratch(0, 2 * count)))
    rows = _gathered(codes, order)
    points = np.empty((count, 3), np.float32) if points_out is None else points_out
    decode_to_grid(rows, _ORIGIN, 2.0 * POSITION_RANGE / _LEVELS, points)  # bits 48+ ignored
    distances = None
    if distances_z is not None:
        distances = np.empty(count, np.float32) if distances_out is None else distances_out
        _halves_to_float(rows, _HALF_VALUES, distances)
    normals = None
    if normals_z is not None:
        planes = unsqueeze(normals_z, 4 * count, out=scratch(0, 4 * count))
        codes32 = _normal_rows(planes, count, scratch(1, 4 * count).view(np.uint32)[:count])
        normals = _normals(_gathered(codes32, order), _COMPONENTS)
    return points, normals, distances


def _gathered(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``values[order]`` in this thread's scratch buffer 2 (``order`` indexes within range:
    numpy's ``clip`` mode skips the checks and the buffering of ``out``)."""
    out = scratch(2, values.nbytes).view(values.dtype)[:len(order)]
    return np.take(values, order, out=out, mode="clip")


@njit(cache=True, nogil=True)
def _attach_halves(codes, planes):
    """Put the float16 bits of two byte planes (low, high) into bits 48-63 of ``codes``."""
    count = codes.shape[0]
    for i in range(count):
        codes[i] |= (np.int64(planes[i]) | (np.int64(planes[count + i]) << 8)) << 48


@njit(cache=True, nogil=True)
def _halves_to_float(rows, table, out):
    """float32 of the float16 in bits 48-63 of each row (``table``: every float16's value)."""
    for i in range(rows.shape[0]):
        out[i] = table[(rows[i] >> 48) & 0xFFFF]


@njit(cache=True, nogil=True)
def _normal_rows(planes, count, out):
    """Byte planes of ``count`` uint16 code pairs (2 planes of ``2 count`` bytes) as one uint32
    per row (x low, y high)."""
    high = 2 * count
    for i in range(count):
        out[i] = (np.uint32(planes[2 * i]) | (np.uint32(planes[high + 2 * i]) << 8)
                  | (np.uint32(planes[2 * i + 1]) << 16)
                  | (np.uint32(planes[high + 2 * i + 1]) << 24))
    return out


@njit(cache=True, nogil=True)
def _normals(rows, components):
    """Unit normals (float32 arithmetic) of octahedral code pairs packed little-endian in uint32
    (x low, y high); ``components``: each 16-bit code's value in [-1, 1]."""
    out = np.empty((rows.shape[0], 3), np.float32)
    one, zero = np.float32(1.0), np.float32(0.0)
    for i in range(rows.shape[0]):
        fx = components[rows[i] & 0xFFFF]
        fy = components[rows[i] >> 16]
        z = one - abs(fx) - abs(fy)
        t = max(-z, zero)  # below the equator: folded back (fx is never -0.0)
        x = fx - np.float32(np.copysign(t, fx))
        y = fy - np.float32(np.copysign(t, fy))
        inverse = one / np.sqrt(x * x + y * y + z * z)
        out[i, 0] = x * inverse
        out[i, 1] = y * inverse
        out[i, 2] = z * inverse
    return out


#: float32 value in [-1, 1] of every 16-bit octahedral component
_COMPONENTS = np.arange(65536, dtype=np.float32) * np.float32(2.0 / _LEVELS) - np.float32(1.0)

#: float32 value of every float16 bit pattern (decoding a distance is one lookup)
_HALF_VALUES = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(
    np.float32)


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
    return _normals(rows, _COMPONENTS)


def decode_distances(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float32 values of :func:`encode_distances`' float16 bits (uint16), into ``out`` when
    given."""
    codes = np.ascontiguousarray(codes).reshape(-1).view(np.uint16)
    # mode="clip": every uint16 is in the table, and "raise" would buffer ``out`` (numpy's note)
    return np.take(_HALF_VALUES, codes, out=out, mode="clip")


def encode_distances(values: np.ndarray) -> np.ndarray:
    """float16 signed distances whose sign (and zero-ness) never changes."""
    values = np.asarray(values, np.float32).reshape(-1)
    half = values.astype(np.float16)
    lost = (half == 0) & (values != 0)
    half[lost] = np.where(values[lost] < 0, -_TINY_HALF, _TINY_HALF)
    return half
