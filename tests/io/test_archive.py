"""Tests of zip loading: zip slip, symlinks, size limits, model choice, cleanup."""

from __future__ import annotations

import stat
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest

from meshprep.errors import (
    ArchiveError,
    CorruptFileError,
    UnsafePathError,
    UnsupportedFormatError,
)
from meshprep.io import archive, load
from tests.io.helpers import TRIANGLE, gltf_tree

TRI_OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
QUAD_OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\nf 2 4 3\n"


def make_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    """Write a zip whose member names are taken verbatim (``../`` and absolute ones included)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def add_symlink(path: Path, name: str, target: str) -> None:
    """Append a Unix symlink member (mode S_IFLNK in the external attributes)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, target)


def files_under(folder: Path) -> list[Path]:
    """All files and links below ``folder``."""
    return [p for p in folder.rglob("*") if p.is_file() or p.is_symlink()]


def test_corpus_zipslip_loads_obj_and_skips_entry(data_dir: Path, private_tmp: Path) -> None:
    mesh = load(data_dir / "bad_zipslip.zip")
    assert len(mesh.faces) == 16
    skipped = mesh.metadata["meshprep_skipped_members"]
    assert skipped == ["../../../../tmp/meshprep_zipslip_canary.txt"]
    assert mesh.metadata["meshprep_member"] == "model/box.obj"
    assert mesh.metadata["meshprep_format"] == "obj"
    assert mesh.metadata["meshprep_container"] == "zip"
    # the extraction folder is gone and nothing else was written in the temp area
    assert files_under(private_tmp) == []


def test_dotdot_member_is_never_written(tmp_path: Path, private_tmp: Path) -> None:
    # extraction happens in private_tmp/meshprep_zip_*/: "../escape.txt" would land in private_tmp
    path = make_zip(
        tmp_path / "slip.zip",
        {
            "model.obj": TRI_OBJ,
            "../escape.txt": "x",
            "../../escape2.txt": "x",
            "a/../../e3.txt": "x",
        },
    )
    mesh = load(path)
    assert len(mesh.faces) == 1
    assert sorted(mesh.metadata["meshprep_skipped_members"]) == [
        "../../escape2.txt",
        "../escape.txt",
        "a/../../e3.txt",
    ]
    assert not any("escape" in p.name or p.name == "e3.txt" for p in tmp_path.rglob("*"))


def test_absolute_member_is_never_written(tmp_path: Path, private_tmp: Path) -> None:
    target = tmp_path / f"abs_{uuid.uuid4().hex}.txt"
    path = make_zip(tmp_path / "abs.zip", {str(target): "x", "model.obj": TRI_OBJ})
    mesh = load(path)
    assert mesh.metadata["meshprep_skipped_members"] == [str(target)]
    assert not target.exists()


@pytest.mark.parametrize(
    "name", ["..\\evil.txt", "C:/evil.txt", "C:\\evil.txt", "a/b/../../../c.txt"]
)
def test_windows_style_and_nul_members_skipped(
    tmp_path: Path, private_tmp: Path, name: str
) -> None:
    path = make_zip(tmp_path / "win.zip", {name: "x", "model.obj": TRI_OBJ})
    mesh = load(path)
    assert len(mesh.metadata["meshprep_skipped_members"]) == 1


def test_symlink_member_is_skipped(tmp_path: Path, private_tmp: Path) -> None:
    path = make_zip(tmp_path / "link.zip", {"model.obj": TRI_OBJ})
    add_symlink(path, "link.obj", "../../../../etc/passwd")
    mesh = load(path)
    assert mesh.metadata["meshprep_skipped_members"] == ["link.obj"]
    assert mesh.metadata["meshprep_member"] == "model.obj"


def test_symlink_is_not_created(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "link.zip", {"model.obj": TRI_OBJ})
    add_symlink(path, "link.obj", "/etc/passwd")
    dest = tmp_path / "out"
    dest.mkdir()
    result = archive.extract_zip(path, dest, max_bytes=10**6)
    assert result.skipped == ["link.obj"]
    assert [p.name for p in files_under(dest)] == ["model.obj"]
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_archive_too_large(tmp_path: Path, private_tmp: Path) -> None:
    path = make_zip(tmp_path / "big.zip", {"model.obj": TRI_OBJ, "pad.bin": b"\0" * 5000})
    with pytest.raises(ArchiveError, match="limit") as info:
        load(path, max_archive_bytes=1000)
    assert "\n" not in str(info.value)
    assert files_under(private_tmp) == []


