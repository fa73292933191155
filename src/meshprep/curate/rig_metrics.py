"""Metrics of a mesh's rig (``load(path, rig=True)``), the numbers rig curation decides on."""

from __future__ import annotations

import numpy as np

from meshprep.io.rig import Rig

#: a skinned vertex whose file weights sum further than this from 1 counts as a weight error
WEIGHT_TOLERANCE = 1e-3
#: joints further outside the vertices' box than this share of its diagonal count as outside
OUTSIDE_MARGIN = 0.05


def rig_metrics(vertices: np.ndarray, rig: Rig) -> dict[str, float | int]:
    """Plain numbers describing a rig's quality.

    Parameters
    ----------
    vertices : (V, 3) array
        The mesh the rig skins, in the rig's frame (rows aligned with its weights).
    rig : Rig
        Its skeleton and weights.

    Returns
    -------
    dict
        ``rig_joints`` (int): joints ``J``.
        ``rig_weight_error`` (float): share of skinned vertices whose file weight sum
        (``totals``) differs from 1 by more than :data:`WEIGHT_TOLERANCE`.
        ``rig_unskinned_share`` (float): share of vertices not skinned.
        ``rig_joints_outside`` (float): share of joints outside the vertices' axis-aligned box
        grown by :data:`OUTSIDE_MARGIN` of its diagonal on each side.
        ``rig_unused_bones`` (float): share of joints with no weight on any vertex and no
        child joint (leaf bones that move nothing; unweighted joints with children are
        normal).
        Shares are 0 where their denominator is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from meshprep.io.rig import Rig
    >>> eye = np.repeat(np.eye(4)[None], 1, axis=0)
    >>> rig = Rig(["root"], np.array([-1]), np.zeros((1, 3)), eye, eye, np.array([0]),
    ...           np.zeros((2, 1), np.int32), np.ones((2, 1), np.float32),
    ...           np.ones(2, bool), np.ones(2, np.float32))
    >>> rig_metrics(np.array([[-1.0, 0, 0], [1.0, 0, 0]]), rig)["rig_joints_outside"]
    0.0
    """
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    skinned = np.asarray(rig.skinned, bool)
    return {"rig_joints": int(len(rig.names)),
            "rig_weight_error": _weight_error(rig.totals, skinned),
            "rig_unskinned_share": _share(~skinned, len(skinned)),
            "rig_joints_outside": _joints_outside(vertices, np.asarray(rig.joints)),
            "rig_unused_bones": _unused_bones(rig)}


def _share(mask: np.ndarray, total: int) -> float:
    return float(np.count_nonzero(mask) / total) if total else 0.0


def _weight_error(totals: np.ndarray, skinned: np.ndarray) -> float:
    off = np.abs(np.asarray(totals, np.float64)[skinned] - 1.0) > WEIGHT_TOLERANCE
    return _share(off, int(skinned.sum()))


def _joints_outside(vertices: np.ndarray, joints: np.ndarray) -> float:
    if not len(joints):
        return 0.0
    if not len(vertices):
        return 1.0
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    margin = OUTSIDE_MARGIN * float(np.linalg.norm(high - low))
    outside = np.any((joints < low - margin) | (joints > high + margin), axis=1)
    return _share(outside, len(joints))


def _unused_bones(rig: Rig) -> float:
    count = len(rig.names)
    weighted = np.zeros(count, bool)
    used = np.asarray(rig.weights) > 0
    weighted[np.asarray(rig.indices)[used]] = True
    has_child = np.zeros(count, bool)
    parents = np.asarray(rig.parents)
    has_child[parents[parents >= 0]] = True
    return _share(~weighted & ~has_child, count)
