"""The compact store's byte-level pieces (issue 31): ``load_members`` reads exactly what
``np.load`` reads and still refuses damaged bytes (the ZIP's CRC-32, or a Zstandard frame's own
checksum); ``unsqueeze`` into a buffer; per-thread scratch buffers."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zstandard

from meshprep.io.packing import SCRATCH_KEPT, load_members, scratch, squeeze, unsqueeze


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "encoding": np.array("meshprep-compact-1"),  # 0-d unicode
        "count": np.int64(12345),
        "rows": rng.normal(size=(50, 3)).astype(np.float32),
        "fortran": np.asfortranarray(rng.integers(0, 9, (4, 7)).astype(np.int16)),
        "empty": np.zeros((0, 3), np.float64),
        "frame": squeeze(rng.integers(0, 3, 20000).astype(np.uint8)),
    }


def _member_offset(path: Path, name: str) -> int:
    """Where member ``name``'s bytes (its .npy header included) start in the file."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
    raw = path.read_bytes()
    start = info.header_offset
    return start + 30 + int.from_bytes(raw[start + 26:start + 28], "little") + \
        int.from_bytes(raw[start + 28:start + 30], "little")


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x5A
    path.write_bytes(bytes(raw))


def test_members_are_what_np_load_reads(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    np.savez(path, **_arrays())
    members = load_members(path)
    with np.load(path) as expected:
        assert sorted(members) == sorted(expected.files)
        for key in expected.files:
            assert members[key].dtype == expected[key].dtype
            assert members[key].shape == expected[key].shape
            assert np.array_equal(members[key], expected[key])
    assert not members["rows"].flags.writeable  # views of the file's bytes


def test_a_damaged_member_without_its_own_checksum_fails_its_crc(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    np.savez(path, **_arrays())
    _flip(path, _member_offset(path, "rows") + 200)  # inside the float32 data
    with pytest.raises(ValueError, match="CRC-32"):
        load_members(path)


def test_a_damaged_zstd_frame_fails_its_own_checksum_when_decompressed(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    arrays = _arrays()
    np.savez(path, **arrays)
    frame = arrays["frame"]
    _flip(path, _member_offset(path, "frame") + 128 + frame.size // 2)  # mid-frame
    damaged = load_members(path)["frame"]  # the ZIP's CRC is not computed for this member
    assert not np.array_equal(damaged, frame)
    with pytest.raises(ValueError):
        unsqueeze(damaged, 20000)
    with pytest.raises(ValueError):
        unsqueeze(damaged, 20000, out=np.empty(20000, np.uint8))


def test_frames_without_a_checksum_keep_the_crc(tmp_path: Path) -> None:
    """Compact stores written before frames carried checksums are still verified."""
    plain = zstandard.ZstdCompressor(level=3).compress(bytes(range(256)) * 100)
    path = tmp_path / "old.npz"
    np.savez(path, frame=np.frombuffer(plain, np.uint8))
    assert np.array_equal(unsqueeze(load_members(path)["frame"], 25600),
                          np.frombuffer(bytes(range(256)) * 100, np.uint8))
    _flip(path, _member_offset(path, "frame") + 128 + len(plain) // 2)
    with pytest.raises(ValueError, match="CRC-32"):
        load_members(path)


def test_files_that_are_not_stored_npz_are_refused(tmp_path: Path) -> None:
    deflated = tmp_path / "deflated.npz"
    np.savez_compressed(deflated, rows=np.zeros(10))
    with pytest.raises(ValueError, match="not an array stored"):
        load_members(deflated)
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not an .npz"):
        load_members(tmp_path / "junk.npz")
    objects = tmp_path / "objects.npz"
    np.savez(objects, items=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="object arrays"):
        load_members(objects)


def test_unsqueeze_into_a_buffer_checks_the_size() -> None:
    data = np.arange(5000, dtype=np.uint32).view(np.uint8)
    packed = squeeze(data)
    buffer = np.full(30000, 7, np.uint8)
    out = unsqueeze(packed, data.size, out=buffer)
    assert np.shares_memory(out, buffer) and np.array_equal(out, data)
    for size in (data.size - 1, data.size + 1):
        with pytest.raises(ValueError, match="decompress to"):
            unsqueeze(packed, size, out=buffer)
        with pytest.raises(ValueError, match="decompress"):
            unsqueeze(packed, size)


def test_scratch_buffers_are_kept_per_thread_and_slot() -> None:
    first = scratch(0, 1000)
    assert scratch(0, 500) is first and scratch(0, first.size) is first
    assert scratch(1, 1000) is not first
    assert scratch(0, first.size + 1).size > first.size  # grown when too small
    huge = scratch(0, SCRATCH_KEPT + 1)
    assert huge.size == SCRATCH_KEPT + 1 and scratch(0, 1000) is not huge  # not kept
    other = []
    thread = threading.Thread(target=lambda: other.append(scratch(0, 1000)))
    thread.start()
    thread.join()
    assert not np.shares_memory(other[0], scratch(0, 1000))


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_every_npy_header_version_is_read(tmp_path: Path, version: tuple[int, int]) -> None:
    import io

    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path = tmp_path / "v.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        stream = io.BytesIO()
        np.lib.format.write_array(stream, array, version=version)
        archive.writestr("rows.npy", stream.getvalue())
    assert np.array_equal(load_members(path)["rows"], array)
