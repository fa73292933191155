"""``meshprep export --shards N``: a layout's files packed into WebDataset-style tar shards.

Every asset is first exported as ``meshprep export`` writes it (:func:`export_dataset`) into a
local *staging* folder: ``OUT/.meshprep-export/staging`` for a local output (kept: a rerun
skips what it holds), a temporary folder for an fsspec URL (``s3://bucket/hy3d``,
``memory://x``; removed at the end). Then the exported assets, sorted by id, are packed ``N`` to
a shard::

    OUT/shards/<layout>-000000.tar, <layout>-000001.tar, ...   the shards
    OUT/shards/index.json                                      which asset is in which shard
    OUT/<the layout's item lists>                              e.g. train.json, as exported

One shard holds ``N`` samples (the last one fewer), one per asset; a sample's members are
consecutive and named ``<key>.<field>`` (WebDataset's convention: the key is the member name up
to its first dot, the field the rest), where the key is the asset id (it must hold no ``.`` or
``/``) and the field is the file's path relative to the export folder with the asset id written
``@`` and ``/`` written ``~`` (``%``, ``@`` and ``~`` of the path itself percent-escaped), so a
field names the same file in every sample::

    <id>/geo_data/<id>_sdf.npz  ->  member <id>.@~geo_data~@_sdf.npz  (field @~geo_data~@_sdf.npz)

:func:`member_path` and :func:`sample_files` map members and WebDataset samples back to the
layout's relative paths. ``index.json`` holds the layout, the shard size, the brace pattern of
the shard names (``<layout>-{000000..000009}.tar``, what ``webdataset.WebDataset`` and
``tarp`` expand), every field (WebDataset lowercases them by default: ``sample_files`` takes
them to restore the case), the item lists, and per shard its name, asset ids, member count and
bytes.

Shards are written atomically (a temporary name, then a rename; on a remote filesystem an upload
to a temporary name, then ``mv``) and ``index.json`` is rewritten after each. A rerun with the
same ``N`` keeps every shard the index lists; assets not in one go into new shards after them
(the last shard, when it holds fewer than ``N``, is rewritten with them). A rerun with another
``N`` is refused: use a new output.

A local output keeps the per-asset export in its staging folder (the disk of a plain export
besides the shards; remove ``OUT/.meshprep-export/staging`` when done, a rerun then exports
again without rewriting a listed shard). A URL output's rerun exports every asset again into
its temporary staging (nothing is recomputed) and uploads only new shards. Item lists that hold
absolute paths (``hunyuan3d-paint``'s ``examples.json``, ``partcrafter``'s configs) name the
staging folder's items.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from meshprep.errors import MeshprepError
from meshprep.io import atomic_write

from .layouts import get_layout
from .run import MARKERS, RECORDS, ExportSummary, export_dataset

SHARDS = "shards"
INDEX = "index.json"
#: the folder of a local output's per-asset export (the shards' source)
STAGING = "staging"
#: what stands for the asset id and for "/" in a member's field
ID_TOKEN, SEP_TOKEN = "@", "~"
_ESCAPE = {"%": "%25", ID_TOKEN: "%40", SEP_TOKEN: "%7E"}


@dataclass
class ShardSummary:
    """What a sharded export did."""

    layout: str
    export: ExportSummary
    shards: int = 0
    written: int = 0
    kept: int = 0
    assets: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    index: str = ""
    lists: list[str] = field(default_factory=list)


def shard_name(layout: str, number: int) -> str:
    """The file name of shard ``number``: ``<layout>-000000.tar``."""
    return f"{layout}-{number:06d}.tar"


def shard_pattern(layout: str, count: int) -> str:
    """The brace pattern of ``count`` shards: ``<layout>-{000000..000009}.tar``."""
    if count == 1:
        return shard_name(layout, 0)
    return f"{layout}-{{{0:06d}..{count - 1:06d}}}.tar"


def member_name(asset_id: str, relative: str) -> str:
    """The tar member of the layout's file ``relative`` (a "/" path) of ``asset_id``.

    Parameters
    ----------
    asset_id : str
        The sample's key: no ``.`` or ``/`` (WebDataset splits the key at the first dot).
    relative : str
        The file's path relative to the export folder.

    Returns
    -------
    str
        ``<asset_id>.<field>``.
    """
    if not asset_id or "." in asset_id or "/" in asset_id:
        raise ValueError(f"a shard key must hold no '.' or '/': {asset_id!r}")
    escaped = "".join(_ESCAPE.get(c, c) for c in relative)
    escaped = escaped.replace("".join(_ESCAPE.get(c, c) for c in asset_id), ID_TOKEN)
    return f"{asset_id}.{escaped.replace('/', SEP_TOKEN)}"


def field_path(asset_id: str, field_name: str) -> str:
    """The layout's relative path of the member field ``field_name`` of sample ``asset_id``."""
    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == ID_TOKEN:
            return asset_id
        return "/" if token == SEP_TOKEN else unquote(token)

    return re.sub(r"[@~]|%[0-9A-Fa-f]{2}", replace, field_name)


