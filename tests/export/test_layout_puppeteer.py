"""The ``puppeteer`` layout, read back as Puppeteer's scripts read it.

The asset is the two-bone chain of ``tests/io/test_rig.py`` (see ``test_layout_unirig.py``).
``_read_obj`` and ``_read_rig`` transcribe ``read_obj_file`` and ``read_rig_file`` of
Seed3D/Puppeteer ``skeleton/data_utils/save_npz.py``; the dataset file is opened as
``SkeletonData.load`` (``skeleton/utils/skeleton_data_loader.py``) opens it and its skin
rebuilt as ``skeleton/data_utils/read_npz.py`` and ``skinning/utils/save_h5.py`` rebuild it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from meshprep.export.layouts import LayoutSkip, get_layout
from tests.io.test_rig import STRIP, STRIP_WEIGHTS, TRIANGLE

from .test_layout_unirig import BIND_JOINTS, blender, rig_store

LAYOUT = "puppeteer"


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vertices, faces, normals = [], [], []
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            vertices.append([float(p) for p in line.split()[1:4]])
        elif line.startswith("vn "):
            normals.append([float(p) for p in line.split()[1:4]])
        elif line.startswith("f "):
            faces.append([int(p.split("//")[0]) - 1 for p in line.split()[1:]])
    return np.array(vertices), np.array(faces), np.array(normals)


def _read_rig(path: Path) -> tuple[np.ndarray, np.ndarray, int, list[str], dict]:
    joints, bones, names, mapping, skin, root = [], [], [], {}, {}, None
    for line in path.read_text().splitlines():
        parts = line.split()
        if line.startswith("joints"):
            mapping[parts[1]] = len(joints)
            joints.append([float(p) for p in parts[2:5]])
            names.append(parts[1])
        elif line.startswith("hier"):
            bones.append([mapping[parts[1]], mapping[parts[2]]])
        elif line.startswith("root"):
            root = mapping[parts[1]]
        elif line.startswith("skin"):
            pairs = skin.setdefault(int(parts[1]), [])
            for i in range(2, len(parts), 2):
                if i + 1 < len(parts) and parts[i] in mapping:
                    pairs.append((mapping[parts[i]], float(parts[i + 1])))
    return np.array(joints), np.array(bones), root, names, skin


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, np.ndarray]:
    tmp = tmp_path_factory.mktemp("puppeteer")
    store, transform = rig_store(tmp)
    out = tmp / "out"
    paths = get_layout(LAYOUT).from_asset(store, out, "chain")
    assert [p.relative_to(out).as_posix() for p in paths] == [
        "meshes/chain.obj", "rigs/chain.txt", "items/chain.npy"]
    return out, transform


def test_obj_and_rig_txt(exported) -> None:
    out, transform = exported
    vertices, faces, normals = _read_obj(out / "meshes" / "chain.obj")
    # the store's vertex order (strip, then triangle), back in the bind pose, Blender axes
    np.testing.assert_allclose(vertices, blender(np.r_[STRIP, TRIANGLE], transform), atol=1e-5)
    assert faces.dtype == np.int64 and faces.shape == (5, 3)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.abs(normals[:6]), [[0, 1, 0]] * 6, atol=1e-6)  # the strip
    joints, bones, root, names, skin = _read_rig(out / "rigs" / "chain.txt")
    np.testing.assert_allclose(joints, blender(BIND_JOINTS, transform), atol=1e-7)
    assert names == ["hip", "knee", "toe"] and root == 0
    assert bones.tolist() == [[0, 1], [1, 2]]
    assert sorted(skin) == list(range(9)) and skin[6] == skin[7] == skin[8] == []
    assert skin[0] == [(0, 1.0)] and skin[2] == [(0, 0.25), (1, 0.75)] and skin[5] == [(1, 1.0)]
    lines = (out / "rigs" / "chain.txt").read_text().splitlines()
    assert lines[:4] == [f"joints {n} " + " ".join(f"{c:.8f}" for c in p) for n, p in zip(
        names, blender(BIND_JOINTS, transform), strict=True)] + ["root hip"]
    assert lines[-2:] == ["hier hip knee", "hier knee toe"] and lines[10] == "skin 6 "


def test_dataset_npz_as_the_loaders_open_it(exported) -> None:
    out, transform = exported
    paths = get_layout(LAYOUT).write_lists(out, ["chain"])
    assert [p.name for p in paths] == ["meshprep_train.npz", "meshprep_test.npz"]
    loaded = np.load(paths[0], allow_pickle=True)
    assert sorted(loaded.files) == ["allow_pickle", "arr_0"]  # as process_files saves
    data = [item for item in loaded["arr_0"]]
    assert len(data) == 1
    item = data[0]
    # normalize_to_unit_cube(vertices, normals, scale_factor=0.5) and the joints with it
    bind = blender(np.r_[STRIP, TRIANGLE], transform)
    center = (bind.min(axis=0) + bind.max(axis=0)) / 2
    scale = 0.5 / np.abs(bind - center).max()
    np.testing.assert_allclose(item["vertices"], (bind - center) * scale, atol=1e-5)
    assert np.abs(item["vertices"]).max() == pytest.approx(0.5)
    np.testing.assert_allclose(item["joints"], (blender(BIND_JOINTS, transform) - center)
                               * scale, atol=1e-5)
    assert item["bones"].astype(np.int64).tolist() == [[0, 1], [1, 2]]
    assert item["faces"].dtype == np.int64 and item["root_index"] == 0
    assert item["uuid"] == "chain" and item["joint_names"] == ["hip", "knee", "toe"]
    pc = item["pc_w_norm"]
    assert pc.shape == (8192, 6) and pc.dtype == np.float16
    assert np.abs(pc[:, :3]).max() == pytest.approx(0.9995, abs=1e-3)
    assert np.linalg.norm(pc[:, 3:].astype(np.float32), axis=1).min() >= 0.99  # no reroll
    for row, col in (("row", "col"), ("rows", "cols")):
        skin = sp.coo_matrix((item["skinning_weights_value"],
                              (item[f"skinning_weights_{row}"], item[f"skinning_weights_{col}"])),
                             shape=item["skinning_weights_shape"]).toarray()
        np.testing.assert_allclose(skin, np.r_[STRIP_WEIGHTS[:, :3], np.zeros((3, 3))],
                                   atol=1e-6)


def test_reader_matches_the_files(exported) -> None:
    out, _ = exported
    read = get_layout(LAYOUT).read(out, "chain")
    assert read["skin"].shape == (9, 3)
    np.testing.assert_allclose(read["skin"].sum(axis=1), [1] * 6 + [0] * 3, atol=1e-6)


def test_assets_without_a_rig_are_skipped(tmp_path: Path) -> None:
    with pytest.raises(LayoutSkip, match="no rig.npz"):
        get_layout(LAYOUT).from_asset(tmp_path, tmp_path / "out", "none")


def test_names_are_sanitized_as_the_blender_script_does() -> None:
    from meshprep.export.layout_puppeteer import txt_names

    assert txt_names(["mixamorig:Hips", "a b.001", "a-b.001"]) == [
        "mixamorig_Hips", "a_b_001", "a_b_001_1"]


def test_the_entry_is_what_the_written_files_parse_to(exported) -> None:
    """The export builds its dataset entry from the arrays it writes, with the same formatted
    numbers; parsing the written files (process_single_file's way) must give the same."""
    from meshprep.export.layout_puppeteer import ITEMS, item_from_files

    out, _ = exported
    entry = np.load(out / ITEMS / "chain.npy", allow_pickle=True)[()]
    parsed = item_from_files(out / "meshes" / "chain.obj", out / "rigs" / "chain.txt",
                             entry["pc_w_norm"])
    assert sorted(entry) == sorted(parsed)
    for key, value in parsed.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(entry[key], value, err_msg=key)
        else:
            assert entry[key] == value, key


def test_text_is_record_obj_and_record_info_line_by_line() -> None:
    """The whole-file formatting (each distinct number formatted once) gives the bytes of the
    plain per-line formatting: ``repr`` floats (``-0.0``, exponents), ``%.4f`` weights, a
    vertex without weights keeping its space."""
    from meshprep.export._rig_frames import BindRig
    from meshprep.export.layout_puppeteer import obj_text, rig_text

    vertices = np.array([[0.0, -0.0, 1e-5], [1e16, 0.1, -2.5], [0.1, 0.0, 1 / 3]])
    normals = np.array([[0.0, 0.0, 1.0], [-0.0, 1.0, 0.0], [0.6, 0.8, 0.0]])
    faces = np.array([[0, 1, 2], [2, 1, 0]])
    lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in vertices.tolist()] + [""]
    lines += [f"vn {x!r} {y!r} {z!r}" for x, y, z in normals.tolist()] + [""]
    lines += [f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in (faces + 1).tolist()]
    assert obj_text(vertices, normals, faces) == "\n".join(lines) + "\n"

    weights = np.array([[0.25, 0.75], [0.0, 0.0], [1.0, 0.0]], np.float32)
    bind = BindRig(vertices, faces, ["a", "b"], np.array([-1, 0]), np.eye(3)[:2],
                   np.eye(3)[:2], np.stack([np.eye(3)] * 2), weights)
    expected = ["joints a 1.00000000 0.00000000 0.00000000",
                "joints b 0.00000000 1.00000000 0.00000000", "root a",
                "skin 0 a 0.2500 b 0.7500", "skin 1 ", "skin 2 a 1.0000", "hier a b"]
    assert rig_text(bind, ["a", "b"]) == "\n".join(expected) + "\n"
