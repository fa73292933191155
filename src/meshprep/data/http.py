"""Downloads that survive the network: streamed, hashed on the fly, resumed, retried politely.

Built on ``httpx`` (async, HTTP/1.1 keep-alive, redirects, per-request timeouts); chosen over
aiohttp because its sync and async APIs match, its timeouts are explicit per phase, and it is
what ``huggingface_hub`` uses. Every request has a timeout. Retries back off exponentially with
jitter on timeouts, broken connections, 429 (honouring ``Retry-After``) and 5xx; 404 and 410 are
final (the object is *missing*). An interrupted body is resumed with an HTTP ``Range`` request
where the server allows it, else restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import json
import random
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from meshprep.errors import MeshprepError

#: largest JSON reply :meth:`Downloader.post_json` reads (a Git LFS batch reply is ~1 KB an object)
MAX_JSON_BYTES = 16 << 20


class FetchError(MeshprepError):
    """A download failed for good (after its retries)."""


class MissingError(FetchError):
    """The server says the object does not exist (404 / 410): not retried."""


class TooLargeError(FetchError):
    """The body is larger than the size limit."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Attributes
    ----------
    attempts : int
        Tries per request, the first included.
    base_s, max_s : float
        Backoff ``min(max_s, base_s * 2**k)``, times a random factor in ``[0.5, 1.5)``.
    timeout_s : float
        Connect / read / write timeout of every request.
    max_bytes : int
        Largest body accepted.
    """

    attempts: int = 6
    base_s: float = 0.5
    max_s: float = 30.0
    timeout_s: float = 60.0
    max_bytes: int = 4 << 30

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_s * 4)
        return min(self.max_s, self.base_s * 2 ** attempt) * random.uniform(0.5, 1.5)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class _Retry(Exception):  # noqa: N818  (internal signal)
    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


class _Restart(_Retry):
    """Retry from byte 0: the partial file must go."""


class ByteBudget:
    """Raw bytes a streaming run may hold on disk; downloads wait for room, never overshoot.

    A download reserves its declared size (``Content-Length``) before writing a byte; the
    reservation is released when the file is deleted (after its asset is processed) or when
    the download fails. Thread-safe: the runner releases from its own thread.
    """

    def __init__(self, limit: int):
        self.limit = int(limit)
        self.used = 0
        self.peak = 0
        self._lock = threading.Lock()

    def try_acquire(self, size: int) -> bool:
        with self._lock:
            if self.used + size > self.limit:
                return False
            self.used += size
            self.peak = max(self.peak, self.used)
            return True

    async def acquire(self, size: int) -> None:
        """Wait until ``size`` bytes fit (a body larger than the whole budget fails)."""
        if size > self.limit:
            raise TooLargeError(f"{size} bytes is more than the raw budget of {self.limit}")
        while not self.try_acquire(size):
            await asyncio.sleep(0.05)

    def release(self, size: int) -> None:
        with self._lock:
            self.used = max(0, self.used - size)


class _Reservation:
    """One download's share of a :class:`ByteBudget` (no budget: does nothing)."""

    def __init__(self, budget: ByteBudget | None):
        self.budget, self.held = budget, 0

    async def reserve(self, total: int) -> None:
        """Hold ``total`` bytes in all (only the increase is acquired)."""
        if self.budget is not None and total > self.held:
            await self.budget.acquire(total - self.held)
            self.held = total

    def settle(self, size: int) -> None:
        """Keep exactly ``size`` bytes held: what the finished file occupies (0 on failure)."""
        if self.budget is not None and self.held != size:
            if size > self.held:
                self.budget.try_acquire(size - self.held)
            else:
                self.budget.release(self.held - size)
        self.held = 0


@dataclass
class Download:
    """A finished download: where, how big, its SHA-256, and how many requests it took."""

    path: Path
    size: int
    sha256: str
    requests: int


