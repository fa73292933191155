"""A minimal PNG writer: no row filters, zlib level 1.

Rendered frames are mostly empty background, which deflate compresses well without filters;
skipping Pillow's filter search makes encoding about 1.7× faster here (4.3 vs 7.5 ms for a
512² RGBA normal map, and a smaller file), and ``zlib.compress`` releases the GIL so two writer
threads encode in parallel. Any PNG reader opens the files (tested against Pillow).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # grey, RGB, RGBA
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(image: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of an (H, W), (H, W, 3) or (H, W, 4) uint8 or uint16 array."""
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG needs uint8 or uint16 pixels, got {image.dtype}")
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = np.empty((height, width * channels * image.dtype.itemsize + 1), np.uint8)
    rows[:, 0] = 0  # filter byte 0 (none) per row
    # 16-bit samples are big-endian in PNG
    big = rows[:, 1:].view(image.dtype.newbyteorder(">")).reshape(image.shape)
    big[...] = image
    header = struct.pack(">IIBBBBB", width, height, image.dtype.itemsize * 8,
                         _COLOR_TYPES[channels], 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows, level)) + _chunk(b"IEND", b""))
