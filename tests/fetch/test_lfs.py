"""GitHub archives whose files are Git LFS pointers: the objects come from the batch API."""

import sqlite3
from pathlib import Path

import pytest

from meshprep.data import Endpoints, MissingError, fetch
from meshprep.io.lfs import read_pointer

from .server import FakeHosts
from .test_fetch import DATA, FAST, _glb, _sha, _status, _write_list

COMMIT = "d" * 40
BATCH = "/org/lfs.git/info/lfs/objects/batch"


def _blob(path: str, repo: str = "lfs") -> str:
    return f"https://github.com/org/{repo}/blob/{COMMIT}/{path}"


def _files(out: Path, sha: str) -> Path:
    return out / "objects" / sha[:2] / sha


def _fetch(listing: Path, out: Path, hosts: FakeHosts):
    return fetch(listing, out, endpoints=Endpoints(github=hosts.url), workers=2, policy=FAST,
                 progress=False)


def test_model_and_companion_pointers_become_their_objects(tmp_path):
    model, texture = _glb(4000), (DATA / "kenney_flag.glb").read_bytes()[:3000]
    gltf = b'{"asset": {"version": "2.0"}, "images": [{"uri": "tex.png"}]}'
    plain = _glb(4001)
    with FakeHosts() as hosts:
        files = {"models/a.glb": hosts.add_lfs("org", "lfs", model),
                 "scenes/s.gltf": gltf, "scenes/tex.png": hosts.add_lfs("org", "lfs", texture),
                 "scenes/scene.bin": b"\0" * 32, "plain.glb": plain}
        hosts.add_repo("org", "lfs", COMMIT, files)
        hosts.faults[BATCH] = ["500"]  # the batch request is retried like a download
        listing = _write_list(tmp_path / "xl.csv", [
            {"file_identifier": _blob("models/a.glb"), "sha256": _sha(model)},
            {"file_identifier": _blob("scenes/s.gltf"), "sha256": _sha(gltf)},
            {"file_identifier": _blob("plain.glb"), "sha256": _sha(plain)}])
        out = tmp_path / "raw"
        summary = _fetch(listing, out, hosts)
        assert hosts.count(f"/org/lfs/archive/{COMMIT}.zip") == 1
        assert hosts.count(BATCH) == 2 and len(hosts.batches) == 1  # one batch per archive
        batch = hosts.batches[0]
        assert batch["operation"] == "download" and batch["transfers"] == ["basic"]
        assert batch["hash_algo"] == "sha256"
        assert sorted(o["oid"] for o in batch["objects"]) == sorted([_sha(model), _sha(texture)])
        assert {o["size"] for o in batch["objects"]} == {len(model), len(texture)}
    assert summary.counts["ok"] == 3 and summary.counts["quarantined"] == 0
    assert (_files(out, _sha(model)) / "a.glb").read_bytes() == model
    scene = _files(out, _sha(gltf))
    assert (scene / "tex.png").read_bytes() == texture
    assert (scene / "scene.bin").read_bytes() == b"\0" * 32
    assert all(read_pointer(p) is None for p in (out / "objects").rglob("*") if p.is_file())
    assert not (out / ".partial" / "lfs").exists() or not any((out / ".partial" / "lfs").iterdir())


