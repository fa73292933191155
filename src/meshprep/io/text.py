"""Text model files in any common encoding, handed to trimesh as UTF-8.

trimesh decodes text as UTF-8 and, when that fails, imports ``charset_normalizer`` (a package
it does not declare) to guess the encoding. meshprep decodes such files itself instead: a byte
order mark decides (UTF-8, UTF-16, UTF-32), else UTF-8, else UTF-16 without a mark when every
other byte is NUL, else cp1252 (a superset of Latin-1 for the printable range), else Latin-1,
which decodes any bytes. Numbers and keywords are ASCII in every one of these, so only names
and comments can differ from what the author meant.
"""

from __future__ import annotations

import codecs
import struct
from pathlib import Path

from meshprep.io._paths import FolderResolver

# longest byte order mark first: UTF-32 LE starts with the UTF-16 LE mark
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# bytes of a text file sampled to recognise UTF-16 written without a byte order mark
_SAMPLE = 4096
_PLY_END = b"end_header"


def detect_encoding(data: bytes) -> tuple[str, int]:
    """The encoding of a text file's bytes and the length of its byte order mark.

    Parameters
    ----------
    data : bytes
        The file's bytes (or its first few kilobytes, for files without a mark).

    Returns
    -------
    tuple of (str, int)
        A Python codec name and how many leading bytes are the byte order mark (0 without).
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom)
    try:
        data.decode("utf-8")
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    sample = data[:_SAMPLE]
    half = max(len(sample) // 2, 1)
    if sample[1::2].count(0) > 0.9 * half:
        return "utf-16-le", 0
    if sample[0::2].count(0) > 0.9 * half:
        return "utf-16-be", 0
    try:
        data.decode("cp1252")
        return "cp1252", 0
    except UnicodeDecodeError:
        return "latin-1", 0


def decode(data: bytes) -> str:
    """Decode a text file's bytes whatever their encoding (see :func:`detect_encoding`).

    Parameters
    ----------
    data : bytes
        The file's bytes.

    Returns
    -------
    str
        The text without its byte order mark; undecodable UTF-16 / UTF-32 units are replaced.
    """
    name, skip = detect_encoding(data)
    return data[skip:].decode(name, errors="replace")


def utf8_bytes(data: bytes) -> bytes | None:
    """The bytes re-encoded as UTF-8 without a byte order mark; None when they already are."""
    name, skip = detect_encoding(data)
    if name == "utf-8" and skip == 0:
        return None
    return data[skip:].decode(name, errors="replace").encode("utf-8")


def as_utf8(path: Path, ext: str) -> bytes | None:
    """A text model file's bytes re-encoded as UTF-8 for trimesh, or None when trimesh can read
    the file as it is.

    Parameters
    ----------
    path : Path
        The model file.
    ext : str
        Its lower-case extension: ``.obj`` and ``.off`` are re-encoded whole, a PLY's header
        (and an ASCII PLY's body), an ASCII STL whole and a binary STL's 80-byte header only.

    Returns
    -------
    bytes or None
        UTF-8 bytes to parse instead of the file, or None.
    """
    if ext in (".obj", ".off"):
        return utf8_bytes(path.read_bytes())
    if ext == ".ply":
        return _ply_utf8(path.read_bytes())
    if ext == ".stl":
        return _stl_utf8(path.read_bytes())
    return None


def _ply_utf8(data: bytes) -> bytes | None:
    """A PLY whose header (or ASCII body) is not UTF-8, with those parts re-encoded."""
    end = data.find(_PLY_END)
    if end < 0:
        return utf8_bytes(data)  # no header end: trimesh reports it; decoding must not fail
    line_end = data.find(b"\n", end)
    split = len(data) if line_end < 0 else line_end + 1
    header, body = data[:split], data[split:]
    if b"format ascii" in header:
        return utf8_bytes(data)
    fixed = utf8_bytes(header)
    return None if fixed is None else fixed + body


def _stl_utf8(data: bytes) -> bytes | None:
    """An STL re-encoded: a binary one's header made ASCII (trimesh decodes it as text)."""
    if len(data) >= 84:
        count = struct.unpack("<I", data[80:84])[0]
        if len(data) == 84 + 50 * count:
            header = data[:80]
            if utf8_bytes(header) is None:
                return None
            clean = bytes(b if 32 <= b < 127 else 32 for b in header)
            return clean + data[80:]
    return utf8_bytes(data)


class TextResolver(FolderResolver):
    """A :class:`~meshprep.io._paths.FolderResolver` that hands material libraries (``.mtl``)
    to trimesh as UTF-8 whatever their encoding."""

    def get(self, key: str) -> bytes:
        """Read an asset by name; a ``.mtl`` comes back as UTF-8.

        Parameters
        ----------
        key : str
            Name as written in the model file.

        Returns
        -------
        bytes
            The asset's bytes.
        """
        data = super().get(key)
        if key.lower().endswith(".mtl"):
            return utf8_bytes(data) or data
        return data
