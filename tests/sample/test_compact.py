"""The compact store's encodings (issue 31): each array kind round-trips at its stated fidelity,
extremes and empty arrays included; the samples' files round-trip with rows paired; an old
float32 store is still read. (The Morton codes are tested with tests/voxel/test_vxz.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from meshprep.sample.compact import (
    POSITION_RANGE,
    CompactRangeError,
    byte_planes,
    decode_normals,
    decode_set,
    encode_distances,
    encode_normals,
    encode_points,
    from_byte_planes,
    quantize_positions,
    read_order,
    read_rows,
    squeeze,
)
from meshprep.sample.layouts import read_meshprep, write_compact, write_meshprep
from meshprep.sample.salient import SalientStats
from meshprep.sample.sdf import SDFSamples
from meshprep.sample.step import TrainingSamples

#: issue 31's targets
POSITION_TOLERANCE = 2.0 ** -15  # of the canonical cube's half-width (1)
NEAR_ABSOLUTE, FAR_RELATIVE, NORMAL_DEGREES = 1e-5, 1e-3, 0.1


def _points(rng: np.random.Generator, count: int, scale: float = 1.0) -> np.ndarray:
    return rng.uniform(-scale, scale, (count, 3)).astype(np.float32)


def _round_trip(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    packed, sort = encode_points(points)
    decoded, _, _ = decode_set(len(points), squeeze(packed))
    return decoded, read_rows(sort)


def test_positions_within_two_to_the_minus_15_extremes_included() -> None:
    rng = np.random.default_rng(0)
    corners = np.array([[x, y, z] for x in (-1.5, 1.5) for y in (-1.5, 1.5)
                        for z in (-1.5, 1.5)], np.float32)
    points = np.concatenate([_points(rng, 20000, 1.05), corners, np.zeros((1, 3), np.float32),
                             np.full((2, 3), 1e-9, np.float32)])
    decoded, rows = _round_trip(points)
    assert np.abs(decoded - points[rows]).max() <= POSITION_TOLERANCE
    assert sorted(rows.tolist()) == list(range(len(points)))  # a permutation: nothing lost


def test_read_order_is_fixed_and_independent_of_position() -> None:
    rng = np.random.default_rng(1)
    points = _points(rng, 5000)
    _, rows_a = _round_trip(points)
    _, rows_b = _round_trip(points)
    assert np.array_equal(rows_a, rows_b) and np.array_equal(read_order(5000), read_order(5000))
    # a prefix of the read order is spread over the whole cube, not one corner
    prefix = points[rows_a[:500]]
    assert (prefix.mean(axis=0) ** 2).sum() < 0.01 and prefix.std(axis=0).min() > 0.5


def test_out_of_range_and_non_finite_positions_are_refused() -> None:
    with pytest.raises(CompactRangeError):
        quantize_positions(np.array([[0.0, 0.0, POSITION_RANGE * 1.01]]))
    with pytest.raises(CompactRangeError):
        quantize_positions(np.array([[np.nan, 0.0, 0.0]]))


def test_normals_within_a_tenth_of_a_degree() -> None:
    rng = np.random.default_rng(3)
    normals = rng.normal(size=(20000, 3))
    axes = np.concatenate([np.eye(3), -np.eye(3), [[1, 1, 0], [0, -1, -1]]])
    normals = np.concatenate([normals, axes])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    decoded = decode_normals(encode_normals(normals))
    cosine = np.clip((decoded * normals).sum(axis=1), -1, 1)
    assert np.degrees(np.arccos(cosine)).max() < NORMAL_DEGREES
    np.testing.assert_allclose(np.linalg.norm(decoded, axis=1), 1.0, atol=1e-6)


def test_distances_at_their_tolerances_signs_unchanged() -> None:
    rng = np.random.default_rng(4)
    near = rng.uniform(-0.01, 0.01, 20000).astype(np.float32)
    far = np.concatenate([rng.uniform(-2, 2, 20000), [-1.5, 1.5, 65000.0]]).astype(np.float32)
    tiny = np.array([1e-12, -1e-12, 3e-8, -3e-8, 0.0, -0.0], np.float32)
    for values in (near, far, tiny):
        half = encode_distances(values).astype(np.float32)
        assert np.array_equal(np.sign(half), np.sign(values))  # zero stays zero, signs kept
        assert np.array_equal(half < 0, values < 0)
    assert np.abs(encode_distances(near).astype(np.float32) - near).max() <= NEAR_ABSOLUTE
    far = far[np.abs(far) >= 0.01]
    error = np.abs(encode_distances(far).astype(np.float32) - far) / np.abs(far)
    assert error.max() <= FAR_RELATIVE


def test_byte_planes_and_empty_arrays() -> None:
    values = np.arange(10, dtype=np.uint64) * 0x0102030405
    planes = byte_planes(values)
    assert planes[:10].tolist() == (values & 0xFF).tolist()
    assert np.array_equal(from_byte_planes(planes, np.uint64, 10), values)
    empty, sort = encode_points(np.zeros((0, 3), np.float32))
    decoded, normals, distances = decode_set(0, squeeze(empty), normals_z=squeeze(empty),
                                             distances_z=squeeze(empty))
    assert decoded.shape == (0, 3) and normals.shape == (0, 3) and distances.shape == (0,)
    assert len(sort) == 0
    assert encode_normals(np.zeros((0, 3))).shape == (0, 2)
    assert encode_distances(np.zeros(0)).shape == (0,)


def _samples(rng: np.random.Generator, empty_salient: bool = False) -> TrainingSamples:
    surface = _points(rng, 3000, 0.95)
    normals = rng.normal(size=(3000, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    salient_count = 0 if empty_salient else 500
    near = _points(rng, 2000, 1.1)
    sdf = SDFSamples(volume_points=_points(rng, 1500, 1.05),
                     volume_sdf=rng.uniform(-1, 1, 1500).astype(np.float32),
                     near_points=near, near_sdf=rng.uniform(-0.02, 0.02, 2000).astype(np.float32),
                     salient_count=salient_count, truncation=None)
    return TrainingSamples(
        surface_points=surface, surface_normals=normals,
        salient_points=surface[:salient_count].copy(),
        salient_normals=normals[:salient_count].copy(), sdf=sdf,
        salient_stats=SalientStats(0, 0, 0, 0, False),
        surface_fps=np.array([5, 17, 2999, 0], np.int32), salient_fps=None)


def _match(stored: np.ndarray, original: np.ndarray) -> np.ndarray:
    """For each stored row, the original row it came from (nearest, all within tolerance)."""
    from scipy.spatial import cKDTree

    distance, index = cKDTree(original).query(stored)
    assert distance.max() <= POSITION_TOLERANCE * np.sqrt(3)
    return index


@pytest.mark.parametrize("empty_salient", [False, True])
def test_the_store_round_trips_with_rows_paired(tmp_path: Path, empty_salient: bool) -> None:
    rng = np.random.default_rng(5)
    samples = _samples(rng, empty_salient)
    write_compact(samples, tmp_path)
    got = read_meshprep(tmp_path)
    rows = _match(got.surface_points, samples.surface_points)
    assert sorted(rows.tolist()) == list(range(3000))
    cosine = (got.surface_normals * samples.surface_normals[rows]).sum(axis=1)
    assert np.degrees(np.arccos(np.clip(cosine, -1, 1))).max() < NORMAL_DEGREES
    # the farthest-point order still names the same points
    np.testing.assert_allclose(got.surface_points[got.surface_fps],
                               samples.surface_points[samples.surface_fps], atol=3e-5)
    sdf, original = got.sdf, samples.sdf
    assert sdf.salient_count == original.salient_count
    for stored, source, values, source_values in (
            (sdf.volume_points, original.volume_points, sdf.volume_sdf, original.volume_sdf),
            (sdf.surface_near_points, original.surface_near_points, sdf.surface_near_sdf,
             original.surface_near_sdf),
            (sdf.salient_near_points, original.salient_near_points, sdf.salient_near_sdf,
             original.salient_near_sdf)):
        assert len(stored) == len(source)
        if not len(source):
            continue
        paired = source_values[_match(stored, source)]
        assert np.array_equal(values < 0, paired < 0)
        assert np.abs(values - paired).max() <= max(NEAR_ABSOLUTE, FAR_RELATIVE)
    for array in (got.surface_points, got.surface_normals, got.surface_fps, sdf.near_points,
                  sdf.near_sdf, sdf.volume_points, sdf.volume_sdf):
        assert array.flags.writeable  # nothing a view of the read-only file bytes
    # a second read gives the same rows in the same order
    again = read_meshprep(tmp_path)
    assert np.array_equal(again.sdf.near_points, sdf.near_points)


def test_the_store_is_a_fraction_of_float32(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    samples = _samples(rng)
    write_compact(samples, tmp_path / "compact")
    write_meshprep(samples, tmp_path / "plain")
    size = lambda folder: sum(p.stat().st_size for p in folder.iterdir())  # noqa: E731
    assert size(tmp_path / "compact") < 0.5 * size(tmp_path / "plain")


def test_an_old_float32_store_is_still_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    samples = _samples(rng)
    write_meshprep(samples, tmp_path)  # the store's format before issue 31
    got = read_meshprep(tmp_path)
    assert np.array_equal(got.surface_points, samples.surface_points)  # rows as written
    assert np.array_equal(got.sdf.near_sdf, samples.sdf.near_sdf)


def test_a_point_beyond_the_range_keeps_its_set_in_float32(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    samples = _samples(rng)
    samples.sdf.near_points[3] = [0.0, 0.0, 1.9]  # a salient-near offset far out
    samples.sdf.volume_points[0] = [-1.6, 0.0, 0.0]
    write_compact(samples, tmp_path)
    got = read_meshprep(tmp_path)
    assert np.array_equal(got.sdf.surface_near_points, samples.sdf.surface_near_points)
    assert np.array_equal(got.sdf.volume_points, samples.sdf.volume_points)
    assert got.sdf.volume_points.flags.writeable  # a copy, not a view of the file's bytes


def test_compact_stores_written_before_frame_checksums_read_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zstandard

    import meshprep.io.packing as packing

    samples = _samples(np.random.default_rng(9))
    write_compact(samples, tmp_path / "now")
    monkeypatch.setattr(packing, "squeeze", lambda planes: np.frombuffer(
        zstandard.ZstdCompressor(level=9).compress(np.ascontiguousarray(planes)), np.uint8))
    monkeypatch.setattr("meshprep.sample.compact.squeeze", packing.squeeze)
    write_compact(samples, tmp_path / "before")
    assert (tmp_path / "before" / "sdf.npz").stat().st_size < \
        (tmp_path / "now" / "sdf.npz").stat().st_size  # 4 bytes less a frame: no checksums
    now, before = read_meshprep(tmp_path / "now"), read_meshprep(tmp_path / "before")
    for name in ("surface_points", "surface_normals", "salient_points", "surface_fps"):
        assert np.array_equal(getattr(now, name), getattr(before, name))
    assert np.array_equal(now.sdf.near_sdf, before.sdf.near_sdf)


@pytest.mark.parametrize("file", ["sdf.npz", "surface.npz"])
def test_a_damaged_compact_file_is_refused(tmp_path: Path, file: str) -> None:
    write_compact(_samples(np.random.default_rng(10)), tmp_path)
    raw = bytearray((tmp_path / file).read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside the largest members' compressed bytes
    (tmp_path / file).write_bytes(bytes(raw))
    with pytest.raises(ValueError):
        read_meshprep(tmp_path)
