"""Lights of the colour pass: TRELLIS.2's random lights drawn as its Blender script draws them."""

# the script draws from the global legacy generator: so does its re-reading here
# ruff: noqa: NPY002

from __future__ import annotations

import json

import numpy as np
import pytest

from meshprep.render import parse_cameras
from meshprep.render.lights import (
    Lighting,
    PointLight,
    camera_direction,
    headlight,
    lighting_for_views,
    lighting_state,
    trellis2_lighting,
    trellis_lighting,
    uniform_lighting,
)


def _script_draws(camera_dir, seed):
    """render_cond.py's init_random_lighting, re-read: every draw from the global legacy
    generator, first the count, then per light distance, direction, strength, soft size."""
    np.random.seed(seed)
    count = np.random.randint(1, 4)
    budget = 1.5
    lights = []
    for _ in range(count):
        inv = np.random.uniform(0.01, 0.1)
        d = 1.0 / inv
        g = np.random.randn(3) + np.array([0.0, 0.0, 0.6])
        g /= np.sqrt((g ** 2).sum())
        c = float(camera_dir @ g)
        cap = budget / (0.55 + 0.45 * c)
        s = cap * np.random.uniform(0.01, 1) ** 0.5
        budget = budget - s * max(0.5 + 0.5 * c, 0)
        lights.append((g * d, 31.4 * s * d * d, np.random.uniform(0.1, d / 10)))
    return lights, budget


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_trellis2_lighting_matches_the_script(seed):
    direction = np.array([0.3, -0.8, 0.52])
    direction /= np.linalg.norm(direction)
    expected, world = _script_draws(direction, seed)
    lighting = trellis2_lighting(direction, np.random.RandomState(seed))
    assert lighting.kind == "trellis2"
    assert len(lighting.points) == len(expected)
    for light, (position, energy, radius) in zip(lighting.points, expected, strict=True):
        np.testing.assert_allclose(light.position, position, rtol=1e-12)
        assert light.power_w == pytest.approx(energy, rel=1e-12)
        assert light.radius == pytest.approx(radius, rel=1e-12)
        np.testing.assert_array_equal(light.color, [1.0, 1.0, 1.0])
    assert lighting.world_strength == pytest.approx(world, rel=1e-12, abs=1e-15)
    assert lighting.world_strength >= 0.0


def test_lighting_json_round_trip():
    for lighting in (uniform_lighting(0.7), headlight(), trellis_lighting(),
                     trellis2_lighting(np.array([0.0, 0.0, 1.0]), np.random.RandomState(3))):
        data = json.loads(json.dumps(lighting.to_json()))
        back = Lighting.from_json(data)
        assert back.to_json() == lighting.to_json()
    light = PointLight.from_json({"position": [1, 2, 3], "power_w": 5})
    assert light.radius == 0.25 and list(light.color) == [1.0, 1.0, 1.0]


def test_lighting_for_views_draws_view_after_view():
    cams = parse_cameras("cond:5", 11)
    lights = lighting_for_views("trellis2", cams, 11)
    rng = lighting_state(11)
    for camera, lighting in zip(cams.cameras, lights, strict=True):
        again = trellis2_lighting(camera_direction(camera.c2w), rng)
        assert again.to_json() == lighting.to_json()
    assert lighting_for_views("trellis2", cams, 12)[0].to_json() != lights[0].to_json()
    assert all(x.kind == "uniform" for x in lighting_for_views("uniform", cams))
    with pytest.raises(ValueError, match="unknown lighting"):
        lighting_for_views("sunset", cams)
