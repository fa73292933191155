"""A real HTTP server on 127.0.0.1 for the fetch tests: a fake Objaverse and GitHub, with faults.

Routes map a URL path to bytes. ``faults[path]`` is a list of behaviours consumed one per
request (``"ok"`` when the list is empty): ``500``, ``429`` (Retry-After: 1), ``404``, ``cut``
(the connection closes halfway through the body), ``slow`` (the body trickles), ``redirect``
(302 to the same path with ``?r=1``), ``wrong`` (other bytes). Range requests are honoured.
Every request is counted per path, with its Range header.

Git LFS: :meth:`FakeHosts.add_lfs` stores an object of a repository and returns its pointer;
``POST /{org}/{repo}.git/info/lfs/objects/batch`` answers with download actions
(``/lfs/{org}/{repo}/{oid}``, which want the action's ``X-Lfs-Token`` header) or, for an object
the server lacks, a per-object 404 error. Batch request bodies are kept in ``batches``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import threading
import time
import zipfile
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OBJAVERSE = "/datasets/allenai/objaverse/resolve/main"
LFS_TYPE = "application/vnd.git-lfs+json"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # clients that hang up (a killed fetcher, a cut test) are expected here


class FakeHosts:
    """The server's state: routes, faults, latency and the request log."""

    def __init__(self, latency: float = 0.0):
        self.routes: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.latency = latency
        self.requests: dict[str, list[str | None]] = defaultdict(list)
        self.lfs: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.batches: list[dict] = []
        self.expires_in = 3600  # seconds an href of the batch API stays good
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHosts:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_objaverse(self, objects: dict[str, bytes]) -> None:
        """Objaverse 1.0 layout: object-paths.json.gz and ``glbs/000-xxx/<uid>.glb``."""
        paths = {uid: f"glbs/000-{i % 160:03d}/{uid}.glb" for i, uid in enumerate(objects)}
        self.routes[f"{OBJAVERSE}/object-paths.json.gz"] = gzip.compress(
            json.dumps(paths).encode())
        for uid, data in objects.items():
            self.routes[f"{OBJAVERSE}/{paths[uid]}"] = data

    def add_repo(self, org: str, repo: str, commit: str, files: dict[str, bytes]) -> None:
        """A GitHub archive at a commit; file names may be hostile (``../x``)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for name, data in files.items():
                member = name if name.startswith("../") else f"{repo}-{commit}/{name}"
                zf.writestr(member, data)
        self.routes[f"/{org}/{repo}/archive/{commit}.zip"] = buffer.getvalue()

    def add_lfs(self, org: str, repo: str, data: bytes) -> bytes:
        """Keep ``data`` in the repository's LFS store; returns the pointer an archive holds."""
        oid = hashlib.sha256(data).hexdigest()
        self.lfs[(org, repo)].add(oid)
        self.routes[self.lfs_path(org, repo, oid)] = data
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"
                f"size {len(data)}\n").encode()

    @staticmethod
    def lfs_path(org: str, repo: str, oid: str) -> str:
        """Where the fake LFS store serves an object (the batch API's ``href``)."""
        return f"/lfs/{org}/{repo}/{oid}"

    def batch_reply(self, org: str, repo: str, request: dict) -> dict:
        """The batch API's answer: a download action per known object, else a 404 error."""
        objects = []
        for item in request.get("objects", []):
            oid, size = item["oid"], item["size"]
            if oid in self.lfs[(org, repo)]:
                action = {"href": self.url + self.lfs_path(org, repo, oid),
                          "header": {"X-Lfs-Token": oid[:16]}, "expires_in": self.expires_in}
                objects.append({"oid": oid, "size": size, "actions": {"download": action}})
            else:
                objects.append({"oid": oid, "size": size,
                                "error": {"code": 404, "message": "Object does not exist"}})
        return {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}

    def count(self, path: str) -> int:
        with self.lock:
            return len(self.requests[path])


def _handler(hosts: FakeHosts):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            with hosts.lock:
                hosts.requests[path].append(self.headers.get("Range"))
                fault = hosts.faults[path].pop(0) if hosts.faults[path] else "ok"
            if hosts.latency:
                time.sleep(hosts.latency)
            data = hosts.routes.get(path)
            if data is None or fault == "404":
                return self._reply(404, b"not found")
            if path.startswith("/lfs/") and self.headers.get("X-Lfs-Token") != path[-64:][:16]:
                return self._reply(401, b"the download action's header is missing")
            if fault in ("500", "429"):
                extra = {"Retry-After": "1"} if fault == "429" else {}
                return self._reply(int(fault), b"try later", extra)
            if fault == "redirect" and "r=1" not in self.path:
                return self._reply(302, b"", {"Location": f"{path}?r=1"})
            if fault == "wrong":
                data = b"not the object you asked for" + data[:100]
            start = 0
            range_header = self.headers.get("Range")
            if range_header and range_header.startswith("bytes="):
                start = int(range_header[6:].split("-")[0])
            body = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if fault == "cut":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if fault == "slow":
                for i in range(0, len(body), 4096):
                    self.wfile.write(body[i:i + 4096])
                    self.wfile.flush()
                    time.sleep(0.01)
                return
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with hosts.lock:
                hosts.requests[path].append(None)
                fault = hosts.faults[path].pop(0) if hosts.faults[path] else "ok"
            match = re.fullmatch(r"/([^/]+)/([^/]+)\.git/info/lfs/objects/batch", path)
            if match is None or fault == "404" or match.groups() not in hosts.lfs:
                return self._reply(404, b'{"message": "Not found"}')
            if fault in ("500", "429"):
                return self._reply(int(fault), b'{"message": "try later"}', {"Retry-After": "1"})
            if not self.headers.get("Accept") == self.headers.get("Content-Type") == LFS_TYPE:
                return self._reply(406, b'{"message": "wrong media type"}')
            request = json.loads(body)
            with hosts.lock:
                hosts.batches.append(request)
            reply = json.dumps(hosts.batch_reply(*match.groups(), request)).encode()
            self._reply(200, reply, {"Content-Type": LFS_TYPE})

        def _reply(self, code: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
