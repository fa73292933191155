"""TRELLIS.2 ``.vxz`` container: Morton codes, octree bytes, delta filters, reader and writer.

The reference behaviour is o_voxel's (``o-voxel/o_voxel/io/vxz.py``, ``o-voxel/src/io/svo.cpp``,
``filter_parent.cpp``, ``filter_neighbor.cpp``, ``o-voxel/src/serialize/z_order.cu``). The
oracles below restate those algorithms in the most direct form (recursion over the tree, a
dense scan for the neighbours) and are compared with the streaming numba kernels; the golden
files are worked out by hand from the same sources.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from meshprep.errors import CorruptFileError, MeshprepError
from meshprep.geometry.morton import MAX_BITS, morton_decode, morton_encode
from meshprep.voxel import _svo, vxz
from meshprep.voxel.vxz import VxzError, read_vxz, read_vxz_info, write_vxz

HEADER_KEYS = [
    "num_voxel",
    "chunk_size",
    "filter",
    "compression",
    "compression_level",
    "raw_size",
    "compressed_size",
    "compress_ratio",
    "attr_interleave",
    "attr",
    "chunks",
]


# ---------------------------------------------------------------------------------- oracles


def interleave_ref(x: int, y: int, z: int, bits: int = MAX_BITS) -> int:
    """Bit-by-bit Morton code: x at bit 3b + 2, y at 3b + 1, z at 3b (z_order.cu)."""
    code = 0
    for b in range(bits):
        code |= ((x >> b) & 1) << (3 * b + 2)
        code |= ((y >> b) & 1) << (3 * b + 1)
        code |= ((z >> b) & 1) << (3 * b)
    return code


def _group(code: int, level: int, depth: int) -> int:
    return (code >> (3 * (depth - 1 - level))) & 7


def _children(idx: list[int], codes: list[int], level: int, depth: int) -> list[list[int]]:
    groups = sorted({_group(codes[i], level, depth) for i in idx})
    return [[i for i in idx if _group(codes[i], level, depth) == g] for g in groups]


def svo_ref(codes: list[int], depth: int) -> bytes:
    """Octree bytes by recursion: a node's child mask, then its children's subtrees."""
    out = bytearray()

    def node(idx: list[int], level: int) -> None:
        kids = _children(idx, codes, level, depth)
        out.append(sum(1 << _group(codes[c[0]], level, depth) for c in kids))
        if level < depth - 1:
            for child in kids:
                node(child, level + 1)

    node(list(range(len(codes))), 0)
    return bytes(out)


def parent_ref(codes: list[int], depth: int, attr: np.ndarray) -> np.ndarray:
    """``parent`` deltas by recursion (filter_parent.cpp): a node's value is its first voxel's;
    row 0 the root's value, then per node in pre-order value(child k) - value(child k - 1)."""
    rows = [attr[0].astype(np.int64)]

    def node(idx: list[int], level: int) -> None:
        kids = _children(idx, codes, level, depth)
        for k in range(1, len(kids)):
            rows.append(attr[kids[k][0]].astype(np.int64) - attr[kids[k - 1][0]])
        if level < depth - 1:
            for child in kids:
                node(child, level + 1)

    node(list(range(len(codes))), 0)
    return (np.array(rows) % 256).astype(np.uint8)


def neighbor_ref(local: np.ndarray, attr: np.ndarray) -> np.ndarray:
    """``neighbor`` deltas as filter_neighbor.cpp computes them: scan z, y, x downwards over a
    dense grid, subtract the last occupied of the x, y, z, xy, xz, yz, xyz neighbours."""
    cells = {tuple(int(v) for v in p): attr[i].astype(np.int64) for i, p in enumerate(local)}
    offsets = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)]
    out = {}
    for key in sorted(cells, key=lambda p: (p[2], p[1], p[0]), reverse=True):
        x, y, z = key
        hit = None
        for dx, dy, dz in offsets:
            q = (x - dx, y - dy, z - dz)
            if min(q) >= 0 and q in cells:
                hit = q
        out[key] = cells[key] - (cells[hit] if hit is not None else 0)
    return np.array([out[tuple(int(v) for v in p)] % 256 for p in local], np.uint8)


def expected_order(coords: np.ndarray, chunk_size: int) -> np.ndarray:
    """o_voxel's voxel order: chunks sorted lexicographically, then local Morton code."""
    chunk = coords // chunk_size
    local = coords % chunk_size
    code = np.array([interleave_ref(*(int(v) for v in p), bits=10) for p in local])
    return np.lexsort((code, chunk[:, 2], chunk[:, 1], chunk[:, 0]))


