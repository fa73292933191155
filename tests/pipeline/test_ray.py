"""The Ray executor, for real, on a local Ray instance started by the test."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from meshprep.pipeline import LocalExecutor, RayExecutor, run_dataset

from .conftest import REPO, TROUBLE, fast_config, write_models

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    yield
    ray.shutdown()


def _manifest(out: Path) -> dict[str, dict]:
    return {r["asset_id"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist()}


@pytest.mark.slow
def test_ray_gives_the_local_manifest(tmp_path, local_ray):
    write_models(tmp_path / "in", ["a.obj", "b.ply", "c.stl", "abort.obj", "skip.obj"])
    (tmp_path / "in" / "broken.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\n")
    config = fast_config(["load", TROUBLE, "normalize", "watertight", "sample", "write"],
                         timeout_s=120.0)
    local = run_dataset(tmp_path / "in", tmp_path / "local", config,
                        executor=LocalExecutor(2), progress=False)
    remote = run_dataset(tmp_path / "in", tmp_path / "ray", config,
                         executor=RayExecutor(), progress=False)
    assert local.counts == remote.counts == {**local.counts, "ok": 3, "failed": 2, "skipped": 1}
    by_local, by_ray = _manifest(tmp_path / "local"), _manifest(tmp_path / "ray")
    assert by_local.keys() == by_ray.keys()
    for asset_id, row in by_local.items():
        other = by_ray[asset_id]
        assert (row["status"], row["stage"]) == (other["status"], other["stage"])
        if row["status"] == "ok":
            for key in ("input_faces", "watertight_faces", "watertight_genus", "salient_edges"):
                assert row[key] == other[key], key
        elif Path(row["source"]).stem == "abort":
            assert row["error_class"] == other["error_class"] == "WorkerCrash"
        else:
            assert row["error_class"] == other["error_class"]
    assert Path(by_ray[next(iter(by_ray))]["path"] or tmp_path).exists()
