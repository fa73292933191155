"""``meshprep fetch``: a list of objects in, verified raw files out, resumably.

Layout of the output folder::

    OUT/objects/<sha[:2]>/<sha>/<file>    verified files (and a glTF's / OBJ's companions)
    OUT/quarantine/<uid>/                 files whose SHA-256 is not the list's, with reason.txt
    OUT/ledger.sqlite                     table ``fetches``: one row per listed object
    OUT/fetched.csv                       uid, path, sha256, source, url + the list's columns:
                                          the input of ``meshprep run OUT/fetched.csv``

Objects of one GitHub repository at one commit share a single archive download; the files of
it that are Git LFS pointers are replaced by their objects (one batch API request per archive,
:mod:`meshprep.data.gitlfs`) before the model is verified. A killed fetch resumes: finished
objects are never downloaded again, a partial file continues with an HTTP range request.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import os
import re
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from meshprep.errors import MeshprepError

from .endpoints import Endpoints
from .github import extract_objects, parse_blob_url, planned_bytes
from .gitlfs import LfsObjects, find_pointers
from .http import ClientPool, Downloader, FetchError, MissingError, RetryPolicy
from .lists import THINGIVERSE_FILE, filter_list, read_list

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fetches (
    uid TEXT PRIMARY KEY, source TEXT, url TEXT, expected TEXT, group_key TEXT,
    status TEXT NOT NULL DEFAULT 'pending', sha256 TEXT, path TEXT, bytes INTEGER,
    requests INTEGER NOT NULL DEFAULT 0, error TEXT, meta TEXT, updated REAL);
CREATE INDEX IF NOT EXISTS fetches_status ON fetches (status);
CREATE INDEX IF NOT EXISTS fetches_group ON fetches (group_key, status);
"""
STATUSES = ("pending", "running", "ok", "missing", "failed", "quarantined")
OBJECT_PATHS = "object-paths.json.gz"
EXTRACT_TIMEOUT_S = 300.0


@dataclass
class FetchSummary:
    """What a fetch did and where the dataset stands."""

    listed: int = 0
    counts: dict = field(default_factory=dict)
    requests: int = 0
    bytes: int = 0
    index: str = ""


class FetchLedger:
    """The ``fetches`` table of ``OUT/ledger.sqlite``."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        # objects a killed fetch left in flight start again (their partial files resume)
        self.db.execute("UPDATE fetches SET status = 'pending' WHERE status = 'running'")
        self.db.commit()

    def add(self, table: pa.Table, batch: int = 10_000) -> int:
        extra = [n for n in table.column_names if n not in ("uid", "source", "url", "sha256")]
        for part in table.to_batches(batch):
            rows = []
            for record in part.to_pylist():
                key = _group_key(record["source"], record["url"], record["uid"])
                meta = json.dumps({k: record[k] for k in extra}, default=str)
                rows.append((record["uid"], record["source"], record["url"], record["sha256"],
                             key, meta))
            self.db.executemany("INSERT OR IGNORE INTO fetches (uid, source, url, expected, "
                                "group_key, meta) VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.db.commit()
        return len(table)

    def pending_groups(self, page: int = 1000):
        """Groups (archive keys or single uids) with pending objects, oldest first, paged."""
        last = 0
        while True:
            rows = self.db.execute(
                "SELECT rowid, group_key FROM fetches WHERE status = 'pending' AND rowid > ? "
                "ORDER BY rowid LIMIT ?", (last, page)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, key in rows:
                members = self.db.execute(
                    "SELECT uid, source, url, expected FROM fetches WHERE group_key = ? AND "
                    "status = 'pending'", (key,)).fetchall()
                if members:
                    self.db.executemany("UPDATE fetches SET status = 'running' WHERE uid = ?",
                                        [(m[0],) for m in members])
                    self.db.commit()
                    yield key, members

    def record(self, uid: str, status: str, *, sha256=None, path=None, size=None, requests=0,
               error=None) -> None:
        self.db.execute(
            "UPDATE fetches SET status = ?, sha256 = ?, path = ?, bytes = ?, "
            "requests = requests + ?, error = ?, updated = ? WHERE uid = ?",
            (status, sha256, None if path is None else str(path), size, requests, error,
             time.time(), uid))
        self.db.commit()

    def counts(self) -> dict[str, int]:
        found = dict(self.db.execute("SELECT status, COUNT(*) FROM fetches GROUP BY status"))
        return {s: found.get(s, 0) for s in STATUSES}

    def write_index(self, path: Path) -> None:
        """``fetched.csv``: every verified object with the list's own columns."""
        keys: dict[str, None] = {}
        for (meta,) in self.db.execute("SELECT meta FROM fetches WHERE status = 'ok'"):
            keys.update(dict.fromkeys(json.loads(meta or "{}")))
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["uid", "path", "sha256", "source", "url", *keys])
            for uid, p, sha, source, url, meta in self.db.execute(
                    "SELECT uid, path, sha256, source, url, meta FROM fetches "
                    "WHERE status = 'ok' ORDER BY rowid"):
                values = json.loads(meta or "{}")
                writer.writerow([uid, p, sha, source, url, *(values.get(k) for k in keys)])
        temporary.replace(path)


