"""Fetch benchmark: meshprep fetch vs the `objaverse` package, against one local server.

    python benchmarks/bench_fetch.py [--quick] [--objects 2000] [--rows 100000]

The server (tests/fetch/server.py, threaded, on 127.0.0.1) serves a fake Objaverse 1.0 layout
and fake GitHub archives, adding a fixed latency to every request. Prints markdown tables:

1. Objaverse 1.0, N objects (the corpus's GLBs, each made distinct), 50 ms per request:
   ``objaverse.load_objects`` with its defaults (its hard-coded huggingface.co URLs are rewritten
   to the local server) vs ``meshprep fetch`` at its defaults and with 32 workers.
2. GitHub: 200 objects in 40 repositories (each archive also holds 2 MB of other files):
   one archive download per object (the loop TRELLIS's scripts run), sequential and with 16
   threads, vs ``meshprep fetch`` (one download per repository).
3. A fetch killed with ``kill -9`` at about 50 % and rerun: objects downloaded twice.
4. Memory of the fetcher over a list of R rows (uids over 100 small local files, so the run
   measures the fetcher's own bookkeeping, not the network): resident memory sampled.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fetch.server import FakeHosts  # noqa: E402

from meshprep.data import Endpoints, fetch  # noqa: E402
from meshprep.pipeline.limits import resident_mb  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
GLBS = ("kenney_flag.glb", "kenney_fountain.glb", "duck_glb.glb", "box_textured.glb",
        "nested_glb.glb", "pins_glb.glb")


def corpus_glbs() -> list[bytes]:
    folders = [CORPUS, REPO / "tests" / "data", REPO / "examples"]
    found = []
    for name in GLBS:
        for folder in folders:
            if (folder / name).is_file():
                found.append((folder / name).read_bytes())
                break
    return found


def uid_of(i: int) -> str:
    return hashlib.md5(f"object {i}".encode()).hexdigest()


def objaverse_objects(count: int) -> dict[str, bytes]:
    glbs = corpus_glbs()
    return {uid_of(i): glbs[i % len(glbs)] + f"#{i}".encode() for i in range(count)}


def run_objaverse_package(hosts: FakeHosts, uids: list[str], folder: Path) -> float:
    """``objaverse.load_objects(uids)`` with its defaults, its URLs pointed at ``hosts``."""
    import objaverse

    original = urllib.request.urlretrieve

    def redirected(url, filename=None, *args, **kwargs):
        return original(url.replace("https://huggingface.co", hosts.url), filename,
                        *args, **kwargs)

    objaverse._VERSIONED_PATH = str(folder)
    urllib.request.urlretrieve = redirected
    try:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            paths = objaverse.load_objects(uids)
        elapsed = time.perf_counter() - start
    finally:
        urllib.request.urlretrieve = original
    assert len(paths) == len(uids)
    return elapsed


def bench_objaverse(tmp: Path, count: int) -> list[tuple]:
    objects = objaverse_objects(count)
    rows = []
    with FakeHosts(latency=0.05) as hosts:
        hosts.add_objaverse(objects)
        listing = tmp / "uids.txt"
        listing.write_text("\n".join(objects) + "\n")
        elapsed = run_objaverse_package(hosts, list(objects), tmp / "objaverse_pkg")
        rows.append(("objaverse.load_objects (defaults)", count, elapsed, count / elapsed))
        for label, workers, per_host in (("meshprep fetch --workers 16 --per-host 8", 16, 8),
                                         ("meshprep fetch (defaults: 32 workers, 16 per host)",
                                          32, 16)):
            start = time.perf_counter()
            summary = fetch(listing, tmp / f"mp_{workers}", workers=workers, per_host=per_host,
                            endpoints=Endpoints(huggingface=hosts.url), progress=False)
            elapsed = time.perf_counter() - start
            assert summary.counts["ok"] == count, summary.counts
            rows.append((label, count, elapsed, count / elapsed))
    return rows


def make_repos(hosts: FakeHosts, repos: int, per_repo: int) -> list[tuple[str, str, bytes]]:
    glbs = corpus_glbs()
    commit = "e" * 40
    filler = os.urandom(2 << 20)
    objects = []
    for r in range(repos):
        files = {}
        for k in range(per_repo):
            data = glbs[(r + k) % len(glbs)] + f"#{r}/{k}".encode()
            files[f"assets/m{k}.glb"] = data
            objects.append((f"https://github.com/org/repo{r}/blob/{commit}/assets/m{k}.glb",
                            f"/org/repo{r}/archive/{commit}.zip", data))
        files["data/other.bin"] = filler
        hosts.add_repo("org", f"repo{r}", commit, files)
    return objects


def _one_archive(client: httpx.Client, base: str, archive: str, member: str) -> str:
    response = client.get(base + archive)
    response.raise_for_status()
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(member))
        return hashlib.sha256(zf.read(name)).hexdigest()


def bench_github(tmp: Path, repos: int, per_repo: int) -> list[tuple]:
    rows = []
    with FakeHosts(latency=0.05) as hosts:
        objects = make_repos(hosts, repos, per_repo)
        count = len(objects)
        for label, threads in (("one archive per object, sequential (TRELLIS loop)", 1),
                               ("one archive per object, 16 threads", 16)):
            with httpx.Client() as client:
                start = time.perf_counter()
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(lambda o: _one_archive(client, hosts.url, o[1],
                                                         o[0].split("/blob/")[1].split("/", 1)[1]),
                                  objects))
                elapsed = time.perf_counter() - start
            rows.append((label, count, elapsed, count / elapsed, count))
        listing = tmp / "xl.csv"
        listing.write_text("file_identifier,sha256\n" + "".join(
            f"{url},{hashlib.sha256(data).hexdigest()}\n" for url, _, data in objects))
        before = sum(len(v) for v in hosts.requests.values())
        start = time.perf_counter()
        summary = fetch(listing, tmp / "gh", endpoints=Endpoints(github=hosts.url),
                        progress=False)
        elapsed = time.perf_counter() - start
        archives = sum(len(v) for v in hosts.requests.values()) - before
        assert summary.counts["ok"] == count, summary.counts
        rows.append(("meshprep fetch (one archive per repository)", count, elapsed,
                     count / elapsed, archives))
    return rows


def bench_resume(tmp: Path, count: int) -> dict:
    objects = objaverse_objects(count)
    out = tmp / "resume"
    with FakeHosts(latency=0.05) as hosts:
        hosts.add_objaverse(objects)
        listing = tmp / "resume.txt"
        listing.write_text("\n".join(objects) + "\n")
        command = [sys.executable, "-m", "meshprep.cli", "fetch", str(listing), "-o", str(out),
                   "--endpoint", f"huggingface={hosts.url}", "-q"]
        process = subprocess.Popen(command)
        while _ok(out) < count // 2:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with sqlite3.connect(out / "ledger.sqlite") as db:
            done = {u for (u,) in db.execute("SELECT uid FROM fetches WHERE status = 'ok'")}
        subprocess.run(command, check=True)
        twice = sum(hosts.count(p) > 1 for p in hosts.routes
                    if p.endswith(".glb") and p.rsplit("/", 1)[1][:-4] in done)
        return {"objects": count, "done_at_kill": len(done), "final_ok": _ok(out),
                "completed_downloaded_twice": twice}


def _ok(out: Path) -> int:
    try:
        with sqlite3.connect(f"file:{out / 'ledger.sqlite'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM fetches WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def bench_memory(tmp: Path, rows: int) -> dict:
    """R list rows over 100 small local files (distinct uids): the fetcher's own bookkeeping
    (list, ledger, queue, progress) without network time, so a 100,000-row run takes minutes."""
    files = []
    for i in range(100):
        path = tmp / "small" / f"m{i}.glb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"glTF" + os.urandom(2000))
        files.append(path)
    listing = tmp / "many.csv"
    with open(listing, "w") as stream:
        stream.write("uid,path\n")
        for i in range(rows):
            stream.write(f"u{i:07d},{files[i % len(files)]}\n")
    samples: list[float] = []
    stop = threading.Event()

    def watch():
        while not stop.wait(0.5):
            samples.append(resident_mb(os.getpid()) or 0.0)

    thread = threading.Thread(target=watch, daemon=True)
    start_rss = resident_mb(os.getpid())
    thread.start()
    start = time.perf_counter()
    summary = fetch(listing, tmp / "many", workers=16, progress=False)
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join()
    return {"rows": rows, "ok": summary.counts["ok"], "wall": elapsed, "rss_start": start_rss,
            "rss_10": samples[len(samples) // 10], "rss_50": samples[len(samples) // 2],
            "rss_90": samples[9 * len(samples) // 10], "rss_max": max(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--parts", default="objaverse,github,resume,memory")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    objects = 200 if args.quick else args.objects
    rows = 10_000 if args.quick else args.rows
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; server and client share them")
    with tempfile.TemporaryDirectory(prefix="bench_fetch_") as name:
        tmp = Path(name)
        if "objaverse" in parts:
            table = bench_objaverse(tmp, objects)
            base = table[0][3]
            print(f"\n### Objaverse 1.0, {objects} objects, 50 ms per request\n")
            print("| fetcher | objects | wall s | objects/s | vs objaverse |")
            print("| --- | --- | --- | --- | --- |")
            for label, count, wall, rate in table:
                print(f"| {label} | {count} | {wall:.1f} | {rate:.1f} | {rate / base:.1f}x |")
        if "github" in parts:
            table = bench_github(tmp, 8 if args.quick else 40, 5)
            base = table[0][2]
            print("\n### GitHub objects, 5 per repository, 50 ms per request\n")
            print("| fetcher | objects | wall s | objects/s | archive downloads | "
                  "speed-up vs sequential |")
            print("| --- | --- | --- | --- | --- | --- |")
            for label, count, wall, rate, downloads in table:
                print(f"| {label} | {count} | {wall:.1f} | {rate:.1f} | {downloads} | "
                      f"{base / wall:.1f}x |")
        if "resume" in parts:
            result = bench_resume(tmp, objects)
            print("\n### Killed at about 50 % and resumed\n")
            print("| objects | ok when killed | ok after rerun | finished objects downloaded "
                  "again |")
            print("| --- | --- | --- | --- |")
            print(f"| {result['objects']} | {result['done_at_kill']} | {result['final_ok']} | "
                  f"{result['completed_downloaded_twice']} |")
        if "memory" in parts:
            result = bench_memory(tmp, rows)
            print(f"\n### Fetcher memory over {rows:,} list rows\n")
            print("| rows | ok | wall s | RSS before MB | at 10 % | at 50 % | at 90 % | max MB |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
            print(f"| {result['rows']} | {result['ok']} | {result['wall']:.0f} | "
                  f"{result['rss_start']:.0f} | {result['rss_10']:.0f} | {result['rss_50']:.0f} "
                  f"| {result['rss_90']:.0f} | {result['rss_max']:.0f} |")


if __name__ == "__main__":
    main()
