"""Lights of the ``color`` pass, as Blender scenes hold them (so Cycles can render the same).

A :class:`Lighting` is a uniform world (Blender's world Background node: colour × strength, the
radiance arriving from every direction) plus point lights and square area lights with Blender's
parameters (``location``, ``energy`` in W, ``shadow_soft_size``, ``color``; an area light's
``size`` and the direction it faces). ``transforms.json`` records it per frame as
``"lighting"`` (:meth:`Lighting.to_json`).

Kinds:

``headlight``  today's preview look (0.35 ambient + 0.65 Lambert from the camera), not physical:
               the built-in kernel draws it, the record only names it
``uniform``    a white world of strength 1 (what ``init_uniform_lighting`` sets in TRELLIS.2's
               ``data_toolkit/blender_script/render_cond.py``)
``trellis2``   TRELLIS.2's condition views: ``init_random_lighting(camera_dir)`` of
               ``render_cond.py``, drawn per view from NumPy's legacy generator in its order
``trellis``    TRELLIS's 150 renders (``dataset_toolkits/blender_script/render.py``,
               ``init_lighting``): a 1000 W point light at (4, 1, 6), a 10 000 W area light
               25 m wide 10 m above facing down (a 0.25 m light scaled ×100; the one below faces
               down too, away from the object, and is left out), and the factory world's grey
               (0.0509, the startup file's background, which that script never replaces)
``envmap``     an equirectangular HDR / EXR map from a folder the user gives (none is
               downloaded) as the world (Blender: Environment Texture → Background of strength
               1, turned about Z by a Mapping node): per view one map and one rotation drawn
               from the asset seed. Hunyuan3D-2.1 ships no script for its ``light_ENVMAP``
               views (``hy3dpaint/README.md`` and ``train_examples/001/render_cond`` only name
               and show them; ``hy3dshape/tools/render/render.py`` lights with points and
               areas), so the recipe is the common one: Blender's default strength 1 and a
               uniform azimuth in [0, 2 pi)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

#: ``init_random_lighting``'s constants: the light budget split between lights and world, and
#: the energy factor (``energy = strength * distance**2 * 31.4``)
TRELLIS2_TOTAL_STRENGTH = 1.5
TRELLIS2_ENERGY_FACTOR = 31.4
#: Blender's factory-startup world colour (linear grey, strength 1)
FACTORY_WORLD = 0.050876
#: Blender's default ``shadow_soft_size`` of a new light data-block (m)
DEFAULT_SOFT_SIZE = 0.25
#: the ``envmap`` world's strength (the Background node's default)
ENVMAP_STRENGTH = 1.0
KINDS = ("headlight", "uniform", "trellis2", "trellis", "envmap")


def _vec3(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(3)
    return array


@dataclass(frozen=True)
class PointLight:
    """A Blender point light.

    Attributes
    ----------
    position : (3,) float
        ``location`` in the render world (Z up, metres).
    color : (3,) float
        Linear RGB tint.
    power_w : float
        ``energy`` in watts (Cycles: radiant intensity ``power_w / (4 pi)`` W/sr).
    radius : float
        ``shadow_soft_size``: the emitting sphere's radius (soft shadows).
    """

    position: np.ndarray
    color: np.ndarray = field(default_factory=lambda: np.ones(3))
    power_w: float = 1000.0
    radius: float = DEFAULT_SOFT_SIZE

    def to_json(self) -> dict:
        return {"position": _vec3(self.position).tolist(), "color": _vec3(self.color).tolist(),
                "power_w": float(self.power_w), "radius": float(self.radius)}

    @classmethod
    def from_json(cls, data: dict) -> PointLight:
        return cls(_vec3(data["position"]), _vec3(data.get("color", (1.0, 1.0, 1.0))),
                   float(data["power_w"]), float(data.get("radius", DEFAULT_SOFT_SIZE)))


@dataclass(frozen=True)
class AreaLight:
    """A Blender square area light (one-sided, Lambertian emitter).

    Attributes
    ----------
    position : (3,) float
        Centre (``location``).
    direction : (3,) float
        Unit vector it emits toward (Blender: the light's local −Z).
    size : float
        Side length in metres (``size`` × the object's scale).
    power_w : float
        ``energy`` in watts.
    color : (3,) float
        Linear RGB tint.
    """

    position: np.ndarray
    direction: np.ndarray
    size: float
    power_w: float
    color: np.ndarray = field(default_factory=lambda: np.ones(3))

    def to_json(self) -> dict:
        return {"position": _vec3(self.position).tolist(),
                "direction": _vec3(self.direction).tolist(), "size": float(self.size),
                "power_w": float(self.power_w), "color": _vec3(self.color).tolist()}

    @classmethod
    def from_json(cls, data: dict) -> AreaLight:
        return cls(_vec3(data["position"]), _vec3(data["direction"]), float(data["size"]),
                   float(data["power_w"]), _vec3(data.get("color", (1.0, 1.0, 1.0))))


@dataclass(frozen=True)
class Lighting:
    """The lights of one view.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    world_color : (3,) float
        Linear RGB of the world Background node.
    world_strength : float
        Its strength (the world's radiance is ``world_color * world_strength``).
    points : tuple of PointLight
    areas : tuple of AreaLight
    envmap : str
        An equirectangular ``.hdr`` / ``.exr`` map that replaces the world's colour (its
        radiance × ``world_color`` × ``world_strength``), or "" for none.
    envmap_rotation : float
        The map's turn about +Z in radians (Blender's Mapping node rotation Z: direction ``d``
        shows the map at ``Rz(envmap_rotation) d``).
    """

    kind: str
    world_color: np.ndarray
    world_strength: float
    points: tuple[PointLight, ...] = ()
    areas: tuple[AreaLight, ...] = ()
    envmap: str = ""
    envmap_rotation: float = 0.0

    @property
    def world(self) -> np.ndarray:
        """The world's radiance, linear RGB."""
        return _vec3(self.world_color) * float(self.world_strength)

    def to_json(self) -> dict:
        """A JSON-ready record (``transforms.json`` frames' ``"lighting"``)."""
        data = {"kind": self.kind, "world_color": _vec3(self.world_color).tolist(),
                "world_strength": float(self.world_strength),
                "points": [p.to_json() for p in self.points]}
        if self.areas:
            data["areas"] = [a.to_json() for a in self.areas]
        if self.envmap:
            data["envmap"] = str(self.envmap)
            data["envmap_rotation"] = float(self.envmap_rotation)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Lighting:
        """The inverse of :meth:`to_json`."""
        return cls(str(data["kind"]), _vec3(data["world_color"]), float(data["world_strength"]),
                   tuple(PointLight.from_json(p) for p in data.get("points", ())),
                   tuple(AreaLight.from_json(a) for a in data.get("areas", ())),
                   str(data.get("envmap", "")), float(data.get("envmap_rotation", 0.0)))


def uniform_lighting(strength: float = 1.0) -> Lighting:
    """A uniform white world of ``strength``, no lights (``init_uniform_lighting``)."""
    return Lighting("uniform", np.ones(3), float(strength))


def headlight() -> Lighting:
    """The preview look's record: the built-in kernel lights from the camera (0.35 ambient +
    0.65 Lambert), which no Blender light reproduces exactly."""
    return Lighting("headlight", np.ones(3), 0.35)


def trellis_lighting() -> Lighting:
    """TRELLIS's ``init_lighting`` (``dataset_toolkits/blender_script/render.py``)."""
    key = PointLight(np.array([4.0, 1.0, 6.0]), np.ones(3), 1000.0, DEFAULT_SOFT_SIZE)
    top = AreaLight(np.array([0.0, 0.0, 10.0]), np.array([0.0, 0.0, -1.0]),
                    DEFAULT_SOFT_SIZE * 100.0, 10000.0)
    return Lighting("trellis", np.full(3, FACTORY_WORLD), 1.0, (key,), (top,))


def trellis2_lighting(camera_dir: np.ndarray, rng: np.random.RandomState) -> Lighting:
    """``init_random_lighting(camera_dir)`` of TRELLIS.2's ``render_cond.py``.

    Draws, in the script's order: the light count ``randint(1, 4)``; per light its distance
    ``1 / uniform(1/100, 1/10)``, direction ``randn(3)`` (z + 0.6, normalized), strength
    ``sqrt(uniform(0.01, 1))`` × the maximum left for that direction, and radius
    ``uniform(0.1, 0.1 * distance)``. What the lights give toward the camera is taken from a
    budget of 1.5; the world (white) keeps the rest.

    Parameters
    ----------
    camera_dir : (3,) float
        Unit vector from the object's centre toward the camera.
    rng : numpy.random.RandomState
        The legacy generator (the script's ``np.random``); advanced by the draws.

    Returns
    -------
    Lighting
    """
    camera_dir = _vec3(camera_dir)
    total = TRELLIS2_TOTAL_STRENGTH
    points = []
    for _ in range(rng.randint(1, 4)):
        distance = 1.0 / rng.uniform(1.0 / 100.0, 1.0 / 10.0)
        direction = rng.randn(3)
        direction[2] += 0.6
        direction = direction / np.linalg.norm(direction)
        facing = float(np.sum(camera_dir * direction))
        ratio = max(facing * 0.5 + 0.5, 0.0)
        strength = math.sqrt(rng.uniform(0.01, 1.0)) * total / (facing * 0.45 + 0.55)
        total -= ratio * strength
        power = strength * distance**2 * TRELLIS2_ENERGY_FACTOR
        radius = rng.uniform(0.1, 0.1 * distance)
        points.append(PointLight(direction * distance, np.ones(3), float(power), float(radius)))
    return Lighting("trellis2", np.ones(3), float(total), tuple(points))


def camera_direction(c2w: np.ndarray) -> np.ndarray:
    """Unit vector from the world origin toward a camera (its back axis when it sits at the
    origin)."""
    eye = np.asarray(c2w, dtype=np.float64)[:3, 3]
    length = float(np.linalg.norm(eye))
    if length < 1e-9:
        return np.asarray(c2w, dtype=np.float64)[:3, 2].copy()
    return eye / length


def lighting_state(seed: int) -> np.random.RandomState:
    """The legacy generator the per-view lights are drawn from: seeded by the asset seed the
    cameras use, on a stream of its own (``init_by_array([seed, 1])``), so lights and camera
    draws do not share numbers."""
    return np.random.RandomState(np.array([seed % 2**32, 1], dtype=np.uint32))


def envmap_lighting(path, rotation: float = 0.0,
                    strength: float = ENVMAP_STRENGTH) -> Lighting:
    """An environment map as the world (``path`` as given, ``rotation`` about +Z in radians)."""
    return Lighting("envmap", np.ones(3), float(strength), envmap=str(path),
                    envmap_rotation=float(rotation))


def envmap_lightings(envmaps, count: int, seed: int) -> list[Lighting]:
    """``count`` views' environment maps: per view a map of the folder ``envmaps`` (sorted by
    name) and a rotation in [0, 2 pi), drawn in that order from :func:`lighting_state`."""
    from .envmap import list_envmaps

    maps = list_envmaps(envmaps)
    rng = lighting_state(seed)
    out = []
    for _ in range(count):
        index = int(rng.randint(len(maps)))
        out.append(envmap_lighting(maps[index], rng.uniform(0.0, 2.0 * math.pi)))
    return out


def lighting_for_views(kind: str, cameras, seed: int = 0, envmaps=None) -> list[Lighting]:
    """One :class:`Lighting` per camera of a set.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    cameras : CameraSet
        The views (``trellis2`` draws each view's lights from its camera direction).
    seed : int
        The asset seed (:func:`meshprep.render.cameras.asset_seed`); ``trellis2`` draws view
        after view from one generator, as the script's process draws from ``np.random``;
        ``envmap`` draws its maps and rotations from it.
    envmaps : path-like, optional
        ``envmap``'s folder of equirectangular ``.hdr`` / ``.exr`` maps (required there), or one
        map file: every view lit by it, unturned (a script that sets one world map).

    Returns
    -------
    list of Lighting
    """
    if kind not in KINDS:
        raise ValueError(f"unknown lighting {kind!r}: one of {KINDS}")
    n = len(cameras.cameras)
    if kind == "envmap":
        if not envmaps:
            raise ValueError("the 'envmap' lighting needs a folder of maps (envmaps=...)")
        if os.path.isfile(envmaps):
            return [envmap_lighting(envmaps)] * n
        return envmap_lightings(envmaps, n, seed)
    if kind == "trellis2":
        rng = lighting_state(seed)
        return [trellis2_lighting(camera_direction(c.c2w), rng) for c in cameras.cameras]
    single = {"headlight": headlight, "uniform": uniform_lighting,
              "trellis": trellis_lighting}[kind]()
    return [single] * n
