"""``meshprep export``: a finished run's stored samples in any registered layout.

Nothing is recomputed: every asset's ``surface.npz`` / ``sdf.npz`` (and ``watertight.ply``) are
read from the run's store and written by the layout's writer. Resumable and atomic per asset:
the layout's files are written atomically, then a marker ``.meshprep-export/<id>.json`` (the
files, the counts) last; a rerun skips every asset whose marker is there, and ``--retry-failed``
is not needed: a failed asset has no marker and runs again. One asset failing (a missing or
corrupt store, too few samples) is recorded with its reason and the export goes on. At the end
``.meshprep-export/export.parquet`` lists every asset: id, status, files, counts, the sign
check, error; and the layout's item lists (``train.json`` ...) are written for every asset
exported so far, where its loader opens them. Nothing of the export's own is left beside the
items: loaders that take every entry of the folder as an item (Hunyuan3D-2.1's
``glob.glob(data_list + '/*')``, ``hy3dshape/hy3dshape/data/dit_asl.py``) skip dot-entries.

The sign check at export: every file with volume labels is read back with the layout's reader
(written from the trainer's loader) and its labels checked against the store
(:func:`meshprep.sample.check.check_exported_labels`); an asset that fails has its files removed
and is recorded ``failed`` with the reason. Assets the run's own sign check flagged (their
manifest ``curation_reason`` says "labels inconsistent") are not exported but recorded
``flagged`` with that reason, unless ``include_flagged``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from meshprep.errors import MeshprepError
from meshprep.io import atomic_write

from .layouts import LayoutSkip, get_layout, not_enough, store_counts

MARKERS = ".meshprep-export"
#: the export's record of every asset, in the markers' folder (out of the loaders' globs)
RECORDS = "export.parquet"


@dataclass
class ExportSummary:
    """What an export did."""

    layout: str
    listed: int = 0
    exported: int = 0
    skipped: int = 0
    failed: int = 0
    flagged: int = 0
    unsuitable: int = 0
    seconds: float = 0.0
    manifest: str = ""
    errors: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)


#: the start of the curation reasons of the run's sign-check rules (``curate/decide.py``)
LABEL_FLAG = "labels inconsistent"


def stored_assets(dataset: str | os.PathLike[str], ids: Iterable[str] | None = None
                  ) -> list[tuple[str, str, str | None]]:
    """(asset id, folder, label flag) of the run's finished assets, from its
    ``manifest.parquet``; the folder is found under ``dataset`` (so a moved or copied dataset
    exports what it holds); the flag is the run's sign-check reason, or None."""
    import pyarrow.parquet as pq

    manifest = Path(dataset) / "manifest.parquet"
    if not manifest.is_file():
        raise MeshprepError(f"{dataset} has no manifest.parquet: is it the output of "
                            "`meshprep run`?")
    names = pq.read_schema(manifest).names
    columns = ["asset_id", "status", "path"] + \
        (["curation_reason"] if "curation_reason" in names else [])
    table = pq.read_table(manifest, columns=columns).to_pylist()
    wanted = None if ids is None else set(ids)
    root = Path(dataset)
    out = []
    for row in table:
        if row["status"] != "ok" or (wanted is not None and row["asset_id"] not in wanted):
            continue
        reason = row.get("curation_reason") or ""
        out.append((row["asset_id"], str(root / "objects" / row["asset_id"][:2] /
                                         row["asset_id"]),
                    reason if reason.startswith(LABEL_FLAG) else None))
    return out


