"""The run ledger: an SQLite database recording every asset, its stages and what happened.

Tables::

    assets   one row per asset: source, uid, sha256, status (pending | running | ok | failed |
             skipped), failing stage, error class and message, seconds, attempts, metrics (JSON),
             published files (JSON)
    stages   (asset, stage) -> status, seconds
    events   one row per finished attempt (run, asset, status, note): the audit trail; an
             attempt lost to the infrastructure (Ray node gone) is an ``infra_retry`` row
    runs     one row per ``meshprep run``: when, executor, workers, final counts
    sources  hash cache: path, size, mtime -> sha256 (a rerun does not hash files again)
    meta     key/value: the configuration hash and text the output was made with

The database is in WAL mode and committed after every asset, so a ``kill -9`` loses at most the
asset in flight; an asset left ``running`` is processed again (or adopted when its files were
already published, see :mod:`meshprep.pipeline.run`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .config import ConfigError
from .outcome import AssetOutcome
from .sources import AssetTask, file_sha256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    asset_id TEXT PRIMARY KEY, source TEXT NOT NULL, uid TEXT, sha256 TEXT,
    status TEXT NOT NULL DEFAULT 'pending', stage TEXT, error_class TEXT, error_message TEXT,
    seconds REAL, attempts INTEGER NOT NULL DEFAULT 0, metrics TEXT, files TEXT,
    run_id INTEGER, updated REAL, meta TEXT);
CREATE INDEX IF NOT EXISTS assets_status ON assets (status);
CREATE TABLE IF NOT EXISTS stages (
    asset_id TEXT NOT NULL, stage TEXT NOT NULL, status TEXT NOT NULL, seconds REAL,
    PRIMARY KEY (asset_id, stage));
CREATE TABLE IF NOT EXISTS events (
    run_id INTEGER, asset_id TEXT NOT NULL, status TEXT NOT NULL, time REAL NOT NULL,
    note TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL, finished REAL, executor TEXT,
    workers INTEGER, source TEXT, counts TEXT);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

STATUSES = ("pending", "running", "ok", "failed", "skipped")
INFRA_ERRORS = ("InfrastructureError", "OutputNotVisible")  # failures that are not the asset's


class Ledger:
    """An open ledger database.

    Parameters
    ----------
    path : path-like
        The SQLite file (created with its tables when missing).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(assets)")}
        if "meta" not in columns:  # a ledger from before list metadata was kept
            self.db.execute("ALTER TABLE assets ADD COLUMN meta TEXT")
        if "note" not in {row[1] for row in self.db.execute("PRAGMA table_info(events)")}:
            self.db.execute("ALTER TABLE events ADD COLUMN note TEXT")  # an older ledger
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # configuration -----------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def bind_config(self, digest: str, text: str) -> None:
        """Record the configuration of this output, or refuse one that differs from it.

        Raises
        ------
        ConfigError
            The output was made with another configuration.
        """
        known = self.meta("config_hash")
        if known is not None and known != digest:
            changed = _changed_keys(self.meta("config_toml") or "", text)
            raise ConfigError(
                f"this output was made with config {known}, this run's config is {digest} "
                f"(changed: {changed}): use another output folder (outputs of two "
                "configurations are never mixed)")
        if known is None:
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                [("config_hash", digest), ("config_toml", text)])
            self.db.commit()

    # discovery ---------------------------------------------------------------------------
    def file_hash(self, path: Path) -> str:
        """SHA-256 of a local file, from the cache when its size and mtime did not change."""
        stat = path.stat()
        key = str(path.resolve())
        row = self.db.execute("SELECT size, mtime_ns, sha256 FROM sources WHERE path = ?",
                              (key,)).fetchone()
        if row is not None and row[0] == stat.st_size and row[1] == stat.st_mtime_ns:
            return row[2]
        digest = file_sha256(path)
        self.db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?)",
                        (key, stat.st_size, stat.st_mtime_ns, digest))
        return digest

    def add_tasks(self, tasks: Iterable[AssetTask], batch: int = 1000) -> tuple[int, int]:
        """Insert new assets as ``pending`` (known ids are left alone).

        Returns
        -------
        (listed, new) : tuple of int
        """
        listed = new = 0
        rows: list[tuple] = []
        for task in tasks:
            rows.append((task.asset_id, task.source, task.uid, task.sha256, task.meta))
            listed += 1
            if len(rows) >= batch:
                new += self._insert(rows)
                rows = []
        new += self._insert(rows)
        return listed, new

    def _insert(self, rows: list[tuple]) -> int:
        before = self.db.total_changes
        self.db.executemany("INSERT OR IGNORE INTO assets (asset_id, source, uid, sha256, meta) "
                            "VALUES (?, ?, ?, ?, ?)", rows)
        self.db.commit()
        return self.db.total_changes - before

    # work --------------------------------------------------------------------------------
    def count(self, statuses: Iterable[str] = STATUSES) -> int:
        statuses = tuple(statuses)
        marks = ",".join("?" * len(statuses))
        return self.db.execute(f"SELECT COUNT(*) FROM assets WHERE status IN ({marks})",
                               statuses).fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Number of assets per status (every status present, zeros included)."""
        found = dict(self.db.execute("SELECT status, COUNT(*) FROM assets GROUP BY status"))
        return {status: found.get(status, 0) for status in STATUSES}

    def max_rowid(self) -> int:
        return self.db.execute("SELECT COALESCE(MAX(rowid), 0) FROM assets").fetchone()[0]

    def status(self, asset_id: str) -> str | None:
        row = self.db.execute("SELECT status FROM assets WHERE asset_id = ?",
                              (asset_id,)).fetchone()
        return None if row is None else row[0]

    def iter_tasks(self, statuses: Iterable[str], chunk: int = 1000,
                   up_to: int | None = None) -> Iterator[AssetTask]:
        """Assets with one of ``statuses``, in insertion order, read ``chunk`` rows at a time.

        Keyset pagination on ``rowid``: rows updated while iterating are neither skipped nor
        repeated, and memory stays flat however large the dataset.
        """
        statuses = tuple(statuses)
        marks = ",".join("?" * len(statuses))
        last, end = 0, up_to if up_to is not None else 2**62
        while True:
            rows = self.db.execute(
                f"SELECT rowid, asset_id, source, uid, sha256, meta FROM assets WHERE rowid > ? "
                f"AND rowid <= ? AND status IN ({marks}) ORDER BY rowid LIMIT ?",
                (last, end, *statuses, chunk),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, asset_id, source, uid, sha, meta in rows:
                yield AssetTask(asset_id, source, uid, sha, meta)

    def mark_running(self, asset_id: str, run_id: int) -> None:
        self.db.execute("UPDATE assets SET status = 'running', attempts = attempts + 1, "
                        "run_id = ?, updated = ? WHERE asset_id = ?",
                        (run_id, time.time(), asset_id))
        self.db.commit()

    def record(self, outcome: AssetOutcome, run_id: int | None, event: bool = True) -> None:
        """Store what happened to one asset (replacing an earlier attempt's stages)."""
        self.db.execute(
            "UPDATE assets SET status = ?, stage = ?, error_class = ?, error_message = ?, "
            "seconds = ?, metrics = ?, files = ?, run_id = ?, updated = ? WHERE asset_id = ?",
            (outcome.status, outcome.stage, outcome.error_class, outcome.error_message,
             outcome.seconds, json.dumps(outcome.metrics), json.dumps(outcome.files), run_id,
             time.time(), outcome.asset_id))
        self.db.execute("DELETE FROM stages WHERE asset_id = ?", (outcome.asset_id,))
        self.db.executemany("INSERT INTO stages VALUES (?, ?, ?, ?)",
                            [(outcome.asset_id, n, s, t) for n, s, t in outcome.stages])
        if event:
            self.db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                            (run_id, outcome.asset_id, outcome.status, time.time(),
                             outcome.error_message if outcome.status == "failed" else None))
        self.db.commit()

    def add_event(self, run_id: int | None, asset_id: str, status: str, note: str) -> None:
        """An audit row that is not a finished attempt (``infra_retry``: the node was lost)."""
        self.db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                        (run_id, asset_id, status, time.time(), note))
        self.db.commit()

    def events(self, asset_id: str) -> list[tuple[str, str | None]]:
        """``(status, note)`` of every event of one asset, oldest first."""
        return self.db.execute("SELECT status, note FROM events WHERE asset_id = ? "
                               "ORDER BY rowid", (asset_id,)).fetchall()

    def failure_kinds(self) -> dict[str, int]:
        """Failed assets split into ``asset`` (their own fault) and ``infrastructure``."""
        marks = ",".join("?" * len(INFRA_ERRORS))
        infra = self.db.execute(f"SELECT COUNT(*) FROM assets WHERE status = 'failed' AND "
                                f"error_class IN ({marks})", INFRA_ERRORS).fetchone()[0]
        return {"asset": self.counts()["failed"] - infra, "infrastructure": infra}

    # runs --------------------------------------------------------------------------------
    def start_run(self, executor: str, workers: int, source: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO runs (started, executor, workers, source) VALUES (?, ?, ?, ?)",
            (time.time(), executor, workers, source))
        self.db.commit()
        return int(cursor.lastrowid)

    def finish_run(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET finished = ?, counts = ? WHERE run_id = ?",
                        (time.time(), json.dumps(self.counts()), run_id))
        self.db.commit()


def _changed_keys(old_toml: str, new_toml: str) -> str:
    """``"watertight.resolution 512 -> 256, ..."`` between two configuration texts."""
    import tomllib

    old, new = tomllib.loads(old_toml), tomllib.loads(new_toml)
    flat_old = {f"{s}.{k}": v for s, kv in old.items() for k, v in kv.items()}
    flat_new = {f"{s}.{k}": v for s, kv in new.items() for k, v in kv.items()}
    keys = sorted(k for k in flat_old.keys() | flat_new.keys()
                  if flat_old.get(k) != flat_new.get(k) and not k.startswith("limits."))
    return ", ".join(f"{k} {flat_old.get(k)!r} -> {flat_new.get(k)!r}" for k in keys) or "?"