def _copy_hashed(source: str, target: Path, max_bytes: int) -> tuple[str, int]:
    """Copy a local path or an fsspec URL, hashing as it streams; refuse past ``max_bytes``."""
    import hashlib

    import fsspec

    digest, size = hashlib.sha256(), 0
    with fsspec.open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{source}: more than {max_bytes} bytes")
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest(), size


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _group_key(source: str, url: str, uid: str) -> str:
    if source == "github":
        try:
            return parse_blob_url(url).archive_key
        except MeshprepError:
            return uid
    return uid


class FetchProgress:
    """Files, bytes, rate and ETA: redrawn on a terminal, a line every 30 s elsewhere."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.tty = sys.stderr.isatty()
        self.done = self.failed = self.bytes = 0
        self.start = self.last = time.monotonic()

    def update(self, ok: bool, size: int = 0, message: str = "") -> None:
        self.done += 1
        self.failed += not ok
        self.bytes += size
        if not self.enabled:
            return
        if message and not self.tty:
            print(message, file=sys.stderr)
        now = time.monotonic()
        if now - self.last >= (0.2 if self.tty else 30.0) or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0.0
            line = (f"{self.done}/{self.total} objects · {self.failed} not fetched · "
                    f"{self.bytes / 2**20:.1f} MB · {rate:.1f}/s · "
                    f"{self.bytes / 2**20 / max(now - self.start, 1e-9):.1f} MB/s · "
                    f"ETA {eta:.0f}s")
            print(f"\r{line}\x1b[K" if self.tty else line, end="" if self.tty else "\n",
                  file=sys.stderr, flush=True)


class Fetcher:
    def __init__(self, out: Path, ledger: FetchLedger, endpoints: Endpoints,
                 downloader: Downloader, progress: FetchProgress, max_bytes: int):
        self.out, self.ledger, self.endpoints = out, ledger, endpoints
        self.downloader, self.progress, self.max_bytes = downloader, progress, max_bytes
        self.partial = out / ".partial"
        self._object_paths: dict[str, str] | None = None
        self._paths_lock = asyncio.Lock()
        self.lfs = LfsObjects(downloader)
        self.requests = 0
        self.on_ready = None  # streaming: called with (uid, model path, sha256, meta)

    async def object_paths(self) -> dict[str, str]:
        """Objaverse 1.0's uid -> file path map, downloaded once into ``OUT/.cache``."""
        async with self._paths_lock:
            if self._object_paths is None:
                cached = self.out / ".cache" / OBJECT_PATHS
                if not cached.exists():
                    got = await self.downloader.fetch(self.endpoints.objaverse(OBJECT_PATHS),
                                                      cached)
                    self.requests += got.requests
                    if self.downloader.budget is not None:  # an index, not a raw object
                        self.downloader.budget.release(got.size)
                with gzip.open(cached, "rt", encoding="utf-8") as stream:
                    self._object_paths = json.load(stream)
        return self._object_paths

    async def run_group(self, key: str, members: list[tuple]) -> None:
        try:
            if members[0][1] == "github" and "@" in key:
                await self._github(key, members)
            else:
                for uid, source, url, expected in members:
                    await self._single(uid, source, url, expected)
        except Exception as exc:  # noqa: BLE001  (one group's failure is data)
            for uid, *_ in members:
                self._fail(uid, "failed", f"{type(exc).__name__}: {exc}")

    async def _single(self, uid: str, source: str, url: str, expected: str | None) -> None:
        if source == "objaverse":
            paths = await self.object_paths()
            if uid not in paths:
                self._fail(uid, "missing", "uid not in Objaverse's object-paths.json.gz")
                return
            url = self.endpoints.objaverse(paths[uid])
        staging = self.partial / uid
        name = os.path.basename(url.split("?")[0].rstrip("/")) or uid
        if source == "thingiverse":
            url, name = self._thingiverse(uid, url)
        try:
            if source == "local" or not url.lower().startswith(("http://", "https://")):
                # a local path, or s3:// gs:// ... through fsspec (pip install s3fs, gcsfs)
                staging.mkdir(parents=True, exist_ok=True)
                target = staging / name
                digest, size = await asyncio.to_thread(_copy_hashed, url, target,
                                                       self.max_bytes)
                requests = 0 if source == "local" else 1
            else:
                got = await self.downloader.fetch(url, staging / name)
                target, digest, size, requests = got.path, got.sha256, got.size, got.requests
        except MissingError as exc:
            self._fail(uid, "missing", str(exc))
            return
        except (FetchError, OSError) as exc:
            self._fail(uid, "failed", f"{type(exc).__name__}: {exc}")
            return
        self.requests += requests
        if self.downloader.budget is not None and source == "local":
            self.downloader.budget.try_acquire(size)
        self._place(uid, staging, target, digest, size, expected, requests)

    def _thingiverse(self, uid: str, identifier: str) -> tuple[str, str]:
        """Download URL and file name of an Objaverse-XL Thingiverse entry (``fileId=``)."""
        file_id = re.search(THINGIVERSE_FILE, identifier).group(1)
        row = self.ledger.db.execute("SELECT meta FROM fetches WHERE uid = ?", (uid,)).fetchone()
        meta = json.loads(row[0]) if row and row[0] else {}
        kind = str(meta.get("fileType") or meta.get("file_type") or "stl").lower().strip(".")
        return self.endpoints.thingiverse_file(file_id), f"{file_id}.{kind}"

    async def _github(self, key: str, members: list[tuple]) -> None:
        first = parse_blob_url(members[0][2])
        archive = self.partial / "archives" / f"{first.org}__{first.repo}__{first.commit}.zip"
        url = self.endpoints.github_archive(first.org, first.repo, first.commit)
        try:
            got = await self.downloader.fetch(url, archive)
        except MissingError as exc:
            for uid, *_ in members:
                self._fail(uid, "missing", f"repository archive: {exc}")
            return
        self.requests += got.requests
        wanted, expected = {}, {}
        for uid, _, blob, sha in members:
            try:
                wanted[uid] = parse_blob_url(blob).path
                expected[uid] = sha
            except MeshprepError as exc:
                self._fail(uid, "failed", f"{type(exc).__name__}: {exc}")
        deadline = time.monotonic() + EXTRACT_TIMEOUT_S
        budget = self.downloader.budget
        planned = planned_bytes(archive, wanted) if budget is not None else 0
        if budget is not None:
            await budget.acquire(planned)
        results = await asyncio.to_thread(extract_objects, archive, wanted, self.partial / "x",
                                          max_bytes=self.max_bytes, deadline=deadline)
        if budget is not None:  # the archive goes; the extracted files are held as they are
            extracted = sum(folder_bytes(r[0].parent) for r in results.values()
                            if not isinstance(r, Exception))
            budget.release(planned + got.size - extracted)
        lfs_staging = self.partial / "lfs" / archive.stem
        await self._lfs_objects(first.org, first.repo, results, lfs_staging)
        for uid, result in results.items():
            if isinstance(result, Exception):
                status = "missing" if isinstance(result, MissingError) else "failed"
                self._fail(uid, status, str(result) if status == "missing"
                           else f"{type(result).__name__}: {result}")
                shutil.rmtree(self.partial / "x" / uid, ignore_errors=True)
                continue
            model, digest = result
            self._place(uid, model.parent, model, digest, model.stat().st_size, expected[uid], 0)
        archive.unlink(missing_ok=True)
        shutil.rmtree(lfs_staging, ignore_errors=True)

    async def _lfs_objects(self, org: str, repo: str, results: dict, staging: Path) -> None:
        """Replace the Git LFS pointers among the extracted files by their objects, in place.

        ``results`` (``uid -> (model, sha256)`` or an exception) is updated: a model that was a
        pointer gets its object's SHA-256, an object whose pointers could not all be replaced
        gets the error (its files leave the byte budget).
        """
        found = {}
        for uid, result in results.items():
            if not isinstance(result, Exception):
                if pointers := await asyncio.to_thread(find_pointers, result[0].parent):
                    found[uid] = pointers
        if not found:
            return
        before = self.lfs.requests
        failed = await self.lfs.resolve(self.endpoints.github_lfs_batch(org, repo), found,
                                        staging)
        self.requests += self.lfs.requests - before
        for uid, pointers in found.items():
            model = results[uid][0]
            if uid in failed:
                if self.downloader.budget is not None:
                    self.downloader.budget.release(folder_bytes(model.parent))
                results[uid] = failed[uid]
                continue
            oid = next((p.pointer.oid for p in pointers if p.path == model), None)
            if oid is not None:  # verified against the pointer's SHA-256 as it streamed
                results[uid] = (model, oid)

    def _place(self, uid, staging: Path, model: Path, digest: str, size: int,
               expected: str | None, requests: int) -> None:
        """Move a verified object into ``objects/``, a mismatching one into ``quarantine/``."""
        if expected and digest != expected:
            if self.downloader.budget is not None:  # quarantine is evidence, not raw input
                self.downloader.budget.release(folder_bytes(staging))
            folder = self.out / "quarantine" / uid
            shutil.rmtree(folder, ignore_errors=True)
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(folder)
            reason = f"sha256 {digest} does not match the list's {expected}"
            (folder / "reason.txt").write_text(reason + "\n")
            self.ledger.record(uid, "quarantined", sha256=digest, path=folder / model.name,
                               size=size, requests=requests, error=reason)
            self.progress.update(False, size, f"quarantined {uid}: {reason}")
            return
        folder = self.out / "objects" / digest[:2] / digest
        if folder.exists():  # the same bytes under another uid: keep the first copy
            if self.downloader.budget is not None:
                self.downloader.budget.release(folder_bytes(staging))
            shutil.rmtree(staging, ignore_errors=True)
        else:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(folder)
        self.ledger.record(uid, "ok", sha256=digest, path=folder / model.name, size=size,
                           requests=requests)
        self.progress.update(True, size)
        if self.on_ready is not None:
            meta = self.ledger.db.execute("SELECT meta FROM fetches WHERE uid = ?",
                                          (uid,)).fetchone()[0]
            self.on_ready(uid, folder / model.name, digest, meta)

    def _fail(self, uid: str, status: str, reason: str) -> None:
        self.ledger.record(uid, status, error=reason)
        self.progress.update(False, 0, f"{status} {uid}: {reason}")


