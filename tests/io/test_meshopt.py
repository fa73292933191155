"""The meshopt bitstream decoder (``meshprep.io.meshopt``) on streams built here.

A tiny encoder (``tests/io/meshopt_encoder.py``) writes attribute streams (versions 0 and 1,
every group width, control mode and channel mode), triangle streams of explicit indices, index
sequences and the four filters' inputs, straight from the ``KHR_meshopt_compression`` README;
two attribute streams and one triangle stream are fixed vectors (see each for its source).
"""

from __future__ import annotations

import numpy as np
import pytest

from meshprep.errors import CorruptFileError
from meshprep.io.meshopt import decode_view
from tests.io.meshopt_encoder import encode_sequence, encode_triangles, encode_vertices

RNG = np.random.default_rng(19)


# --- mode 0: attributes ---------------------------------------------------------------------


def _rows(count: int, stride: int, kind: str) -> np.ndarray:
    if kind == "smooth":  # small deltas: 1-, 2- and 4-bit groups with sentinels
        steps = RNG.integers(-2, 3, (count, stride))
        steps[RNG.random((count, stride)) < 0.05] = 90
        return (np.cumsum(steps, axis=0) % 256).astype(np.uint8)
    if kind == "constant":  # zero groups / control mode 2
        return np.tile(RNG.integers(0, 256, (1, stride), dtype=np.uint8), (count, 1))
    return RNG.integers(0, 256, (count, stride), dtype=np.uint8)  # 8-bit groups / literal


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("count,stride", [(1, 4), (17, 8), (300, 12), (70, 256), (40, 64)])
@pytest.mark.parametrize("kind", ["smooth", "constant", "random"])
def test_attributes_round_trip(version: int, count: int, stride: int, kind: str) -> None:
    # 70 x 256 bytes and 300 x 12: several blocks (32 and 256 elements at most per block)
    data = _rows(count, stride, kind)
    out = decode_view(encode_vertices(data, version), count, stride, "ATTRIBUTES")
    assert out == data.tobytes()


@pytest.mark.parametrize("channel", [0x01, 0x02, 0x32, 0x72, 0xF2])
def test_version1_channel_modes(channel: int) -> None:
    # 2-byte zigzag deltas (1) and 4-byte XOR deltas with a rotation (2, high nibble)
    data = np.cumsum(RNG.normal(0, 0.01, (90, 2)), axis=0).astype(np.float32)
    rows = data.view(np.uint8).reshape(90, 8)
    stream = encode_vertices(rows, 1, [channel, 0])
    assert decode_view(stream, 90, 8, "ATTRIBUTES") == rows.tobytes()


# Written by meshoptimizer's own encoder (meshopt_encodeVertexBufferLevel, level 3, version 1,
# through the `meshopt` 0.1.0 wheel) from the rows below; the float one's tail carries channel
# modes 0x01 0x01 0x62 (2-byte deltas twice, XOR rotated by 6), the short one's 0x01 0x01.
_REF_FLOAT = (
    "a17f3f6800ecf917d4da4a149911f1f3e646a1cc8d9daab50326552b3ea023b9ef6c078d83b866d9a39a3d72"
    "00ea0a43262a2abe8d393a88e723ca2aef0ce01af267032609947b4c9bf4f8626ddc9c780f2201dd0098fe98"
    "605c362826221e1a14100c060003070d13171b1f23252b515d6dc7cb7564c2625e4a2a280002007b00800103"
    "00ff0100cf1a6b70cd1bfda713d6ff6a4c8667580b4be705cad4e18ad2a26c937621582574c51453c18eae00"
    "8e5aa97342c0f8e2735e2692dd2c5aaa889042ea58d42d69a38a2877b641ae6e76967753e9bfb30003070b11"
    "15191f212529435d61b33bbe28ca7a60582a2824221c18140e0a040005090f13171d21050080010300fe0201"
    "02010f1f1a0ffff8f8f4c4f4c4a060103018f81cf262e262f262e2623c1edddd00007e030703000000000000"
    "000000000000000000803f00000000010162")
_REF_SHORT = (
    "a199ab2a0666666666666666666666666666666666666666000000002a0ddddddddddddddddddddddddddddd"
    "dddddddddd000000000002060a0e12161a1e22262a2e32363a3e42464a4e52565a5e62666a6e72767a7e8286"
    "8a8e92969a00000000000000000000000000000000e803000005000101")


def test_reference_encoder_vectors() -> None:
    i = np.arange(40)
    floats = np.stack([np.sin(i * 0.1), np.cos(i * 0.1), i * 0.25], 1).astype(np.float32)
    shorts = np.stack([i * 3, 1000 - i * 7, i * i, 5 + 0 * i], 1).astype(np.int16)
    assert decode_view(bytes.fromhex(_REF_FLOAT), 40, 12, "ATTRIBUTES") == floats.tobytes()
    assert decode_view(bytes.fromhex(_REF_SHORT), 40, 8, "ATTRIBUTES") == shorts.tobytes()


