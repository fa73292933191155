"""Safe extraction of zip archives (Objaverse-XL GitHub objects arrive zipped).

An archive is untrusted input. A member is written only when its normalised name is relative,
stays inside the extraction folder, and is not a symlink; every other member is skipped and
recorded, never written. The expanded size and the member count are bounded before anything is
written, and again while streaming, so a lying header cannot fill the disk.
"""

from __future__ import annotations

import errno
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from meshprep.errors import ArchiveError, CorruptFileError, UnsafePathError
from meshprep.io._paths import resolve_inside

MAX_MEMBERS = 10_000
_CHUNK = 1 << 20

#: model extensions in the order a member is preferred when an archive holds several
MODEL_PREFERENCE: tuple[str, ...] = (
    ".glb",
    ".gltf",
    ".obj",
    ".fbx",
    ".blend",
    ".dae",
    ".3mf",
    ".ply",
    ".stl",
    ".off",
    ".usdz",
    ".usd",
    ".usdc",
    ".usda",
    ".max",
    ".c4d",
    ".ma",
    ".mb",
)


@dataclass
class _Budget:
    """Bytes still allowed to be written, shared by all members of one archive."""

    left: int


def _unlink_file(path: Path) -> None:
    """Remove a partly written member; never a folder."""
    if path.is_file():
        path.unlink()


@dataclass
class Extraction:
    """What :func:`extract_zip` wrote and what it refused.

    Attributes
    ----------
    folder : Path
        The extraction folder.
    written : list of Path
        Files written, all inside ``folder``.
    skipped : list of str
        Member names refused (unsafe path, symlink, encrypted, unsupported compression).
    """

    folder: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def extract_zip(
    archive: Path, dest: Path, *, max_bytes: int, max_members: int = MAX_MEMBERS
) -> Extraction:
    """Extract the safe members of a zip archive into ``dest``.

    Parameters
    ----------
    archive : Path
        The zip file.
    dest : Path
        An existing, private, empty folder.
    max_bytes : int
        Largest total uncompressed size allowed, both as declared and as actually streamed.
    max_members : int
        Largest number of members allowed.

    Returns
    -------
    Extraction
        The written files and the skipped member names.

    Raises
    ------
    CorruptFileError
        If the archive or a member's compressed data is unreadable.
    ArchiveError
        If the archive has too many members or expands past ``max_bytes``.
    """
    with _open_zip(archive) as zf:
        infos = zf.infolist()
        _check_declared_size(archive.name, infos, max_bytes, max_members)
        result = Extraction(folder=dest)
        budget = _Budget(max_bytes)
        for info in infos:
            _extract_member(zf, info, archive.name, result, budget)
    return result


def check_zip_limits(path: Path, *, max_bytes: int, max_members: int = MAX_MEMBERS) -> None:
    """Check a zip container's declared expanded size and member count, extracting nothing.

    Used for zip-based model formats (3MF) that trimesh reads into memory.

    Parameters
    ----------
    path : Path
        The zip-based file.
    max_bytes : int
        Largest total uncompressed size allowed.
    max_members : int
        Largest number of members allowed.

    Raises
    ------
    CorruptFileError
        If it is not a readable zip container.
    ArchiveError
        If it declares too many members or too many bytes.
    """
    with _open_zip(path) as zf:
        _check_declared_size(path.name, zf.infolist(), max_bytes, max_members)


def _open_zip(path: Path) -> zipfile.ZipFile:
    """Open a zip file, mapping every way its directory can be unreadable to CorruptFileError."""
    try:
        return zipfile.ZipFile(path)
    except Exception as exc:
        # BadZipFile, OSError, ValueError, NotImplementedError ("zip file version") ...
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise CorruptFileError(f"{path.name}: not a readable zip archive: {text}") from exc


def _check_declared_size(
    name: str, infos: list[zipfile.ZipInfo], max_bytes: int, max_members: int
) -> None:
    """Refuse an archive by its central directory before writing a byte."""
    if len(infos) > max_members:
        raise ArchiveError(f"{name}: {len(infos)} members (limit {max_members})")
    declared = sum(info.file_size for info in infos)
    if declared > max_bytes:
        raise ArchiveError(f"{name}: expands to {declared} bytes (limit {max_bytes})")


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """True when a member is a Unix symlink (its mode bits live in the high 16 bits).

    Parameters
    ----------
    info : zipfile.ZipInfo
        The member.

    Returns
    -------
    bool
        Whether the member's external attributes carry ``S_IFLNK``.
    """
    return stat.S_ISLNK(info.external_attr >> 16)


def _extract_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, result: Extraction, budget: _Budget
) -> None:
    """Write one member if safe, else record it as skipped."""
    if is_symlink(info):
        result.skipped.append(info.filename)
        return
    try:
        target = resolve_inside(result.folder, info.filename)
    except UnsafePathError:
        result.skipped.append(info.filename)
        return
    if info.is_dir():
        # folders are created on demand for the files inside them
        return
    try:
        written = _stream_member(zf, info, target, name, budget)
    except (RuntimeError, NotImplementedError, OSError) as exc:
        # a full disk is not the archive's fault: let it surface
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        # encrypted member, unsupported compression method, or a name the disk refuses
        _unlink_file(target)
        result.skipped.append(info.filename)
        return
    if written:
        result.written.append(target)


def _stream_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, name: str, budget: _Budget
) -> bool:
    """Copy a member in chunks, counting real bytes against the remaining budget."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        # a file member named like a folder another member created: keep the folder
        return False
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            count = 0
            while chunk := src.read(_CHUNK):
                count += len(chunk)
                budget.left -= len(chunk)
                # the header may lie about sizes: stop on what is really produced
                if budget.left < 0 or count > info.file_size:
                    raise ArchiveError(f"{name}: '{info.filename}' expands past the size limit")
                dst.write(chunk)
    except (ArchiveError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        _unlink_file(target)
        if isinstance(exc, ArchiveError):
            raise
        raise CorruptFileError(f"{name}: member '{info.filename}' is corrupt: {exc}") from exc
    return True


def model_candidates(paths: list[Path]) -> list[Path]:
    """Order extracted files that look like models: by extension preference, then largest first.

    Parameters
    ----------
    paths : list of Path
        Extracted files.

    Returns
    -------
    list of Path
        Model files, most preferred first. macOS resource forks (``__MACOSX/``, ``._*``) and
        nested archives are never candidates.
    """
    rank = {ext: i for i, ext in enumerate(MODEL_PREFERENCE)}
    models = [
        p
        for p in paths
        if p.suffix.lower() in rank
        and "__MACOSX" not in p.parts
        and not p.name.startswith("._")
        and p.is_file()
    ]
    return sorted(models, key=lambda p: (rank[p.suffix.lower()], -p.stat().st_size, str(p)))
