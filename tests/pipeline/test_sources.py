import hashlib

import pytest

from meshprep.pipeline import SourceError, iter_tasks
from meshprep.pipeline.sources import file_sha256, iter_folder


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_folder_lists_models_not_companions(tmp_path):
    _write(tmp_path / "a.obj", "v 0 0 0\n")
    _write(tmp_path / "a.mtl", "newmtl x\n")
    _write(tmp_path / "sub" / "b.gltf", "{}")
    _write(tmp_path / "sub" / "b.bin", "x")
    _write(tmp_path / "sub" / "tex.png", "x")
    _write(tmp_path / ".hidden" / "c.obj", "v 1 1 1\n")
    _write(tmp_path / "d.FBX", "fbx")
    names = [p.name for p in iter_folder(tmp_path)]
    assert names == ["a.obj", "d.FBX", "b.gltf"]
    tasks = list(iter_tasks(tmp_path))
    assert tasks[0].asset_id == hashlib.sha256(b"v 0 0 0\n").hexdigest()
    assert tasks[0].source == str((tmp_path / "a.obj").resolve())


def test_csv_with_uid_sha_and_relative_paths(tmp_path):
    model = _write(tmp_path / "models" / "m.obj", "v 0 0 0\n")
    sha = file_sha256(model)
    _write(tmp_path / "list.csv", "uid,path,sha256\n"
           f"u1,models/m.obj,{sha}\n,models/m.obj,\n"
           ",https://example.org/x.glb,\n,models/missing.obj,\n")
    tasks = list(iter_tasks(tmp_path / "list.csv"))
    assert tasks[0].asset_id == "u1" and tasks[0].sha256 == sha
    assert tasks[0].source == str(model.resolve())
    assert tasks[1].asset_id == sha and tasks[1].uid is None  # hashed from the bytes
    assert tasks[2].source == "https://example.org/x.glb"
    assert tasks[2].asset_id == hashlib.sha256(b"https://example.org/x.glb").hexdigest()
    assert tasks[3].source.endswith("missing.obj")  # listed: its failure will be recorded


@pytest.mark.parametrize("text, message", [
    ("name,size\nx,1\n", "no source column"),
    ("uid,path\n../evil,x.obj\n", "not a safe folder name"),
    ("path,sha256\nx.obj,abc\n", "not 64 hex digits"),
    ("path\n\n", None),
])
def test_bad_csv(tmp_path, text, message):
    _write(tmp_path / "l.csv", text)
    if message is None:
        assert list(iter_tasks(tmp_path / "l.csv")) == []
        return
    with pytest.raises(SourceError, match=message):
        list(iter_tasks(tmp_path / "l.csv"))


def test_missing_source(tmp_path):
    with pytest.raises(SourceError, match="no such folder"):
        list(iter_tasks(tmp_path / "nope"))
