"""TRELLIS.2's ``.vxz`` sparse voxel container: read and write, byte-compatible with o_voxel.

Matches ``o_voxel.io.read_vxz`` / ``write_vxz`` / ``read_vxz_info`` of microsoft/TRELLIS.2
(``o-voxel/o_voxel/io/vxz.py``, snapshot 5565d24, 2026-01-10): for the same input a file written
here has the same bytes as one written by o_voxel, and each reads the other's files. The octree
and filter kernels are in :mod:`meshprep.voxel._svo`, the Morton codes in
:mod:`meshprep.geometry.morton`.

Layout
------
- bytes 0-2 ``b"VXZ"``, byte 3 the version ``0``, bytes 4-7 a big-endian uint32: the offset of
  the binary section (8 + length of the header);
- the header: ``json.dumps`` of a dict with Python's default separators, keys in this order:
  ``num_voxel``, ``chunk_size``, ``filter``, ``compression``, ``compression_level``,
  ``raw_size`` (``12 * N`` for the coordinates as int32, plus one byte per attribute value),
  ``compressed_size`` (length of the binary section), ``compress_ratio``
  (``raw_size / compressed_size``), ``attr_interleave``, ``attr`` (``[[name, channels], ...]``)
  and ``chunks``;
- the binary section: the chunks one after the other, in the order of ``chunks``. Chunks are
  the cubes ``coord // chunk_size`` (floor division) that hold a voxel, sorted lexicographically
  by ``(cx, cy, cz)`` (o_voxel's ``torch.unique(dim=0)``). Each chunk's entry is
  ``{"idx": [cx, cy, cz], "svo": [offset, length], <stream>: [offset, length], ...,
  "ptr": [offset, length]}``: ``ptr`` into the binary section, the others inside the chunk;
- one chunk: its streams, each compressed on its own: first ``svo`` (octree bytes of the local
  coordinates ``coord % chunk_size``, see :mod:`meshprep.voxel._svo`), then the attributes of
  its voxels sorted by local Morton code, after the optional delta ``filter``, split by
  ``attr_interleave``: ``as_is`` one stream per attribute (its channels interleaved),
  ``none`` one stream per channel named ``<name>_<i>``, ``all`` one stream ``attr``.

Compression: ``none``; ``deflate`` (raw stream, ``wbits=-15``, level 9 by default); ``lzma`` (raw
LZMA2 with the given preset, 9 by default); ``zstd`` (level 22; needs the optional
``zstandard`` package). As in o_voxel, a ``compression_level`` of ``None`` *or 0* means the
default level.

:func:`read_vxz` returns voxels in file order: chunk after chunk as listed in the header, inside
each chunk by ascending local Morton code, exactly as o_voxel's reader does.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import struct
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Literal

import numpy as np

from meshprep.errors import CorruptFileError
from meshprep.geometry.morton import _decode as _morton_decode_kernel
from meshprep.geometry.morton import _encode as _morton_encode_kernel
from meshprep.voxel import _svo

__all__ = [
    "DEFAULT_COMPRESSION_LEVEL",
    "VxzError",
    "read_vxz",
    "read_vxz_info",
    "write_vxz",
]

MAGIC = b"VXZ"
VERSION = 0
# o_voxel's DEFAULT_COMPRESION_LEVEL (sic)
DEFAULT_COMPRESSION_LEVEL = {"none": 0, "deflate": 9, "lzma": 9, "zstd": 22}
FILTERS = ("none", "parent", "neighbor")
INTERLEAVES = ("none", "as_is", "all")
# chunk sides: o_voxel's Morton codes keep 10 bits per axis and its octree needs depth >= 1
MIN_CHUNK_SIZE = 2
MAX_CHUNK_SIZE = 1024
# chunk entry keys that are not streams (o_voxel's reader skips exactly these)
_RESERVED = ("idx", "ptr")
_INT32 = np.iinfo(np.int32)

PathOrFile = str | os.PathLike[str] | BinaryIO


class VxzError(CorruptFileError, ValueError):
    """A ``.vxz`` file is truncated, is not a VXZ file, or uses an unsupported feature."""


# ---------------------------------------------------------------------------------- compression


def _zstandard() -> Any:
    try:
        import zstandard
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "zstd compression in .vxz needs the optional 'zstandard' package "
            "(pip install zstandard)"
        ) from exc
    return zstandard


#: the dictionary of each LZMA preset (xz's table): 0 = 256 KiB, 1 = 1 MiB, ... 9 = 64 MiB
_LZMA_PRESET_DICT = (1 << 18, 1 << 20, 1 << 21, 1 << 22, 1 << 22, 1 << 23, 1 << 23, 1 << 24,
                     1 << 25, 1 << 26)


def _lzma_filter(level: int, size: int) -> dict[str, Any]:
    """The preset's LZMA2 filter with its dictionary cut to the stream (a power of two).

    The encoder never looks further back than the stream is long, so the bytes are the
    preset's (checked on real and random streams), while the memory drops from about 700 MB
    per compressor at preset 9 to a few times the stream; a raw LZMA2 stream does not record
    the dictionary, and the reader's (the preset's) is at least as large.
    """
    preset_dict = _LZMA_PRESET_DICT[min(max(level, 0), 9)]
    needed = 1 << max(12, (max(size, 1) - 1).bit_length())
    return {"id": lzma.FILTER_LZMA2, "preset": level, "dict_size": min(preset_dict, needed)}


def _compress(data: bytes, algo: str, level: int) -> bytes:
    """Compress one stream exactly as o_voxel's ``_compress`` (vxz.py) does."""
    if algo == "none":
        return data
    if algo == "deflate":
        c = zlib.compressobj(level, wbits=-15)
        return c.compress(data) + c.flush()
    if algo == "lzma":
        c = lzma.LZMACompressor(format=lzma.FORMAT_RAW, filters=[_lzma_filter(level, len(data))])
        return c.compress(data) + c.flush()
    if algo == "zstd":
        z = _zstandard().ZstdCompressor(
            level=level, write_checksum=False, write_content_size=True, threads=-1
        )
        return z.compress(data)
    raise ValueError(f"unsupported compression {algo!r}")  # pragma: no cover - validated before