def export_asset(layout_name: str, asset_id: str, folder: str, out: str) -> dict:
    """Write one asset in ``layout_name`` (in a worker); never raises, returns its record."""

    from meshprep.sample.layouts import read_meshprep, read_watertight, stored_watertight

    layout = get_layout(layout_name)
    started = time.perf_counter()
    if layout.from_asset is not None:
        return _export_rendered(layout, asset_id, folder, out, started)
    try:
        samples = read_meshprep(folder)
        watertight_path = stored_watertight(folder)  # watertight.npz (compact) or .drc / .ply
        watertight = read_watertight(watertight_path) if \
            layout.uses_watertight and watertight_path is not None else None
        paths = layout.write(samples, watertight, Path(out), asset_id)
        checks = _check_written(layout, samples, Path(out), asset_id, paths)
        if layout.store_files is not None:  # e.g. the run's renders of the textured source
            paths = [*paths, *layout.store_files(Path(folder), Path(out), asset_id)]
        files = [os.path.relpath(p, out) for p in paths]
        record = {"asset_id": asset_id, "status": "ok", "files": files,
                  **{f"{k}_count": v for k, v in store_counts(samples).items()}, **checks,
                  "seconds": time.perf_counter() - started, "error": None}
        _write_marker(Path(out), asset_id, record)
        return record
    except (MeshprepError, OSError, ValueError, KeyError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        return {"asset_id": asset_id, "status": "failed", "files": [],
                "seconds": time.perf_counter() - started,
                "error": f"{type(exc).__name__}: {message}"}


def _export_rendered(layout, asset_id: str, folder: str, out: str, started: float) -> dict:
    """Export an asset of a layout the run rendered into its store folder (``from_asset``);
    an unsuitable asset is recorded ``skipped`` with the reason (no marker: a rerun checks
    again)."""
    record = {"asset_id": asset_id, "files": [], "error": None}
    try:
        paths = layout.from_asset(Path(folder), Path(out), asset_id)
    except LayoutSkip as exc:
        record.update(status="skipped", error=str(exc))
    except (MeshprepError, OSError, ValueError, KeyError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        record.update(status="failed", error=f"{type(exc).__name__}: {message}")
    else:
        record.update(status="ok", files=[os.path.relpath(p, out) for p in paths])
    record["seconds"] = time.perf_counter() - started
    if record["status"] == "ok":
        _write_marker(Path(out), asset_id, record)
    return record


class LabelCheckError(MeshprepError):
    """Exported labels read back by the layout's reader disagree with the store."""


def _check_written(layout, samples, out: Path, asset_id: str, paths: list[Path]
                   ) -> dict[str, float]:
    """The sign check of the files just written, read back as the trainer reads them; on a
    failure the files are removed (never left looking exported) and the reason raised."""
    from meshprep.sample.check import check_exported_labels

    if layout.volume_inside is None:
        return {}
    points, inside = layout.volume_inside(layout.read(out, asset_id))
    metrics, reason = check_exported_labels(points, inside, samples,
                                            inside_margin=layout.inside_margin)
    if reason is not None:
        for path in paths:
            Path(path).unlink(missing_ok=True)
        raise LabelCheckError(f"{reason} (layout {layout.name!r}); nothing written")
    return metrics


def _marker(out: Path, asset_id: str) -> Path:
    return out / MARKERS / f"{asset_id}.json"


def _write_marker(out: Path, asset_id: str, record: dict) -> None:
    path = _marker(out, asset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, durable=False) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(record, stream)


def export_dataset(dataset: str | os.PathLike[str], layout: str, out: str | os.PathLike[str], *,
                   ids: Iterable[str] | None = None, workers: int = 1,
                   progress: bool = True, include_flagged: bool = False,
                   log=None) -> ExportSummary:
    """Export every finished asset of ``dataset`` in ``layout`` into ``out``.

    Parameters
    ----------
    dataset : path-like
        A ``meshprep run`` output folder.
    layout : str
        A registered layout (``meshprep layouts`` lists them).
    out : path-like
        Output folder (created).
    ids : iterable of str, optional
        Only these asset ids.
    workers : int
        Worker processes.
    progress : bool
        Print progress to ``log`` (stderr).
    include_flagged : bool
        Also export assets whose labels the run's sign check flagged.

    Returns
    -------
    ExportSummary
    """
    log = log or sys.stderr
    _refuse_small_store(dataset, layout)  # also a clear error for an unknown name
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(layout)
    started = time.perf_counter()
    assets = stored_assets(dataset, ids)
    summary.listed = len(assets)
    records, todo = [], []
    for asset_id, folder, flag in assets:
        marker = _marker(out, asset_id)
        if marker.is_file():
            records.append(json.loads(marker.read_text(encoding="utf-8")))
            summary.skipped += 1
        elif flag is not None and not include_flagged:
            records.append({"asset_id": asset_id, "status": "flagged", "files": [],
                            "error": f"{flag} (the run's sign check; --include-flagged "
                                     "exports it)"})
            summary.flagged += 1
        else:
            todo.append((asset_id, folder))
    for record in _run(layout, todo, out, workers, progress, log):
        records.append(record)
        if record["status"] == "ok":
            summary.exported += 1
        elif record["status"] == "skipped":  # the layout's own reason (e.g. no texture)
            summary.unsuitable += 1
        else:
            summary.failed += 1
            summary.errors.append(f"{record['asset_id']}: {record['error']}")
    summary.manifest = _write_manifest(out, records)
    summary.lists = _write_lists(layout, out, records)
    summary.seconds = time.perf_counter() - started
    return summary


def _refuse_small_store(dataset: str | os.PathLike[str], layout: str) -> None:
    """Stop before any work when the run's ``[sample]`` counts (its ``config.toml``, what every
    asset's store holds) are below what ``layout`` needs, naming the smallest config that
    fits; a dataset without that file is checked per asset."""
    import tomllib

    target = get_layout(layout)
    path = Path(dataset) / "config.toml"
    if not path.is_file():
        return
    sample = tomllib.loads(path.read_text(encoding="utf-8")).get("sample", {})
    have = {key: int(sample[key]) for key in ("surface", "salient", "volume", "near")
            if isinstance(sample.get(key), int)}
    error = not_enough(target, have) if len(have) == 4 else None
    if error is not None:
        raise error


def _run(layout, todo, out, workers, progress, log):
    done, last = 0, 0.0
    if workers <= 1 or len(todo) <= 1:
        results = (export_asset(layout, a, f, str(out)) for a, f in todo)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers)
        chunk = max(1, min(64, len(todo) // (4 * workers)))
        results = pool.map(export_asset, *zip(*[(layout, a, f, str(out)) for a, f in todo],
                                              strict=True), chunksize=chunk)
    try:
        for record in results:
            done += 1
            now = time.perf_counter()
            if progress and (now - last > 1.0 or done == len(todo)):
                print(f"\rexport {layout}: {done}/{len(todo)}", end="", file=log, flush=True)
                last = now
            yield record
    finally:
        if pool is not None:
            pool.shutdown()
        if progress and todo:
            print(file=log)


def _write_lists(layout: str, out: Path, records: list[dict]) -> list[str]:
    """The layout's item lists of every asset exported (now or before), if its loader opens
    any; nothing when no asset is."""
    write_lists = get_layout(layout).write_lists
    ids = [r["asset_id"] for r in records if r.get("status") == "ok"]
    if write_lists is None or not ids:
        return []
    return [str(path) for path in write_lists(out, ids)]


def _write_manifest(out: Path, records: list[dict]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # an older export wrote its records beside the items, where item globs find them
    (out / RECORDS).unlink(missing_ok=True)
    path = out / MARKERS / RECORDS
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["asset_id", "status", "files", "surface_count", "salient_count", "volume_count",
               "near_count", "export_far_inside", "export_share_sigma", "seconds", "error"]
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in records],
                                 schema=pa.schema([
                                     ("asset_id", pa.string()), ("status", pa.string()),
                                     ("files", pa.list_(pa.string())),
                                     ("surface_count", pa.int64()), ("salient_count", pa.int64()),
                                     ("volume_count", pa.int64()), ("near_count", pa.int64()),
                                     ("export_far_inside", pa.float64()),
                                     ("export_share_sigma", pa.float64()),
                                     ("seconds", pa.float64()), ("error", pa.string())]))
    with atomic_write(path) as tmp:
        pq.write_table(table, tmp)
    return str(path)