def random_set(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    coords = np.unique(rng.integers(lo, hi, (n, 3)), axis=0)
    return coords[rng.permutation(len(coords))]


def random_attrs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "vertices": rng.integers(0, 256, (n, 3), dtype=np.uint8),
        "intersected": rng.integers(0, 8, (n, 1), dtype=np.uint8),
    }


def assert_same_voxels(c0, a0, c1, a1) -> None:
    o0, o1 = np.lexsort(c0.T), np.lexsort(c1.T)
    np.testing.assert_array_equal(c0[o0], c1[o1])
    assert list(a0) == list(a1)
    for k in a0:
        assert a1[k].dtype == np.uint8 and a1[k].shape == a0[k].shape
        np.testing.assert_array_equal(a0[k][o0], a1[k][o1])


def streams(path: Path) -> tuple[dict, list[dict[str, bytes]]]:
    """Header and each chunk's raw (decompressed) streams, parsed with the standard library."""
    data = path.read_bytes()
    (start,) = struct.unpack(">I", data[4:8])
    header = json.loads(data[8:start])
    out = []
    for info in header["chunks"]:
        off, n = info["ptr"]
        chunk = data[start + off : start + off + n]
        parts = {}
        for key, span in info.items():
            if key in ("idx", "ptr"):
                continue
            o, m = span
            raw = chunk[o : o + m]
            if header["compression"] == "lzma":
                filt = [{"id": lzma.FILTER_LZMA2, "preset": header["compression_level"]}]
                raw = lzma.decompress(raw, format=lzma.FORMAT_RAW, filters=filt)
            elif header["compression"] == "deflate":
                raw = zlib.decompress(raw, wbits=-15)
            parts[key] = raw
        out.append(parts)
    return header, out


# ---------------------------------------------------------------------------------- Morton


def test_morton_matches_bit_interleave() -> None:
    rng = np.random.default_rng(0)
    coords = rng.integers(0, 1 << MAX_BITS, (300, 3))
    coords[:4] = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [(1 << MAX_BITS) - 1] * 3]
    codes = morton_encode(coords)
    assert codes.dtype == np.int64
    assert codes.tolist() == [interleave_ref(*p) for p in coords.tolist()]
    assert codes[:4].tolist() == [0, 4, 2, (1 << 63) - 1]
    back = morton_decode(codes)
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, coords)


def test_morton_small_coords_round_trip_and_order() -> None:
    g = np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    codes = morton_encode(g)
    assert sorted(codes.tolist()) == list(range(512))  # a bijection of the 8^3 cube
    np.testing.assert_array_equal(morton_decode(codes), g)
    # z_order.cu's 30-bit layout: x above y above z in each group
    assert morton_encode(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [2, 0, 0]])).tolist() == [
        4,
        2,
        1,
        32,
    ]


@pytest.mark.parametrize("bad", [[[-1, 0, 0]], [[1 << MAX_BITS, 0, 0]], [[0.5, 0, 0]], [[1, 2]]])
def test_morton_rejects_bad_coords(bad) -> None:
    with pytest.raises(ValueError):
        morton_encode(np.array(bad))


def test_morton_decode_rejects_negative() -> None:
    with pytest.raises(ValueError):
        morton_decode(np.array([-1]))


# ---------------------------------------------------------------------------------- octree


def test_svo_hand_example() -> None:
    # chunk of side 4 (depth 2): (0,0,0) -> code 0 = groups (0, 0); (3,3,3) -> 63 = (7, 7).
    # root mask bits 0 and 7, then the node of group 0 (bit 0), then the node of group 7 (bit 7)
    codes = morton_encode(np.array([[0, 0, 0], [3, 3, 3]]))
    assert codes.tolist() == [0, 63]
    svo = _svo.svo_encode(codes, 2)
    assert svo.tobytes() == bytes([0x81, 0x01, 0x80])
    # (0,1,0) -> 2 = (0, 2); (1,0,0) -> 4 = (0, 4); (2,0,0) -> 32 = (4, 0)
    svo = _svo.svo_encode(np.array([2, 4, 32], np.int64), 2)
    assert svo.tobytes() == bytes([0b00010001, 0b00010100, 0b00000001])
    decoded, status = _svo.svo_decode(svo, 2)
    assert status == _svo.OK and decoded.tolist() == [2, 4, 32]
    # depth 1 (chunk of side 2): the root is the leaf mask
    assert _svo.svo_encode(np.array([0, 5, 7], np.int64), 1).tobytes() == bytes([0b10100001])


