"""Git LFS pointer files: what a repository archive holds in place of a model kept in LFS.

A pointer is a short UTF-8 text (Git LFS spec, ``docs/spec.md`` of git-lfs/git-lfs)::

    version https://git-lfs.github.com/spec/v1
    oid sha256:<64 hex digits>
    size <bytes>

Git LFS itself only treats files under 1024 bytes as pointers; so does this module.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

#: files at least this large are never pointers (git-lfs's own cutoff)
MAX_POINTER_BYTES = 1024
#: the first line of every pointer (``hawser`` is the pre-1.0 name of the same spec)
_VERSIONS = (b"version https://git-lfs.github.com/spec/", b"version https://hawser.github.com/spec/")
_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.MULTILINE)
_SIZE = re.compile(rb"^size (\d+)$", re.MULTILINE)

#: what :func:`meshprep.load` says of a pointer file
POINTER_MESSAGE = "a Git LFS pointer, not the model: fetch it with meshprep fetch"


@dataclass(frozen=True)
class LfsPointer:
    """The object a pointer names.

    Attributes
    ----------
    oid : str
        SHA-256 of the real object, lower-case hex.
    size : int
        Its size in bytes.
    """

    oid: str
    size: int


def parse_pointer(data: bytes) -> LfsPointer | None:
    """The pointer ``data`` is, or None when it is not one (a model, or a damaged pointer)."""
    if len(data) >= MAX_POINTER_BYTES or not data.startswith(_VERSIONS):
        return None
    oid, size = _OID.search(data), _SIZE.search(data)
    if oid is None or size is None:
        return None
    return LfsPointer(oid.group(1).decode("ascii"), int(size.group(1)))


def read_pointer(path: str | os.PathLike[str]) -> LfsPointer | None:
    """:func:`parse_pointer` of a file (None for a larger file or one that cannot be read)."""
    try:
        if os.path.getsize(path) >= MAX_POINTER_BYTES:
            return None
        with open(path, "rb") as stream:
            return parse_pointer(stream.read(MAX_POINTER_BYTES))
    except OSError:
        return None
