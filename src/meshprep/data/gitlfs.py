"""Git LFS objects behind the pointers a GitHub repository archive holds.

An archive carries only the pointer of a file kept in Git LFS (:mod:`meshprep.io.lfs`). The
real objects of one archive are asked for in one request to the repository's batch API
(``POST {github}/{org}/{repo}.git/info/lfs/objects/batch``, ``docs/api/batch.md`` of
git-lfs/git-lfs; at most :data:`BATCH_SIZE` objects a request), each download action is
followed with the :class:`~meshprep.data.http.Downloader` (retries, resume, byte budget), the
body is checked against the pointer's size and SHA-256, and only then does it replace the
pointer file. Objects land in a staging folder first (``.partial/lfs/<archive>/<oid>``), so a
killed fetch rerun finds the objects it had finished and does not download them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from meshprep.io.lfs import LfsPointer, read_pointer

from .http import Downloader, FetchError, MissingError, TooLargeError

#: objects per batch request (the Git LFS client's own default, ``lfs.transfer.batchSize``)
BATCH_SIZE = 100
LFS_MEDIA_TYPE = "application/vnd.git-lfs+json"
#: batch object error codes that mean the object is gone for good
GONE_CODES = (404, 410)
#: an href this close to its expiry is asked for again before it is used
EXPIRY_MARGIN_S = 30.0
#: the ledger's reason for an object whose LFS object the server does not have
NOT_AVAILABLE = "Git LFS object not available"


class LfsMissingError(MissingError):
    """The LFS server does not have the object (or no longer has it)."""


class CorruptObjectError(FetchError):
    """What arrived is not the object the pointer names (size or SHA-256), after the retries."""


@dataclass(frozen=True)
class PointerFile:
    """An extracted file that is a Git LFS pointer.

    Attributes
    ----------
    path : Path
        The pointer file (the model or one of its companions).
    pointer : LfsPointer
        The object it names.
    """

    path: Path
    pointer: LfsPointer


@dataclass
class Staged:
    """A verified object in the staging folder.

    Attributes
    ----------
    path : Path
        ``staging/<oid>``.
    held : bool
        Whether its bytes are held in the downloader's byte budget (downloaded by this run and
        not yet handed to a placed file).
    """

    path: Path
    held: bool


def find_pointers(folder: Path) -> list[PointerFile]:
    """Every file under ``folder`` that is a Git LFS pointer (only small files are read)."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            pointer = read_pointer(path)
            if pointer is not None:
                found.append(PointerFile(path, pointer))
    return found


def batch_request(pointers: Iterable[LfsPointer]) -> dict:
    """The JSON body of a batch API download request for ``pointers``."""
    return {"operation": "download", "transfers": ["basic"],
            "objects": [{"oid": p.oid, "size": p.size} for p in pointers],
            "hash_algo": "sha256"}


def parse_batch_reply(reply: dict, pointers: Iterable[LfsPointer]) -> dict[str, dict | Exception]:
    """``oid -> download action`` (``href``, ``header``) or why that object cannot be had.

    Parameters
    ----------
    reply : dict
        The decoded batch API response.
    pointers : iterable of LfsPointer
        The objects asked for.

    Returns
    -------
    dict
        An action, or :class:`LfsMissingError` (object error 404 / 410), or
        :class:`~meshprep.data.http.FetchError` (any other error, or a malformed answer).
    """
    asked = list(pointers)
    if reply.get("transfer", "basic") != "basic":
        error = FetchError(f"the batch API chose transfer {reply.get('transfer')!r}, not basic")
        return {p.oid: error for p in asked}
    answers = {o.get("oid"): o for o in reply.get("objects") or [] if isinstance(o, dict)}
    return {p.oid: _action(answers.get(p.oid)) for p in asked}


def _action(answer: dict | None) -> dict | Exception:
    """The download action of one batch answer, or the error it stands for."""
    if answer is None:
        return FetchError("not in the batch API's answer")
    error = answer.get("error")
    if isinstance(error, dict):
        detail = f"batch API error {error.get('code')}: {error.get('message', '')}".strip()
        return (LfsMissingError(detail) if error.get("code") in GONE_CODES
                else FetchError(detail))
    action = (answer.get("actions") or {}).get("download")
    if not isinstance(action, dict) or not str(action.get("href", "")).startswith(
            ("http://", "https://")):
        return FetchError("the batch API gave no usable download action")
    header = action.get("header") or {}
    if not isinstance(header, dict):
        return FetchError("the download action's header is not an object")
    return {"href": action["href"], "header": {str(k): str(v) for k, v in header.items()},
            "expires": _expiry(action)}


def _expiry(action: dict) -> float | None:
    """``time.monotonic()`` at which an action's href stops working (``expires_in`` preferred
    over ``expires_at``, as the spec says); None when it does not say or cannot be read."""
    now = time.monotonic()
    try:
        if action.get("expires_in") is not None:
            return now + float(action["expires_in"])
        if action.get("expires_at"):
            at = datetime.fromisoformat(str(action["expires_at"]).replace("Z", "+00:00"))
            return now + (at - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError):
        return None
    return None