def test_streaming_guard_catches_a_lying_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # disable the central-directory check to reach the running byte count
    monkeypatch.setattr(archive, "_check_declared_size", lambda *args: None)
    path = make_zip(tmp_path / "big.zip", {"a.bin": b"\0" * 3000, "b.bin": b"\0" * 3000})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="size limit"):
        archive.extract_zip(path, dest, max_bytes=4000)
    # the member that crossed the limit was removed
    assert sum(p.stat().st_size for p in files_under(dest)) <= 4000


def test_too_many_members(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "many.zip", {f"f{i}.txt": "" for i in range(5)})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="5 members"):
        archive.extract_zip(path, dest, max_bytes=10**6, max_members=4)
    assert files_under(dest) == []


def test_member_limit_default_is_ten_thousand(tmp_path: Path, private_tmp: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(archive.MAX_MEMBERS + 1):
            zf.writestr(f"d/{i}.txt", "")
    with pytest.raises(ArchiveError, match="10001 members"):
        load(path)


def test_no_model_in_archive(tmp_path: Path, private_tmp: Path) -> None:
    path = make_zip(tmp_path / "docs.zip", {"README.md": "hi", "nested.zip": b"PK"})
    with pytest.raises(ArchiveError, match="no model file in archive"):
        load(path)
    assert files_under(private_tmp) == []


def test_macos_resource_forks_are_not_models(tmp_path: Path, private_tmp: Path) -> None:
    path = make_zip(
        tmp_path / "mac.zip", {"__MACOSX/._model.obj": b"\0\x05\x16\x07", "._x.obj": ""}
    )
    with pytest.raises(ArchiveError, match="no model file"):
        load(path)


def test_prefers_extension_order_then_size(tmp_path: Path, private_tmp: Path) -> None:
    path = make_zip(
        tmp_path / "many.zip",
        {
            "big.stl": "solid x\n" + "\n" * 5000 + "endsolid x\n",
            "a/small.obj": TRI_OBJ,
            "b.obj": QUAD_OBJ,
        },
    )
    mesh = load(path)
    assert mesh.metadata["meshprep_member"] == "b.obj"
    assert len(mesh.faces) == 2


def test_falls_back_when_preferred_member_fails(tmp_path: Path, private_tmp: Path) -> None:
    path = make_zip(tmp_path / "mix.zip", {"scene.fbx": b"Kaydara FBX Binary", "m.obj": TRI_OBJ})
    assert load(path).metadata["meshprep_member"] == "m.obj"


def test_only_unsupported_model_reports_its_error(tmp_path: Path, private_tmp: Path,
                                                  no_blender: None) -> None:
    path = make_zip(tmp_path / "fbx.zip", {"scene.fbx": b"Kaydara FBX Binary"})
    with pytest.raises(UnsupportedFormatError, match="Blender"):
        load(path)


def test_gltf_in_archive_may_use_sibling_folders(tmp_path: Path, private_tmp: Path) -> None:
    import json

    tree = gltf_tree("../buffers/tri.bin")
    path = make_zip(
        tmp_path / "gltf.zip",
        {"scene/model.gltf": json.dumps(tree), "buffers/tri.bin": TRIANGLE.tobytes()},
    )
    mesh = load(path)
    assert len(mesh.faces) == 1
    assert mesh.metadata["meshprep_format"] == "gltf"


def test_gltf_in_archive_cannot_leave_it(tmp_path: Path, private_tmp: Path) -> None:
    import json

    (private_tmp / "tri.bin").write_bytes(TRIANGLE.tobytes())
    path = make_zip(tmp_path / "gltf.zip", {"model.gltf": json.dumps(gltf_tree("../tri.bin"))})
    with pytest.raises(UnsafePathError):
        load(path)


def test_corrupt_archive(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(b"this is not a zip file at all")
    with pytest.raises(CorruptFileError, match="not a readable zip"):
        load(path)


def test_corrupt_member_data(tmp_path: Path, private_tmp: Path) -> None:
    path = make_zip(tmp_path / "crc.zip", {"model.obj": TRI_OBJ * 50})
    data = bytearray(path.read_bytes())
    # flip bytes inside the deflated payload (after the 30-byte local header and the name)
    for i in range(45, 60):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError):
        load(path)
    assert files_under(private_tmp) == []


def test_mesh_does_not_depend_on_extracted_files(data_dir: Path, private_tmp: Path) -> None:
    mesh = load(data_dir / "bad_zipslip.zip")
    assert not any(private_tmp.iterdir())
    # the folder is gone, yet every derived quantity still computes from in-memory arrays
    assert mesh.area > 0 and np.isfinite(mesh.bounds).all()
    assert mesh.copy().faces.shape == (16, 3)