# --- modes 1 and 2: triangles and indices ---------------------------------------------------


def test_triangle_codes_by_hand() -> None:
    # worked from the README's code table: 0xfe with 0x00 (a reset, then next x3), 0x00 (edge
    # 0 + next), 0x0e (edge 0 + last+1), 0xf0 (codeaux[0] = 0x12: next + FIFO 0 and 1), 0xff
    # with 0xff (three explicit indices: zigzag deltas 18, 1, 382 from last)
    stream = bytes([0xE1, 0xFE, 0x00, 0x0E, 0xF0, 0xFF, 0x00, 0xFF, 18, 1, 0xFE, 0x02, 0x12]
                   + [0] * 15)
    out = np.frombuffer(decode_view(stream, 15, 4, "TRIANGLES"), np.uint32)
    np.testing.assert_array_equal(out, [0, 1, 2, 0, 2, 3, 0, 3, 1, 4, 1, 3, 10, 9, 200])


@pytest.mark.parametrize("stride,dtype", [(2, np.uint16), (4, np.uint32)])
def test_explicit_triangles_and_sequences(stride: int, dtype: type) -> None:
    indices = RNG.integers(0, 60000, 300).astype(np.uint32)
    indices[::7] = 70000  # 16-bit output wraps around (README: "with wraparound")
    for mode, stream in (("TRIANGLES", encode_triangles(indices)),
                         ("INDICES", encode_sequence(indices))):
        out = np.frombuffer(decode_view(stream, len(indices), stride, mode), dtype)
        np.testing.assert_array_equal(out, indices.astype(dtype))


# --- filters (Appendix B) -------------------------------------------------------------------


