"""``manifest.parquet`` (one row per asset) and the ``meshprep status`` summary, from the ledger."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .ledger import STATUSES, Ledger

_BASE_COLUMNS = ("asset_id", "source", "uid", "sha256", "status", "stage", "error_class",
                 "error_message", "seconds", "attempts")
_BATCH = 10_000


def _metric_types(ledger: Ledger, column: str = "metrics") -> dict[str, str]:
    """Every key of a JSON column and its Arrow type (bool, int64, float64 or string)."""
    rank = {"bool": 0, "int64": 1, "float64": 2, "string": 3}
    types: dict[str, str] = {}
    for (text,) in ledger.db.execute(f"SELECT {column} FROM assets WHERE {column} IS NOT NULL"):
        for key, value in json.loads(text).items():
            kind = ("bool" if isinstance(value, bool) else "int64" if isinstance(value, int)
                    else "float64" if isinstance(value, float) else "string")
            if value is not None and rank[kind] > rank.get(types.get(key, "bool"), -1):
                types[key] = kind
            types.setdefault(key, kind)
    return types


def _rows(ledger: Ledger, stages: list[str]) -> Iterator[dict[str, Any]]:
    query = (f"SELECT rowid, {', '.join(_BASE_COLUMNS)}, metrics, files, meta FROM assets "
             "WHERE rowid > ? ORDER BY rowid LIMIT ?")
    last = 0
    while rows := ledger.db.execute(query, (last, _BATCH)).fetchall():
        last = rows[-1][0]
        ids = [row[1] for row in rows]
        marks = ",".join("?" * len(ids))
        per_stage: dict[str, dict[str, tuple]] = {}
        for asset_id, stage, status, seconds in ledger.db.execute(
                f"SELECT asset_id, stage, status, seconds FROM stages "
                f"WHERE asset_id IN ({marks})", ids):
            per_stage.setdefault(asset_id, {})[stage] = (status, seconds)
        for row in rows:
            record = dict(zip(_BASE_COLUMNS, row[1:11], strict=True))
            record.update(json.loads(row[11] or "{}"))
            record["files"] = json.loads(row[12] or "[]")
            record.update({f"list_{k}": v for k, v in json.loads(row[13] or "{}").items()})
            for stage in stages:
                status, seconds = per_stage.get(record["asset_id"], {}).get(stage, (None, None))
                record[f"{stage}_status"], record[f"{stage}_seconds"] = status, seconds
            yield record


def export_manifest(ledger: Ledger, path: str | os.PathLike[str], asset_root: str = "") -> int:
    """Write ``manifest.parquet``: one row per asset, metrics and per-stage columns flattened.

    Columns: ``asset_id, source, uid, sha256, status, stage`` (the failing one),
    ``error_class, error_message, seconds, attempts, files, path``, then ``<stage>_status`` and
    ``<stage>_seconds`` per step, then one column per metric. Written in batches (memory stays
    flat) to ``path`` directly: callers write to a temporary name and rename it.

    Returns
    -------
    int
        Rows written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    stages = [s for (s,) in ledger.db.execute("SELECT DISTINCT stage FROM stages ORDER BY stage")]
    metrics = _metric_types(ledger)
    metrics.update({f"list_{k}": t for k, t in _metric_types(ledger, "meta").items()})
    fields = [pa.field(c, pa.float64() if c == "seconds" else pa.int64() if c == "attempts"
                       else pa.string()) for c in _BASE_COLUMNS]
    fields += [pa.field("files", pa.list_(pa.string())), pa.field("path", pa.string())]
    for stage in stages:
        fields += [pa.field(f"{stage}_status", pa.string()),
                   pa.field(f"{stage}_seconds", pa.float64())]
    arrow_types = {"bool": pa.bool_(), "int64": pa.int64(), "float64": pa.float64(),
                   "string": pa.string()}
    fields += [pa.field(k, arrow_types[t]) for k, t in metrics.items()
               if k not in {f.name for f in fields}]
    schema = pa.schema(fields)
    written = 0
    with pq.ParquetWriter(os.fspath(path), schema) as writer:
        batch: list[dict] = []
        for record in _rows(ledger, stages):
            record["path"] = (f"{asset_root}/objects/{record['asset_id'][:2]}/"
                              f"{record['asset_id']}" if record["status"] == "ok" else None)
            batch.append(record)
            if len(batch) >= _BATCH:
                writer.write_table(pa.Table.from_pylist(_coerce(batch, metrics), schema))
                written, batch = written + len(batch), []
        if batch or written == 0:
            writer.write_table(pa.Table.from_pylist(_coerce(batch, metrics), schema))
            written += len(batch)
    return written


def _coerce(batch: list[dict], metrics: dict[str, str]) -> list[dict]:
    """Make a metric that is float somewhere a float everywhere (Arrow will not mix)."""
    for record in batch:
        for key, kind in metrics.items():
            value = record.get(key)
            if value is not None and kind == "float64":
                record[key] = float(value)
            elif value is not None and kind == "string":
                record[key] = str(value)
    return batch


