"""The ``unirig`` layout, read back as UniRig's ``RawData.load`` reads it.

The asset is ``tests/io/test_rig.py``'s two-bone chain (hip -> knee -> toe; bind-pose joints
(1, 3, 3), (1, 5, 3), (1, 7, 3); a strip weighted to hip and knee; an unskinned triangle; frame
0 turns the knee a quarter about z). ``_RawData`` transcribes the fields of
VAST-AI-Research/UniRig ``src/data/raw_data.py`` (``RawData(**d)`` rejects any other key) and
its ``check``; ``_load`` its ``load``. Expected numbers are the hand-known bind pose moved by
the store's normalization and turned into Blender's axes, ``(x, y, z) -> (x, -z, y)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial import cKDTree

import meshprep as mp
from meshprep.export.layouts import LayoutSkip, get_layout
from meshprep.io.rig import RIG_FILE, save_rig
from tests.io.test_rig import STRIP, STRIP_WEIGHTS, TRIANGLE, _two_bones

LAYOUT = "unirig"
BIND_JOINTS = np.array([[1.0, 3.0, 3.0], [1.0, 5.0, 3.0], [1.0, 7.0, 3.0]])
# the toe (a leaf) takes its parent's length, 2, along its local +y
BIND_TAILS = np.array([[1.0, 5.0, 3.0], [1.0, 7.0, 3.0], [1.0, 9.0, 3.0]])


def rig_store(tmp_path: Path, edit: Any = None) -> tuple[Path, np.ndarray]:
    """A store folder holding the two-bone asset's ``rig.npz`` (``edit`` changes the rig), and
    the normalization's transform."""
    mesh = mp.load(_two_bones(tmp_path / "two_bones.glb"), rig=True)
    normalized, transform = mp.normalize(mesh)
    rig = mesh.metadata["meshprep_rig"].transformed(transform)
    store = tmp_path / "store"
    store.mkdir()
    save_rig(store / RIG_FILE, normalized.vertices, normalized.faces,
             edit(rig) if edit else rig)
    return store, transform


