"""Byte-level packing shared by the compact store's encodings: byte planes and Zstandard.

Integers that change slowly (sorted Morton codes' deltas, face-index offsets) have mostly-zero
high bytes. Split into *byte planes* (every element's first byte, then every second byte...:
the "shuffle" filter of Blosc and HDF5) those bytes form long runs that Zstandard compresses to
almost nothing, and decoding stays a sequential pass. :mod:`meshprep.sample.compact` (the
sample sets) and :mod:`meshprep.io.meshpack` (the watertight mesh) are built on these.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import numpy as np

from meshprep._jit import njit

#: Zstandard level of the stored byte planes (level 9: zlib -6's size or smaller, written at
#: about the same speed; decoding is level-independent)
ZSTD_LEVEL = 9


def byte_planes(array: np.ndarray) -> np.ndarray:
    """The bytes of ``array``'s elements split into planes (all first bytes, then all second
    bytes...): uint8, ready for :func:`squeeze`."""
    flat = np.ascontiguousarray(array).reshape(-1)
    return np.ascontiguousarray(flat.view(np.uint8).reshape(len(flat), flat.itemsize).T).ravel()


def from_byte_planes(planes: np.ndarray, dtype, count: int, out: np.ndarray | None = None
                     ) -> np.ndarray:
    """Inverse of :func:`byte_planes`: ``count`` elements of ``dtype`` (flat; written into the
    bytes of ``out`` when given, e.g. a :func:`scratch` buffer)."""
    dtype = np.dtype(dtype)
    size = count * dtype.itemsize
    if planes.size != size:
        raise ValueError(f"{planes.size} stored bytes for {count} {dtype} values")
    out = np.empty(size, np.uint8) if out is None else out.reshape(-1).view(np.uint8)[:size]
    return _interleave(np.ascontiguousarray(planes, np.uint8), dtype.itemsize, out).view(dtype)


@njit(cache=True, nogil=True)
def _interleave(planes, width, out):
    """Bytes of ``width`` planes back into consecutive elements (uint8, flat, into ``out``)."""
    count = planes.shape[0] // width
    block = 4096  # a block of every plane at a time: reads and writes stay in cache
    for start in range(0, count, block):
        stop = min(count, start + block)
        for b in range(width):
            for i in range(start, stop):
                out[i * width + b] = planes[b * count + i]
    return out


def narrow_planes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Non-negative integers as byte planes of the fewest bytes that hold the largest.

    Returns
    -------
    planes : uint8 array
        ``len(values) * width`` bytes (little-endian planes, lowest first).
    width : int
        Bytes per value, 1 to 8.
    """
    values = np.asarray(values, np.int64).reshape(-1)
    if len(values) and values.min() < 0:
        raise ValueError("narrow_planes packs non-negative integers")
    top = int(values.max()) if len(values) else 0
    width = max(1, (top.bit_length() + 7) // 8)
    planes = byte_planes(values.astype("<i8")).reshape(8, -1)[:width]
    return np.ascontiguousarray(planes).ravel(), width


def planes_to_int64(planes: np.ndarray, width: int, count: int, *, running: bool = False,
                    out: np.ndarray | None = None) -> np.ndarray:
    """int64 values of :func:`narrow_planes` (``running``: their running sum, which inverts
    ``np.diff(values, prepend=0)``), into ``out``'s bytes when given."""
    if planes.size != width * count:
        raise ValueError(f"{planes.size} stored bytes for {count} values of {width} bytes")
    out = np.empty(count, np.int64) if out is None else out.reshape(-1).view(np.int64)[:count]
    return _planes_to_int64(np.ascontiguousarray(planes, np.uint8), width, count, running, out)


@njit(cache=True, nogil=True)
def _planes_to_int64(planes, width, count, running, out):
    out[:] = 0
    for b in range(width):  # plane by plane: sequential, vectorizable passes
        plane = planes[b * count:(b + 1) * count]
        shift = 8 * b
        for i in range(count):
            out[i] |= np.int64(plane[i]) << shift
    if running:
        total = np.int64(0)
        for i in range(count):
            total += out[i]
            out[i] = total
    return out


def squeeze(planes: np.ndarray) -> np.ndarray:
    """``planes`` (uint8) compressed with Zstandard, as a uint8 array for an ``.npz``."""
    import zstandard

    data = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(np.ascontiguousarray(planes))
    return np.frombuffer(data, np.uint8)


def unsqueeze(packed: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """The ``size`` uint8 bytes :func:`squeeze` compressed (into ``out``'s bytes when given,
    e.g. a :func:`scratch` buffer)."""
    import zstandard

    packed = np.ascontiguousarray(packed, np.uint8)  # the array itself as the source: no copy
    if out is None:
        data = zstandard.ZstdDecompressor().decompress(packed, max_output_size=size)
        if len(data) != size:
            raise ValueError(f"{len(data)} bytes decompressed, {size} expected")
        return np.frombuffer(data, np.uint8)
    out = out.reshape(-1).view(np.uint8)[:size]
    reader = zstandard.ZstdDecompressor().stream_reader(packed, read_size=max(1, packed.size))
    view, filled = memoryview(out), 0
    while filled < size and (read := reader.readinto(view[filled:])):
        filled += read
    if filled != size or reader.read(1):
        raise ValueError(f"the stored bytes do not decompress to {size} bytes")
    return out


_SCRATCH = threading.local()


def scratch(slot: int, nbytes: int) -> np.ndarray:
    """This thread's work buffer number ``slot`` (uint8, at least ``nbytes``), kept between
    calls: decoders write their intermediate arrays there instead of into fresh memory, which
    costs a page fault per 4 KiB on every read. Its contents last until the next call for the
    same slot on the same thread; never return one."""
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    buffer = buffers.get(slot)
    if buffer is None or buffer.size < nbytes:
        buffer = buffers[slot] = np.empty(max(nbytes, 1 << 16), np.uint8)
    return buffer


_THREAD_PREFIX = "meshprep-decode"


def decode_pool() -> Executor:
    """This process's threads for decoding independent arrays (zstd and the numba decoders
    release the GIL): two, or one on a one-core machine. Called from one of those threads, an
    executor that runs each call at once instead (a task waiting on tasks queued behind it on
    the same two threads would never finish)."""
    if threading.current_thread().name.startswith(_THREAD_PREFIX):
        return _Inline()
    return _decode_pool(os.getpid())  # a forked worker gets its own threads


class _Inline(Executor):
    """An executor that runs each call when it is submitted."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as a pool does
            future.set_exception(exc)
        return future


@functools.lru_cache(maxsize=1)
def _decode_pool(pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1),
                              thread_name_prefix=_THREAD_PREFIX)
