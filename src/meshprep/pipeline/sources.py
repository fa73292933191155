"""What a run works on: every mesh file under a folder, or the rows of a CSV list.

An asset's id is the dataset's ``uid`` when the list gives one, else the SHA-256 of the source
file's bytes (so a renamed or copied file is the same asset), else, for a remote URI listed
without uid or sha256, the SHA-256 of the URI itself.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from meshprep.errors import MeshprepError
from meshprep.io._paths import is_uri

#: extensions a run picks up in a folder: every model format meshprep reads or recognises
#: (FBX / BLEND are picked up so that they are recorded as needing the Blender backend)
MODEL_EXTENSIONS = frozenset({
    ".glb", ".gltf", ".obj", ".ply", ".stl", ".off", ".dae", ".3mf", ".drc", ".zip",
    ".fbx", ".blend", ".usd", ".usdz", ".abc", ".3ds", ".x3d", ".vrml", ".wrl",
})

#: CSV columns naming the source, in order of preference
SOURCE_COLUMNS = ("path", "uri", "url", "source", "file", "local_path")

_SAFE_UID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_HASH_CHUNK = 1 << 20


class SourceError(MeshprepError):
    """The run's input (a folder or a CSV list) cannot be read."""


@dataclass(frozen=True)
class AssetTask:
    """One asset to process.

    Attributes
    ----------
    asset_id : str
        Ledger key and output folder name.
    source : str
        Local path or URI of the model file.
    uid : str or None
        The dataset's uid, when given.
    sha256 : str or None
        Expected SHA-256 of the source bytes, checked before loading when given.
    meta : str or None
        The list's other columns for this asset, as a JSON object (licence, captions,
        aesthetic score...): carried into the ledger and ``manifest.parquet``.
    """

    asset_id: str
    source: str
    uid: str | None = None
    sha256: str | None = None
    meta: str | None = None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def iter_folder(folder: Path) -> Iterator[Path]:
    """Model files under ``folder``, recursively, in a stable (sorted) order; hidden files skipped.

    A ``.gltf``'s ``.bin`` and textures, an ``.obj``'s ``.mtl``, are companions, not assets.
    """
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if not name.startswith(".") and path.suffix.lower() in MODEL_EXTENSIONS:
                yield path


HashLookup = Callable[[Path], str]


def iter_tasks(source: str | os.PathLike[str], file_hash: HashLookup = file_sha256
               ) -> Iterator[AssetTask]:
    """The assets named by ``source``: a folder of models, a CSV list, or one model file.

    Parameters
    ----------
    source : path-like
        A folder (every model file under it), a ``.csv`` list (a ``path``/``uri`` column, optional
        ``uid`` and ``sha256`` columns; relative paths are relative to the CSV's folder), or a
        single model file.
    file_hash : callable
        ``path -> sha256 hex``; the runner passes one that caches hashes in its ledger.

    Raises
    ------
    SourceError
        The source does not exist, or the CSV has no usable column.
    """
    path = Path(os.fspath(source))
    if path.is_dir():
        for model in iter_folder(path):
            yield AssetTask(file_hash(model), str(model.resolve()))
    elif path.suffix.lower() == ".csv" and path.is_file():
        yield from _iter_csv(path, file_hash)
    elif path.is_file():
        yield AssetTask(file_hash(path), str(path.resolve()))
    else:
        raise SourceError(f"{path}: no such folder, CSV list or model file")


def _iter_csv(path: Path, file_hash: HashLookup) -> Iterator[AssetTask]:
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        columns = {c.strip().lower(): c for c in reader.fieldnames or ()}
        source_column = next((columns[c] for c in SOURCE_COLUMNS if c in columns), None)
        if source_column is None:
            raise SourceError(f"{path}: no source column; expected one of {SOURCE_COLUMNS}")
        uid_column, sha_column = columns.get("uid"), columns.get("sha256")
        extra = [c for c in reader.fieldnames or ()
                 if c not in (source_column, uid_column, sha_column)]
        for line, row in enumerate(reader, start=2):
            task = _csv_task(path, line, row, source_column, uid_column, sha_column, file_hash)
            values = {c: _scalar(row[c]) for c in extra if row.get(c) not in (None, "")}
            yield replace(task, meta=json.dumps(values)) if values else task


def _scalar(text: str) -> int | float | str:
    """A CSV cell as a number when it reads as one (aesthetic scores stay numeric)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _csv_task(path, line, row, source_column, uid_column, sha_column, file_hash) -> AssetTask:
    raw = (row.get(source_column) or "").strip()
    if not raw:
        raise SourceError(f"{path}:{line}: empty {source_column!r}")
    uid = (row.get(uid_column) or "").strip() or None if uid_column else None
    sha = (row.get(sha_column) or "").strip().lower() or None if sha_column else None
    if uid is not None and not _SAFE_UID.match(uid):
        raise SourceError(f"{path}:{line}: uid {uid!r} is not a safe folder name")
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise SourceError(f"{path}:{line}: sha256 {sha!r} is not 64 hex digits")
    if is_uri(raw):
        source = raw
        asset_id = uid or sha or hashlib.sha256(raw.encode()).hexdigest()
    else:
        local = Path(raw) if Path(raw).is_absolute() else path.parent / raw
        source = str(local.resolve())
        # a missing file still becomes an asset: its failure is recorded, the run goes on
        asset_id = uid or sha or (file_hash(local) if local.is_file()
                                  else hashlib.sha256(source.encode()).hexdigest())
    return AssetTask(asset_id, source, uid, sha)