def member_path(name: str) -> tuple[str, str]:
    """``(asset id, relative path)`` of a shard member name (inverse of :func:`member_name`)."""
    key, dot, rest = name.partition(".")
    if not dot or not rest:
        raise ValueError(f"not a shard member name: {name!r}")
    return key, field_path(key, rest)


def sample_files(sample: dict, fields: list[str] | None = None) -> dict[str, bytes]:
    """``{relative path: bytes}`` of a WebDataset sample read from a shard (undecoded).

    Parameters
    ----------
    sample : dict
        What ``webdataset.WebDataset`` yields: ``__key__`` and one entry per member field.
    fields : list of str, optional
        The index's ``fields``: WebDataset lowercases field names by default, and these give
        them back their case (paths with capitals: ``ShapeNetV2_point/...``).

    Returns
    -------
    dict
    """
    key = sample["__key__"]
    cased = {f.lower(): f for f in fields or []}
    return {field_path(key, cased.get(name, name)): value for name, value in sample.items()
            if not name.startswith("__")}


class _Target:
    """The output root: a local folder or an fsspec URL; files are published atomically."""

    def __init__(self, out: str | os.PathLike[str]):
        from meshprep.io._paths import is_uri

        self.root = os.fspath(out)
        self.remote = is_uri(self.root)
        if self.remote:
            import fsspec

            self.fs, self.path = fsspec.core.url_to_fs(self.root)
            self.path = self.path.rstrip("/")
        else:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def join(self, name: str) -> str:
        """Where ``name`` (a "/" path under the root) is published."""
        if self.remote:
            return f"{self.root.rstrip('/')}/{name}"
        return str(Path(self.root, name))

    def read_text(self, name: str) -> str | None:
        """The text of ``name``, or None when it is not there."""
        try:
            if self.remote:
                with self.fs.open(f"{self.path}/{name}", "r", encoding="utf-8") as stream:
                    return stream.read()
            return Path(self.root, name).read_text(encoding="utf-8")
        except (FileNotFoundError, OSError):
            return None

    def publish(self, local: Path, name: str, *, move: bool = True) -> None:
        """``local`` becomes ``name`` under the root, all or nothing; ``move`` consumes it."""
        if not self.remote:
            final = Path(self.root, name)
            final.parent.mkdir(parents=True, exist_ok=True)
            temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
            (os.replace if move else shutil.copyfile)(local, temporary)
            os.replace(temporary, final)
            return
        final = f"{self.path}/{name}"
        folder, _, base = final.rpartition("/")
        self.fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{base}.{uuid.uuid4().hex[:8]}.tmp"
        self.fs.put_file(str(local), temporary)
        self.fs.mv(temporary, final)
        if move:
            Path(local).unlink()


def write_shard(path: Path, folder: Path, assets: list[tuple[str, list[str]]]) -> list[str]:
    """Pack ``assets`` (``(id, relative files)``, files under ``folder``) into the tar ``path``,
    each asset's members consecutive; returns the member names."""
    members = []
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for asset_id, files in assets:
            for relative in sorted(files):
                source = folder / relative
                info = tarfile.TarInfo(member_name(asset_id, relative))
                members.append(info.name)
                stat = source.stat()
                info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
                with open(source, "rb") as stream:
                    tar.addfile(info, stream)
    return members


