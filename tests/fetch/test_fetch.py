import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from meshprep.data import Endpoints, RetryPolicy, fetch

from .server import OBJAVERSE, FakeHosts

DATA = Path(__file__).resolve().parents[1] / "data"
REPO = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(attempts=4, base_s=0.05, max_s=0.2, timeout_s=5.0)


def _uid(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


def _glb(i: int) -> bytes:
    """Distinct GLB bytes per object (a real model with a trailing tag)."""
    return (DATA / "kenney_flag.glb").read_bytes() + f"#{i}".encode()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_list(path: Path, rows: list[dict]) -> Path:
    pacsv.write_csv(pa.Table.from_pylist(rows), path)
    return path


def _status(out: Path) -> dict[str, tuple]:
    with sqlite3.connect(out / "ledger.sqlite") as db:
        return {uid: (status, error) for uid, status, error in
                db.execute("SELECT uid, status, error FROM fetches")}


def test_objaverse_objects_and_every_fault(tmp_path):
    faults = ["ok", "ok", "cut", "slow", "429", "500", "redirect", "wrong", "404"]
    objects = {_uid(i): _glb(i) for i in range(len(faults))}
    with FakeHosts() as hosts:
        hosts.add_objaverse(objects)
        paths = {}
        for uid, fault in zip(objects, faults, strict=True):
            path = next(p for p in hosts.routes if p.endswith(f"{uid}.glb"))
            paths[uid] = path
            hosts.faults[path] = [fault]
        rows = [{"uid": uid, "file_identifier": f"https://sketchfab.com/3d-models/x-{uid}",
                 "sha256": _sha(data), "aesthetic_score": 5.0 + i}
                for i, (uid, data) in enumerate(objects.items())]
        rows.append({"uid": "f" * 32, "file_identifier": "f" * 32, "sha256": None,
                     "aesthetic_score": 9.0})  # not in object-paths
        listing = _write_list(tmp_path / "list.csv", rows)
        out = tmp_path / "raw"
        summary = fetch(listing, out, endpoints=Endpoints(huggingface=hosts.url),
                        workers=4, policy=FAST, progress=False)
        status = _status(out)
        by_fault = dict(zip(faults, objects, strict=True))
        for fault in ("ok", "cut", "slow", "429", "500", "redirect"):
            assert status[by_fault[fault]][0] == "ok", (fault, status[by_fault[fault]])
        assert status[by_fault["wrong"]][0] == "quarantined"
        assert "does not match" in status[by_fault["wrong"]][1]
        assert status[by_fault["404"]][0] == "missing"
        assert status["f" * 32] == ("missing",
                                    "uid not in Objaverse's object-paths.json.gz")
        # the cut body resumed with a range request instead of starting over
        cut_requests = hosts.requests[paths[by_fault["cut"]]]
        assert len(cut_requests) == 2 and cut_requests[1].startswith("bytes=")
        assert hosts.count(f"{OBJAVERSE}/object-paths.json.gz") == 1
    assert summary.counts["ok"] == 7
    for uid in objects:
        if status[uid][0] == "ok":
            files = list((out / "objects").glob(f"*/{_sha(objects[uid])}/*.glb"))
            assert len(files) == 1 and _sha(files[0].read_bytes()) == _sha(objects[uid])
    quarantined = out / "quarantine" / by_fault["wrong"]
    assert (quarantined / "reason.txt").read_text().startswith("sha256")
    assert not (out / ".partial").exists() or not any((out / ".partial").rglob("*.glb*"))
    index = pacsv.read_csv(out / "fetched.csv").to_pylist()
    assert len(index) == 7 and {"aesthetic_score", "path", "sha256"} <= set(index[0])


def test_github_archives_are_downloaded_once_per_repository(tmp_path):
    commit = "c" * 40
    gltf = b'{"asset": {"version": "2.0"}, "buffers": [{"uri": "scene.bin"}]}'
    files = {f"models/m{i}.glb": _glb(100 + i) for i in range(4)}
    with FakeHosts() as hosts:
        hosts.add_repo("org", "one", commit, {**files, "scenes/a.gltf": gltf,
                                              "scenes/scene.bin": b"\0" * 64,
                                              "../escape.txt": b"evil"})
        hosts.add_repo("org", "two", commit, {"x.glb": _glb(200)})
        rows = [{"file_identifier": f"https://github.com/org/one/blob/{commit}/{name}",
                 "sha256": _sha(data)} for name, data in files.items()]
        rows += [{"file_identifier": f"https://github.com/org/one/blob/{commit}/scenes/a.gltf",
                  "sha256": _sha(gltf)},
                 {"file_identifier": f"https://github.com/org/two/blob/{commit}/x.glb",
                  "sha256": _sha(_glb(200))},
                 {"file_identifier": f"https://github.com/org/one/blob/{commit}/gone.glb",
                  "sha256": "0" * 64},
                 {"file_identifier": f"https://github.com/org/none/blob/{commit}/y.glb",
                  "sha256": "1" * 64}]
        listing = _write_list(tmp_path / "xl.csv", rows)
        out = tmp_path / "raw"
        summary = fetch(listing, out, endpoints=Endpoints(github=hosts.url), workers=4,
                        policy=FAST, progress=False)
        assert hosts.count(f"/org/one/archive/{commit}.zip") == 1
        assert hosts.count(f"/org/two/archive/{commit}.zip") == 1
    assert summary.counts["ok"] == 6
    status = _status(out)
    assert status["0" * 64][0] == "failed" and "not in the repository" in status["0" * 64][1]
    assert status["1" * 64][0] == "missing"
    gltf_folder = out / "objects" / _sha(gltf)[:2] / _sha(gltf)
    assert (gltf_folder / "a.gltf").is_file() and (gltf_folder / "scene.bin").is_file()
    assert not list(tmp_path.rglob("escape.txt"))


def test_killed_fetch_resumes_without_downloading_twice(tmp_path):
    # 40 objects at 0.15 s each on 2 workers: seconds of work left after the sixth, so the
    # kill lands mid-run even when this process is slow to notice the sixth
    objects = {_uid(1000 + i): _glb(1000 + i) for i in range(40)}
    with FakeHosts(latency=0.15) as hosts:
        hosts.add_objaverse(objects)
        listing = tmp_path / "uids.txt"
        listing.write_text("\n".join(objects) + "\n")
        out = tmp_path / "raw"
        command = [sys.executable, "-m", "meshprep.cli", "fetch", str(listing), "-o", str(out),
                   "--workers", "2", "--endpoint", f"huggingface={hosts.url}", "-q"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        fetcher = subprocess.Popen(command, env=env)
        deadline = time.monotonic() + 600  # against a hung fetcher only: it ends at six
        while time.monotonic() < deadline and _count_ok(out) < 6:
            time.sleep(0.05)
        os.kill(fetcher.pid, signal.SIGKILL)
        fetcher.wait()
        done = {uid for uid, (s, _) in _status(out).items() if s == "ok"}
        assert 6 <= len(done) < 40
        subprocess.run(command, env=env, check=True, timeout=600)
        status = _status(out)
        assert all(s == "ok" for s, _ in status.values())
        for uid in done:
            path = next(p for p in hosts.routes if p.endswith(f"{uid}.glb"))
            assert hosts.count(path) == 1, "a finished object was downloaded again"


def _count_ok(out: Path) -> int:
    if not (out / "ledger.sqlite").exists():
        return 0
    try:
        with sqlite3.connect(f"file:{out / 'ledger.sqlite'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM fetches WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("fault", ["500", "429"])
def test_retries_give_up_with_a_reason(tmp_path, fault):
    uid = _uid(7)
    with FakeHosts() as hosts:
        hosts.add_objaverse({uid: _glb(7)})
        path = next(p for p in hosts.routes if p.endswith(".glb"))
        hosts.faults[path] = [fault] * 10
        listing = tmp_path / "uids.txt"
        listing.write_text(uid + "\n")
        policy = RetryPolicy(attempts=3, base_s=0.01, max_s=0.05, timeout_s=5.0)
        fetch(listing, tmp_path / "raw", endpoints=Endpoints(huggingface=hosts.url),
              policy=policy, progress=False)
        assert hosts.count(path) == 3
    status, error = _status(tmp_path / "raw")[uid]
    assert status == "failed" and f"HTTP {fault}" in error


def test_stream_run_holds_no_more_raw_bytes_than_its_budget(tmp_path):
    from meshprep.data.stream import StreamSource
    from meshprep.pipeline import LocalExecutor, run_dataset

    from ..pipeline.conftest import fast_config

    objects = {_uid(2000 + i): _glb(2000 + i) for i in range(8)}
    size = max(len(b) for b in objects.values())
    with FakeHosts(latency=0.02) as hosts:
        hosts.add_objaverse(objects)
        rows = [{"file_identifier": uid, "sha256": _sha(data), "aesthetic_score": 4.5 + i}
                for i, (uid, data) in enumerate(objects.items())]
        listing = _write_list(tmp_path / "list.csv", rows)
        out = tmp_path / "dataset"
        stream = StreamSource(listing, out / "raw", out / "ledger.sqlite", budget=3 * size,
                              endpoints=Endpoints(huggingface=hosts.url), workers=4,
                              policy=FAST)
        summary = run_dataset(listing, out, fast_config(), executor=LocalExecutor(1),
                              progress=False, stream=stream)
    assert summary.counts["ok"] == 8
    assert 0 < stream.budget.peak <= 3 * size
    assert stream.budget.used == 0
    assert not list((out / "raw" / "objects").rglob("*.glb"))  # raw deleted once processed
    manifest = pq.read_table(out / "manifest.parquet").to_pylist()
    # the list's own columns reach the manifest
    assert sorted(r["list_aesthetic_score"] for r in manifest) == [4.5 + i for i in range(8)]


def test_local_paths_and_fsspec_urls(tmp_path):
    a, b = tmp_path / "a.glb", tmp_path / "b.glb"
    a.write_bytes(_glb(3000))
    b.write_bytes(_glb(3001))
    listing = _write_list(tmp_path / "list.csv", [
        {"uid": "local-a", "path": str(a), "sha256": _sha(_glb(3000))},
        {"uid": "fsspec-b", "path": b.as_uri(), "sha256": _sha(_glb(3001))},
        {"uid": "gone", "path": str(tmp_path / "gone.glb"), "sha256": None}])
    summary = fetch(listing, tmp_path / "raw", policy=FAST, progress=False)
    status = _status(tmp_path / "raw")
    assert status["local-a"][0] == status["fsspec-b"][0] == "ok"
    assert status["gone"][0] == "failed" and "gone.glb" in status["gone"][1]
    assert summary.counts["ok"] == 2


def test_thingiverse_entries(tmp_path):
    stl = (DATA / "soup.stl").read_bytes()
    with FakeHosts() as hosts:
        hosts.routes["/download:12345"] = stl
        listing = _write_list(tmp_path / "tv.csv", [
            {"fileIdentifier": "https://www.thingiverse.com/thing:999/files?fileId=12345",
             "sha256": _sha(stl), "fileType": "stl", "license": "CC-BY"}])
        summary = fetch(listing, tmp_path / "raw", endpoints=Endpoints(thingiverse=hosts.url),
                        policy=FAST, progress=False)
    assert summary.counts["ok"] == 1
    assert list((tmp_path / "raw" / "objects").glob("*/*/12345.stl"))
    index = pacsv.read_csv(tmp_path / "raw" / "fetched.csv").to_pylist()
    assert index[0]["source"] == "thingiverse" and index[0]["license"] == "CC-BY"
