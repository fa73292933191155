"""Camera sets drawn as TRELLIS and TRELLIS.2's scripts draw them (issue 28, part 4).

The reference below is written from reading microsoft/TRELLIS.2 ``data_toolkit/render_cond.py``
(``_render_cond``: the offset, then 1,000,000 radii, ``zip`` keeping the first N),
``data_toolkit/utils.py`` (``sphere_hammersley_sequence``) and
``data_toolkit/blender_script/render_cond.py`` (camera at ``radius * (cos y cos p, sin y cos p,
sin p)``, a TRACK_TO constraint on the origin with −Z forward and Y up, ``normalize_scene``
putting the bounding box in ±0.5), and microsoft/TRELLIS ``dataset_toolkits/render.py``
(radius 2, fov 40°). It uses none of meshprep's helpers.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from scipy import stats

from meshprep.render import parse_cameras
from meshprep.render.cameras import asset_seed

VIEWS = 16
ASSETS = 625  # 10,000 views


def _van_der_corput(index: int) -> float:
    digits, value, scale = bin(index)[2:][::-1], 0.0, 0.5
    for digit in digits:
        value += scale * int(digit)
        scale /= 2.0
    return value


def _trellis_direction(index: int, count: int, offset) -> tuple[float, float]:
    """Yaw, pitch of view ``index`` as ``sphere_hammersley_sequence`` computes them."""
    u = index / count + offset[0] / count
    if u < 0.25:
        u = u * 2.0
    else:
        u = u * 2.0 / 3.0 + 1.0 / 3.0
    return 2.0 * np.pi * (_van_der_corput(index) + offset[1]), np.arccos(1.0 - 2.0 * u) - np.pi / 2


def _reference_cond(count: int, draw_uniform, draw_radii: int | None = None):
    """(count, 3) eyes and (count,) fovs of TRELLIS.2's ``_render_cond``; ``draw_uniform(a, b,
    n)`` is its random source (``np.random.uniform``-like), ``draw_radii`` how many radii it
    draws (the script: 1,000,000)."""
    offset = (draw_uniform(0.0, 1.0, None), draw_uniform(0.0, 1.0, None))
    r_near = np.sqrt(3) / 2 / np.sin(70 / 360 * np.pi)
    r_far = np.sqrt(3) / 2 / np.sin(10 / 360 * np.pi)
    ks = draw_uniform(1 / r_far**2, 1 / r_near**2, draw_radii or count)
    eyes, fovs = [], []
    for index in range(count):
        yaw, pitch = _trellis_direction(index, count, offset)
        radius = 1 / np.sqrt(ks[index])
        fovs.append(2 * np.arcsin(np.sqrt(3) / 2 / radius))
        eyes.append(radius * np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch),
                                       np.sin(pitch)]))
    return np.array(eyes), np.array(fovs)


def _eyes_fovs(cams) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([c.c2w[:3, 3] for c in cams.cameras]),
            np.array([c.fov for c in cams.cameras]))


def _features(eyes: np.ndarray, fovs: np.ndarray) -> dict[str, np.ndarray]:
    radius = np.linalg.norm(eyes, axis=1)
    return {"cos_polar": eyes[:, 2] / radius, "azimuth": np.arctan2(eyes[:, 1], eyes[:, 0]),
            "radius": radius, "fov": fovs}


def test_cond_is_trellis2s_draw_for_the_same_generator_state():
    # the script draws from np.random (legacy MT19937): seeded alike, the views are the same
    for seed in (0, 7, asset_seed("some-asset")):
        state = np.random.RandomState(seed)
        eyes, fovs = _reference_cond(VIEWS, state.uniform, draw_radii=1_000_000)
        ours_eyes, ours_fovs = _eyes_fovs(parse_cameras(f"cond:{VIEWS}", seed))
        assert np.allclose(ours_eyes, eyes, rtol=1e-10, atol=1e-12)
        assert np.allclose(ours_fovs, fovs, rtol=1e-10)


def test_cond_distribution_matches_trellis2():
    """10,000 views against 10,000 of the reference fed by another generator (PCG64)."""
    ours = [_eyes_fovs(parse_cameras(f"cond:{VIEWS}", asset_seed(f"asset-{k}")))
            for k in range(ASSETS)]
    rng = np.random.default_rng(2024)
    draw = lambda a, b, n: rng.uniform(a, b, n)  # noqa: E731
    theirs = [_reference_cond(VIEWS, draw) for _ in range(ASSETS)]
    ours_f = _features(*(np.concatenate(part) for part in zip(*ours, strict=True)))
    theirs_f = _features(*(np.concatenate(part) for part in zip(*theirs, strict=True)))
    for name, sample in ours_f.items():
        result = stats.ks_2samp(sample, theirs_f[name])
        assert result.pvalue > 1e-3, (name, result)
    # a quarter of the views look from below (u < 1/4 is the lower hemisphere)
    below = (ours_f["cos_polar"] < 0).mean()
    assert below == pytest.approx(0.25, abs=0.005)
    assert (theirs_f["cos_polar"] < 0).mean() == pytest.approx(0.25, abs=0.005)


def test_cond_frames_the_unit_cube():
    cams = parse_cameras("cond:64", 11)
    assert (cams.fit, cams.bound) == ("box", 0.5)  # normalize_scene: longest side 1, centred
    eyes, fovs = _eyes_fovs(cams)
    radius = np.linalg.norm(eyes, axis=1)
    # the sphere of radius sqrt(3)/2 (around [-0.5, 0.5]^3) touches the frame's edges
    assert np.allclose(radius * np.sin(fovs / 2), math.sqrt(3) / 2)
    assert fovs.min() >= math.radians(10) - 1e-12 and fovs.max() <= math.radians(70) + 1e-12
    for cam in cams.cameras:  # TRACK_TO the origin, -Z forward, Y up towards world +Z
        eye = cam.c2w[:3, 3]
        assert np.allclose(-cam.c2w[:3, 2], -eye / np.linalg.norm(eye))
        assert abs(cam.c2w[2, 0]) < 1e-12 and cam.c2w[2, 1] > 0


def test_cond_differs_per_asset_and_repeats_per_asset():
    first = _eyes_fovs(parse_cameras("cond:16", asset_seed("chair-001")))
    again = _eyes_fovs(parse_cameras("cond:16", asset_seed("chair-001")))
    other = _eyes_fovs(parse_cameras("cond:16", asset_seed("chair-002")))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.allclose(first[0], other[0]) and not np.allclose(first[1], other[1])


def test_asset_seed_is_stable():
    # the first 32 bits of SHA-256, never Python's per-process salted hash()
    assert asset_seed("chair-001") == int(hashlib.sha256(b"chair-001").hexdigest()[:8], 16)
    assert asset_seed("chair-001") == 0xF287E284
    assert 0 <= asset_seed("x" * 1000) < 2**32


def test_hammersley_is_trellis_recipe():
    """microsoft/TRELLIS ``dataset_toolkits/render.py``: the same offset draw, radius 2, 40°."""
    seed = asset_seed("table-7")
    state = np.random.RandomState(seed)
    offset = (state.rand(), state.rand())
    cams = parse_cameras("hammersley:150", seed)
    assert (cams.fit, cams.bound) == ("box", 0.5)
    for index, cam in enumerate(cams.cameras):
        yaw, pitch = _trellis_direction(index, 150, offset)
        eye = 2 * np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch),
                            np.sin(pitch)])
        assert np.allclose(cam.c2w[:3, 3], eye, atol=1e-12)
        assert cam.fov == pytest.approx(math.radians(40))
    z = np.array([c.c2w[2, 3] for c in cams.cameras])
    assert (z < 0).mean() == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("seed", [-1, 2**40 + 3])
def test_any_integer_seed(seed):
    assert len(parse_cameras("cond:4", seed).cameras) == 4


def test_look_at_is_blenders_track_to():
    """``matrix_world`` of render_cond.py's camera (TRACK_TO an empty at the origin, −Z, UP_Y)
    at (−2, 0.3, −1.5), measured in Blender 5.0.1 (bpy wheel)."""
    from meshprep.render import look_at

    blender = np.array([[-0.1483405, -0.5891352, -0.7943015, -2.0],
                        [-0.9889364, 0.0883703, 0.1191452, 0.3],
                        [0.0, 0.8031876, -0.5957261, -1.5],
                        [0.0, 0.0, 0.0, 1.0]])
    assert np.allclose(look_at((-2.0, 0.3, -1.5)), blender, atol=1e-6)
