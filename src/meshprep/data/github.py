"""Objaverse-XL GitHub objects: one archive per repository at its pinned commit, never git.

A GitHub blob URL ``https://github.com/{org}/{repo}/blob/{commit}/{path}`` names a file of a
repository at a commit. The runner downloads ``{github}/{org}/{repo}/archive/{commit}.zip`` once
for all the objects of that repository and commit, and extracts only the wanted files (and the
non-model files beside a ``.gltf`` / ``.obj``: buffers, materials, textures).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from meshprep.errors import ArchiveError, UnsafePathError

from .lists import GITHUB_BLOB

COMPANION_OWNERS = (".gltf", ".obj")
MODEL_SUFFIXES = frozenset({".glb", ".gltf", ".obj", ".fbx", ".blend", ".ply", ".stl", ".dae",
                            ".3ds", ".usd", ".usdz", ".abc", ".off", ".3mf"})
MAX_COMPANION_BYTES = 64 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class GithubObject:
    """A file of a repository at a commit."""

    org: str
    repo: str
    commit: str
    path: str

    @property
    def archive_key(self) -> str:
        return f"{self.org}/{self.repo}@{self.commit}"


def parse_blob_url(url: str) -> GithubObject:
    """Split a GitHub blob URL; refuse a path that is absolute or climbs with ``..``."""
    match = re.match(GITHUB_BLOB, url)
    if match is None:
        raise UnsafePathError(f"not a GitHub blob URL: {url}")
    org, repo, commit, path = match.groups()
    path = posixpath.normpath(path.split("?")[0])
    if path.startswith(("/", "..")) or "/../" in f"/{path}/":
        raise UnsafePathError(f"unsafe path in {url}")
    return GithubObject(org, repo, commit, path)


def _unsafe(info: zipfile.ZipInfo) -> bool:
    """Symlinks, devices, fifos, absolute names and names that climb are never extracted."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        return True
    name = info.filename
    return name.startswith("/") or ".." in name.split("/") or "\\" in name


def _inner(name: str) -> str:
    """A member's path inside the repository (the archive's ``{repo}-{commit}/`` removed)."""
    return name.split("/", 1)[1] if "/" in name else ""


def extract_objects(archive: Path, wanted: dict[str, str], dest: Path, *, max_bytes: int,
                    deadline: float) -> dict[str, tuple[Path, str] | Exception]:
    """Extract the wanted files of a repository archive, each with its companions.

    Parameters
    ----------
    archive : Path
        The repository zip.
    wanted : dict
        ``uid -> path inside the repository``.
    dest : Path
        Folder under which ``dest/uid/`` receives each object's files.
    max_bytes : int
        Largest expanded size of one object with its companions.
    deadline : float
        ``time.monotonic()`` after which extraction stops with an error.

    Returns
    -------
    dict
        ``uid -> (model file, sha256)`` or the exception that object failed with.
    """
    results: dict[str, tuple[Path, str] | Exception] = {}
    with zipfile.ZipFile(archive) as zf:
        members = {_inner(i.filename): i for i in zf.infolist()
                   if not i.is_dir() and not _unsafe(i)}
        for uid, path in wanted.items():
            try:
                results[uid] = _extract_one(zf, members, path, dest / uid, max_bytes, deadline)
            except (ArchiveError, UnsafePathError, TimeoutError, zipfile.BadZipFile,
                    OSError) as exc:
                results[uid] = exc
    return results


def planned_bytes(archive: Path, wanted: dict[str, str]) -> int:
    """Declared bytes :func:`extract_objects` may write for ``wanted`` (files + companions)."""
    with zipfile.ZipFile(archive) as zf:
        members = {_inner(i.filename): i for i in zf.infolist()
                   if not i.is_dir() and not _unsafe(i)}
    total = 0
    for path in wanted.values():
        info = members.get(path)
        if info is None:
            continue
        total += info.file_size
        if posixpath.splitext(path)[1].lower() in COMPANION_OWNERS:
            base = posixpath.dirname(path)
            prefix = f"{base}/" if base else ""
            companions = sum(i.file_size for n, i in members.items()
                             if n != path and n.startswith(prefix)
                             and posixpath.splitext(n)[1].lower() not in MODEL_SUFFIXES)
            total += min(companions, MAX_COMPANION_BYTES)
    return total


def _extract_one(zf, members, path, folder, max_bytes, deadline) -> tuple[Path, str]:
    info = members.get(path)
    if info is None:
        raise ArchiveError(f"{path} is not in the repository archive at this commit")
    if info.file_size > max_bytes:
        raise ArchiveError(f"{path} expands to {info.file_size} bytes (limit {max_bytes})")
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / posixpath.basename(path)
    digest = _copy(zf, info, model, max_bytes, deadline)
    if model.suffix.lower() in COMPANION_OWNERS:
        _companions(zf, members, path, folder, min(max_bytes, MAX_COMPANION_BYTES), deadline)
    return model, digest


def _companions(zf, members, path, folder, budget, deadline) -> None:
    """Non-model files in the model's folder and below, as long as they fit the budget."""
    base = posixpath.dirname(path)
    prefix = f"{base}/" if base else ""
    for name, info in sorted(members.items()):
        if name == path or not name.startswith(prefix):
            continue
        if posixpath.splitext(name)[1].lower() in MODEL_SUFFIXES:
            continue
        if info.file_size > budget:
            continue
        target = folder / name[len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(zf, info, target, budget, deadline)
        budget -= info.file_size


def _copy(zf, info, target: Path, max_bytes: int, deadline: float) -> str:
    digest = hashlib.sha256()
    written = 0
    with zf.open(info) as src, open(target, "wb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes or written > info.file_size:
                raise ArchiveError(f"{info.filename} expands past the size limit")
            if time.monotonic() > deadline:
                raise TimeoutError(f"extraction of {info.filename} ran past its time limit")
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()