class Downloader:
    """Async downloads with a connection limit per host.

    Parameters
    ----------
    client : httpx.AsyncClient
    policy : RetryPolicy
    per_host : int
        Concurrent requests to one host.
    """

    def __init__(self, clients: ClientPool, policy: RetryPolicy | None = None,
                 per_host: int = 8, budget: ByteBudget | None = None):
        self.clients = clients
        self.policy = policy or RetryPolicy()
        self.per_host = per_host
        self.budget = budget
        self._hosts: dict[str, asyncio.Semaphore] = {}

    def _slot(self, url: str) -> asyncio.Semaphore:
        host = urlsplit(url).netloc
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.per_host)
        return self._hosts[host]

    async def fetch(self, url: str, dest: Path, headers: dict[str, str] | None = None
                    ) -> Download:
        """Download ``url`` to ``dest`` (via ``dest.part``, resumed if it exists).

        ``headers`` are sent with every request (a Git LFS action's ``header``).

        Raises
        ------
        MissingError
            404 or 410.
        FetchError
            Any other final failure, after the retries.
        """
        part = dest.with_name(dest.name + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)
        requests = 0
        last = "no attempt"
        hold = _Reservation(self.budget)
        try:
            for attempt in range(self.policy.attempts):
                requests += 1
                try:
                    async with self._slot(url):
                        digest, size = await self._get(url, part, hold, headers)
                    part.replace(dest)
                    hold.settle(size)
                    return Download(dest, size, digest, requests)
                except _Retry as retry:
                    last = str(retry)
                    if isinstance(retry, _Restart):
                        part.unlink(missing_ok=True)
                    if attempt + 1 < self.policy.attempts:
                        await asyncio.sleep(self.policy.backoff(attempt, retry.wait))
            raise FetchError(f"gave up after {requests} requests: {last}")
        except BaseException:
            hold.settle(0)
            raise

    async def _get(self, url: str, part: Path, hold: _Reservation,
                   extra: dict[str, str] | None = None) -> tuple[str, int]:
        """One request; returns (sha256, size) of the complete file, hashed as it streams."""
        have = part.stat().st_size if part.exists() else 0
        headers = {**(extra or {}), **({"Range": f"bytes={have}-"} if have else {})}
        try:
            async with self.clients.borrow() as client, \
                    client.stream("GET", url, headers=headers) as response:
                _check_status(response, url)
                if response.status_code == 206 and have:
                    mode, digest = "ab", _hash_prefix(part)
                else:  # the server ignored the range (or there was none): start over
                    have, mode, digest = 0, "wb", hashlib.sha256()
                declared = response.headers.get("content-length")
                if declared is not None and have + int(declared) > self.policy.max_bytes:
                    raise TooLargeError(f"{url}: {have + int(declared)} bytes "
                                        f"(limit {self.policy.max_bytes})")
                if declared is not None:
                    await hold.reserve(have + int(declared))
                with open(part, mode) as stream:
                    written = have
                    async for chunk in response.aiter_bytes():
                        written += len(chunk)
                        if declared is None:
                            await hold.reserve(written)
                        if written > self.policy.max_bytes:
                            raise TooLargeError(f"{url}: more than {self.policy.max_bytes} "
                                                "bytes")
                        digest.update(chunk)
                        stream.write(chunk)
                if declared is not None and written - have != int(declared):
                    raise _Retry(f"body ended after {written - have} of {declared} bytes")
                return digest.hexdigest(), written
        except TooLargeError:
            part.unlink(missing_ok=True)
            raise
        except httpx.TimeoutException as exc:
            raise _Retry(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retry(f"connection error ({type(exc).__name__}: {exc})") from exc


    async def post_json(self, url: str, body: dict, headers: dict[str, str] | None = None
                        ) -> tuple[dict, int]:
        """POST ``body`` as JSON and decode the JSON reply, retried like a download.

        Returns
        -------
        tuple
            The decoded reply (a dict) and the number of requests it took.

        Raises
        ------
        MissingError
            404 or 410.
        FetchError
            Any other final failure (a reply that is not a JSON object included).
        """
        last = "no attempt"
        for attempt in range(self.policy.attempts):
            try:
                async with self._slot(url):
                    return await self._post(url, body, headers or {}), attempt + 1
            except _Retry as retry:
                last = str(retry)
                if attempt + 1 < self.policy.attempts:
                    await asyncio.sleep(self.policy.backoff(attempt, retry.wait))
        raise FetchError(f"gave up after {self.policy.attempts} requests: {last}")

    async def _post(self, url: str, body: dict, headers: dict[str, str]) -> dict:
        """One POST; its reply is read up to :data:`MAX_JSON_BYTES`."""
        try:
            async with self.clients.borrow() as client, \
                    client.stream("POST", url, content=json.dumps(body).encode(),
                                  headers=headers) as response:
                _check_status(response, url)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_JSON_BYTES:
                        raise FetchError(f"{url}: reply larger than {MAX_JSON_BYTES} bytes")
        except httpx.TimeoutException as exc:
            raise _Retry(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retry(f"connection error ({type(exc).__name__}: {exc})") from exc
        try:
            reply = json.loads(bytes(data))
        except ValueError as exc:
            raise FetchError(f"{url}: the reply is not JSON ({exc})") from exc
        if not isinstance(reply, dict):
            raise FetchError(f"{url}: the reply is not a JSON object")
        return reply


def _check_status(response: httpx.Response, url: str) -> None:
    code = response.status_code
    if code in (200, 206):
        return
    if code in (404, 410):
        raise MissingError(f"{url}: HTTP {code}")
    if code == 429 or code >= 500 or code == 408:
        raise _Retry(f"HTTP {code}", _retry_after(response))
    if code == 416:  # our partial file is stale: the caller starts over
        raise _Restart("HTTP 416 for the resumed range")
    raise FetchError(f"{url}: HTTP {code}")


def _hash_prefix(path: Path):
    """A SHA-256 object fed with the bytes already downloaded (a resumed file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest


def make_client(policy: RetryPolicy, connections: int = 1,
                verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with the policy's timeouts, redirects followed."""
    timeout = httpx.Timeout(policy.timeout_s)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=True,
                             verify=verify, headers={"User-Agent": "meshprep-fetch"})


class ClientPool:
    """``size`` single-connection clients lent one request at a time.

    One shared client with many connections spends most of its CPU in httpcore's pool
    bookkeeping (it rescans every connection for every request: measured 19 of 33 s for 2,000
    objects over 32 connections); single-connection clients keep that constant.
    """

    def __init__(self, policy: RetryPolicy, size: int):
        context = ssl.create_default_context()  # one trust store, not one per client
        self._clients = [make_client(policy, 1, context) for _ in range(max(1, size))]
        self._free: asyncio.Queue = asyncio.Queue()
        for client in self._clients:
            self._free.put_nowait(client)

    @contextlib.asynccontextmanager
    async def borrow(self):
        client = await self._free.get()
        try:
            yield client
        finally:
            self._free.put_nowait(client)

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc) -> None:
        for client in self._clients:
            await client.aclose()