def _decompress(data: bytes, algo: str, level: int, where: str) -> bytes:
    """Decompress one stream; a damaged or truncated stream raises :class:`VxzError`."""
    if algo == "none":
        return data
    try:
        if algo == "deflate":
            d = zlib.decompressobj(wbits=-15)
            out = d.decompress(data) + d.flush()
            complete = d.eof
        elif algo == "lzma":
            # a raw LZMA2 stream has no header: the dictionary size comes from the preset
            d = lzma.LZMADecompressor(
                format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": level}]
            )
            out = d.decompress(data)
            complete = d.eof
        else:
            out = _zstandard().ZstdDecompressor().decompress(data)
            complete = True
    except ModuleNotFoundError:
        raise
    except Exception as exc:  # zlib.error, lzma.LZMAError, zstandard.ZstdError
        raise VxzError(f"damaged {algo} stream in {where}: {exc}") from None
    if not complete:
        raise VxzError(f"truncated {algo} stream in {where}")
    return out


# ---------------------------------------------------------------------------------- header


def _read_bytes(file: PathOrFile, header_only: bool = False) -> bytes:
    if isinstance(file, str | os.PathLike):
        with open(file, "rb") as f:
            if not header_only:
                return f.read()
            head = f.read(8)
            if len(head) == 8 and head[:3] == MAGIC:
                (start,) = struct.unpack(">I", head[4:8])
                return head + f.read(max(start - 8, 0))
            return head
    data = file.read()
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("read_vxz needs a path or a binary file object")
    return bytes(data)


