"""A Git LFS pointer (what a GitHub archive holds for a model kept in LFS) is named as such."""

import hashlib
import zipfile

import pytest

import meshprep
from meshprep.errors import UnsupportedFormatError
from meshprep.io.lfs import parse_pointer

MODEL = b"glTF" + b"\0" * 2000
OID = hashlib.sha256(MODEL).hexdigest()
POINTER = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\n"
           f"size {len(MODEL)}\n").encode()


def test_parse_pointer_reads_oid_and_size_and_refuses_the_rest():
    pointer = parse_pointer(POINTER)
    assert pointer is not None and pointer.oid == OID and pointer.size == len(MODEL)
    assert parse_pointer(MODEL) is None
    assert parse_pointer(POINTER.replace(b"oid sha256:", b"oid md5:")) is None
    assert parse_pointer(POINTER + b"x" * 1024) is None  # git-lfs's 1024-byte cutoff


@pytest.mark.parametrize("name", ["duck.glb", "duck.fbx", "duck.obj", "duck.weird"])
def test_load_of_a_pointer_says_what_it_is(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(POINTER)
    with pytest.raises(UnsupportedFormatError, match="a Git LFS pointer, not the model: "
                                                      "fetch it with meshprep fetch"):
        meshprep.load(path)


def test_pointer_inside_a_zip_is_named_too(tmp_path):
    archive = tmp_path / "asset.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model/duck.glb", POINTER)
    with pytest.raises(Exception, match="Git LFS pointer"):
        meshprep.load(archive)
