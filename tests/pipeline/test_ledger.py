import os

import pytest

from meshprep.pipeline import AssetOutcome, AssetTask, ConfigError, Ledger


def test_tasks_are_added_once_and_paged(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        tasks = [AssetTask(f"id{i:03d}", f"/src/{i}.obj") for i in range(25)]
        assert ledger.add_tasks(tasks, batch=7) == (25, 25)
        assert ledger.add_tasks(tasks[:10]) == (10, 0)
        assert ledger.counts()["pending"] == 25
        seen = []
        for task in ledger.iter_tasks(["pending", "running"], chunk=4):
            ledger.mark_running(task.asset_id, run_id=1)  # updates while paging
            seen.append(task.asset_id)
        assert seen == [t.asset_id for t in tasks]
        assert ledger.counts()["running"] == 25


def test_record_replaces_stages_and_logs_events(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.add_tasks([AssetTask("a", "/a.obj")])
        failed = AssetOutcome("a", "failed", 1.0, "load", "LoadError", "bad", [("load", "failed",
                              1.0)])
        ledger.record(failed, run_id=1)
        ok = AssetOutcome("a", "ok", 2.0, None, None, None,
                          [("load", "ok", 0.5), ("write", "ok", 0.1)], {"faces": 12}, ["m.ply"])
        ledger.record(ok, run_id=2)
        rows = ledger.db.execute("SELECT stage, status FROM stages ORDER BY stage").fetchall()
        assert rows == [("load", "ok"), ("write", "ok")]
        events = ledger.db.execute("SELECT run_id, status FROM events").fetchall()
        assert events == [(1, "failed"), (2, "ok")]
        assert ledger.counts()["ok"] == 1


def test_config_binding(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.bind_config("abc", "[watertight]\nresolution = 512\n")
        ledger.bind_config("abc", "[watertight]\nresolution = 512\n")
        with pytest.raises(ConfigError, match="resolution 512 -> 256"):
            ledger.bind_config("def", "[watertight]\nresolution = 256\n")


def test_hash_cache_notices_changes(tmp_path):
    path = tmp_path / "m.obj"
    path.write_text("v 0 0 0\n")
    with Ledger(tmp_path / "l.sqlite") as ledger:
        first = ledger.file_hash(path)
        assert ledger.file_hash(path) == first
        path.write_text("v 1 1 1\n")
        os.utime(path, ns=(1, 1))
        assert ledger.file_hash(path) != first


def test_status_counts_infrastructure_failures_apart(tmp_path):
    from meshprep.pipeline.manifest import format_summary, summarize

    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.add_tasks([AssetTask(name, f"/{name}.obj") for name in ("a", "b", "c", "d")])
        run = ledger.start_run("ray", 2, "/")
        ledger.add_event(run, "a", "infra_retry", "node lost: submitted again")
        ledger.add_event(run, "b", "infra_retry", "node lost: submitted again")
        ledger.add_event(run, "b", "infra_retry", "node lost: submitted again")
        ledger.record(AssetOutcome("a", "ok"), run)
        ledger.record(AssetOutcome("b", "failed", error_class="InfrastructureError",
                                   error_message="infrastructure: node lost 3 times"), run)
        ledger.record(AssetOutcome("c", "failed", stage="load", error_class="CorruptFileError",
                                   error_message="bad magic"), run)
        summary = summarize(ledger)
    assert summary["failures"] == {"asset": 1, "infrastructure": 1}
    assert summary["infra_retries"] == {"attempts": 3, "assets": 2}
    assert ("failed: 1 for the asset's own reason, 1 for the infrastructure; 3 attempt(s) of "
            "2 asset(s) lost to the infrastructure" in format_summary(summary))