@pytest.mark.parametrize("where", ["batch", "href"])
def test_an_object_the_server_lacks_is_missing(tmp_path, where):
    model, other = _glb(4100), _glb(4101)
    with FakeHosts() as hosts:
        kept = hosts.add_lfs("org", "lfs", other)
        if where == "batch":  # the batch API answers with a per-object 404 error
            pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{_sha(model)}\n"
                       f"size {len(model)}\n").encode()
        else:  # the batch API hands out an action whose href is gone
            pointer = hosts.add_lfs("org", "lfs", model)
            hosts.faults[hosts.lfs_path("org", "lfs", _sha(model))] = ["404"]
        hosts.add_repo("org", "lfs", COMMIT, {"gone.glb": pointer, "kept.glb": kept})
        listing = _write_list(tmp_path / "xl.csv", [
            {"file_identifier": _blob("gone.glb"), "sha256": _sha(model)},
            {"file_identifier": _blob("kept.glb"), "sha256": _sha(other)}])
        out = tmp_path / "raw"
        summary = _fetch(listing, out, hosts)
    status = {_sha_of(out, uid): value for uid, value in _status(out).items()}
    assert status[_sha(other)] == ("ok", None)
    state, reason = status[_sha(model)]
    assert state == "missing" and reason.startswith("Git LFS object not available: gone.glb")
    assert summary.counts == {**summary.counts, "ok": 1, "missing": 1, "quarantined": 0}
    assert not (out / "quarantine").exists()


def _sha_of(out: Path, uid: str) -> str:
    """The list's sha256 of a ledger row (the uid of a GitHub object is derived from it)."""
    with sqlite3.connect(out / "ledger.sqlite") as db:
        return db.execute("SELECT expected FROM fetches WHERE uid = ?", (uid,)).fetchone()[0]


@pytest.mark.parametrize("kind", ["short", "same-size"])
def test_a_wrong_object_is_a_corrupt_download_not_ok(tmp_path, kind):
    model = _glb(4200)
    with FakeHosts() as hosts:
        pointer = hosts.add_lfs("org", "lfs", model)
        href = hosts.lfs_path("org", "lfs", _sha(model))
        if kind == "short":
            hosts.faults[href] = ["wrong"] * 10
        else:  # right size, other bytes: only the SHA-256 tells
            hosts.routes[href] = model[:-1] + b"?"
        hosts.add_repo("org", "lfs", COMMIT, {"m.glb": pointer})
        listing = _write_list(tmp_path / "xl.csv",
                              [{"file_identifier": _blob("m.glb"), "sha256": _sha(model)}])
        out = tmp_path / "raw"
        summary = _fetch(listing, out, hosts)
        assert hosts.count(href) == FAST.attempts  # downloaded again, then given up
    (state, reason), = _status(out).values()
    assert state == "failed" and "CorruptObjectError" in reason and "corrupt" in reason
    assert _sha(model) in reason
    assert summary.counts["ok"] == 0 and not (out / "objects").exists()


def test_a_resumed_fetch_does_not_redo_finished_objects(tmp_path):
    first, second = _glb(4300), _glb(4301)
    with FakeHosts() as hosts:
        files = {"a.glb": hosts.add_lfs("org", "lfs", first),
                 "b.glb": hosts.add_lfs("org", "lfs", second)}
        hosts.add_repo("org", "lfs", COMMIT, files)
        listing = _write_list(tmp_path / "xl.csv", [
            {"file_identifier": _blob(name), "sha256": _sha(data)}
            for name, data in (("a.glb", first), ("b.glb", second))])
        out = tmp_path / "raw"
        # what a killed fetch leaves: one object finished, the other half downloaded
        staging = out / ".partial" / "lfs" / f"org__lfs__{COMMIT}"
        staging.mkdir(parents=True)
        (staging / _sha(first)).write_bytes(first)
        (staging / f"{_sha(second)}.part").write_bytes(second[:1000])
        summary = _fetch(listing, out, hosts)
        assert summary.counts["ok"] == 2
        assert [o["oid"] for o in hosts.batches[0]["objects"]] == [_sha(second)]
        assert hosts.count(hosts.lfs_path("org", "lfs", _sha(first))) == 0
        assert hosts.requests[hosts.lfs_path("org", "lfs", _sha(second))] == ["bytes=1000-"]
        assert (_files(out, _sha(second)) / "b.glb").read_bytes() == second
        # run again: everything is ok, nothing is asked for
        before = {path: len(log) for path, log in hosts.requests.items()}
        again = _fetch(listing, out, hosts)
        assert again.counts["ok"] == 2 and again.requests == 0
        assert {path: len(log) for path, log in hosts.requests.items()} == before
    assert not staging.exists()


