"""A tiny meshopt encoder for tests, written from the ``KHR_meshopt_compression`` README.

Appendix A's bitstreams, encoded plainly (no search for the best triangle codes): attribute
streams of versions 0 and 1 (each group in its smallest width, each byte in its smallest control
mode, channel modes as asked), triangle streams of explicit indices and index sequences.
"""

from __future__ import annotations

import numpy as np


def _zigzag(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    sign = value >> (bits - 1)
    return ((value << 1) & ((1 << bits) - 1)) ^ (-sign & ((1 << bits) - 1))


def _group(values: list[int], width: int) -> bytes | None:
    """16 deltas in ``width`` bits (None when they do not fit a 0-bit group)."""
    if width == 0:
        return None if any(values) else b""
    if width == 8:
        return bytes(values)
    sentinel, packed, extra = (1 << width) - 1, bytearray(2 * width), bytearray()
    per_byte = 8 // width
    for i, value in enumerate(values):
        code = min(value, sentinel)
        if code == sentinel:
            extra.append(value)
        shift = i % 8 if width == 1 else 8 - width * (i % per_byte + 1)
        packed[i // per_byte] |= code << shift
    return bytes(packed + extra)


def _data_block(stream: list[int], table: tuple[int, ...]) -> bytes:
    """Header bits and groups, each group in its smallest width of ``table``."""
    groups = [stream[i:i + 16] + [0] * (16 - len(stream[i:i + 16]))
              for i in range(0, len(stream), 16)]
    header, body = bytearray((len(groups) + 3) // 4), bytearray()
    for g, values in enumerate(groups):
        options = [(len(e), m, e) for m, w in enumerate(table)
                   if (e := _group(values, w)) is not None]
        _, mode, encoded = min(options)
        header[g // 4] |= mode << (2 * (g % 4))
        body += encoded
    return bytes(header + body)


def _channel_deltas(block: np.ndarray, previous: np.ndarray, channel: int) -> list[list[int]]:
    """The four byte streams of one 4-byte channel under channel mode ``channel``."""
    rows = np.vstack([previous, block]).astype(np.int64)
    kind, rot = channel & 15, channel >> 4
    if kind == 2:
        words = rows[:, 0] | rows[:, 1] << 8 | rows[:, 2] << 16 | rows[:, 3] << 24
        xor = (words[1:] ^ words[:-1]) & 0xFFFFFFFF
        rotated = ((xor << rot) | (xor >> ((32 - rot) & 31))) & 0xFFFFFFFF
        return [list((rotated >> (8 * j)) & 0xFF) for j in range(4)]
    width = 1 if kind == 0 else 2
    streams = []
    for h in range(0, 4, width):
        words = sum(rows[:, h + b] << (8 * b) for b in range(width))
        deltas = [_zigzag(int(d), 8 * width) for d in words[1:] - words[:-1]]
        streams += [[(d >> (8 * b)) & 0xFF for d in deltas] for b in range(width)]
    return streams


def encode_vertices(data: np.ndarray, version: int = 0, channels: list[int] | None = None
                    ) -> bytes:
    """(count, stride) uint8 rows as an attribute stream; baseline: the first row."""
    count, stride = data.shape
    channels = channels or [0] * (stride // 4)
    out, previous = bytearray([0xA0 | version]), data[0].copy()
    block_max = min((8192 // stride) & ~15, 256)
    for first in range(0, count, block_max):
        block = data[first:first + block_max]
        control, payload = bytearray(stride // 4), bytearray()
        for k in range(0, stride, 4):
            streams = _channel_deltas(block[:, k:k + 4], previous[k:k + 4], channels[k // 4])
            for j, stream in enumerate(streams):
                if version == 0:
                    payload += _data_block(stream, (0, 2, 4, 8))
                    continue
                options = [(len(e), c, e) for c, e in
                           ((0, _data_block(stream, (0, 1, 2, 4))),
                            (1, _data_block(stream, (1, 2, 4, 8))), (3, bytes(stream)))]
                if not any(stream):
                    options.append((0, 2, b""))
                _, ctrl, encoded = min(options)
                control[k // 4] |= ctrl << (2 * j)
                payload += encoded
        out += (control if version else b"") + payload
        previous = block[-1].copy()
    tail = bytes(data[0]) + (bytes(channels) if version else b"")
    out += bytes(max(0, (32 if version == 0 else 24) - len(tail))) + tail
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 127) | (128 if value > 127 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def encode_triangles(indices: np.ndarray) -> bytes:
    """Every triangle as code 0xff with all three indices explicit (zigzag deltas)."""
    codes, data, last = bytearray(), bytearray(), 0
    for t in range(len(indices) // 3):
        codes.append(0xFF)
        data.append(0xFF)
        for index in indices[3 * t:3 * t + 3]:
            data += _varint(_zigzag(int(index) - last, 32))
            last = int(index)
    return bytes([0xE1]) + bytes(codes) + bytes(data) + bytes(16)


def encode_sequence(indices: np.ndarray) -> bytes:
    """An index sequence, baseline 1 for odd positions and 0 for even ones."""
    out, last = bytearray([0xD1]), [0, 0]
    for i, index in enumerate(indices):
        base = i % 2
        out += _varint((_zigzag(int(index) - last[base], 32) << 1) | base)
        last[base] = int(index)
    return bytes(out) + bytes(4)