@pytest.mark.parametrize(("depth", "n"), [(1, 5), (2, 30), (4, 300), (4, 4000), (8, 2000)])
def test_svo_matches_recursive_definition(depth: int, n: int) -> None:
    rng = np.random.default_rng(depth * 1000 + n)
    codes = np.unique(rng.integers(0, 8**depth, n))
    svo = _svo.svo_encode(codes, depth)
    assert svo.tobytes() == svo_ref(codes.tolist(), depth)
    decoded, status = _svo.svo_decode(svo, depth)
    assert status == _svo.OK
    np.testing.assert_array_equal(decoded, codes)


def test_svo_decode_reports_truncation_and_trailing_bytes() -> None:
    svo = _svo.svo_encode(np.array([0, 63], np.int64), 2)
    assert _svo.svo_decode(svo[:-1], 2)[1] == _svo.TRUNCATED
    assert _svo.svo_decode(np.zeros(0, np.uint8), 2)[1] == _svo.TRUNCATED
    assert _svo.svo_decode(np.concatenate([svo, [1]]).astype(np.uint8), 2)[1] == _svo.TRAILING


# ---------------------------------------------------------------------------------- filters


@pytest.mark.parametrize(("depth", "n"), [(1, 6), (2, 40), (3, 200), (5, 500)])
def test_parent_filter_matches_recursive_definition(depth: int, n: int) -> None:
    rng = np.random.default_rng(n)
    codes = np.unique(rng.integers(0, 8**depth, n))
    attr = rng.integers(0, 256, (len(codes), 3), dtype=np.uint8)
    svo = _svo.svo_encode(codes, depth)
    row, ref = _svo.parent_rows(svo, codes, depth)
    assert sorted(row.tolist()) == list(range(len(codes)))  # one delta row per voxel
    delta = np.empty_like(attr)
    delta[0] = attr[0]
    delta[row[1:]] = attr[1:] - attr[ref[1:]]
    np.testing.assert_array_equal(delta, parent_ref(codes.tolist(), depth, attr))
    np.testing.assert_array_equal(_svo.parent_decode(row, ref, delta), attr)


@pytest.mark.parametrize(("side", "n"), [(2, 5), (4, 40), (8, 300)])
def test_neighbor_filter_matches_dense_scan(side: int, n: int) -> None:
    rng = np.random.default_rng(side)
    local = random_set(rng, n, 0, side)
    codes = morton_encode(local)
    order = np.argsort(codes)
    local, codes = local[order].astype(np.int32), codes[order]
    attr = rng.integers(0, 256, (len(codes), 2), dtype=np.uint8)
    ref = _svo.neighbor_refs(codes, local)
    delta = (attr - np.where(ref[:, None] >= 0, attr[np.maximum(ref, 0)], 0)).astype(np.uint8)
    np.testing.assert_array_equal(delta, neighbor_ref(local, attr))
    np.testing.assert_array_equal(_svo.neighbor_decode(ref, delta), attr)


# ---------------------------------------------------------------------------------- golden files


def test_golden_file_bytes(tmp_path: Path) -> None:
    # chunk_size 4: (3,3,3) and (0,0,0) in chunk (0,0,0), (5,0,0) in chunk (1,0,0) at local (1,0,0)
    coords = np.array([[3, 3, 3], [0, 0, 0], [5, 0, 0]], np.int32)
    attrs = {"a": np.array([[30], [0], [50]], np.uint8)}
    path = tmp_path / "g.vxz"
    write_vxz(path, coords, attrs, chunk_size=4, compression="none")
    header = (
        b'{"num_voxel": 3, "chunk_size": 4, "filter": "none", "compression": "none", '
        b'"compression_level": 0, "raw_size": 39, "compressed_size": 8, "compress_ratio": 4.875, '
        b'"attr_interleave": "as_is", "attr": [["a", 1]], "chunks": ['
        b'{"idx": [0, 0, 0], "svo": [0, 3], "a": [3, 2], "ptr": [0, 5]}, '
        b'{"idx": [1, 0, 0], "svo": [0, 2], "a": [2, 1], "ptr": [5, 3]}]}'
    )
    body = bytes([0x81, 0x01, 0x80, 0, 30]) + bytes([0x01, 0x10, 50])
    expected = b"VXZ\x00" + struct.pack(">I", 8 + len(header)) + header + body
    assert path.read_bytes() == expected
    c, a = read_vxz(path)
    assert c.dtype == np.int32 and c.tolist() == [[0, 0, 0], [3, 3, 3], [5, 0, 0]]
    assert a["a"].tolist() == [[0], [30], [50]]