def test_stream_budget_follows_the_lfs_objects(tmp_path):
    from meshprep.data.stream import StreamSource
    from meshprep.pipeline import LocalExecutor, run_dataset

    from ..pipeline.conftest import fast_config

    models = {f"m{i}.glb": _glb(4400 + i) for i in range(4)}
    size = max(len(b) for b in models.values())
    with FakeHosts() as hosts:
        hosts.add_repo("org", "lfs", COMMIT, {name: hosts.add_lfs("org", "lfs", data)
                                              for name, data in models.items()})
        listing = _write_list(tmp_path / "xl.csv", [
            {"file_identifier": _blob(name), "sha256": _sha(data)}
            for name, data in models.items()])
        out = tmp_path / "dataset"
        stream = StreamSource(listing, out / "raw", out / "ledger.sqlite", budget=6 * size,
                              endpoints=Endpoints(github=hosts.url), workers=2, policy=FAST)
        summary = run_dataset(listing, out, fast_config(), executor=LocalExecutor(1),
                              progress=False, stream=stream)
    assert summary.counts["ok"] == 4
    assert 4 * size <= stream.budget.peak <= 6 * size  # the objects were held, never overshot
    assert stream.budget.used == 0


def test_an_href_about_to_expire_is_asked_for_again(tmp_path):
    model = _glb(4500)
    with FakeHosts() as hosts:
        hosts.expires_in = 5  # inside the client's margin: the href is renewed before use
        hosts.add_repo("org", "lfs", COMMIT, {"m.glb": hosts.add_lfs("org", "lfs", model)})
        listing = _write_list(tmp_path / "xl.csv",
                              [{"file_identifier": _blob("m.glb"), "sha256": _sha(model)}])
        summary = _fetch(listing, tmp_path / "raw", hosts)
        assert len(hosts.batches) == 2 and hosts.batches[1]["objects"][0]["oid"] == _sha(model)
        assert hosts.count(hosts.lfs_path("org", "lfs", _sha(model))) == 1
    assert summary.counts["ok"] == 1


def test_batch_replies_are_read_strictly():
    from meshprep.data.gitlfs import LfsMissingError, parse_batch_reply
    from meshprep.data.http import FetchError
    from meshprep.io.lfs import LfsPointer

    asked = [LfsPointer(c * 64, 10) for c in "abcdef"]
    reply = {"transfer": "basic", "objects": [
        {"oid": "a" * 64, "size": 10, "error": {"code": 410, "message": "removed"}},
        {"oid": "b" * 64, "size": 10, "error": {"code": 422, "message": "invalid"}},
        {"oid": "c" * 64, "size": 10, "actions": {"download": {"href": "file:///etc/passwd"}}},
        {"oid": "d" * 64, "size": 10, "actions": {"download": {
            "href": "https://lfs.example/d", "header": {"Authorization": "RemoteAuth x"},
            "expires_at": "2999-01-01T00:00:00Z"}}},
        {"oid": "e" * 64, "size": 10, "actions": {"download": {
            "href": "https://lfs.example/e", "expires_in": -10,
            "expires_at": "2999-01-01T00:00:00Z"}}}]}  # expires_in wins
    got = parse_batch_reply(reply, asked)
    assert isinstance(got["a" * 64], LfsMissingError)
    assert isinstance(got["b" * 64], FetchError) and not isinstance(got["b" * 64], MissingError)
    assert isinstance(got["c" * 64], FetchError)  # only http(s) hrefs are followed
    assert got["d" * 64]["header"] == {"Authorization": "RemoteAuth x"}
    assert got["d" * 64]["expires"] > got["e" * 64]["expires"]
    assert isinstance(got["f" * 64], FetchError)  # not answered at all
    other = parse_batch_reply({"transfer": "ssh", "objects": []}, asked[:1])
    assert "not basic" in str(other["a" * 64])