async def fetch_all(fetcher: Fetcher, workers: int) -> None:
    queue: asyncio.Queue = asyncio.Queue(maxsize=2 * workers)

    async def work() -> None:
        while (job := await queue.get()) is not None:
            await fetcher.run_group(*job)

    tasks = [asyncio.create_task(work()) for _ in range(workers)]
    for job in fetcher.ledger.pending_groups():
        await queue.put(job)
    for _ in tasks:
        await queue.put(None)
    await asyncio.gather(*tasks)


def fetch(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    endpoints: Endpoints | None = None,
    workers: int = 32,
    per_host: int = 16,
    limit: int | None = None,
    min_aesthetic: float | None = None,
    sources: tuple[str, ...] | None = None,
    policy: RetryPolicy | None = None,
    progress: bool = True,
) -> FetchSummary:
    """Download every listed object that is not fetched yet; verify, place, index.

    Parameters
    ----------
    source : path-like
        Any list :func:`read_list` reads.
    out : path-like
        Output folder (see the module docstring).
    endpoints : Endpoints, optional
        Hosts; default from the environment (``HF_ENDPOINT``).
    workers : int
        Concurrent downloads.
    per_host : int
        Concurrent requests to one host.
    limit, min_aesthetic, sources
        Filters applied to the list before anything is downloaded.
    policy : RetryPolicy, optional
        Timeouts, retries, size limit.
    progress : bool
        Show progress on stderr.

    Returns
    -------
    FetchSummary
    """
    out = Path(out).resolve()
    endpoints = endpoints or Endpoints.from_env()
    policy = policy or RetryPolicy()
    table = filter_list(read_list(source), min_aesthetic=min_aesthetic, sources=sources,
                        limit=limit)
    ledger = FetchLedger(out / "ledger.sqlite")
    summary = FetchSummary(listed=ledger.add(table))
    todo = ledger.db.execute("SELECT COUNT(*) FROM fetches WHERE status = 'pending'").fetchone()[0]
    bar = FetchProgress(todo, progress)

    async def main() -> None:
        async with ClientPool(policy, workers) as client:
            fetcher = Fetcher(out, ledger, endpoints, Downloader(client, policy, per_host), bar,
                               policy.max_bytes)
            await fetch_all(fetcher, workers)
            summary.requests = fetcher.requests

    asyncio.run(main())
    shutil.rmtree(out / ".partial" / "x", ignore_errors=True)
    summary.counts, summary.bytes = ledger.counts(), bar.bytes
    ledger.write_index(out / "fetched.csv")
    summary.index = str(out / "fetched.csv")
    ledger.db.close()
    return summary