def test_golden_filter_streams(tmp_path: Path) -> None:
    # parent: codes 2 (0,1,0), 4 (1,0,0), 32 (2,0,0): rows [a0, a(32) - a(2), a(4) - a(2)]
    coords = np.array([[2, 0, 0], [0, 1, 0], [1, 0, 0]])
    attrs = {"a": np.array([[5], [10], [20]], np.uint8)}
    write_vxz(tmp_path / "p.vxz", coords, attrs, chunk_size=4, filter="parent", compression="none")
    _, chunks = streams(tmp_path / "p.vxz")
    assert chunks[0]["a"] == bytes([10, (5 - 10) % 256, 10])
    assert_same_voxels(coords, attrs, *read_vxz(tmp_path / "p.vxz"))
    # neighbor: (1,0,0) refers to (0,0,0) via x; (1,1,1) to (0,0,0) via xyz, which outranks yz
    coords = np.array([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    attrs = {"a": np.array([[50], [110], [100]], np.uint8)}
    write_vxz(tmp_path / "n.vxz", coords, attrs, chunk_size=4, filter="neighbor",
              compression="none")  # fmt: skip
    _, chunks = streams(tmp_path / "n.vxz")
    assert chunks[0]["a"] == bytes([100, 10, (50 - 100) % 256])
    assert_same_voxels(coords, attrs, *read_vxz(tmp_path / "n.vxz"))


# ---------------------------------------------------------------------------------- container


def test_round_trip_multichunk_lzma_and_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    coords = random_set(rng, 3000, 0, 300)  # 8 chunks of 256
    attrs = random_attrs(rng, len(coords))
    path = tmp_path / "v.vxz"
    write_vxz(path, coords, attrs)
    c, a = read_vxz(path)
    order = expected_order(coords, 256)
    np.testing.assert_array_equal(c, coords[order])
    for k in attrs:
        np.testing.assert_array_equal(a[k], attrs[k][order])
    header = read_vxz_info(path)
    assert list(header) == HEADER_KEYS
    assert header["num_voxel"] == len(coords)
    assert header["compression"] == "lzma" and header["compression_level"] == 9
    assert header["filter"] == "none" and header["attr_interleave"] == "as_is"
    assert header["attr"] == [["vertices", 3], ["intersected", 1]]
    assert header["raw_size"] == len(coords) * (12 + 4)
    assert header["compressed_size"] == path.stat().st_size - 8 - len(
        json.dumps(header).encode()
    )
    assert header["compress_ratio"] == header["raw_size"] / header["compressed_size"]
    idx = [ch["idx"] for ch in header["chunks"]]
    assert idx == sorted(idx) and len(idx) == 8
    assert [list(ch) for ch in header["chunks"]] == [
        ["idx", "svo", "vertices", "intersected", "ptr"]
    ] * 8
    ptrs = [ch["ptr"] for ch in header["chunks"]]
    assert ptrs[0][0] == 0
    assert all(p[0] + p[1] == q[0] for p, q in zip(ptrs, ptrs[1:], strict=False))
    # every stream is a raw LZMA2 stream the standard library reads
    _, chunks = streams(path)
    assert len(chunks[0]["svo"]) > 0


@pytest.mark.parametrize("flt", ["none", "parent", "neighbor"])
@pytest.mark.parametrize("inter", ["as_is", "none", "all"])
def test_round_trip_filters_interleaves(tmp_path: Path, flt: str, inter: str) -> None:
    rng = np.random.default_rng(5)
    coords = random_set(rng, 1500, -20, 40)  # negative coordinates, many chunks of 16
    attrs = random_attrs(rng, len(coords))
    attrs["metallic"] = (coords[:, :1] % 5).astype(np.uint8)
    path = tmp_path / "f.vxz"
    write_vxz(path, coords, attrs, chunk_size=16, filter=flt, compression="deflate",
              attr_interleave=inter)  # fmt: skip
    c, a = read_vxz(path, num_threads=2)
    order = expected_order(coords, 16)
    np.testing.assert_array_equal(c, coords[order])
    for k in attrs:
        np.testing.assert_array_equal(a[k], attrs[k][order])
    header, chunks = streams(path)
    assert min(ch["idx"][0] for ch in header["chunks"]) == -2
    names = {"as_is": list(attrs), "none": [f"{k}_{i}" for k in attrs for i in
             range(attrs[k].shape[1])], "all": ["attr"]}[inter]  # fmt: skip
    assert all(list(ch)[:-1] == ["idx", "svo", *names] for ch in header["chunks"])
    if flt == "parent" and inter == "all":
        # the stream is the recursive definition applied to the chunk's sorted voxels
        s = 0
        block = np.concatenate(list(attrs.values()), axis=1)[order]
        for parts in chunks:
            codes, _ = _svo.svo_decode(np.frombuffer(parts["svo"], np.uint8), 4)
            rows = block[s : s + len(codes)]
            assert parts["attr"] == parent_ref(codes.tolist(), 4, rows).tobytes()
            s += len(codes)


@pytest.mark.parametrize("compression", ["none", "deflate", "lzma"])
def test_compressions_and_levels(tmp_path: Path, compression: str) -> None:
    rng = np.random.default_rng(9)
    coords = random_set(rng, 500, 0, 64)
    attrs = random_attrs(rng, len(coords))
    default = vxz.DEFAULT_COMPRESSION_LEVEL[compression]
    for level, stored in [(None, default), (0, default), (3, 3 if compression != "none" else 3)]:
        path = tmp_path / f"{compression}{level}.vxz"
        write_vxz(path, coords, attrs, chunk_size=64, compression=compression,
                  compression_level=level)  # fmt: skip
        header, _ = streams(path)
        assert header["compression"] == compression
        assert header["compression_level"] == stored
        assert_same_voxels(coords, attrs, *read_vxz(path))


def test_zstd(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    coords = random_set(rng, 200, 0, 40)
    attrs = random_attrs(rng, len(coords))
    try:
        import zstandard  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(ModuleNotFoundError, match="zstandard"):
            write_vxz(tmp_path / "z.vxz", coords, attrs, compression="zstd")
        assert not (tmp_path / "z.vxz").exists()
        return
    write_vxz(tmp_path / "z.vxz", coords, attrs, compression="zstd", chunk_size=32)
    assert read_vxz_info(tmp_path / "z.vxz")["compression_level"] == 22
    assert_same_voxels(coords, attrs, *read_vxz(tmp_path / "z.vxz"))


def test_file_objects_threads_and_atomic_replace(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(4)
    coords = random_set(rng, 800, 0, 100)
    attrs = random_attrs(rng, len(coords))
    path = tmp_path / "a.vxz"
    write_vxz(path, coords, attrs, chunk_size=32, compression="deflate", num_threads=1)
    buf = io.BytesIO()
    write_vxz(buf, coords, attrs, chunk_size=32, compression="deflate", num_threads=3)
    assert buf.getvalue() == path.read_bytes()  # bytes do not depend on threads or target
    assert read_vxz_info(io.BytesIO(buf.getvalue())) == read_vxz_info(str(path))
    assert_same_voxels(coords, attrs, *read_vxz(io.BytesIO(buf.getvalue())))
    # a failure while encoding leaves the old file and no temporary file behind
    old = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(vxz, "_compress", boom)
    with pytest.raises(RuntimeError):
        write_vxz(path, coords[:10], {k: v[:10] for k, v in attrs.items()})
    monkeypatch.undo()
    assert path.read_bytes() == old
    write_vxz(os.fspath(path), coords[:10], {k: v[:10] for k, v in attrs.items()},
              compression="none", durable=False)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vxz"]
    assert read_vxz_info(path)["num_voxel"] == 10


@pytest.mark.parametrize(
    ("coords", "attrs", "kwargs", "match"),
    [
        ([[0, 0, 0], [0, 0, 0]], {"a": [[1], [2]]}, {}, "duplicate"),
        (np.zeros((0, 3), int), {"a": np.zeros((0, 1))}, {}, "at least one voxel"),
        ([[0, 0, 0]], {}, {}, "at least one attribute"),
        ([[0, 0, 0]], {"a": np.array([[1.0]])}, {}, "uint8"),
        ([[0, 0, 0]], {"a": [[1], [2]]}, {}, "must be"),
        ([[0, 0, 0]], {"a": np.zeros(1)}, {}, "must be"),
        ([[0.0, 0, 0]], {"a": [[1]]}, {}, "integer"),
        ([[0, 0, 0]], {"a": [[1]]}, {"chunk_size": 48}, "power of two"),
        ([[0, 0, 0]], {"a": [[1]]}, {"chunk_size": 2048}, "power of two"),
        ([[0, 0, 0]], {"a": [[1]]}, {"filter": "delta"}, "filter"),
        ([[0, 0, 0]], {"a": [[1]]}, {"compression": "brotli"}, "compression"),
        ([[0, 0, 0]], {"a": [[1]]}, {"attr_interleave": "some"}, "attr_interleave"),
        ([[0, 0, 0]], {"a": [[1]]}, {"compression_level": 12}, "level"),
        ([[0, 0, 0]], {"svo": [[1]]}, {}, "clash"),
        ([[0, 0, 0]], {"ptr": [[1]]}, {}, "clash"),
    ],
)
def test_write_rejects_bad_input(tmp_path: Path, coords, attrs, kwargs, match) -> None:
    attrs = {k: np.asarray(v, np.uint8) if isinstance(v, list) else v for k, v in attrs.items()}
    with pytest.raises(ValueError, match=match):
        write_vxz(tmp_path / "x.vxz", np.asarray(coords), attrs, **kwargs)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------- bad files


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(6)
    coords = random_set(rng, 300, 0, 64)
    path = tmp_path / "ok.vxz"
    write_vxz(path, coords, random_attrs(rng, len(coords)), chunk_size=32, compression="deflate")
    return path


def _with_header(data: bytes, edit) -> bytes:
    (start,) = struct.unpack(">I", data[4:8])
    header = json.loads(data[8:start])
    edit(header)
    text = json.dumps(header).encode()
    return data[:4] + struct.pack(">I", 8 + len(text)) + text + data[start:]


def _set_svo_length(header: dict) -> None:
    header["chunks"][0]["svo"][1] -= 1


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: b"", "truncated"),
        (lambda d: d[:6], "truncated"),
        (lambda d: b"PLY" + d[3:], "not a VXZ"),
        (lambda d: d[:3] + b"\x01" + d[4:], "version"),
        (lambda d: d[:4] + struct.pack(">I", len(d) + 1) + d[8:], "truncated"),
        (lambda d: d[:8] + b"[" + d[9:], "JSON"),
        (lambda d: d[: len(d) - 7], "truncated"),
        (lambda d: _with_header(d, lambda h: h.update(compression="brotli")), "compression"),
        (lambda d: _with_header(d, lambda h: h.update(filter="delta")), "filter"),
        (lambda d: _with_header(d, lambda h: h.update(chunk_size=48)), "chunk_size"),
        (lambda d: _with_header(d, lambda h: h.update(num_voxel=1)), "voxels"),
        (lambda d: _with_header(d, lambda h: h.pop("attr")), "field"),
        (lambda d: _with_header(d, _set_svo_length), "deflate"),
    ],
)
def test_read_rejects_bad_files(good_file: Path, mutate, match) -> None:
    bad = good_file.with_name("bad.vxz")
    bad.write_bytes(mutate(good_file.read_bytes()))
    with pytest.raises(VxzError, match=match) as info:
        read_vxz(bad)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, CorruptFileError) and isinstance(info.value, MeshprepError)


