"""The Ray executor on a real two-node cluster (``ray.cluster_utils.Cluster``: two raylets).

One cluster for the module (a head and a worker node, one CPU each); the node-loss test kills
the worker node and adds a fresh one, so it runs last.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from meshprep.pipeline import ConfigError, RayExecutor, run_dataset
from meshprep.pipeline import cluster as cluster_checks

from .conftest import REPO, TROUBLE, fast_config, write_models

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
SLOW = "tests.pipeline.user_steps:slow"


@pytest.fixture(scope="module")
def two_nodes():
    from ray.cluster_utils import Cluster

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(REPO)  # the raylets' workers import the test steps
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    if saved is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved


def _slow_config(seconds: float, **limits) -> dict:
    config = fast_config(["load", "normalize", SLOW, "write"], timeout_s=900.0, **limits)
    config.setdefault("steps", {})["slow"] = {"seconds": seconds}
    return config


def _ledger_rows(ledger: Path, sql: str) -> list[tuple]:
    if not ledger.exists():
        return []
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def _count(ledger: Path, status: str) -> int:
    rows = _ledger_rows(ledger, f"SELECT COUNT(*) FROM assets WHERE status = '{status}'")
    return rows[0][0] if rows else 0


def test_the_cluster_is_described_and_a_crash_is_the_assets(tmp_path, two_nodes):
    write_models(tmp_path / "in", ["a.obj", "abort.obj", "b.obj"])
    config = fast_config(["load", TROUBLE, "normalize", "write"], timeout_s=900.0)
    log = tmp_path / "log.txt"
    with open(log, "w") as stream:
        summary = run_dataset(tmp_path / "in", tmp_path / "out", config,
                              executor=RayExecutor(log=stream), progress=False)
    assert "Ray cluster: 2 nodes, 2 CPUs, 0 GPUs" in log.read_text()
    assert summary.counts == {**summary.counts, "ok": 2, "failed": 1}
    assert summary.failures == {"asset": 1, "infrastructure": 0}
    ledger = tmp_path / "out" / "ledger.sqlite"
    rows = _ledger_rows(ledger, "SELECT error_class, attempts FROM assets WHERE "
                                "status = 'failed'")
    assert rows == [("WorkerCrash", 1)]  # no infrastructure retry for the asset's own crash
    assert _ledger_rows(ledger, "SELECT * FROM events WHERE status = 'infra_retry'") == []


def test_a_request_no_node_holds_is_refused_at_once(tmp_path, two_nodes):
    write_models(tmp_path / "in", ["a.obj"])
    config = fast_config(["load", "write"], memory_mb=10**7, memory_request_mb=10**7)
    with pytest.raises(ConfigError, match="missing memory"):
        run_dataset(tmp_path / "in", tmp_path / "out", config, executor=RayExecutor(),
                    progress=False)
    # "at once": refused before any asset was dispatched (the ledger, not the clock, says so)
    statuses = _ledger_rows(tmp_path / "out" / "ledger.sqlite",
                            "SELECT status, COUNT(*) FROM assets GROUP BY status")
    assert statuses == [("pending", 1)]


def test_a_local_output_every_node_sees_passes_one_they_do_not_is_refused(tmp_path,
                                                                          two_nodes):
    nodes = cluster_checks.alive_nodes(ray)
    assert len(nodes) == 2
    cluster_checks.check_shared_output(ray, str(tmp_path / "shared"), nodes)
    assert list((tmp_path / "shared").iterdir()) == []  # the token is removed again
    # a node that sees another folder at the same path reads another token (or none)
    token = tmp_path / "token"
    token.write_text("the driver's")
    assert cluster_checks.nodes_not_seeing(ray, str(token), "the driver's", nodes) == []
    missing = cluster_checks.nodes_not_seeing(ray, str(token), "another node's", nodes)
    assert len(missing) == 2
    message = cluster_checks.shared_output_error(str(tmp_path), missing[:1], 2)
    assert "1 of the 2 nodes" in message and "s3://" in message


def test_driver_kill_9_then_rerun(tmp_path, two_nodes):
    write_models(tmp_path / "in", [f"m{i}.obj" for i in range(6)])
    config_file = tmp_path / "slow.toml"
    config_file.write_text(
        f'[run]\nsteps = ["load", "normalize", "{SLOW}", "write"]\n[watertight]\n'
        'resolution = 32\n[steps.slow]\nseconds = 1.0\n')
    out = tmp_path / "out"
    command = [sys.executable, "-m", "meshprep.cli", "run", str(tmp_path / "in"), "-o",
               str(out), "--config", str(config_file), "--executor", "ray",
               "--ray-address", two_nodes.address, "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runner = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    ledger = out / "ledger.sqlite"
    deadline = time.monotonic() + 900  # against a hung runner only: it ends at two done
    while time.monotonic() < deadline and _count(ledger, "ok") < 2:
        time.sleep(0.1)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    done_before = _count(ledger, "ok")
    assert 2 <= done_before < 6, "the kill must land mid-run"
    rerun = subprocess.run(command, env=env, timeout=900, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _ledger_rows(ledger, "SELECT status, COUNT(*) FROM assets GROUP BY status") == [
        ("ok", 6)]
    completions = _ledger_rows(ledger, "SELECT asset_id, COUNT(*) FROM events WHERE "
                                       "status = 'ok' GROUP BY asset_id")
    assert len(completions) == 6 and all(n == 1 for _, n in completions)
    assert len(list(out.glob("objects/*/*/meta.json"))) == 6


def test_losing_the_worker_node_fails_no_asset(tmp_path, two_nodes):
    write_models(tmp_path / "in", [f"m{i}.obj" for i in range(6)])
    out = tmp_path / "out"
    ledger = out / "ledger.sqlite"
    worker = next(n for n in two_nodes.worker_nodes)
    killed = threading.Event()
    started = tmp_path / "started"
    started.mkdir()

    release = tmp_path / "release"

    def kill_while_the_worker_holds_an_asset() -> None:
        # an asset's slow step has begun there and holds it until released: losing the node
        # loses that asset, whatever the scheduler did with the others and however slow the
        # machine (no window to hit); then every step is released
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not any(started.glob(f"{worker.node_id}.*")):
            time.sleep(0.05)
        two_nodes.remove_node(worker, allow_graceful=False)
        killed.set()
        release.touch()

    killer = threading.Thread(target=kill_while_the_worker_holds_an_asset, daemon=True)
    killer.start()
    config = _slow_config(2.0)
    config["steps"]["slow"].update(started=str(started), release=str(release))
    try:
        summary = run_dataset(tmp_path / "in", out, config, progress=False,
                              executor=RayExecutor())
    finally:
        killer.join(910)
        two_nodes.add_node(num_cpus=1)  # for whatever runs after
        two_nodes.wait_for_nodes()
    assert killed.is_set()
    assert summary.counts == {**summary.counts, "ok": 6, "failed": 0, "running": 0}
    retries = _ledger_rows(ledger, "SELECT asset_id, note FROM events WHERE "
                                   "status = 'infra_retry'")
    assert retries, "an asset was running on the lost node"
    assert all("submitted again" in note for _, note in retries)
