"""The sign check flags labels that disagree with the mesh, and passes good ones."""

from __future__ import annotations

import numpy as np
import trimesh

import meshprep as mp
from meshprep.curate import decide
from meshprep.pipeline import resolve_config
from meshprep.sample.check import ray_parity_inside, sign_check

COUNTS = dict(surface=3000, salient=3000, volume=4000, near=4000)


def _samples(mesh: trimesh.Trimesh):
    return mp.sample_asset(mesh, mesh, seed=0, **COUNTS)


def _torus() -> trimesh.Trimesh:
    canonical, _ = mp.normalize(trimesh.creation.torus(0.6, 0.25))
    return mp.make_watertight(canonical, 64).mesh


def test_ray_parity_against_winding_numbers() -> None:
    import igl

    mesh = _torus()
    points = np.random.default_rng(0).uniform(-1, 1, (2000, 3))
    winding = igl.winding_number(np.asarray(mesh.vertices), np.asarray(mesh.faces, np.int64),
                                 points)
    inside = ray_parity_inside(np.asarray(mesh.vertices), np.asarray(mesh.faces), points)
    assert np.array_equal(inside, winding > 0.5)


def test_good_labels_pass() -> None:
    mesh = _torus()
    metrics = sign_check(mesh, _samples(mesh))
    assert metrics["check_far_inside"] == 0 and metrics["check_sign_disagreement"] == 0
    assert metrics["check_volume_sigma"] < 6
    assert decide(metrics, resolve_config()["curate"]) == ("keep", "")


def test_flipped_faces_are_flagged() -> None:
    mesh = _torus()
    flipped = trimesh.Trimesh(mesh.vertices, mesh.faces[:, ::-1], process=False)
    metrics = sign_check(mesh, _samples(flipped))  # labels of the flipped mesh, checked on mesh
    assert metrics["check_far_inside"] > 0.9 and metrics["check_sign_disagreement"] > 0.9
    decision, reason = decide(metrics, resolve_config()["curate"])
    assert decision == "flag" and "labels inconsistent" in reason and "far points" in reason


def test_a_leaking_inside_is_flagged() -> None:
    """Labels made against an open mesh (a torus with a hole cut) disagree with the closed one."""
    mesh = _torus()
    centers = mesh.triangles_center
    keep = ~((centers[:, 0] > 0.3) & (np.abs(centers[:, 1]) < 0.3))
    leaky = trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)
    metrics = sign_check(mesh, _samples(leaky))
    decision, reason = decide(metrics, resolve_config()["curate"])
    assert decision == "flag" and "labels inconsistent" in reason, metrics
