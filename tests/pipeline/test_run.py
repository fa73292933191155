import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from meshprep.pipeline import (
    ConfigError,
    LocalExecutor,
    OutputStore,
    resolve_config,
    run_dataset,
)
from meshprep.sample.layouts import read_meshprep

from .conftest import REPO, TROUBLE, fast_config, write_models


def _leftovers(root: Path) -> list[Path]:
    """Temporary files or staging folders anywhere under an output."""
    return [p for p in root.rglob("*") if ".tmp" in p.name or p.name == ".staging"]


def _statuses(out: Path) -> dict[str, tuple]:
    table = pq.read_table(out / "manifest.parquet").to_pylist()
    return {Path(r["source"]).stem: (r["status"], r["error_class"], r["error_message"] or "")
            for r in table}


def test_every_failure_is_recorded_and_the_run_goes_on(tmp_path):
    names = ["ok1.obj", "ok2.ply", "abort.obj", "hog_fast.obj", "hog_slow.obj", "skip.stl"]
    write_models(tmp_path / "in", names)
    (tmp_path / "in" / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00\xff\xff")
    # no clock in the outcome: the good assets get a limit far above their need (a second or
    # two warm; a cold numba cache on a loaded machine can take minutes), and the asset that
    # runs past its limit is a second run below, with a short limit it cannot meet
    config = fast_config(["load", TROUBLE, "normalize", "watertight", "sample", "render",
                          "write"], timeout_s=900.0, memory_mb=1500)
    out = tmp_path / "out"
    summary = run_dataset(tmp_path / "in", out, config, executor=LocalExecutor(2),
                          progress=False)
    assert summary.listed == 7 and summary.processed == 7
    got = _statuses(out)
    assert got["ok1"][0] == got["ok2"][0] == "ok"
    assert got["broken"][:2] == ("failed", "CorruptFileError")
    assert got["abort"][:2] == ("failed", "WorkerCrash") and "SIGABRT" in got["abort"][2]
    assert got["hog_fast"][:2] == ("failed", "MemoryError")
    assert "memory limit of 1500 MB" in got["hog_fast"][2]
    assert got["hog_slow"][0] == "failed" and "memory" in got["hog_slow"][2].lower()
    assert got["skip"][0] == "skipped" and got["skip"][2] == "dropped by a test filter"
    assert _leftovers(out) == []

    # the published files and their completion marker
    rows = {Path(r["source"]).stem: r for r in pq.read_table(out / "manifest.parquet")
            .to_pylist()}
    folder = Path(rows["ok1"]["path"])
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "renders", "sdf.npz",
                                                        "surface.npz", "watertight.npz"]
    for target in ("input", "watertight"):  # the default render step: 4 normal views of each
        views = sorted(p.name for p in (folder / "renders" / target).iterdir())
        assert views == [f"{i:03d}_normal.png" for i in range(4)] + ["transforms.json"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["config_hash"] == summary_hash(out)
    transform = np.array(meta["transform"])
    assert transform.shape == (4, 4) and transform[3, 3] == 1
    assert rows["ok1"]["watertight_genus"] == 0 and rows["ok1"]["input_faces"] == 80
    assert rows["ok1"]["load_status"] == "ok" and rows["broken"]["load_status"] == "failed"
    assert rows["broken"]["normalize_status"] is None
    assert read_meshprep(folder).sdf.volume_points.shape == (1000, 3)  # the compact store

    # a rerun does nothing, and says so
    again = run_dataset(tmp_path / "in", out, config, executor=LocalExecutor(1),
                        progress=False)
    assert again.processed == 0 and again.counts["ok"] == 2

    # an asset that runs past its limit (its step sleeps an hour) fails as a Timeout with the
    # limit in its reason, and leaves the others as they were; the limit is not part of the
    # configuration's hash, so the same output takes it
    sleeper = write_models(tmp_path / "later", [*names, "sleep.obj"])["sleep"]  # a new mesh
    sleeper.rename(tmp_path / "in" / "sleep.obj")
    short = fast_config(config["run"]["steps"], timeout_s=2.0, memory_mb=1500)
    timed = run_dataset(tmp_path / "in", out, short, executor=LocalExecutor(1),
                        progress=False)
    assert timed.listed == 8 and timed.processed == 1
    after = _statuses(out)
    assert after["sleep"][:2] == ("failed", "Timeout")
    assert after["sleep"][2] == "still running after the limit of 2 s"
    assert {k: v for k, v in after.items() if k != "sleep"} == got
    assert _leftovers(out) == []


def summary_hash(out: Path) -> str:
    with sqlite3.connect(out / "ledger.sqlite") as db:
        return db.execute("SELECT value FROM meta WHERE key = 'config_hash'").fetchone()[0]


def test_retry_failed_and_config_guard(tmp_path):
    paths = write_models(tmp_path / "in", ["good.obj"])
    missing = tmp_path / "in" / "list.csv"
    missing.write_text(f"path\n{paths['good'].name}\nnot_there.obj\n")
    config = fast_config()
    out = tmp_path / "out"
    first = run_dataset(missing, out, config, executor=LocalExecutor(1), progress=False)
    assert first.counts["ok"] == 1 and first.counts["failed"] == 1
    (tmp_path / "in" / "not_there.obj").write_bytes(paths["good"].read_bytes()[:-1] + b"\n")
    plain = run_dataset(missing, out, config, executor=LocalExecutor(1), progress=False)
    assert plain.processed == 0  # failures are not retried unless asked
    retried = run_dataset(missing, out, config, executor=LocalExecutor(1), progress=False,
                          retry_failed=True)
    assert retried.processed == 1 and retried.counts == {**retried.counts, "ok": 2,
                                                          "failed": 0}
    other = resolve_config(overrides={"watertight": {"resolution": 64}})
    with pytest.raises(ConfigError, match="resolution 32 -> 64"):
        run_dataset(missing, out, other, executor=LocalExecutor(1), progress=False)


def test_resume_after_kill_9(tmp_path):
    write_models(tmp_path / "in", [f"m{i}.obj" for i in range(8)])
    config_file = tmp_path / "slow.toml"
    config_file.write_text(
        '[run]\nsteps = ["load", "normalize", "watertight", "tests.pipeline.user_steps:slow", '
        '"sample", "write"]\n[watertight]\nresolution = 32\n[sample]\nsurface = 2000\n'
        'salient = 1000\nvolume = 1000\nnear = 2000\n[steps.slow]\nseconds = 0.6\n')
    out = tmp_path / "out"
    command = [sys.executable, "-m", "meshprep.cli", "run", str(tmp_path / "in"), "-o",
               str(out), "--config", str(config_file), "-j", "2", "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runner = subprocess.Popen(command, env=env)
    ledger = out / "ledger.sqlite"
    # a bound only against a hung runner: the loop ends as soon as two assets are done, which
    # a cold numba cache on a loaded machine can take minutes to reach
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and _count_ok(ledger) < 2:
        time.sleep(0.1)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    done_before = _count_ok(ledger)
    assert 2 <= done_before < 8, "the kill must land mid-run"

    subprocess.run(command, env=env, check=True, timeout=900)
    with sqlite3.connect(ledger) as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM assets GROUP BY status"))
        completions = db.execute("SELECT asset_id, COUNT(*) FROM events WHERE status = 'ok' "
                                 "GROUP BY asset_id").fetchall()
    assert statuses == {"ok": 8}
    assert len(completions) == 8 and all(n == 1 for _, n in completions)
    assert _leftovers(out) == []
    assert len(list(out.glob("objects/*/*/meta.json"))) == 8


def _count_ok(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM assets WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_fsspec_output_and_uri_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    paths = write_models(tmp_path / "in", ["a.obj", "b.obj"])
    listing = tmp_path / "list.csv"
    wrong = "0" * 64
    listing.write_text(f"uid,uri,sha256\nasset-a,{paths['a'].as_uri()},\n"
                       f"asset-b,{paths['b'].as_uri()},{wrong}\n")
    url = (tmp_path / "remote").as_uri()
    summary = run_dataset(listing, url, fast_config(), executor=LocalExecutor(1),
                          progress=False)
    assert summary.counts["ok"] == 1 and summary.counts["failed"] == 1
    remote = tmp_path / "remote"
    assert (remote / "objects" / "as" / "asset-a" / "meta.json").is_file()
    assert (remote / "ledger.sqlite").is_file() and (remote / "manifest.parquet").is_file()
    rows = {r["asset_id"]: r for r in pq.read_table(remote / "manifest.parquet").to_pylist()}
    assert rows["asset-b"]["error_class"] == "ChecksumError"
    assert OutputStore(url).read_meta("asset-a")["uid"] == "asset-a"
    assert _leftovers(remote) == []


def test_interrupted_but_published_assets_are_adopted_not_redone(tmp_path):
    write_models(tmp_path / "in", ["a.obj", "b.obj"])
    out, config = tmp_path / "out", fast_config()
    run_dataset(tmp_path / "in", out, config, executor=LocalExecutor(1), progress=False)
    # what a runner killed between "worker published" and "ledger recorded" leaves behind
    with sqlite3.connect(out / "ledger.sqlite") as db:
        db.execute("UPDATE assets SET status = 'running', metrics = NULL")
        db.execute("DELETE FROM events")
    again = run_dataset(tmp_path / "in", out, config, executor=LocalExecutor(1), progress=False)
    assert again.adopted == 2 and again.processed == 0 and again.counts["ok"] == 2
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert all(r["watertight_faces"] > 0 for r in rows)  # metrics come back from meta.json


@pytest.mark.parametrize("workers, serial", [(2, True), (1, False)])
def test_workers_get_serial_kernels_when_asked(tmp_path, workers, serial):
    write_models(tmp_path / "in", ["a.obj", "b.obj"])
    config = fast_config(["load", "tests.pipeline.user_steps:environment"])
    executor = LocalExecutor(workers, serial_kernels=serial)
    summary = run_dataset(tmp_path / "in", tmp_path / "out", config, executor=executor,
                          progress=False)
    assert summary.counts["ok"] == 2
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert {r["serial_kernels"] for r in rows} == {"1" if serial else "0"}
    assert "MESHPREP_SERIAL_KERNELS" not in os.environ  # the runner's own is left as it was
