"""Path confinement shared by the glTF check, the zip extractor and the asset resolver.

A model file may name other files (a glTF buffer, an OBJ material, a texture). Every such name is
untrusted input: it is resolved here against a folder the load is confined to, and refused when it
is a URL, an absolute path, or climbs out of that folder.
"""

from __future__ import annotations

import os
import posixpath
import re
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path

import trimesh

from meshprep.errors import UnsafePathError

# a Windows drive ("C:") or UNC ("\\server") prefix is absolute even on a POSIX host
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:|[\\/]{2})")


def _checked_form(name: str) -> str:
    """Refuse empty, NUL-holding, absolute or URL references; return it with '/' separators."""
    if not name or "\x00" in name:
        raise UnsafePathError(f"unsafe reference {name!r}: empty or contains a NUL byte")
    # backslashes are separators in references written on Windows
    slashed = name.replace("\\", "/")
    if slashed.startswith("/") or _WINDOWS_ABSOLUTE.match(name):
        raise UnsafePathError(f"unsafe reference {name!r}: absolute path")
    if urllib.parse.urlsplit(slashed).scheme:
        raise UnsafePathError(f"unsafe reference {name!r}: URL scheme not allowed")
    return slashed


def _escapes(normal: str) -> bool:
    """True when a normalised relative path climbs above its starting folder."""
    return normal == ".." or normal.startswith("../")


def normalise_relative(name: str) -> str:
    """Normalise a relative reference and refuse it when it is not confined to its folder.

    Parameters
    ----------
    name : str
        A file name as written inside a model or archive (already percent-decoded).

    Returns
    -------
    str
        The normalised POSIX-style relative path (never empty, never starting with ``..``).

    Raises
    ------
    UnsafePathError
        If ``name`` is empty, holds a NUL byte, has a URL scheme, is absolute, or climbs out of its
        folder once normalised.
    """
    normal = posixpath.normpath(_checked_form(name))
    if _escapes(normal) or normal == ".":
        raise UnsafePathError(f"unsafe reference {name!r}: leaves its folder")
    return normal


def resolve_inside(base: Path, name: str, jail: Path | None = None) -> Path:
    """Resolve ``name`` relative to ``base`` and prove the result stays inside ``jail``.

    Parameters
    ----------
    base : Path
        Folder the reference is relative to (the referencing file's folder).
    name : str
        The reference, already percent-decoded.
    jail : Path, optional
        Folder the result must stay inside (``base`` or a folder above it); defaults to ``base``.

    Returns
    -------
    Path
        Absolute path inside ``jail``. It may not exist.

    Raises
    ------
    UnsafePathError
        If the reference is empty, absolute or a URL, climbs out of ``jail`` once normalised, or
        a symlink inside the folder points outside it.
    """
    root = (jail if jail is not None else base).resolve()
    base = base.resolve()
    if not base.is_relative_to(root):
        raise UnsafePathError(f"unsafe reference {name!r}: base folder outside {root.name}/")
    # normalise lexically from the jail root, so "../x" is allowed only while it stays inside
    start = base.relative_to(root).as_posix()
    normal = posixpath.normpath(posixpath.join(start, _checked_form(name)))
    if _escapes(normal) or normal == ".":
        raise UnsafePathError(f"unsafe reference {name!r}: leaves its folder")
    # resolve() follows symlinks already in the folder: a link pointing out is caught here,
    # and only path components (never the target file's bytes) are inspected
    target = (root / normal).resolve()
    if not target.is_relative_to(root):
        raise UnsafePathError(f"unsafe reference {name!r}: resolves outside {root.name}/")
    return target


class MissingAssetWarning(UserWarning):
    """A file a model references (a texture, a material library) is not in its folder."""


def _case_insensitive(target: Path, jail: Path) -> Path | None:
    """The one file inside ``jail`` whose path equals ``target``'s ignoring case (else None).

    ``target`` is already confined (from :func:`resolve_inside`); each component is matched
    against the entries of the folder found so far, so the result never leaves ``jail``.
    """
    folder = jail
    for part in target.relative_to(jail).parts:
        exact = folder / part
        if exact.exists():
            folder = exact
            continue
        try:
            matches = [e for e in os.listdir(folder) if e.casefold() == part.casefold()]
        except OSError:
            return None
        if len(matches) != 1:
            return None
        folder = folder / matches[0]
    found = folder.resolve()
    return found if found.is_file() and found.is_relative_to(jail) else None


class FolderResolver(trimesh.resolvers.Resolver):
    """A trimesh resolver that reads referenced assets only from inside one folder.

    Unlike ``trimesh.resolvers.FilePathResolver`` it never falls back to a file's base name, never
    writes, and refuses escaping names with :class:`~meshprep.errors.UnsafePathError` in every
    trimesh version.

    Parameters
    ----------
    base : Path
        Folder that relative names are resolved against.
    jail : Path, optional
        Folder reads must stay inside; defaults to ``base``.
    """

    def __init__(self, base: Path, jail: Path | None = None) -> None:
        self.base = Path(base).resolve()
        self.jail = Path(jail).resolve() if jail is not None else self.base
        # trimesh loaders read these to name meshes
        self.parent = str(self.base)
        self.file_name = None

    def get(self, key: str) -> bytes:
        """Read an asset by its (possibly percent-encoded) relative name.

        Parameters
        ----------
        key : str
            Name as written in the model file.

        Returns
        -------
        bytes
            The asset's bytes.

        Raises
        ------
        UnsafePathError
            If the name leaves the folder.
        FileNotFoundError
            If no such file is inside the folder.
        """
        spellings = _spellings(key)
        for name in spellings:
            path = resolve_inside(self.base, name, self.jail)
            if path.is_file():
                return path.read_bytes()
        # written on a case-insensitive file system: "Textures\\Wood.JPG" names "textures/wood.jpg"
        for name in spellings:
            path = _case_insensitive(resolve_inside(self.base, name, self.jail), self.jail)
            if path is not None:
                return path.read_bytes()
        warnings.warn(f"{key!r} not found inside {self.base.name}/: the file is skipped (a "
                      "texture draws its material's factor)", MissingAssetWarning, stacklevel=2)
        raise FileNotFoundError(key)

    def write(self, name: str, data: bytes | str) -> None:
        """Refuse to write: loading never writes next to the input.

        Raises
        ------
        PermissionError
            Always.
        """
        raise PermissionError(f"meshprep resolvers are read-only: {name!r}")

    def namespaced(self, namespace: str) -> FolderResolver:
        """Return a resolver rooted at a sub-folder, still confined to the same jail.

        Parameters
        ----------
        namespace : str
            Relative sub-folder.

        Returns
        -------
        FolderResolver
            The narrowed resolver.
        """
        return FolderResolver(resolve_inside(self.base, namespace, self.jail), self.jail)

    def keys(self) -> Iterator[str]:
        """List the files inside the folder, relative to it.

        Yields
        ------
        str
            Relative POSIX path of each file.
        """
        for folder, _, names in os.walk(self.base):
            for name in names:
                yield Path(folder, name).relative_to(self.base).as_posix()


def _spellings(key: str) -> list[str]:
    """Return the name as written, then percent-decoded if that differs.

    glTF URIs are percent-encoded but trimesh hands them over raw; OBJ/MTL names are not encoded.
    """
    decoded = urllib.parse.unquote(key)
    return [key] if decoded == key else [key, decoded]


def is_uri(source: str) -> bool:
    """True for ``scheme://...`` sources and outputs (read through fsspec), False for local
    paths."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", str(source)) is not None