def _expired(action: dict, margin_s: float = EXPIRY_MARGIN_S) -> bool:
    return action["expires"] is not None and time.monotonic() > action["expires"] - margin_s


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _finished(path: Path, pointer: LfsPointer) -> bool:
    """Whether ``path`` already holds the object (left by an earlier, interrupted fetch)."""
    return (path.is_file() and path.stat().st_size == pointer.size
            and _sha256(path) == pointer.oid)


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` gets ``source``'s bytes: a hard link where the file system allows it."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class LfsObjects:
    """Fetches and places the Git LFS objects of repository archives.

    Parameters
    ----------
    downloader : Downloader
        Its retry policy, connection limits and byte budget apply to every request.
    """

    def __init__(self, downloader: Downloader):
        self.downloader = downloader
        self.requests = 0

    async def resolve(self, batch_url: str, found: dict[str, list[PointerFile]],
                      staging: Path) -> dict[str, Exception]:
        """Replace every pointer file of ``found`` (``uid -> pointers``) with its object.

        Returns
        -------
        dict
            ``uid -> error`` for the objects one of whose pointers could not be replaced
            (:class:`LfsMissingError`, :class:`CorruptObjectError` or
            :class:`~meshprep.data.http.FetchError`); the others are complete.
        """
        wanted = {f.pointer.oid: f.pointer for files in found.values() for f in files}
        staged = await self.fetch(batch_url, list(wanted.values()), staging)
        failed: dict[str, Exception] = {}
        for uid, files in found.items():
            bad = next((f for f in files if isinstance(staged[f.pointer.oid], Exception)), None)
            if bad is not None:
                failed[uid] = _explain(staged[bad.pointer.oid], bad)
                continue
            for file in files:
                self._replace(staged[file.pointer.oid], file)
        for item in staged.values():  # downloaded for an object that failed otherwise
            if isinstance(item, Staged) and item.held:
                self._release(wanted[item.path.name].size)
        return failed

    async def fetch(self, batch_url: str, pointers: list[LfsPointer],
                    staging: Path) -> dict[str, Staged | Exception]:
        """``oid -> staged object`` (reused or downloaded, verified), or why not."""
        staging.mkdir(parents=True, exist_ok=True)
        done = await asyncio.gather(*(asyncio.to_thread(_finished, staging / p.oid, p)
                                      for p in pointers))
        staged: dict[str, Staged | Exception] = {
            p.oid: Staged(staging / p.oid, False) for p, ok in zip(pointers, done, strict=True)
            if ok}
        todo = [p for p in pointers if p.oid not in staged]
        for start in range(0, len(todo), BATCH_SIZE):
            chunk = todo[start:start + BATCH_SIZE]
            actions = await self._batch(batch_url, chunk)
            got = await asyncio.gather(*(self._download(batch_url, actions[p.oid], p, staging)
                                         for p in chunk))
            staged.update((p.oid, g) for p, g in zip(chunk, got, strict=True))
        return staged

    async def _batch(self, url: str, pointers: list[LfsPointer]) -> dict[str, dict | Exception]:
        """One batch API request; a failed request fails every object of it."""
        headers = {"Accept": LFS_MEDIA_TYPE, "Content-Type": LFS_MEDIA_TYPE}
        try:
            reply, requests = await self.downloader.post_json(url, batch_request(pointers),
                                                              headers)
        except MissingError as exc:
            error: Exception = LfsMissingError(f"batch API: {exc}")
            return {p.oid: error for p in pointers}
        except FetchError as exc:
            error = FetchError(f"batch API: {exc}")
            return {p.oid: error for p in pointers}
        self.requests += requests
        return parse_batch_reply(reply, pointers)

    async def _download(self, batch_url: str, action: dict | Exception, pointer: LfsPointer,
                        staging: Path) -> Staged | Exception:
        """Download one object and check it; a wrong body is downloaded again, then failed.

        An href that has expired (before a try, or by the time a try failed) is asked for
        again with a batch request for this object alone.
        """
        if pointer.size > self.downloader.policy.max_bytes:
            return FetchError(f"{pointer.size} bytes (limit {self.downloader.policy.max_bytes})")
        dest = staging / pointer.oid
        failure: Exception = FetchError("no attempt")
        for _ in range(self.downloader.policy.attempts):
            if not isinstance(action, Exception) and _expired(action):
                action = (await self._batch(batch_url, [pointer]))[pointer.oid]
            if isinstance(action, Exception):
                return action
            try:
                got = await self.downloader.fetch(action["href"], dest, action["header"])
            except MissingError as exc:
                return LfsMissingError(str(exc))
            except FetchError as exc:
                if isinstance(exc, TooLargeError) or not _expired(action, 0.0):
                    return exc
                failure = exc  # the href ran out while it waited or ran: a fresh one
                continue
            self.requests += got.requests
            if got.size == pointer.size and got.sha256 == pointer.oid:
                return Staged(dest, self.downloader.budget is not None)
            failure = CorruptObjectError(
                f"got {got.size} bytes with sha256 {got.sha256}, the pointer names "
                f"{pointer.size} bytes with sha256 {pointer.oid} "
                f"({self.downloader.policy.attempts} downloads)")
            dest.unlink(missing_ok=True)
            self._release(got.size)
        return failure

    def _replace(self, staged: Staged, file: PointerFile) -> None:
        """The pointer file becomes the object; the byte budget follows the bytes."""
        pointer_bytes = file.path.stat().st_size
        file.path.unlink()
        _link_or_copy(staged.path, file.path)
        if self.downloader.budget is not None:
            if staged.held:
                staged.held = False  # the download's hold now covers this file
            else:
                self.downloader.budget.try_acquire(file.pointer.size)
            self._release(pointer_bytes)

    def _release(self, size: int) -> None:
        if self.downloader.budget is not None:
            self.downloader.budget.release(size)


def _explain(error: Exception, file: PointerFile) -> Exception:
    """An object-level error of one pointer file, worded for the ledger."""
    name = file.path.name
    oid = f"sha256:{file.pointer.oid}"
    if isinstance(error, MissingError):
        return LfsMissingError(f"{NOT_AVAILABLE}: {name} ({oid}; {error})")
    if isinstance(error, CorruptObjectError):
        return CorruptObjectError(f"corrupt Git LFS download of {name}: {error}")
    return FetchError(f"Git LFS object {name} ({oid}): {error}")
