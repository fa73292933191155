"""Bytes on disk per asset and per file kind (``meshprep status --disk``, the report's Disk card).

One pass over ``OUT/objects/<id[:2]>/<id>/`` (``os.scandir``, one ``stat`` per file) groups each
finished asset's files (its folder holds ``meta.json``) into *kinds*: the file name for a file
directly in the asset folder (``surface.npz``, ``sparse_sdf_256.npz``, ``meta.json``), the top
folder's name and ``/`` for a file in a subfolder (``renders/``, ``trellis2/``). Per kind: how
many assets have it, their total, median and mean bytes; per asset: the median and mean of its
total. The other entries of ``OUT`` (``[write] layouts`` folders, ``ledger.sqlite``,
``manifest.parquet``, ``report/`` ...) are measured as a whole.

Sizes are file sizes in bytes (``st_size``); ``allocated_bytes`` (local outputs) is what the
file system allocated for them (``st_blocks`` × 512). A dataset-level file with more than one
hard link (the TRELLIS roots link the assets' files) is counted as ``linked_bytes`` and left out
of the output's unique total. Remote outputs (fsspec URLs) are listed through the store's file
system, one ``find`` per ``<id[:2]>`` folder; they have no allocation or link figures.
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .store import META, OutputStore

#: the folder of the assets' own files
OBJECTS = "objects"
#: the units of :func:`human_bytes` (decimal: 1 kB = 1000 bytes, 1 MB = 10^6 bytes)
UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
#: the units line of :func:`format_disk` and the report
UNITS_NOTE = "1 kB = 1000 bytes, 1 MB = 10^6 bytes, 1 GB = 10^9 bytes"


def kind_of(relative: str) -> str:
    """The kind of a file from its path relative to the asset folder (``/``-separated).

    Examples
    --------
    >>> kind_of("surface.npz"), kind_of("renders/input/000_normal.png")
    ('surface.npz', 'renders/')
    """
    head, sep, _ = relative.partition("/")
    return f"{head}/" if sep else head


def human_bytes(count: float) -> str:
    """``count`` bytes in decimal units: ``512 B``, ``12.0 MB`` (1 MB = 10^6 bytes)."""
    value, unit = float(count), 0
    while abs(value) >= 1000 and unit < len(UNITS) - 1:
        value, unit = value / 1000, unit + 1
    return f"{value:.0f} B" if unit == 0 else f"{value:.1f} {UNITS[unit]}"


class _Walker:
    """Sums file sizes under local folders, counting files, allocation and shared bytes."""

    def __init__(self) -> None:
        self.files = 0
        self.allocated = 0
        self.linked = 0

    def file(self, entry: os.DirEntry) -> int:
        """The size of one file (symbolic links count as themselves, not followed)."""
        stat = entry.stat(follow_symlinks=False)
        self.files += 1
        self.allocated += getattr(stat, "st_blocks", 0) * 512
        if stat.st_nlink > 1:
            self.linked += stat.st_size
        return stat.st_size

    def tree(self, path: str) -> int:
        """Total size of the files under ``path`` (recursively)."""
        total = 0
        with os.scandir(path) as entries:
            for entry in entries:
                total += self.tree(entry.path) if entry.is_dir(follow_symlinks=False) \
                    else self.file(entry)
        return total

    def entry(self, entry: os.DirEntry) -> int:
        """Size of a file, or of the files under a folder."""
        return self.tree(entry.path) if entry.is_dir(follow_symlinks=False) else self.file(entry)


def _subfolders(path: str) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as entries:
            return sorted((e for e in entries if e.is_dir(follow_symlinks=False)),
                          key=lambda e: e.name)
    except FileNotFoundError:
        return []


def _local_assets(objects: str, walker: _Walker) -> Iterator[tuple[bool, dict[str, int]]]:
    """(finished, bytes per kind) of every asset folder under ``objects``."""
    for shard in _subfolders(objects):
        for folder in _subfolders(shard.path):
            sizes: dict[str, int] = {}
            with os.scandir(folder.path) as entries:
                for entry in entries:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    sizes[f"{entry.name}/" if is_dir else entry.name] = walker.entry(entry)
            yield META in sizes, sizes


def _remote_assets(store: OutputStore) -> Iterator[tuple[bool, dict[str, int]]]:
    """(finished, bytes per kind) of every asset folder of a remote store."""
    fs, objects = store._fs, store.join(OBJECTS)
    if not fs.isdir(objects):
        return
    shards = sorted(i["name"] for i in fs.ls(objects, detail=True) if i["type"] == "directory")
    for shard in shards:
        assets: dict[str, dict[str, int]] = {}
        for path, info in fs.find(shard, detail=True).items():
            relative = path[len(shard.rstrip("/")) + 1:]
            asset, _, inside = relative.partition("/")
            if inside:
                kinds = assets.setdefault(asset, {})
                kind = kind_of(inside)
                kinds[kind] = kinds.get(kind, 0) + int(info.get("size") or 0)
        for asset in sorted(assets):
            yield META in assets[asset], assets[asset]


def _local_dataset(root: str) -> list[dict[str, Any]]:
    """The entries of the output root other than ``objects``, measured as a whole."""
    rows = []
    with os.scandir(root) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name == OBJECTS:
                continue
            walker = _Walker()
            size = walker.entry(entry)
            name = f"{entry.name}/" if entry.is_dir(follow_symlinks=False) else entry.name
            rows.append({"name": name, "bytes": size, "files": walker.files,
                         "allocated_bytes": walker.allocated, "linked_bytes": walker.linked})
    return rows


def _remote_dataset(store: OutputStore) -> list[dict[str, Any]]:
    rows = []
    for info in sorted(store._fs.ls(store.join(), detail=True), key=lambda i: i["name"]):
        name = info["name"].rstrip("/").rpartition("/")[2]
        if name == OBJECTS:
            continue
        if info.get("type") == "directory":
            sizes = store._fs.du(info["name"], total=False, withdirs=False)
            rows.append({"name": f"{name}/", "bytes": int(sum(sizes.values())),
                         "files": len(sizes)})
        else:
            rows.append({"name": name, "bytes": int(info.get("size") or 0), "files": 1})
    return rows


class _Tally:
    """Per-kind and per-asset byte counts of the finished assets."""

    def __init__(self) -> None:
        self.kinds: dict[str, array] = {}
        self.totals = array("q")
        self.unfinished = 0
        self.unfinished_bytes = 0

    def add(self, finished: bool, sizes: dict[str, int]) -> None:
        if not finished:
            self.unfinished += 1
            self.unfinished_bytes += sum(sizes.values())
            return
        for kind, size in sizes.items():
            self.kinds.setdefault(kind, array("q")).append(size)
        self.totals.append(sum(sizes.values()))

    def figures(self) -> dict[str, Any]:
        kinds = {kind: _stats(values) for kind, values in self.kinds.items()}
        order = sorted(kinds, key=lambda k: (-kinds[k]["total_bytes"], k))
        return {"assets": len(self.totals), "kinds": {k: kinds[k] for k in order},
                "per_asset": _stats(self.totals), "unfinished": self.unfinished,
                "unfinished_bytes": self.unfinished_bytes}


def _stats(values: array) -> dict[str, Any]:
    """Assets, total, median and mean bytes of per-asset sizes."""
    data = np.frombuffer(values, dtype=np.int64) if len(values) else np.zeros(0, np.int64)
    total = int(data.sum())
    return {"assets": int(data.size), "total_bytes": total,
            "median_bytes": float(np.median(data)) if data.size else 0.0,
            "mean_bytes": total / data.size if data.size else 0.0}


def measure_disk(output: str | os.PathLike[str] | OutputStore) -> dict[str, Any]:
    """Bytes per asset and per file kind of a run's output, and its dataset-level entries.

    Parameters
    ----------
    output : path-like, str or OutputStore
        The output folder of ``meshprep run`` (local, or an fsspec URL).

    Returns
    -------
    dict
        JSON-ready: ``assets`` (finished asset folders: those with ``meta.json``), ``kinds``
        (kind -> ``assets``, ``total_bytes``, ``median_bytes``, ``mean_bytes`` over the assets
        having it; largest total first), ``per_asset`` (the same over each asset's total),
        ``unfinished`` / ``unfinished_bytes`` (asset folders without ``meta.json``, left out of
        the figures), ``dataset`` (one row per other entry of the output root: ``name``,
        ``bytes``, ``files``; locally also ``allocated_bytes`` and ``linked_bytes``),
        ``total_bytes`` (unique bytes: the assets' and the dataset entries' less their hard
        links), ``allocated_bytes`` (local; None remote), ``local`` and ``seconds``.
    """
    store = output if isinstance(output, OutputStore) else OutputStore(output)
    started = time.perf_counter()
    tally, walker = _Tally(), _Walker()
    if store.is_local:
        assets = _local_assets(store.join(OBJECTS), walker)
        _consume(tally, assets)
        dataset = _local_dataset(store.root) if os.path.isdir(store.root) else []
    else:
        _consume(tally, _remote_assets(store))
        dataset = _remote_dataset(store)
    figures = tally.figures()
    objects = figures["per_asset"]["total_bytes"] + figures["unfinished_bytes"]
    unique = objects + sum(r["bytes"] - r.get("linked_bytes", 0) for r in dataset)
    allocated = walker.allocated + sum(r["allocated_bytes"] for r in dataset) \
        if store.is_local else None
    return {**figures, "dataset": dataset, "objects_bytes": objects, "total_bytes": unique,
            "allocated_bytes": allocated, "local": store.is_local,
            "seconds": round(time.perf_counter() - started, 3)}


def _consume(tally: _Tally, assets: Iterable[tuple[bool, dict[str, int]]]) -> None:
    for finished, sizes in assets:
        tally.add(finished, sizes)


def disk_rows(disk: dict[str, Any]) -> list[tuple[str, int, float, float, int]]:
    """(kind, assets, median, mean, total bytes) per kind, then the per-asset total row."""
    rows = [(kind, f["assets"], f["median_bytes"], f["mean_bytes"], f["total_bytes"])
            for kind, f in disk["kinds"].items()]
    per = disk["per_asset"]
    rows.append(("all files", per["assets"], per["median_bytes"], per["mean_bytes"],
                 per["total_bytes"]))
    return rows


def dataset_note(row: dict[str, Any]) -> str:
    """`` (1.2 GB of it hard links to other files)`` for a dataset entry with links, else ""."""
    linked = row.get("linked_bytes") or 0
    return f" ({human_bytes(linked)} of it hard links to other files)" if linked else ""


def total_line(disk: dict[str, Any]) -> str:
    """The output's unique total, allocation and scan time in one line."""
    allocated = disk.get("allocated_bytes")
    where = f"; {human_bytes(allocated)} allocated on disk" if allocated is not None \
        else "; remote (no allocation figure)"
    return (f"output: {human_bytes(disk['total_bytes'])} (hard links counted once){where}; "
            f"measured in {disk['seconds']:.2f} s")


def format_disk(disk: dict[str, Any]) -> str:
    """The disk figures as a text table (``meshprep status --disk``)."""
    unfinished = (f"; {disk['unfinished']} unfinished folder(s) without meta.json, "
                  f"{human_bytes(disk['unfinished_bytes'])}, left out"
                  if disk["unfinished"] else "")
    lines = [f"disk: {disk['assets']} finished assets (folders with meta.json){unfinished}",
             f"  sizes in decimal units: {UNITS_NOTE}",
             f"  {'kind':24s} {'assets':>8s} {'median/asset':>13s} {'mean/asset':>11s} "
             f"{'total':>10s}"]
    for kind, assets, median, mean, total in disk_rows(disk):
        lines.append(f"  {kind:24s} {assets:8d} {human_bytes(median):>13s} "
                     f"{human_bytes(mean):>11s} {human_bytes(total):>10s}")
    if disk["dataset"]:
        lines.append("  dataset level:")
        lines += [f"  {row['name']:24s} {row['files']:8d} {'files':13s} {'':11s} "
                  f"{human_bytes(row['bytes']):>10s}{dataset_note(row)}"
                  for row in disk["dataset"]]
    lines.append(total_line(disk))
    return "\n".join(lines)