def test_read_rejects_bad_octree_and_streams(tmp_path: Path) -> None:
    coords = np.array([[0, 0, 0], [3, 3, 3]])
    write_vxz(tmp_path / "n.vxz", coords, {"a": np.array([[1], [2]], np.uint8)}, chunk_size=4,
              compression="none")  # fmt: skip
    data = (tmp_path / "n.vxz").read_bytes()
    (start,) = struct.unpack(">I", data[4:8])
    body = data[start:]  # svo 81 01 80, attr 01 02
    cases = {
        "octree": body[:1] + b"\x00" + body[2:],  # an empty child mask
        "expected 3": body[:2] + b"\x81" + body[3:],  # the octree now holds 3 voxels: 2 attr bytes
    }
    for match, new in cases.items():
        (tmp_path / "b.vxz").write_bytes(data[:start] + new)
        with pytest.raises(VxzError, match=match):
            read_vxz(tmp_path / "b.vxz")
    # an LZMA stream cut short
    write_vxz(tmp_path / "l.vxz", coords, {"a": np.array([[1], [2]], np.uint8)}, chunk_size=4)
    (tmp_path / "b.vxz").write_bytes(_with_header((tmp_path / "l.vxz").read_bytes(),
                                                  _set_svo_length))  # fmt: skip
    with pytest.raises(VxzError, match="lzma"):
        read_vxz(tmp_path / "b.vxz")
