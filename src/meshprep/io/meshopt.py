"""Decode ``EXT_meshopt_compression`` / ``KHR_meshopt_compression`` buffer views, in numba.

Written from the bitstream text of the ``KHR_meshopt_compression`` README (Appendix A
"Bitstream", Appendix B "Filters"; its version 0 attribute stream and its modes 1 and 2 are the
``EXT_meshopt_compression`` ones):

- mode 0, ``ATTRIBUTES``: header ``0xa0`` (version 0) or ``0xa1`` (version 1: per-byte control
  modes and per-channel delta modes), attribute blocks of 16-element groups, tail padding and
  the baseline element;
- mode 1, ``TRIANGLES``: header ``0xe1`` (``0xe0``, the older index codec meshoptimizer still
  reads, differs only in having no ``0xXd`` / ``0xXe`` codes), triangle codes, their extra data
  and the 16-byte ``codeaux`` table;
- mode 2, ``INDICES``: header ``0xd1`` (or ``0xd0``), varint-7 deltas against two baselines;
- filters ``OCTAHEDRAL``, ``QUATERNION``, ``EXPONENTIAL`` and (KHR only) ``COLOR``, applied with
  numpy after the byte stream is decoded.

Every read is bounds-checked and every loop is bounded by the element count, so a broken stream
yields a :class:`~meshprep.errors.CorruptFileError` naming what is wrong, never a crash or a hang.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from meshprep.errors import CorruptFileError

__all__ = ["MAX_DECODED_BYTES", "MODES", "decode_view"]

MODES = ("ATTRIBUTES", "TRIANGLES", "INDICES")
_FILTERS = ("NONE", "OCTAHEDRAL", "QUATERNION", "EXPONENTIAL", "COLOR")
_M32 = 0xFFFFFFFF
# the most bytes one compressed byte can stand for: a version 1 block of 256 4-byte elements
# whose four bytes all use control mode 2 (zero deltas) is one control byte (Appendix A, mode 0)
_MAX_EXPANSION = 1024
#: the most bytes one buffer view may decode to (a valid stream may still ask for more: refused)
MAX_DECODED_BYTES = 2 * 1024**3

# kernel status codes and their messages
_OK, _SHORT, _HEADER, _LEFTOVER, _FIFO, _CHANNEL, _TABLE = range(7)
_MESSAGES = {
    _SHORT: "the stream ends before all elements are decoded",
    _HEADER: "unknown header byte (not a meshopt stream of this mode, or a newer version)",
    _LEFTOVER: "bytes are left over between the decoded data and the tail",
    _FIFO: "a triangle code reads a FIFO entry that was never written",
    _CHANNEL: "invalid channel mode in the version 1 tail",
    _TABLE: "invalid codeaux table (a 0xf nibble or non-zero last two bytes)",
}
# bit widths of the delta encoding modes 0..3 of a group (Appendix A, mode 0, "header bits")
_BITS_V0 = np.array([0, 2, 4, 8], np.int64)
_BITS_V1 = np.array([[0, 1, 2, 4], [1, 2, 4, 8]], np.int64)


def decode_view(data: bytes | np.ndarray, count: int, stride: int, mode: str,
                filter: str = "NONE") -> bytes:
    """Decode one compressed buffer view to its ``count * stride`` bytes.

    Parameters
    ----------
    data : bytes or (N,) uint8
        The compressed bytes (exactly the extension's ``byteLength`` of them).
    count : int
        The extension's ``count``: elements (``ATTRIBUTES``) or indices.
    stride : int
        The extension's ``byteStride``.
    mode : str
        ``"ATTRIBUTES"``, ``"TRIANGLES"`` or ``"INDICES"``.
    filter : str, optional
        ``"NONE"``, ``"OCTAHEDRAL"``, ``"QUATERNION"``, ``"EXPONENTIAL"`` or ``"COLOR"``.

    Returns
    -------
    bytes
        The decoded buffer view, filter applied.

    Raises
    ------
    CorruptFileError
        The parameters break the extension's rules, the view would decode to more than
        :data:`MAX_DECODED_BYTES`, or the stream does not decode.
    """
    _check_parameters(count, stride, mode, filter)
    # always a read-only uint8 array: one compiled signature per kernel
    raw = np.frombuffer(data if isinstance(data, bytes) else bytes(np.asarray(data, np.uint8)),
                        np.uint8)
    if count * stride > MAX_DECODED_BYTES:
        raise CorruptFileError(f"meshopt {mode} view of {count * stride} bytes is over the "
                               f"{MAX_DECODED_BYTES} byte limit")
    if count and count * stride > _MAX_EXPANSION * max(len(raw), 1):
        raise CorruptFileError(f"meshopt {mode} stream of {len(raw)} bytes claims "
                               f"{count * stride} bytes, more than the codec can expand to")
    if mode == "ATTRIBUTES":
        out = np.zeros(count * stride, np.uint8)
        status = _decode_vertices(raw, count, stride, out) if count else _OK
    else:
        indices = np.zeros(count, np.uint32)
        kernel = _decode_triangles if mode == "TRIANGLES" else _decode_sequence
        status = kernel(raw, count, indices) if count else _OK
        out = indices.astype(np.uint16 if stride == 2 else np.uint32)  # 16-bit: wraparound
    if status != _OK:
        raise CorruptFileError(f"meshopt {mode} stream does not decode: {_MESSAGES[status]}")
    return _filtered(out, count, stride, filter).tobytes()


def _check_parameters(count: int, stride: int, mode: str, filter: str) -> None:
    """The extension object's validity rules (README, "JSON schema updates")."""
    if mode not in MODES:
        problem = f"unknown mode {mode!r}"
    elif filter not in _FILTERS:
        problem = f"unknown filter {filter!r}"
    elif not isinstance(count, int) or count < 0:
        problem = f"count {count!r} is not a non-negative integer"
    elif mode == "ATTRIBUTES":
        problem = _attribute_problem(stride, filter)
    elif stride not in (2, 4):
        problem = f"{mode} byteStride must be 2 or 4, not {stride!r}"
    elif filter != "NONE":
        problem = f"{mode} cannot use filter {filter}"
    elif mode == "TRIANGLES" and count % 3:
        problem = f"TRIANGLES count {count} is not a multiple of 3"
    else:
        problem = None
    if problem is not None:
        raise CorruptFileError(f"meshopt buffer view: {problem}")


def _attribute_problem(stride: int, filter: str) -> str | None:
    if not isinstance(stride, int) or not 4 <= stride <= 256 or stride % 4:
        return f"ATTRIBUTES byteStride must be a multiple of 4 in [4, 256], not {stride!r}"
    allowed = {"OCTAHEDRAL": (4, 8), "QUATERNION": (8,), "COLOR": (4, 8)}.get(filter)
    if allowed is not None and stride not in allowed:
        return f"filter {filter} needs byteStride {' or '.join(map(str, allowed))}, not {stride}"
    return None


# --- mode 0: attributes (Appendix A, "Mode 0: attributes") ----------------------------------


@nb.njit(cache=True, nogil=True)
def _decode_vertices(data, count, stride, out):  # pragma: no cover - numba
    """Decode an attribute stream into ``out`` (``count * stride`` bytes); returns a status."""
    n = len(data)
    if n < 1:
        return _SHORT
    version = np.int64(data[0]) & 15
    if (np.int64(data[0]) & 0xF0) != 0xA0 or version > 1:
        return _HEADER
    tail = stride + (stride // 4 if version == 1 else 0)
    padded = max(tail, 32 if version == 0 else 24)  # tail padded to 32 (v0) / 24 (v1) bytes
    if n - 1 < padded:
        return _SHORT
    last = data[n - tail:n - tail + stride].copy()  # the baseline element
    channels = data[n - tail + stride:n]  # version 1: one channel mode per 4 bytes
    for k in range(len(channels)):
        mode = np.int64(channels[k])
        if (mode & 15) > 2 or ((mode & 15) < 2 and (mode >> 4) != 0):
            return _CHANNEL
    block_max = min((8192 // stride) & ~15, 256)
    deltas = np.zeros((4, 256), np.uint8)
    pos = 1
    done = 0
    while done < count:
        block = min(count - done, block_max)
        pos = _decode_block(data, pos, n, version, block, stride, deltas, last, channels,
                            out, done)
        if pos < 0:
            return -pos
        done += block
    if n - pos != padded:
        return _LEFTOVER
    return _OK


@nb.njit(cache=True, nogil=True)
def _decode_block(data, pos, n, version, block, stride, deltas, last, channels, out,
                  first):  # pragma: no cover - numba
    """One attribute block: control header (v1), ``stride`` data blocks, deltas applied.

    Returns the position after the block, or minus a status code.
    """
    control = pos
    if version == 1:
        pos += stride // 4
        if pos > n:
            return -_SHORT
    for k in range(0, stride, 4):
        ctrl_byte = np.int64(data[control + k // 4]) if version == 1 else 0
        for j in range(4):
            ctrl = (ctrl_byte >> (2 * j)) & 3
            if ctrl == 3:  # literal: the delta bytes stored as they are
                if pos + block > n:
                    return -_SHORT
                deltas[j, :block] = data[pos:pos + block]
                pos += block
            elif ctrl == 2:  # all deltas zero, nothing stored
                deltas[j, :block] = 0
            else:
                bits = _BITS_V0 if version == 0 else _BITS_V1[ctrl]
                pos = _decode_bytes(data, pos, n, block, bits, deltas[j])
                if pos < 0:
                    return pos
        mode = np.int64(channels[k // 4]) if version == 1 else 0
        _apply_deltas(deltas, block, stride, k, mode, last, out, first)
    return pos


@nb.njit(cache=True, nogil=True)
def _decode_bytes(data, pos, n, block, bits, target):  # pragma: no cover - numba
    """One data block: 2 header bits per group of 16, then each group's deltas."""
    groups = (block + 15) // 16
    header = pos
    pos += (groups + 3) // 4
    if pos > n:
        return -_SHORT
    for g in range(groups):
        width = bits[(np.int64(data[header + g // 4]) >> (2 * (g % 4))) & 3]
        pos = _decode_group(data, pos, n, width, target, 16 * g, min(16, block - 16 * g))
        if pos < 0:
            return pos
    return pos


@nb.njit(cache=True, nogil=True)
def _decode_group(data, pos, n, width, target, start, keep):  # pragma: no cover - numba
    """16 deltas of ``width`` bits (sentinel ``2^width - 1``: a full byte follows)."""
    if width == 0:
        target[start:start + keep] = 0
        return pos
    if width == 8:
        if pos + 16 > n:
            return -_SHORT
        target[start:start + keep] = data[pos:pos + keep]
        return pos + 16
    packed = 2 * width  # 16 deltas of 1, 2 or 4 bits: 2, 4 or 8 bytes
    if pos + packed > n:
        return -_SHORT
    extra = pos + packed
    sentinel = (1 << width) - 1
    # deltas per byte is 8 // width (8, 4 or 2): shifts, not divisions, on this hot path
    per_byte_bits = 3 if width == 1 else (2 if width == 2 else 1)
    slot_mask = (1 << per_byte_bits) - 1
    for i in range(16):
        byte = np.int64(data[pos + (i >> per_byte_bits)])
        if width == 1:  # 1-bit deltas: least significant bit first
            value = (byte >> (i & 7)) & 1
        else:  # 2- and 4-bit deltas: most significant bits first
            value = (byte >> (8 - width * ((i & slot_mask) + 1))) & sentinel
        if value == sentinel:
            if extra >= n:
                return -_SHORT
            value = np.int64(data[extra])
            extra += 1
        if i < keep:
            target[start + i] = value
    return extra


@nb.njit(cache=True, nogil=True)
def _apply_deltas(deltas, block, stride, k, mode, last, out, first):  # pragma: no cover
    """Undo the channel's delta coding for bytes ``k..k+3`` (channel modes 0, 1 and 2)."""
    kind = mode & 15
    if kind == 0:  # byte deltas (every version 0 stream): the common case, kept simple
        for h in range(4):
            previous = np.int64(last[k + h])
            at = first * stride + k + h
            for i in range(block):
                value = np.int64(deltas[h, i])
                previous = (previous + ((value >> 1) ^ -(value & 1))) & 0xFF
                out[at] = previous
                at += stride
        end = (first + block - 1) * stride
        last[k:k + 4] = out[end + k:end + k + 4]
        return
    width = 2 if kind == 1 else 4
    bits = 8 * width
    mask = (1 << bits) - 1
    rot = (32 - (mode >> 4)) & 31
    for h in range(0, 4, width):
        previous = 0
        for b in range(width):
            previous |= np.int64(last[k + h + b]) << (8 * b)
        for i in range(block):
            value = 0
            for b in range(width):
                value |= np.int64(deltas[h + b, i]) << (8 * b)
            if kind == 2:  # 4-byte XOR deltas, rotated
                value = (((value << rot) | (value >> ((32 - rot) & 31))) & _M32) ^ previous
            else:  # zigzag byte / 2-byte deltas
                value = (((value >> 1) ^ (-(value & 1))) + previous) & mask
            base = (first + i) * stride + k + h
            for b in range(width):
                out[base + b] = (value >> (8 * b)) & 0xFF
            previous = value
    end = (first + block - 1) * stride
    last[k:k + 4] = out[end + k:end + k + 4]


# --- mode 1: triangles (Appendix A, "Mode 1: triangles") ------------------------------------


@nb.njit(cache=True, nogil=True)
def _read_varint(data, pos, end):  # pragma: no cover - numba
    """A varint-7 (unsigned LEB128, 1-5 bytes) at ``pos``; returns (value, next pos or -1)."""
    result = 0
    for i in range(5):
        if pos >= end:
            return 0, -1
        group = np.int64(data[pos])
        pos += 1
        result |= (group & 127) << (7 * i)
        if group < 128:
            break
    return result & _M32, pos


@nb.njit(cache=True, nogil=True)
def _unzigzag(v):  # pragma: no cover - numba
    return ((v >> 1) ^ (-(v & 1))) & _M32


@nb.njit(cache=True, nogil=True)
def _decode_triangles(data, count, out):  # pragma: no cover - numba
    """Decode a triangle stream of ``count`` indices into ``out``; returns a status."""
    n = len(data)
    triangles = count // 3
    if n < 1 + triangles + 16:
        return _SHORT
    version = np.int64(data[0]) & 15
    if (np.int64(data[0]) & 0xF0) != 0xE0 or version > 1:
        return _HEADER
    aux = n - 16  # the codeaux table; the extra data must end where it starts
    for i in range(16):
        entry = np.int64(data[aux + i])
        if (entry >> 4) == 15 or (entry & 15) == 15 or (i >= 14 and entry):
            return _TABLE
    state = np.zeros(6, np.int64)  # next, last, edge offset, edges written, vertex offset, written
    edges = np.zeros((16, 2), np.int64)
    vertices = np.zeros(16, np.int64)
    fec_max = 13 if version == 1 else 15  # 0xXd / 0xXe exist from version 1 on
    pos = 1 + triangles
    for t in range(triangles):
        code = np.int64(data[1 + t])
        if code < 0xF0:
            pos = _edge_triangle(data, pos, aux, code, fec_max, state, edges, vertices, out, t)
        elif code < 0xFE:
            pos = _table_triangle(np.int64(data[aux + (code & 15)]), pos, state, edges,
                                  vertices, out, t)
        else:
            pos = _free_triangle(data, pos, aux, code, state, edges, vertices, out, t)
        if pos < 0:
            return -pos
    return _OK if pos == aux else _LEFTOVER


@nb.njit(cache=True, nogil=True)
def _push_edge(edges, state, a, b):  # pragma: no cover - numba
    edges[state[2], 0] = a
    edges[state[2], 1] = b
    state[2] = (state[2] + 1) & 15
    state[3] = min(state[3] + 1, 16)


@nb.njit(cache=True, nogil=True)
def _push_vertex(vertices, state, v):  # pragma: no cover - numba
    vertices[state[4]] = v
    state[4] = (state[4] + 1) & 15
    state[5] = min(state[5] + 1, 16)


@nb.njit(cache=True, nogil=True)
def _next(state):  # pragma: no cover - numba
    """``next`` (the high-watermark index), then incremented with 32-bit wraparound."""
    value = state[0]
    state[0] = (value + 1) & _M32
    return value


@nb.njit(cache=True, nogil=True)
def _emit(out, t, a, b, c):  # pragma: no cover - numba
    out[3 * t] = a
    out[3 * t + 1] = b
    out[3 * t + 2] = c


@nb.njit(cache=True, nogil=True)
def _edge_triangle(data, pos, end, code, fec_max, state, edges, vertices, out,
                   t):  # pragma: no cover - numba
    """Codes ``0xXY`` with ``X < 0xf``: edge X of the FIFO and a third vertex by Y."""
    fe = code >> 4
    if fe >= state[3]:
        return -_FIFO
    slot = (state[2] - 1 - fe) & 15
    a, b = edges[slot, 0], edges[slot, 1]
    fec = code & 15
    if fec == 0:  # the next new vertex
        c = _next(state)
        _push_vertex(vertices, state, c)
    elif fec < fec_max:  # a recent vertex, not pushed again
        if fec >= state[5]:
            return -_FIFO
        c = vertices[(state[4] - 1 - fec) & 15]
    elif fec < 15:  # 0xXd / 0xXe: last - 1 / last + 1
        c = (state[1] + 2 * fec - 27) & _M32
        state[1] = c
        _push_vertex(vertices, state, c)
    else:  # 0xXf: an explicit index, zigzag delta from last
        value, pos = _read_varint(data, pos, end)
        if pos < 0:
            return -_SHORT
        c = (state[1] + _unzigzag(value)) & _M32
        state[1] = c
        _push_vertex(vertices, state, c)
    _push_edge(edges, state, c, b)
    _push_edge(edges, state, a, c)
    _emit(out, t, a, b, c)
    return pos


@nb.njit(cache=True, nogil=True)
def _fifo_vertex(vertices, state, z):  # pragma: no cover - numba
    """Vertex FIFO entry ``z - 1`` (0: the most recent), or -1 when never written."""
    if z > state[5]:
        return -1
    return vertices[(state[4] - z) & 15]


@nb.njit(cache=True, nogil=True)
def _table_triangle(entry, pos, state, edges, vertices, out, t):  # pragma: no cover - numba
    """Codes ``0xfY`` with ``Y < 0xe``: ``codeaux[Y] = 0xZW`` picks b and c."""
    z, w = entry >> 4, entry & 15
    b_fifo = _fifo_vertex(vertices, state, z) if z else 0
    c_fifo = _fifo_vertex(vertices, state, w) if w else 0
    if b_fifo < 0 or c_fifo < 0:
        return -_FIFO
    a = _next(state)
    b = _next(state) if z == 0 else b_fifo
    c = _next(state) if w == 0 else c_fifo
    _finish_triangle(a, b, c, True, z == 0, w == 0, state, edges, vertices, out, t)
    return pos


@nb.njit(cache=True, nogil=True)
def _free_triangle(data, pos, end, code, state, edges, vertices, out,
                   t):  # pragma: no cover - numba
    """Codes ``0xfe`` / ``0xff``: one byte ``0xZW``, then explicit indices as needed."""
    if pos >= end:
        return -_SHORT
    entry = np.int64(data[pos])
    pos += 1
    if entry == 0:
        state[0] = 0  # restart of the next sequence
    z, w = entry >> 4, entry & 15
    b_fifo = _fifo_vertex(vertices, state, z) if 0 < z < 15 else 0
    c_fifo = _fifo_vertex(vertices, state, w) if 0 < w < 15 else 0
    if b_fifo < 0 or c_fifo < 0:
        return -_FIFO
    a = _next(state) if code == 0xFE else 0
    b = _next(state) if z == 0 else b_fifo
    c = _next(state) if w == 0 else c_fifo
    if code == 0xFF:
        a, pos = _free_index(data, pos, end, state)
    if z == 15 and pos >= 0:
        b, pos = _free_index(data, pos, end, state)
    if w == 15 and pos >= 0:
        c, pos = _free_index(data, pos, end, state)
    if pos < 0:
        return -_SHORT
    _finish_triangle(a, b, c, True, z == 0 or z == 15, w == 0 or w == 15, state, edges,
                     vertices, out, t)
    return pos


@nb.njit(cache=True, nogil=True)
def _free_index(data, pos, end, state):  # pragma: no cover - numba
    """An explicit index: a varint-7 zigzag delta from ``last``, which it becomes."""
    value, pos = _read_varint(data, pos, end)
    if pos < 0:
        return 0, -1
    state[1] = (state[1] + _unzigzag(value)) & _M32
    return state[1], pos


@nb.njit(cache=True, nogil=True)
def _finish_triangle(a, b, c, push_a, push_b, push_c, state, edges, vertices, out,
                     t):  # pragma: no cover - numba
    """Push the new vertices and all three edges, then emit the triangle."""
    if push_a:
        _push_vertex(vertices, state, a)
    if push_b:
        _push_vertex(vertices, state, b)
    if push_c:
        _push_vertex(vertices, state, c)
    _push_edge(edges, state, b, a)
    _push_edge(edges, state, c, b)
    _push_edge(edges, state, a, c)
    _emit(out, t, a, b, c)


# --- mode 2: indices (Appendix A, "Mode 2: indices") ----------------------------------------


@nb.njit(cache=True, nogil=True)
def _decode_sequence(data, count, out):  # pragma: no cover - numba
    """Decode an index sequence of ``count`` indices into ``out``; returns a status."""
    n = len(data)
    if n < 1 + count + 4:
        return _SHORT
    version = np.int64(data[0]) & 15
    if (np.int64(data[0]) & 0xF0) != 0xD0 or version > 1:
        return _HEADER
    end = n - 4  # 4 bytes of tail padding
    baselines = np.zeros(2, np.int64)
    pos = 1
    for i in range(count):
        value, pos = _read_varint(data, pos, end)
        if pos < 0:
            return _SHORT
        current = value & 1
        baselines[current] = (baselines[current] + _unzigzag(value >> 1)) & _M32
        out[i] = baselines[current]
    return _OK if pos == end else _LEFTOVER


# --- filters (Appendix B) -------------------------------------------------------------------


def _filtered(raw: np.ndarray, count: int, stride: int, filter: str) -> np.ndarray:
    """Apply an attribute filter to the decoded bytes (``NONE``: as they are)."""
    if filter == "NONE" or count == 0:
        return raw
    if filter == "EXPONENTIAL":
        return _exponential(raw.view("<i4"))
    wide = stride == 8
    if filter == "COLOR":
        return _color(raw.view("<u2" if wide else "u1").reshape(count, 4), wide)
    signed = raw.view("<i2" if wide else "i1").reshape(count, 4)
    return _octahedral(signed, wide) if filter == "OCTAHEDRAL" else _quaternion(signed)


def _round(values: np.ndarray) -> np.ndarray:
    """Round half away from zero, as Appendix B's ``round``."""
    return np.trunc(values + np.copysign(np.float32(0.5), values))


def _octahedral(data: np.ndarray, wide: bool) -> np.ndarray:
    """Filter 1: octahedral unit vectors, K-bit 1.0 in the third component."""
    out = np.empty_like(data)
    _octahedral_rows(data, out, np.float32(32767.0 if wide else 127.0))
    return out


@nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _round_clamped(value, limit):  # pragma: no cover - numba
    """Round half away from zero (Appendix B's ``round``), clamped to ``[-limit, limit]``."""
    half = np.float32(0.5)
    rounded = np.float32(np.int32(value + half if value >= 0 else value - half))
    return min(max(rounded, -limit), limit)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _octahedral_rows(data, out, limit):  # pragma: no cover - numba
    """Row by row in float32: half numpy's time on the few thousand rows of a small file."""
    for r in range(data.shape[0]):
        one = np.float32(data[r, 2])
        if one == 0:
            one = np.float32(1.0)  # unspecified for invalid vectors: keep it finite
        x = np.float32(data[r, 0]) / one
        y = np.float32(data[r, 1]) / one
        z = np.float32(1.0) - abs(x) - abs(y)
        fold = min(z, np.float32(0.0))  # the lower hemisphere folds back over the diagonals
        x = x + fold if x >= 0 else x - fold
        y = y + fold if y >= 0 else y - fold
        length = np.sqrt(x * x + y * y + z * z)
        scale = limit / length if length != 0 else limit
        out[r, 0] = _round_clamped(x * scale, limit)
        out[r, 1] = _round_clamped(y * scale, limit)
        out[r, 2] = _round_clamped(z * scale, limit)
        out[r, 3] = data[r, 3]


def _quaternion(data: np.ndarray) -> np.ndarray:
    """Filter 2: the three smallest components, the largest one's index in the low 2 bits."""
    scale = np.float32(1.0 / np.sqrt(2.0))
    one = (data[:, 3] | 3).astype(np.float32)
    xyz = data[:, :3].astype(np.float32) / one[:, None] * scale
    w = np.sqrt(np.maximum(np.float32(0.0), 1.0 - (xyz * xyz).sum(axis=1, dtype=np.float32)))
    largest = (data[:, 3] & 3).astype(np.int64)
    out = np.empty_like(data)
    rows = np.arange(len(data))
    for shift, value in enumerate((w, xyz[:, 0], xyz[:, 1], xyz[:, 2])):
        out[rows, (largest + shift) % 4] = np.clip(_round(value * 32767.0), -32767, 32767)
    return out


def _exponential(data: np.ndarray) -> np.ndarray:
    """Filter 3: ``2^e * m``, an 8-bit exponent over a 24-bit mantissa, decoded exactly."""
    exponent = data >> 24
    mantissa = (data << 8) >> 8
    # m * 2^e is exact in float64 for |e| <= 100; the cast rounds once, as a float32 product
    return np.ldexp(mantissa.astype(np.float64), exponent).astype("<f4")


def _color(data: np.ndarray, wide: bool) -> np.ndarray:
    """Filter 4 (KHR only): YCoCg with a K-1-bit alpha whose top bit gives K."""
    signed = data.view("<i2" if wide else "i1").astype(np.int64)
    alpha = data[:, 3].astype(np.int64)
    top = np.zeros(len(data), np.int64)
    for bit in range(16 if wide else 8):
        top[(alpha >> bit) & 1 == 1] = bit
    scale_bits = (np.int64(1) << (top + 1)) - 1
    y, co, cg = data[:, 0].astype(np.int64), signed[:, 1], signed[:, 2]
    a = alpha & (scale_bits >> 1)
    a = (a << 1) | (a & 1)
    limit = 65535.0 if wide else 255.0
    factor = (np.float32(limit) / np.maximum(scale_bits, 1).astype(np.float32))
    out = np.empty_like(data)
    for column, value in enumerate((y + co - cg, y + cg, y - co - cg, a)):
        out[:, column] = np.clip(_round(value.astype(np.float32) * factor), 0, limit)
    return out