@pytest.mark.parametrize("stride,bits", [(4, 8), (8, 10), (8, 16)])
def test_octahedral_filter(stride: int, bits: int) -> None:
    normals = RNG.normal(size=(64, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    p = normals[:, :2] / np.abs(normals).sum(axis=1, keepdims=True)
    flip = normals[:, 2] < 0  # the negative hemisphere folds over the diagonals
    p[flip] = (1 - np.abs(p[flip][:, ::-1])) * np.where(p[flip] >= 0, 1, -1)
    one = (1 << (bits - 1)) - 1
    dtype = np.int8 if stride == 4 else np.int16
    encoded = np.column_stack([np.round(p * one), np.full(64, one), np.full(64, -1)])
    rows = encoded.astype(dtype).view(np.uint8).reshape(64, stride)
    out = decode_view(encode_vertices(rows), 64, stride, "ATTRIBUTES", "OCTAHEDRAL")
    limit = np.iinfo(dtype).max
    decoded = np.frombuffer(out, dtype).reshape(64, 4)
    np.testing.assert_allclose(decoded[:, :3] / limit, normals, atol=4.0 / one + 1.0 / limit)
    assert (decoded[:, 3] == -1).all()  # the fourth component passes through


def test_quaternion_filter() -> None:
    quats = RNG.normal(size=(64, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    largest = np.abs(quats).argmax(axis=1)
    quats *= np.where(quats[np.arange(64), largest] < 0, -1, 1)[:, None]
    bits = 12
    one = (1 << (bits - 1)) - 1
    rest = np.stack([quats[np.arange(64), (largest + s) % 4] for s in (1, 2, 3)], 1)
    encoded = np.column_stack([np.round(rest * np.sqrt(2) * one), (one & ~3) | largest])
    rows = encoded.astype(np.int16).view(np.uint8).reshape(64, 8)
    out = decode_view(encode_vertices(rows, 1), 64, 8, "ATTRIBUTES", "QUATERNION")
    decoded = np.frombuffer(out, np.int16).reshape(64, 4) / 32767.0
    np.testing.assert_allclose(decoded, quats, atol=2.0 / one)


def test_exponential_filter_is_exact() -> None:
    exponent = RNG.integers(-100, 101, (50, 3))
    mantissa = RNG.integers(-(1 << 23), 1 << 23, (50, 3))
    words = (exponent << 24) | (mantissa & 0xFFFFFF)
    rows = words.astype(np.uint32).view(np.uint8).reshape(50, 12)
    out = np.frombuffer(decode_view(encode_vertices(rows), 50, 12, "ATTRIBUTES", "EXPONENTIAL"),
                        np.float32).reshape(50, 3)
    np.testing.assert_array_equal(out, np.ldexp(mantissa.astype(np.float64),
                                                exponent).astype(np.float32))


def test_color_filter() -> None:
    bits = 6  # K: Y in 6 bits, Co/Cg signed 6 bits, alpha 5 bits under a set bit 5
    top = (1 << bits) - 1
    rgb = RNG.integers(0, top + 1, (40, 3))
    # integer YCoCg-R-like split that the README's reconstruction inverts exactly
    co = (rgb[:, 0] - rgb[:, 2]) // 2
    cg = (2 * rgb[:, 1] - rgb[:, 0] - rgb[:, 2]) // 4
    y = rgb[:, 1] - cg
    back = np.column_stack([y + co - cg, y + cg, y - co - cg])
    keep = ((back >= 0) & (back <= top)).all(axis=1)
    alpha = RNG.integers(0, 1 << (bits - 1), 40)
    encoded = np.column_stack([y, co & 0xFF, cg & 0xFF, alpha | (1 << (bits - 1))])
    rows = encoded.astype(np.uint8)
    out = np.frombuffer(decode_view(encode_vertices(rows, 1), 40, 4, "ATTRIBUTES", "COLOR"),
                        np.uint8).reshape(40, 4)
    expected = np.round(back * 255.0 / top)
    np.testing.assert_array_equal(out[keep, :3], expected[keep])
    np.testing.assert_array_equal(out[:, 3], np.round(((alpha << 1) | (alpha & 1)) * 255 / top))


# --- malformed streams ----------------------------------------------------------------------


def _sample_streams() -> list[tuple[bytes, int, int, str]]:
    rows = _rows(100, 8, "smooth")
    indices = RNG.integers(0, 500, 90).astype(np.uint32)
    return [(encode_vertices(rows, 0), 100, 8, "ATTRIBUTES"),
            (encode_vertices(rows, 1), 100, 8, "ATTRIBUTES"),
            (encode_triangles(indices), 90, 4, "TRIANGLES"),
            (encode_sequence(indices), 90, 4, "INDICES")]


@pytest.mark.parametrize("case", range(4))
def test_truncated_extended_and_misheaded_streams_raise(case: int) -> None:
    stream, count, stride, mode = _sample_streams()[case]
    for bad in (stream[:-1], stream[: len(stream) // 2], stream[:1], stream + b"\0",
                bytes([stream[0] + 2]) + stream[1:], b""):
        with pytest.raises(CorruptFileError, match="meshopt"):
            decode_view(bad, count, stride, mode)


@pytest.mark.parametrize("case", range(4))
def test_random_damage_never_crashes(case: int) -> None:
    stream, count, stride, mode = _sample_streams()[case]
    for _ in range(150):
        damaged = bytearray(stream)
        for at in RNG.integers(0, len(stream), 3):
            damaged[at] = RNG.integers(0, 256)
        try:
            out = decode_view(bytes(damaged), count, stride, mode)
        except CorruptFileError:
            continue
        assert len(out) == count * stride


def test_unwritten_fifo_and_bad_tables_raise() -> None:
    with pytest.raises(CorruptFileError, match="FIFO"):  # edge 1 before any edge exists
        decode_view(bytes([0xE1, 0x10]) + bytes(16), 3, 4, "TRIANGLES")
    with pytest.raises(CorruptFileError, match="codeaux"):
        decode_view(bytes([0xE1, 0xF0]) + bytes([0xF1]) + bytes(15), 3, 4, "TRIANGLES")
    rows = _rows(20, 4, "smooth")
    stream = bytearray(encode_vertices(rows, 1))
    stream[-1] = 0x03  # channel mode 3 does not exist
    with pytest.raises(CorruptFileError, match="channel"):
        decode_view(bytes(stream), 20, 4, "ATTRIBUTES")


@pytest.mark.parametrize("count,stride,mode,filter,match", [
    (10**6, 4, "ATTRIBUTES", "NONE", "more than the codec"),
    (3 * 2**29, 4, "TRIANGLES", "NONE", "byte limit"),
    (4, 6, "ATTRIBUTES", "NONE", "multiple of 4"),
    (4, 4, "ATTRIBUTES", "QUATERNION", "byteStride 8"),
    (4, 4, "TRIANGLES", "NONE", "multiple of 3"),
    (3, 8, "TRIANGLES", "NONE", "2 or 4"),
    (3, 4, "INDICES", "OCTAHEDRAL", "cannot use filter"),
    (3, 4, "STRIPS", "NONE", "unknown mode"),
    (3, 4, "ATTRIBUTES", "SPIRAL", "unknown filter"),
])
def test_invalid_parameters_raise(count: int, stride: int, mode: str, filter: str,
                                  match: str) -> None:
    with pytest.raises(CorruptFileError, match=match):
        decode_view(bytes(64), count, stride, mode, filter)
