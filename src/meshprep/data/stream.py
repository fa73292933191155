"""Fetch ahead of a run: objects become tasks as they arrive, raw files go once processed.

``meshprep run LIST -o OUT --stream`` downloads into ``OUT/raw`` (the fetch ledger is a table of
the run's own ``OUT/ledger.sqlite``) while the workers process what has arrived; a raw object is
deleted as soon as its asset is recorded (``--keep-raw`` keeps it). Downloads wait for room in a
byte budget (``--raw-budget``), reserving each body's declared size before writing it, so the
raw folder never holds more than the budget.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from meshprep.pipeline.sources import AssetTask

from .endpoints import Endpoints
from .fetch import Fetcher, FetchLedger, FetchProgress, fetch_all, folder_bytes
from .http import ByteBudget, ClientPool, Downloader, RetryPolicy
from .lists import filter_list, read_list

_DONE = object()


def parse_size(text: str) -> int:
    """``"20GB"`` -> bytes (also KB, MB, TB; powers of 1024; a bare number is bytes)."""
    units = {"TB": 1 << 40, "GB": 1 << 30, "MB": 1 << 20, "KB": 1 << 10, "B": 1}
    text = text.strip().upper()
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


class StreamSource:
    """A list fetched into ``raw`` in a background thread, handed out as tasks.

    Parameters
    ----------
    list_path : path-like
        Any list :func:`meshprep.data.read_list` reads.
    raw : Path
        Where objects land (``raw/objects/<sha[:2]>/<sha>/``).
    ledger_path : Path
        The run's SQLite ledger (the fetch state is its ``fetches`` table).
    budget : int
        Raw bytes allowed on disk at once.
    keep_raw : bool
        Keep raw objects after processing.
    """

    def __init__(self, list_path, raw: Path, ledger_path: Path, *, budget: int,
                 keep_raw: bool = False, endpoints: Endpoints | None = None, workers: int = 8,
                 per_host: int = 8, policy: RetryPolicy | None = None, limit: int | None = None,
                 min_aesthetic: float | None = None):
        self.list_path, self.raw, self.ledger_path = list_path, Path(raw), Path(ledger_path)
        self.keep_raw = keep_raw
        self.endpoints = endpoints or Endpoints.from_env()
        self.workers, self.per_host = workers, per_host
        self.policy = policy or RetryPolicy()
        self.filters = {"limit": limit, "min_aesthetic": min_aesthetic}
        self.budget = ByteBudget(budget)
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def listed(self) -> int:
        """Add the list to the fetch ledger; returns the rows listed."""
        table = filter_list(read_list(self.list_path), **self.filters)
        ledger = FetchLedger(self.ledger_path)
        try:
            return ledger.add(table)
        finally:
            ledger.db.close()

    def arrived(self) -> list[AssetTask]:
        """Objects fetched by an earlier (interrupted) run whose raw files are still here."""
        ledger = FetchLedger(self.ledger_path)
        try:
            rows = ledger.db.execute("SELECT uid, path, sha256, meta FROM fetches "
                                     "WHERE status = 'ok'").fetchall()
        finally:
            ledger.db.close()
        tasks = [AssetTask(uid, path, uid, sha, meta) for uid, path, sha, meta in rows
                 if path and os.path.exists(path)]
        for task in tasks:
            self.budget.try_acquire(folder_bytes(Path(task.source).parent))
        return tasks

    def start(self) -> None:
        """Start fetching in a background thread."""
        self._thread = threading.Thread(target=self._run, name="meshprep-fetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001  (reported by tasks())
            self.error = exc
        finally:
            self._queue.put(_DONE)

    async def _main(self) -> None:
        ledger = FetchLedger(self.ledger_path)
        try:
            async with ClientPool(self.policy, self.workers) as client:
                downloader = Downloader(client, self.policy, self.per_host, self.budget)
                fetcher = Fetcher(self.raw, ledger, self.endpoints, downloader,
                                   FetchProgress(0, False), self.policy.max_bytes)
                fetcher.on_ready = self._ready
                await fetch_all(fetcher, self.workers)
        finally:
            ledger.db.close()

    def _ready(self, uid: str, model: Path, sha256: str, meta: str | None) -> None:
        self._queue.put(AssetTask(uid, str(model), uid, sha256, meta))

    def tasks(self) -> Iterator[AssetTask]:
        """Fetched objects as they arrive, until the list is exhausted."""
        while (item := self._queue.get()) is not _DONE:
            yield item
        if self.error is not None:
            raise self.error

    def finished(self, source: str) -> None:
        """An asset is recorded: delete its raw object and give its bytes back to the budget."""
        folder = Path(source).parent
        if self.keep_raw or not folder.is_dir() or self.raw not in folder.parents:
            return
        size = folder_bytes(folder)
        shutil.rmtree(folder, ignore_errors=True)
        self.budget.release(size)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)
        shutil.rmtree(self.raw / ".partial", ignore_errors=True)