def _parse_header(data: bytes) -> tuple[dict[str, Any], int]:
    """Return the header dict and the offset of the binary section; check what o_voxel asserts."""
    if len(data) < 8:
        raise VxzError(f"truncated VXZ file: {len(data)} bytes, the fixed header has 8")
    if data[:3] != MAGIC:
        raise VxzError(f"not a VXZ file: starts with {bytes(data[:3])!r}, expected b'VXZ'")
    if data[3] != VERSION:
        raise VxzError(f"unsupported VXZ version {data[3]} (only version {VERSION} exists)")
    (start,) = struct.unpack(">I", data[4:8])
    if start < 8 or start > len(data):
        raise VxzError(f"truncated VXZ file: header ends at byte {start}, file has {len(data)}")
    try:
        header = json.loads(data[8:start].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VxzError(f"VXZ header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise VxzError("VXZ header is not a JSON object")
    return header, start


def read_vxz_info(file: PathOrFile) -> dict[str, Any]:
    """Read the header of a ``.vxz`` file without decompressing anything.

    Same as ``o_voxel.io.read_vxz_info``; from a path only the header bytes are read.

    Parameters
    ----------
    file : str, os.PathLike or binary file object
        The file.

    Returns
    -------
    dict
        The JSON header: ``num_voxel``, ``chunk_size``, ``filter``, ``compression``,
        ``compression_level``, ``raw_size``, ``compressed_size``, ``compress_ratio``,
        ``attr_interleave``, ``attr`` and ``chunks`` (see the module docstring).

    Raises
    ------
    VxzError
        If the file is truncated, is not a VXZ file or has an unknown version.
    """
    header, _ = _parse_header(_read_bytes(file, header_only=True))
    return header


# ---------------------------------------------------------------------------------- read


def _check_header(header: dict[str, Any]) -> tuple[int, list[tuple[str, int]]]:
    """Validate the fields the reader uses; return the octree depth and the attribute list."""
    try:
        chunk_size = header["chunk_size"]
        algo = header["compression"]
        level = header["compression_level"]
        flt = header["filter"]
        inter = header["attr_interleave"]
        attrs = [(str(name), int(chs)) for name, chs in header["attr"]]
        chunks = header["chunks"]
    except (KeyError, TypeError, ValueError) as exc:
        raise VxzError(f"VXZ header lacks or garbles a field: {exc!r}") from None
    if (
        not isinstance(chunk_size, int)
        or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE
        or chunk_size & (chunk_size - 1)
    ):
        raise VxzError(f"unsupported VXZ chunk_size {chunk_size!r} (a power of two, 2 to 1024)")
    if algo not in DEFAULT_COMPRESSION_LEVEL:
        raise VxzError(f"unsupported VXZ compression {algo!r}")
    if algo == "lzma" and (not isinstance(level, int) or not 0 <= level <= 9):
        raise VxzError(f"unsupported VXZ lzma compression_level {level!r}")
    if flt not in FILTERS:
        raise VxzError(f"unsupported VXZ filter {flt!r}")
    if inter not in INTERLEAVES:
        raise VxzError(f"unsupported VXZ attr_interleave {inter!r}")
    if any(chs < 1 for _, chs in attrs) or not isinstance(chunks, list):
        raise VxzError("VXZ header has an attribute without channels or no chunk list")
    return chunk_size.bit_length() - 1, attrs


def _span(entry: Any, limit: int, what: str) -> tuple[int, int]:
    try:
        offset, length = (int(v) for v in entry)
    except (TypeError, ValueError):
        raise VxzError(f"VXZ {what} is not an [offset, length] pair") from None
    if offset < 0 or length < 0 or offset + length > limit:
        raise VxzError(f"truncated VXZ file: {what} [{offset}, {length}] runs past {limit} bytes")
    return offset, length


def _read_chunk(
    info: Any,
    number: int,
    binary: memoryview,
    header: dict[str, Any],
    depth: int,
    attrs: list[tuple[str, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one chunk: its global coordinates and its (n, sum of channels) attributes."""
    where = f"chunk {number}"
    if not isinstance(info, dict) or "idx" not in info or "ptr" not in info or "svo" not in info:
        raise VxzError(f"VXZ {where} entry lacks idx, ptr or svo")
    start, length = _span(info["ptr"], len(binary), f"{where} ptr")
    data = binary[start : start + length]
    algo, level = header["compression"], header["compression_level"]
    streams = {}
    for key, entry in info.items():
        if key in _RESERVED:
            continue
        off, n = _span(entry, length, f"{where} stream {key!r}")
        streams[key] = _decompress(data[off : off + n], algo, level, f"{where} stream {key!r}")
    svo = np.frombuffer(streams["svo"], np.uint8)
    # o_voxel's encoder only writes non-empty masks; a zero byte would break the filters
    if svo.size == 0 or not svo.all():
        raise VxzError(f"corrupt octree in VXZ {where}")
    codes, status = _svo.svo_decode(svo, depth)
    if status != _svo.OK:
        state = "truncated" if status == _svo.TRUNCATED else "has trailing bytes"
        raise VxzError(f"octree in VXZ {where} {state}")
    n = codes.shape[0]
    local = _morton_decode_kernel(codes)

    def stream(key: str, size: int) -> np.ndarray:
        if key not in streams:
            raise VxzError(f"VXZ {where} lacks stream {key!r}")
        arr = np.frombuffer(streams[key], np.uint8)
        if arr.size != size:
            raise VxzError(f"VXZ {where} stream {key!r} has {arr.size} bytes, expected {size}")
        return arr

    total = sum(chs for _, chs in attrs)
    inter = header["attr_interleave"]
    if inter == "all":
        block = stream("attr", n * total).reshape(n, total)
    elif inter == "as_is":
        block = np.empty((n, total), np.uint8)
        ch = 0
        for name, chs in attrs:
            block[:, ch : ch + chs] = stream(name, n * chs).reshape(n, chs)
            ch += chs
    else:
        block = np.empty((n, total), np.uint8)
        ch = 0
        for name, chs in attrs:
            for i in range(chs):
                block[:, ch] = stream(f"{name}_{i}", n)
                ch += 1
    if header["filter"] == "parent":
        row, ref = _svo.parent_rows(svo, codes, depth)
        block = _svo.parent_decode(row, ref, np.ascontiguousarray(block))
    elif header["filter"] == "neighbor":
        ref = _svo.neighbor_refs(codes, local)
        block = _svo.neighbor_decode(ref, np.ascontiguousarray(block))
    try:
        idx = np.array([int(v) for v in info["idx"]], np.int64)
    except (TypeError, ValueError):
        raise VxzError(f"VXZ {where} idx is not three integers") from None
    if idx.shape != (3,):
        raise VxzError(f"VXZ {where} idx is not three integers")
    coords = local.astype(np.int64) + idx * (1 << depth)
    if coords.size and (coords.min() < _INT32.min or coords.max() > _INT32.max):
        raise VxzError(f"VXZ {where} idx puts voxels outside the int32 range")
    return coords.astype(np.int32), block


def read_vxz(file: PathOrFile, num_threads: int = -1) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read a ``.vxz`` file (``o_voxel.io.read_vxz`` without torch).

    Parameters
    ----------
    file : str, os.PathLike or binary file object
        The file.
    num_threads : int
        Threads decoding chunks in parallel; ``-1`` (o_voxel's default) uses every CPU.

    Returns
    -------
    coords : numpy.ndarray
        ``(N, 3)`` int32 voxel coordinates, in o_voxel's order: chunk by chunk as the header lists
        them, by ascending local Morton code inside a chunk.
    attrs : dict of str to numpy.ndarray
        Each attribute in the header's order, ``(N, channels)`` uint8, rows matching ``coords``.

    Raises
    ------
    VxzError
        If the file is truncated or damaged, is not a VXZ file, or uses an unknown version,
        compression, filter or interleave.
    ModuleNotFoundError
        If the file is zstd-compressed and ``zstandard`` is not installed.
    """
    data = _read_bytes(file)
    header, start = _parse_header(data)
    depth, attrs = _check_header(header)
    binary = memoryview(data)[start:]
    chunks = header["chunks"]
    threads = num_threads if num_threads > 0 else (os.cpu_count() or 1)

    def work(k: int) -> tuple[np.ndarray, np.ndarray]:
        return _read_chunk(chunks[k], k, binary, header, depth, attrs)

    if threads == 1 or len(chunks) <= 1:
        parts = [work(k) for k in range(len(chunks))]
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(chunks))) as pool:
            parts = list(pool.map(work, range(len(chunks))))
    total = sum(chs for _, chs in attrs)
    if parts:
        coords = np.concatenate([p[0] for p in parts])
        block = np.concatenate([p[1] for p in parts])
    else:
        coords = np.empty((0, 3), np.int32)
        block = np.empty((0, total), np.uint8)
    if isinstance(header.get("num_voxel"), int) and header["num_voxel"] != coords.shape[0]:
        raise VxzError(
            f"VXZ header says {header['num_voxel']} voxels, the chunks hold {coords.shape[0]}"
        )
    out: dict[str, np.ndarray] = {}
    ch = 0
    for name, chs in attrs:
        out[name] = np.ascontiguousarray(block[:, ch : ch + chs])
        ch += chs
    return coords, out


# ---------------------------------------------------------------------------------- write


def _check_inputs(
    coord: Any, attr: Mapping[str, Any]
) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    coords = np.asarray(coord)
    if coords.ndim != 2 or coords.shape[1] != 3 or not np.issubdtype(coords.dtype, np.integer):
        raise ValueError(
            f"coord must be an (N, 3) integer array, got {coords.dtype} {coords.shape}"
        )
    n = coords.shape[0]
    if n == 0:
        # o_voxel writes no chunk and divides by a compressed size of 0
        raise ValueError("a .vxz file needs at least one voxel")
    if coords.min() < _INT32.min or coords.max() > _INT32.max:
        raise ValueError("coord values must fit in int32 (o_voxel reads them as int32)")
    if not attr:
        # o_voxel's reader concatenates the attribute streams and fails on none
        raise ValueError("a .vxz file needs at least one attribute")
    attrs = []
    for name, value in attr.items():
        if not isinstance(name, str):
            raise ValueError(f"attribute names must be strings, got {name!r}")
        a = np.asarray(value)
        if a.dtype != np.uint8:
            raise ValueError(f"attributes must be uint8, got {a.dtype} for {name!r}")
        if a.ndim != 2 or a.shape[0] != n or a.shape[1] < 1:
            raise ValueError(
                f"attribute {name!r} must be ({n}, channels >= 1), got shape {a.shape}"
            )
        attrs.append((name, a))
    return coords, attrs


def _check_options(
    chunk_size: int,
    filter: str,
    compression: str,
    compression_level: int | None,
    attr_interleave: str,
    attrs: list[tuple[str, np.ndarray]],
) -> int:
    """Validate the options; return the compression level o_voxel would store."""
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, int | np.integer)
        or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE
        or int(chunk_size) & (int(chunk_size) - 1)
    ):
        raise ValueError(f"chunk_size must be a power of two from 2 to 1024, got {chunk_size!r}")
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
    if compression not in DEFAULT_COMPRESSION_LEVEL:
        raise ValueError(
            f"compression must be one of {tuple(DEFAULT_COMPRESSION_LEVEL)}, got {compression!r}"
        )
    if attr_interleave not in INTERLEAVES:
        raise ValueError(f"attr_interleave must be one of {INTERLEAVES}, got {attr_interleave!r}")
    if compression_level is not None and (
        isinstance(compression_level, bool) or not isinstance(compression_level, int | np.integer)
    ):
        raise ValueError(f"compression_level must be an int or None, got {compression_level!r}")
    # o_voxel: `compression_level or DEFAULT_COMPRESION_LEVEL[compression]` (0 -> default too)
    level = int(compression_level or DEFAULT_COMPRESSION_LEVEL[compression])
    if compression == "lzma" and not 0 <= level <= 9:
        raise ValueError(f"lzma compression_level must be 1 to 9, got {level}")
    if compression == "deflate" and not -1 <= level <= 9:
        raise ValueError(f"deflate compression_level must be 1 to 9, got {level}")
    if compression == "zstd":
        if level > 22:
            raise ValueError(f"zstd compression_level must be at most 22, got {level}")
        _zstandard()
    if attr_interleave == "none":
        names = [f"{name}_{i}" for name, a in attrs for i in range(a.shape[1])]
    elif attr_interleave == "as_is":
        names = [name for name, _ in attrs]
    else:
        names = ["attr"]
    clash = sorted({k for k in names if k in (*_RESERVED, "svo") or names.count(k) > 1})
    if clash:
        raise ValueError(
            f"attribute stream names {clash} clash with the chunk keys idx/ptr/svo or each other "
            f"under attr_interleave={attr_interleave!r}"
        )
    return level


def _sort_voxels(
    coords: np.ndarray, chunk_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Order voxels as o_voxel writes them: chunks lexicographic, then local Morton code.

    Returns the permutation, the sorted local Morton codes, the first voxel of each chunk (plus
    ``N`` at the end) and each chunk's ``(cx, cy, cz)``.
    """
    # int32 throughout (coordinates are int32); floor division and modulo by a power of two
    # are an arithmetic shift and a mask, like torch's `//` and `%` on integer tensors
    shift = chunk_size.bit_length() - 1
    c = np.ascontiguousarray(coords, dtype=np.int32)
    chunk = c >> shift
    codes = _morton_encode_kernel(c & np.int32(chunk_size - 1))
    bits = 3 * shift
    lo = chunk.min(axis=0).astype(np.int64)
    span = chunk.max(axis=0).astype(np.int64) - lo + 1
    if int(span[0]) * int(span[1]) * int(span[2]) << bits < 1 << 62:
        # one int64 key: mixed-radix chunk number (lexicographic order), then the Morton code
        key = chunk[:, 0] - lo[0]
        key = key * span[1] + (chunk[:, 1] - lo[1])
        key = key * span[2] + (chunk[:, 2] - lo[2])
        key <<= bits
        key |= codes
        del chunk, codes
        order = np.argsort(key)
        key = key[order]
        codes = key & ((np.int64(1) << bits) - 1)
        chunk_key = key >> bits
        dup = key[1:] == key[:-1]
        del key
        first = chunk_key[np.r_[0, np.flatnonzero(chunk_key[1:] != chunk_key[:-1]) + 1]]
        chunk_of = np.stack([first // (span[1] * span[2]), first // span[2] % span[1],
                             first % span[2]], axis=1) + lo
    else:  # pragma: no cover - chunk indices spread over more than 2**(62 - bits) chunks
        _, rank = np.unique(chunk, axis=0, return_inverse=True)
        order = np.lexsort((codes, rank.ravel()))
        chunk_key = rank.ravel()[order]
        dup = (chunk_key[1:] == chunk_key[:-1]) & (codes[order][1:] == codes[order][:-1])
        codes = codes[order]
        chunk_of = None
    if dup.any():
        i = order[1:][dup][0]
        raise ValueError(f"duplicate voxel coordinate {coords[i].tolist()}")
    starts = np.flatnonzero(chunk_key[1:] != chunk_key[:-1]) + 1
    bounds = np.concatenate([[0], starts, [coords.shape[0]]])
    if chunk_of is None:  # pragma: no cover
        chunk_of = np.asarray(coords, np.int64)[order[bounds[:-1]]] >> shift
    return order, codes, bounds, chunk_of


def write_vxz(
    file: PathOrFile,
    coord: np.ndarray,
    attr: Mapping[str, np.ndarray],
    chunk_size: int = 256,
    filter: Literal["none", "parent", "neighbor"] = "none",
    compression: Literal["none", "deflate", "lzma", "zstd"] = "lzma",
    compression_level: int | None = None,
    attr_interleave: Literal["none", "as_is", "all"] = "as_is",
    num_threads: int = -1,
    *,
    durable: bool = True,
) -> None:
    """Write voxels and their uint8 attributes as a ``.vxz`` file (``o_voxel.io.write_vxz``).

    The bytes are those o_voxel writes for the same arguments (given the same zlib / liblzma /
    zstd builds). A path is written atomically: to a temporary file in the same folder, then
    renamed over the target.

    Parameters
    ----------
    file : str, os.PathLike or binary file object
        Output path, or an open binary file to write to (not atomic then).
    coord : numpy.ndarray
        ``(N, 3)`` distinct integer voxel coordinates (int32 range; negative ones work, their
        chunks have negative ``idx``), ``N >= 1``. Any order.
    attr : mapping of str to numpy.ndarray
        At least one attribute, each ``(N, channels)`` uint8 with ``channels >= 1``, rows
        matching ``coord``; stored in the mapping's order.
    chunk_size : int
        Side of the chunks, a power of two from 2 to 1024.
    filter : {'none', 'parent', 'neighbor'}
        Delta filter on the attributes: none, from the parent octree node, or from a neighbour
        voxel in the chunk.
    compression : {'none', 'deflate', 'lzma', 'zstd'}
        Compression of every stream (``zstd`` needs the ``zstandard`` package).
    compression_level : int or None
        Level; ``None`` or 0 means the default (deflate 9, lzma 9, zstd 22).
    attr_interleave : {'none', 'as_is', 'all'}
        One stream per channel, per attribute, or one for all attributes.
    num_threads : int
        Threads encoding and compressing chunks in parallel; ``-1`` uses every CPU. The bytes do
        not depend on it. Each LZMA preset-9 compressor takes about 700 MB.
    durable : bool
        fsync the file and its folder before returning (paths only).

    Raises
    ------
    ValueError
        If the input or an option is invalid: no voxels, no attributes, duplicate coordinates,
        non-uint8 attributes, stream names clashing with ``idx``/``ptr``/``svo``, ...
    ModuleNotFoundError
        If ``compression='zstd'`` and ``zstandard`` is not installed.
    """
    coords, attrs = _check_inputs(coord, attr)
    level = _check_options(
        chunk_size, filter, compression, compression_level, attr_interleave, attrs
    )
    chunk_size = int(chunk_size)
    depth = chunk_size.bit_length() - 1
    n = coords.shape[0]
    order, codes, bounds, chunk_idx = _sort_voxels(coords, chunk_size)
    block = np.concatenate([a for _, a in attrs], axis=1)[order]
    local = None
    if filter == "neighbor":
        local = _morton_decode_kernel(codes)

    def work(k: int) -> tuple[dict[str, Any], bytes]:
        s, e = int(bounds[k]), int(bounds[k + 1])
        svo = _svo.svo_encode(codes[s:e], depth)
        values = block[s:e]
        if filter == "parent":
            row, ref = _svo.parent_rows(svo, codes[s:e], depth)
            delta = np.empty_like(values)
            delta[0] = values[0]
            delta[row[1:]] = values[1:] - values[ref[1:]]
            values = delta
        elif filter == "neighbor":
            ref = _svo.neighbor_refs(codes[s:e], local[s:e])
            values = values - np.where(ref[:, None] >= 0, values[np.maximum(ref, 0)], 0)
            values = values.astype(np.uint8, copy=False)
        parts = [("svo", svo.tobytes())]
        if attr_interleave == "none":
            ch = 0
            for name, a in attrs:
                for i in range(a.shape[1]):
                    parts.append((f"{name}_{i}", values[:, ch].tobytes()))
                    ch += 1
        elif attr_interleave == "as_is":
            ch = 0
            for name, a in attrs:
                parts.append((name, values[:, ch : ch + a.shape[1]].tobytes()))
                ch += a.shape[1]
        else:
            parts.append(("attr", values.tobytes()))
        info: dict[str, Any] = {"idx": [int(v) for v in chunk_idx[k]]}
        out = []
        offset = 0
        for key, raw in parts:
            packed = _compress(raw, compression, level)
            info[key] = [offset, len(packed)]
            offset += len(packed)
            out.append(packed)
        return info, b"".join(out)

    count = len(bounds) - 1
    threads = num_threads if num_threads > 0 else (os.cpu_count() or 1)
    if threads == 1 or count == 1:
        encoded = [work(k) for k in range(count)]
    else:
        with ThreadPoolExecutor(max_workers=min(threads, count)) as pool:
            encoded = list(pool.map(work, range(count)))

    chunks = []
    offset = 0
    for info, payload in encoded:
        info["ptr"] = [offset, len(payload)]
        offset += len(payload)
        chunks.append(info)
    raw_size = n * 3 * 4 + sum(a.size for _, a in attrs)
    header = {
        "num_voxel": n,
        "chunk_size": chunk_size,
        "filter": filter,
        "compression": compression,
        "compression_level": level,
        "raw_size": raw_size,
        "compressed_size": offset,
        "compress_ratio": raw_size / offset,
        "attr_interleave": attr_interleave,
        "attr": [[name, a.shape[1]] for name, a in attrs],
        "chunks": chunks,
    }
    text = json.dumps(header).encode()
    pieces = [MAGIC + bytes([VERSION]) + struct.pack(">I", len(text) + 8), text]
    pieces.extend(payload for _, payload in encoded)
    if isinstance(file, str | os.PathLike):
        from meshprep.io.write import atomic_write

        with atomic_write(file, durable=durable) as tmp, open(tmp, "wb") as f:
            f.writelines(pieces)
    elif isinstance(file, io.TextIOBase):
        raise TypeError("write_vxz needs a path or a binary file object")
    else:
        for piece in pieces:
            file.write(piece)