def export_shards(dataset: str | os.PathLike[str], layout: str, out: str | os.PathLike[str], *,
                  shards: int, ids: list[str] | None = None, workers: int = 1,
                  progress: bool = True, include_flagged: bool = False,
                  log=None) -> ShardSummary:
    """Export ``dataset`` in ``layout`` as tar shards of ``shards`` assets each into ``out``.

    Parameters
    ----------
    dataset : path-like
        A ``meshprep run`` output folder.
    layout : str
        A registered layout.
    out : str or path-like
        Output folder or fsspec URL (``s3://bucket/hy3d``).
    shards : int
        Assets per shard.
    ids : list of str, optional
        Only these asset ids.
    workers : int
        Worker processes of the per-asset export.
    progress : bool
        Print progress to ``log`` (stderr).
    include_flagged : bool
        Also export assets whose labels the run's sign check flagged.

    Returns
    -------
    ShardSummary
    """
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    log = log or sys.stderr
    started = time.perf_counter()
    get_layout(layout)  # a clear error for an unknown name, before anything is created
    target = _Target(out)
    index = _read_index(target, layout, shards)
    if target.remote:
        staging = Path(tempfile.mkdtemp(prefix="meshprep-shards-"))
    else:
        staging = Path(target.root, MARKERS, STAGING)
    try:
        summary = ShardSummary(layout, export_dataset(
            dataset, layout, staging, ids=ids, workers=workers, progress=progress,
            include_flagged=include_flagged, log=log))
        exported = _exported(staging)
        _pack(target, staging, index, exported, summary, progress, log)
        summary.lists = _publish_lists(target, staging, summary.export.lists)
        index["lists"] = summary.lists
        summary.index = _write_index(target, staging, index)
    finally:
        if target.remote:
            shutil.rmtree(staging, ignore_errors=True)
    summary.shards = len(index["shards"])
    summary.assets = sum(len(s["assets"]) for s in index["shards"])
    summary.seconds = time.perf_counter() - started
    return summary


def _read_index(target: _Target, layout: str, size: int) -> dict:
    """The index of an earlier export into ``target`` (refused for another layout or shard
    size), or a new, empty one."""
    text = target.read_text(f"{SHARDS}/{INDEX}")
    if text is None:
        return {"format": "webdataset", "layout": layout, "shard_size": size,
                "member": "<asset id>.<field: the path, the asset id as @, / as ~>",
                "pattern": "", "fields": [], "lists": [], "shards": []}
    index = json.loads(text)
    if (index.get("layout"), index.get("shard_size")) != (layout, size):
        raise MeshprepError(
            f"{target.root} holds shards of layout {index.get('layout')!r} with "
            f"{index.get('shard_size')} assets each: export with those or into a new output")
    return index


def _exported(staging: Path) -> dict[str, list[str]]:
    """``{asset id: relative files}`` of the assets this export holds (records ``ok``)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(staging / MARKERS / RECORDS,
                         columns=["asset_id", "status", "files"]).to_pylist()
    return {r["asset_id"]: list(r["files"]) for r in rows if r["status"] == "ok"}


def _pack(target: _Target, staging: Path, index: dict, exported: dict[str, list[str]],
          summary: ShardSummary, progress: bool, log) -> None:
    """Write the shards of every exported asset no listed shard holds, index after each."""
    size, layout = index["shard_size"], index["layout"]
    listed = {a for s in index["shards"] for a in s["assets"]}
    pending = sorted(a for a in exported if a not in listed)
    last = index["shards"][-1]["assets"] if index["shards"] else []
    if pending and 0 < len(last) < size and all(a in exported for a in last):
        index["shards"].pop()  # the short last shard takes the new assets
        pending = last + pending
    summary.kept = len(index["shards"])
    groups = [pending[i:i + size] for i in range(0, len(pending), size)]
    for group in groups:
        number = len(index["shards"])
        name = shard_name(layout, number)
        local = staging / MARKERS / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        members = write_shard(local, staging, [(a, exported[a]) for a in group])
        size_bytes = local.stat().st_size
        target.publish(local, f"{SHARDS}/{name}")
        index["fields"] = sorted({*index.get("fields", []),
                                  *(m.partition(".")[2] for m in members)})
        index["shards"].append({"shard": name, "assets": group, "members": len(members),
                                "bytes": size_bytes})
        summary.written += 1
        summary.bytes_written += size_bytes
        _write_index(target, staging, index)
        if progress:
            print(f"\rshards {layout}: {summary.written}/{len(groups)}", end="", file=log,
                  flush=True)
    if progress and groups:
        print(file=log)


def _write_index(target: _Target, staging: Path, index: dict) -> str:
    """``shards/index.json`` (the pattern brought up to date), published atomically."""
    index["pattern"] = shard_pattern(index["layout"], len(index["shards"])) \
        if index["shards"] else ""
    local = staging / MARKERS / INDEX
    with atomic_write(local, durable=False) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(index, stream, indent=1)
    target.publish(local, f"{SHARDS}/{INDEX}")
    return target.join(f"{SHARDS}/{INDEX}")


def _publish_lists(target: _Target, staging: Path, lists: list[str]) -> list[str]:
    """The layout's item lists written into the staging, copied beside the shards (their paths
    relative to the output root)."""
    names = []
    for path in lists:
        name = Path(path).resolve().relative_to(staging.resolve()).as_posix()
        target.publish(Path(path), name, move=False)
        names.append(name)
    return names
