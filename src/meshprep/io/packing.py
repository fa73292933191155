"""Byte-level packing shared by the compact store's encodings: byte planes and Zstandard.

Integers that change slowly (sorted Morton codes' deltas, face-index offsets) have mostly-zero
high bytes. Split into *byte planes* (every element's first byte, then every second byte...:
the "shuffle" filter of Blosc and HDF5) those bytes form long runs that Zstandard compresses to
almost nothing, and decoding stays a sequential pass. :mod:`meshprep.sample.compact` (the
sample sets) and :mod:`meshprep.io.meshpack` (the watertight mesh) are built on these.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import threading
import zipfile
import zlib
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

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


def from_byte_planes(planes: np.ndarray, dtype, count: int) -> np.ndarray:
    """Inverse of :func:`byte_planes`: ``count`` elements of ``dtype`` (flat)."""
    dtype = np.dtype(dtype)
    size = count * dtype.itemsize
    if planes.size != size:
        raise ValueError(f"{planes.size} stored bytes for {count} {dtype} values")
    return _interleave(np.ascontiguousarray(planes, np.uint8), dtype.itemsize).view(dtype)


@njit(cache=True, nogil=True)
def _interleave(planes, width):
    """Bytes of ``width`` planes back into consecutive elements (uint8, flat)."""
    count = planes.shape[0] // width
    out = np.empty(planes.shape[0], np.uint8)
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

    # with Zstandard's own checksum: verified when decompressed, so load_members skips the ZIP's
    data = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True).compress(
        np.ascontiguousarray(planes))
    return np.frombuffer(data, np.uint8)


def unsqueeze(packed: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """The ``size`` uint8 bytes :func:`squeeze` compressed (into ``out``'s bytes when given,
    e.g. a :func:`scratch` buffer); a frame's checksum, where it has one, is verified.

    Raises
    ------
    ValueError
        When the bytes do not decompress to ``size`` bytes, or fail their checksum.
    """
    import zstandard

    packed = np.ascontiguousarray(packed, np.uint8)  # the array itself as the source: no copy
    out = np.empty(size, np.uint8) if out is None else out.reshape(-1).view(np.uint8)[:size]
    reader = zstandard.ZstdDecompressor().stream_reader(packed, read_size=max(1, packed.size))
    view, filled = memoryview(out), 0
    try:
        while filled < size and (read := reader.readinto(view[filled:])):
            filled += read
        extra = bool(reader.read(1))  # also reads the frame's end: its checksum
    except zstandard.ZstdError as exc:
        raise ValueError(f"damaged compressed data ({exc})") from exc
    if filled != size or extra:
        raise ValueError(f"the stored bytes do not decompress to {size} bytes")
    return out


def running_codes(packed: np.ndarray, width: int, count: int) -> np.ndarray:
    """The running sum of ``count`` deltas stored as :func:`squeeze` of :func:`narrow_planes`
    (``width`` bytes each): int64, in this thread's scratch buffer 1 (the planes pass through
    buffer 0). The decoders' first step for sorted Morton codes."""
    size = width * count
    return planes_to_int64(unsqueeze(packed, size, out=scratch(0, size)), width, count,
                           running=True, out=scratch(1, 8 * count))


def load_members(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` that ``np.savez`` wrote (stored, not deflated), from one read
    of the file; each a read-only view of those bytes (copy what outlives them).

    ``np.load`` reads each member through ``zipfile``, which copies it and computes its CRC-32:
    for the compact store's members that costs 10x the read itself. Here a member's CRC-32 is
    checked only when it is not a Zstandard frame with its own checksum (:func:`squeeze`
    writes one; :func:`unsqueeze` verifies it), so nothing is read unchecked.

    Raises
    ------
    ValueError
        When the file is not such an ``.npz``, or a member fails its CRC-32.
    """
    data = Path(path).read_bytes()
    raw = memoryview(data)
    try:  # BytesIO shares the bytes object (no copy); only the central directory is parsed
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not an .npz ({exc})") from exc
    members = {}
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
            raise ValueError(f"{info.filename}: not an array stored by np.savez")
        data = _member_bytes(raw, info)
        array = _npy_array(data, info.filename)
        if not _checks_itself(array) and zlib.crc32(data) != info.CRC:
            raise ValueError(f"{info.filename}: CRC-32 mismatch (a damaged file)")
        members[info.filename[:-4]] = array
    return members


def _member_bytes(raw: memoryview, info: zipfile.ZipInfo) -> memoryview:
    """A stored member's bytes: after its local header (signature, 26 bytes of fields, then
    the name and extra field, whose lengths the header's last two 16-bit fields give)."""
    start = info.header_offset
    if bytes(raw[start:start + 4]) != b"PK\x03\x04":
        raise ValueError(f"{info.filename}: no local header where the directory says")
    name_length, extra_length = struct.unpack_from("<HH", raw, start + 26)
    begin = start + 30 + name_length + extra_length
    if begin + info.file_size > len(raw):
        raise ValueError(f"{info.filename}: truncated")
    return raw[begin:begin + info.file_size]


def _npy_array(data: memoryview, name: str) -> np.ndarray:
    """The array of an ``.npy`` file's bytes (numpy's own header parser; no pickles)."""
    # magic (6 bytes), version (2), header length (2 bytes in version 1, else 4), header
    length = (10 + int.from_bytes(data[8:10], "little") if bytes(data[6:7]) == b"\x01"
              else 12 + int.from_bytes(data[8:12], "little"))
    header = io.BytesIO(data[:length])
    version = np.lib.format.read_magic(header)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(header)
    if dtype.hasobject:
        raise ValueError(f"{name}: object arrays are not read")
    count = int(np.prod(shape, dtype=np.int64))
    if header.tell() + count * dtype.itemsize != len(data):
        raise ValueError(f"{name}: {len(data)} bytes do not hold a {dtype} array of {shape}")
    flat = np.frombuffer(data, dtype, count, offset=header.tell())
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def _checks_itself(array: np.ndarray) -> bool:
    """Whether ``array`` holds one Zstandard frame carrying a content checksum (magic number,
    then bit 2 of the frame header descriptor)."""
    return (array.dtype == np.uint8 and array.ndim == 1 and array.size > 4
            and bytes(array[:4]) == b"\x28\xb5\x2f\xfd" and bool(array[4] & 0x04))


_SCRATCH = threading.local()
#: the largest scratch buffer kept between calls (a store's sets need up to 8 bytes a point,
#: its meshes 7 bytes a face): larger requests get fresh memory
SCRATCH_KEPT = 64 << 20


def scratch(slot: int, nbytes: int) -> np.ndarray:
    """This thread's work buffer number ``slot`` (uint8, at least ``nbytes``), kept between
    calls: decoders write their intermediate arrays there instead of into fresh memory, which
    costs a page fault per 4 KiB on every read. Its contents last until the next call for the
    same slot on the same thread; never return one. A request over :data:`SCRATCH_KEPT` bytes
    gets a fresh array, not kept."""
    if nbytes > SCRATCH_KEPT:
        return np.empty(nbytes, np.uint8)
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