def blender(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Source coordinates -> the store's canonical frame -> Blender's axes."""
    moved = np.asarray(points, np.float64) @ transform[:3, :3].T + transform[:3, 3]
    return np.c_[moved[:, 0], -moved[:, 2], moved[:, 1]]


@dataclass(frozen=True)
class _RawData:
    """The fields of UniRig's ``RawData``, in its order and with its defaults."""

    vertices: Any
    vertex_normals: Any
    faces: Any
    face_normals: Any
    joints: Any
    skin: Any
    parents: Any
    names: Any
    matrix_local: Any
    tails: Any = None
    no_skin: Any = None
    path: Any = None
    cls: Any = None

    def check(self) -> None:
        assert len(self.names) == len(self.joints) == len(self.parents)
        for i, pid in enumerate(self.parents):
            assert (pid is None) if i == 0 else (pid is not None and pid < i)


def _load(path: Path) -> _RawData:
    """``RawData.load``."""
    data = np.load(path, allow_pickle=True)
    d = {name: data[name][()] for name in data}
    d["path"] = str(path)
    d["no_skin"] = ~np.any(d["skin"] > 0, axis=0) if d.get("skin") is not None else None
    return _RawData(**d)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[_RawData, np.ndarray, Path]:
    tmp = tmp_path_factory.mktemp("unirig")
    store, transform = rig_store(tmp)
    paths = get_layout(LAYOUT).from_asset(store, tmp / "out", "chain")
    assert paths == [tmp / "out" / "chain" / "raw_data.npz"]
    return _load(paths[0]), transform, tmp / "out"


def test_keys_and_dtypes_are_raw_datas(exported) -> None:
    raw, _, _ = exported
    raw.check()
    assert raw.vertices.dtype == raw.vertex_normals.dtype == np.float32
    assert raw.face_normals.dtype == raw.joints.dtype == raw.tails.dtype == np.float32
    assert raw.skin.dtype == raw.matrix_local.dtype == np.float32
    assert raw.faces.dtype == np.int64 and raw.faces.shape == (5, 3)
    assert raw.vertices.shape == (9, 3) and raw.skin.shape == (9, 3)
    assert raw.matrix_local.shape == (3, 4, 4) and raw.cls is None
    assert list(raw.parents) == [None, 0, 1] and all(type(p) is int for p in raw.parents[1:])
    assert raw.names.tolist() == ["hip", "knee", "toe"]
    assert raw.no_skin.tolist() == [False, False, True]  # the toe carries no weight


def test_bind_pose_in_blender_axes(exported) -> None:
    raw, transform, _ = exported
    np.testing.assert_allclose(raw.joints, blender(BIND_JOINTS, transform), atol=1e-5)
    np.testing.assert_allclose(raw.tails, blender(BIND_TAILS, transform), atol=1e-5)
    # the strip is back where the file has it (frame 0 bent its top row), the triangle stays
    expected = blender(np.r_[STRIP, TRIANGLE], transform)
    distance, match = cKDTree(expected).query(raw.vertices)
    assert distance.max() < 1e-5 and sorted(match) == list(range(9))
    weights = np.r_[STRIP_WEIGHTS[:, :3], np.zeros((3, 3))]
    np.testing.assert_allclose(raw.skin, weights[match], atol=1e-6)
    np.testing.assert_allclose(raw.skin[match < 6].sum(axis=1), 1.0, atol=1e-6)


def test_matrix_local_is_the_roll_zero_rest_matrix(exported) -> None:
    raw, _, _ = exported
    np.testing.assert_allclose(raw.matrix_local[:, :3, 3], raw.joints, atol=1e-6)
    rotation = raw.matrix_local[:, :3, :3].astype(np.float64)
    np.testing.assert_allclose(rotation @ rotation.transpose(0, 2, 1), np.repeat(
        np.eye(3)[None], 3, axis=0), atol=1e-6)
    # every bone points along glTF +y, Blender +z: the shortest turn of +y onto +z
    np.testing.assert_allclose(rotation, np.repeat(
        np.array([[[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]]), 3, axis=0), atol=1e-6)
    np.testing.assert_array_equal(raw.matrix_local[:, 3], [[0, 0, 0, 1]] * 3)
    direction = raw.tails - raw.joints
    np.testing.assert_allclose(rotation[:, :, 1], direction / np.linalg.norm(
        direction, axis=1, keepdims=True), atol=1e-6)


def test_reader_and_item_lists(exported) -> None:
    raw, _, out = exported
    layout = get_layout(LAYOUT)
    read = layout.read(out, "chain")
    assert set(read) == set(_RawData.__dataclass_fields__)
    np.testing.assert_array_equal(read["joints"], raw.joints)
    paths = layout.write_lists(out, ["chain", "b"])
    assert [p.relative_to(out).as_posix() for p in paths] == [
        "datalist/meshprep_train.txt", "datalist/meshprep_test.txt"]
    # Datapath: input_dataset_dir / line.strip() / raw_data.npz
    lines = paths[0].read_text().splitlines()
    assert lines == ["b", "chain"] and (out / lines[1] / "raw_data.npz").is_file()


def test_assets_without_a_rig_or_with_two_roots_are_skipped(tmp_path: Path) -> None:
    layout = get_layout(LAYOUT)
    with pytest.raises(LayoutSkip, match="no rig.npz"):
        layout.from_asset(tmp_path, tmp_path / "out", "none")
    store, _ = rig_store(tmp_path, lambda rig: replace(rig, parents=np.array([-1, -1, 1])))
    with pytest.raises(LayoutSkip, match="2 skeleton roots"):
        layout.from_asset(store, tmp_path / "out", "two")


@pytest.mark.parametrize("vector", [[0, 1, 0], [1, 0, 0], [0.3, -0.2, 0.9], [1e-3, -1, 0],
                                    [0, -1, 0]])
def test_roll_zero_rotation_turns_y_onto_the_bone(vector: list[float]) -> None:
    from meshprep.export._rig_frames import roll_zero_rotation

    rotation = roll_zero_rotation(np.asarray(vector, np.float64))
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(rotation[:, 1], vector / np.linalg.norm(vector), atol=1e-6)


def test_duplicate_names_get_blenders_suffixes() -> None:
    from meshprep.export._rig_frames import blender_names

    assert blender_names(["a", "b", "a", "a", "a.001"]) == ["a", "b", "a.001", "a.002",
                                                             "a.001.001"]
