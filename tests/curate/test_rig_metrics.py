"""``rig_metrics`` on the two-bone chain of ``tests/io/test_rig.py`` and on crafted bad rigs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import meshprep as mp
from meshprep.curate.rig_metrics import rig_metrics
from meshprep.io.rig import Rig
from tests.io.test_rig import _two_bones

KEYS = {"rig_joints", "rig_weight_error", "rig_unskinned_share", "rig_joints_outside",
        "rig_unused_bones"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> tuple[np.ndarray, Rig]:
    mesh = mp.load(_two_bones(tmp_path_factory.mktemp("rig") / "chain.glb"), rig=True)
    return np.asarray(mesh.vertices), mesh.metadata["meshprep_rig"]


def _plain(metrics: dict) -> None:
    assert set(metrics) == KEYS
    assert type(metrics["rig_joints"]) is int
    assert all(type(metrics[k]) is float for k in KEYS - {"rig_joints"})


def test_the_chain(chain) -> None:
    vertices, rig = chain
    metrics = rig_metrics(vertices, rig)
    _plain(metrics)
    # 6 strip vertices skinned (weights sum to 1 in the file), 3 triangle vertices not; the
    # box of strip + triangle at frame 0 is x 0..6, y 0..5.5, z 0..3 (diagonal 8.67, margin
    # 0.43): the turned toe at x = -1 is outside it; the toe is a leaf without weight
    assert metrics == {"rig_joints": 3, "rig_weight_error": 0.0, "rig_unskinned_share": 3 / 9,
                       "rig_joints_outside": 1 / 3, "rig_unused_bones": 1 / 3}


def test_weights_summing_to_a_half(chain) -> None:
    vertices, rig = chain
    totals = np.where(rig.skinned, 0.5, 0.0).astype(np.float32)
    totals[0] = 1.0005  # within the tolerance
    assert rig_metrics(vertices, replace(rig, totals=totals))["rig_weight_error"] == 5 / 6


def test_a_joint_far_outside(chain) -> None:
    vertices, rig = chain
    joints = rig.joints.copy()
    diagonal = np.linalg.norm(np.ptp(vertices, axis=0))
    joints[1] = vertices.max(axis=0) + [0.0, 0.06 * diagonal, 0.0]  # past the 5% margin
    joints[2] = vertices.min(axis=0) - 0.04 * diagonal  # within it
    assert rig_metrics(vertices, replace(rig, joints=joints))["rig_joints_outside"] == 1 / 3


def test_leaf_bones_without_weight(chain) -> None:
    vertices, rig = chain
    # a second leaf under the hip, no vertex weighted to it: toe and it are unused, the hip
    # (weighted) and the knee (weighted, and a parent) are not
    grown = replace(rig, names=[*rig.names, "extra"], parents=np.r_[rig.parents, 0],
                    joints=np.r_[rig.joints, rig.joints[:1]])
    assert rig_metrics(vertices, grown)["rig_unused_bones"] == 2 / 4
    # a joint with a child but no weight is normal: reweight everything to the toe
    to_toe = replace(rig, indices=np.full_like(rig.indices, 2),
                     weights=np.where(rig.weights > 0, 1.0, 0.0).astype(np.float32))
    metrics = rig_metrics(vertices, to_toe)
    assert metrics["rig_unused_bones"] == 0.0


def test_no_vertices_and_no_joints() -> None:
    eye = np.zeros((0, 4, 4))
    empty = Rig([], np.zeros(0, np.int64), np.zeros((0, 3)), eye, eye, np.zeros(0, np.int64),
                np.zeros((0, 1), np.int32), np.zeros((0, 1), np.float32), np.zeros(0, bool),
                np.zeros(0, np.float32))
    metrics = rig_metrics(np.zeros((0, 3)), empty)
    _plain(metrics)
    assert metrics == dict.fromkeys(KEYS, 0) | {"rig_joints": 0}