def summarize(ledger: Ledger, top: int = 5) -> dict[str, Any]:
    """What ``meshprep status`` shows: counts per status and stage, slowest assets, top errors."""
    db = ledger.db
    by_stage: dict[str, dict[str, int]] = {}
    for stage, status, count in db.execute(
            "SELECT stage, status, COUNT(*) FROM stages GROUP BY stage, status "
            "ORDER BY MIN(rowid)"):
        by_stage.setdefault(stage, {})[status] = count
    slowest = [{"asset_id": a, "source": s, "seconds": t} for a, s, t in db.execute(
        "SELECT asset_id, source, seconds FROM assets WHERE status = 'ok' "
        "ORDER BY seconds DESC LIMIT ?", (top,))]
    errors = [{"error_class": c, "stage": st, "message": m, "count": n} for c, st, m, n in
              db.execute("SELECT error_class, stage, error_message, COUNT(*) AS n FROM assets "
                         "WHERE status = 'failed' GROUP BY error_class, stage, error_message "
                         "ORDER BY n DESC, error_class LIMIT ?", (top,))]
    runs = db.execute("SELECT COUNT(*), MAX(finished) - MIN(started) FROM runs").fetchone()
    fetched = {}
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'fetches'").fetchone():
        fetched = dict(db.execute("SELECT status, COUNT(*) FROM fetches GROUP BY status"))
    infra_retries = db.execute("SELECT COUNT(*), COUNT(DISTINCT asset_id) FROM events "
                               "WHERE status = 'infra_retry'").fetchone()
    return {"counts": ledger.counts(), "stages": by_stage, "slowest": slowest,
            "errors": errors, "runs": runs[0], "config_hash": ledger.meta("config_hash"),
            "fetched": fetched, "failures": ledger.failure_kinds(),
            "infra_retries": {"attempts": infra_retries[0], "assets": infra_retries[1]},
            "structure": structure_counts(ledger)}


#: part-count bins of ``meshprep status`` (PartCrafter trains on 1 to 16 parts)
PART_BINS = ((1, 1), (2, 4), (5, 8), (9, 16), (17, None))


def structure_counts(ledger: Ledger) -> dict[str, Any]:
    """Finished assets with stored parts (``parts.npz``) and rigs (``rig.npz``): how many, the
    parts per asset by bin, and the joints of the rigs (from the metrics the write step
    records: ``parts_stored``, ``rig_joints_stored``)."""
    parts, joints = [], []
    for (text,) in ledger.db.execute("SELECT metrics FROM assets WHERE status = 'ok' AND "
                                     "metrics IS NOT NULL"):
        metrics = json.loads(text)
        if metrics.get("parts_stored") is not None:
            parts.append(int(metrics["parts_stored"]))
        if metrics.get("rig_joints_stored") is not None:
            joints.append(int(metrics["rig_joints_stored"]))
    bins = {(f"{lo}" if lo == hi else f"{lo}-{hi}" if hi else f">{lo - 1}"):
            sum(lo <= n and (hi is None or n <= hi) for n in parts) for lo, hi in PART_BINS}
    return {"parts_assets": len(parts), "parts_total": int(sum(parts)), "parts_bins": bins,
            "rig_assets": len(joints), "rig_joints_median": float(np.median(joints))
            if joints else 0.0}


def structure_line(structure: dict[str, Any]) -> str:
    """``meshprep status``'s line of parts and rigs ("" when the run stored neither)."""
    if not structure["parts_assets"] and not structure["rig_assets"]:
        return ""
    bins = ", ".join(f"{n} with {b}" for b, n in structure["parts_bins"].items() if n)
    return (f"parts: {structure['parts_assets']} assets, {structure['parts_total']} parts"
            f"{f' ({bins})' if bins else ''}; rigs: {structure['rig_assets']} skinned assets, "
            f"median {structure['rig_joints_median']:.0f} joints")


def infrastructure_line(summary: dict[str, Any]) -> str:
    """Failures split into the assets' own and the infrastructure's, with the attempts lost to
    lost nodes (``infra_retry`` events) that were submitted again."""
    kinds, retries = summary["failures"], summary["infra_retries"]
    return (f"failed: {kinds['asset']} for the asset's own reason, {kinds['infrastructure']} "
            f"for the infrastructure; {retries['attempts']} attempt(s) of "
            f"{retries['assets']} asset(s) lost to the infrastructure and submitted again")


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as lines of text."""
    counts = summary["counts"]
    total = sum(counts.values())
    lines = [f"{total} assets: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]),
             f"config {summary['config_hash']}, {summary['runs']} run(s)"]
    if counts["failed"] or summary["infra_retries"]["attempts"]:
        lines.append(infrastructure_line(summary))
    if summary.get("structure") and structure_line(summary["structure"]):
        lines.append(structure_line(summary["structure"]))
    if summary.get("fetched"):
        lines.append("fetched: " + ", ".join(f"{n} {s}" for s, n in
                                             sorted(summary["fetched"].items())))
    if summary["stages"]:
        lines.append("per stage:")
        for stage, statuses in summary["stages"].items():
            parts = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
            lines.append(f"  {stage:12s} {parts}")
    if summary["slowest"]:
        lines.append("slowest:")
        lines += [f"  {r['seconds']:8.2f} s  {r['asset_id'][:16]}  {r['source']}"
                  for r in summary["slowest"]]
    if summary["errors"]:
        lines.append("top errors:")
        lines += [f"  {r['count']:5d} × {r['error_class']} in {r['stage']}: {r['message']}"
                  for r in summary["errors"]]
    return "\n".join(lines)
