import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from meshprep.cli import main

from .conftest import write_models

FAST = ('[watertight]\nresolution = 32\n[sample]\nsurface = 2000\nsalient = 1000\n'
        'volume = 1000\nnear = 2000\n')


def test_run_then_status(tmp_path, capsys):
    write_models(tmp_path / "in", ["a.obj", "b.glb"])
    (tmp_path / "in" / "empty.stl").write_bytes(b"")
    config = tmp_path / "fast.toml"
    config.write_text(FAST)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "in"), "-o", str(out), "--config", str(config),
                 "-j", "1", "-q"]) == 0
    assert "2 ok, 1 failed" in capsys.readouterr().out
    assert main(["status", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["ok"] == 2 and summary["counts"]["failed"] == 1
    assert summary["errors"][0]["error_class"] == "EmptyFileError"
    assert summary["stages"]["load"] == {"ok": 2, "failed": 1}
    (out / "manifest.parquet").unlink()
    assert main(["status", str(out), "--export"]) == 0
    text = capsys.readouterr().out
    assert "top errors:" in text and "EmptyFileError in load" in text
    assert pq.read_table(out / "manifest.parquet").num_rows == 3
    # the same command again: nothing to do
    assert main(["run", str(tmp_path / "in"), "-o", str(out), "--config", str(config),
                 "-j", "1"]) == 0
    assert "nothing to do" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["status", "{tmp}/nowhere"], "no ledger at"),
    (["run", "{tmp}/nowhere", "-o", "{tmp}/out"], "no such folder"),
    (["run", "{tmp}", "-o", "{tmp}/out", "--device", "cuda"], "GPU path is not available"),
    (["run", "{tmp}", "-o", "{tmp}/out", "--config", "{tmp}/missing.toml"],
     "cannot read config"),
])
def test_errors_are_one_line(tmp_path, capsys, argv, message):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("meshprep: error:") and message in err and "\n" not in err


@pytest.mark.corpus
@pytest.mark.slow
def test_the_whole_corpus_goes_through(tmp_path, corpus_dir, capsys):
    canary = Path("/tmp/meshprep_zipslip_canary.txt")
    canary.unlink(missing_ok=True)
    before = sorted(p.relative_to(corpus_dir) for p in corpus_dir.rglob("*"))
    config = tmp_path / "fast.toml"
    config.write_text(FAST.replace("resolution = 32", "resolution = 64")
                      + "[limits]\ntimeout_s = 300.0\n")
    out = tmp_path / "out"
    assert main(["run", str(corpus_dir), "-o", str(out), "--config", str(config), "-q"]) == 0
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert len(rows) >= 50
    by_name = {Path(r["source"]).name: r for r in rows}
    from meshprep.blender import blender_python

    failing = ["bad_nan.ply", "bad_truncated.glb", "empty_ply.ply", "points_only.ply",
               "missing_bin.gltf", "recursive_nodes.gltf", "scene.gltf"]
    from meshprep.io.fbx import ufbx_available

    # FBX / BLEND load through the Blender backend when it is installed, FBX through ufbx too
    blend = "ok" if blender_python() is not None else "failed"
    fbx = "ok" if blender_python() is not None or ufbx_available() else "failed"
    assert by_name["human_blend.blend"]["status"] == blend
    for name in ("spider_fbx.fbx", "anim_skeleton_fbx.fbx"):
        assert by_name[name]["status"] == fbx, name
    for name in failing:
        row = by_name[name]
        assert row["status"] == "failed" and row["stage"] == "load", name
        assert row["error_class"].endswith("Error") and len(row["error_message"]) > 10, name
    assert by_name["scene.gltf"]["error_class"] == "UnsafePathError"
    assert by_name["fandisk.obj"]["status"] == "ok"
    assert not canary.exists()
    assert sorted(p.relative_to(corpus_dir) for p in corpus_dir.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.toml", "out"]
