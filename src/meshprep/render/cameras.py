"""Cameras in the conventions trainers read.

World: Blender's, Z up. Camera-to-world matrices (``c2w``) use Blender/NeRF's camera axes: the
camera looks along its −Z, +Y is up in the image, +X to the right. ``transforms.json`` stores
them as ``frames[i].transform_matrix`` (what TRELLIS writes) and, per frame, OpenCV's ``K`` and
world-to-camera ``R | t`` (camera looks along +Z, +Y down).

Named sets (``parse_cameras``):

``hammersley:N``   N views on a Hammersley sphere sequence (TRELLIS's 150-view recipe): radius 2,
                   fov 40°, the object scaled into [−0.5, 0.5]³, the sequence's offset seeded
``cond:N``         random fov 10–70°, random direction, radius so the unit sphere fills the frame
``ortho6``         orthographic front, back, left, right, top, bottom, covering [−1, 1]
``orbit:N@ELEV``   N views evenly around Z at ELEV degrees, fov 40°, the unit sphere filling it
``scoring4``       ``orbit:4@20``: four normal views for scoring and thumbnails
a ``.json`` file   ``{"frames": [{"transform_matrix": 4x4, "camera_angle_x": rad}]}``
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """One view.

    Attributes
    ----------
    c2w : (4, 4) array
        Camera-to-world, Blender/NeRF axes.
    fov : float
        Horizontal field of view in radians (perspective); 0 for orthographic.
    ortho_scale : float
        Width of the view in world units (orthographic only).
    """

    c2w: np.ndarray
    fov: float = math.radians(40.0)
    ortho_scale: float = 0.0

    @property
    def orthographic(self) -> bool:
        return self.fov == 0.0


@dataclass(frozen=True)
class CameraSet:
    """Cameras plus how the object is placed: ``fit="box"`` scales its bounding box to
    ``[-bound, bound]^3``, ``fit="sphere"`` scales its bounding sphere (about the box centre)
    to radius ``bound``."""

    name: str
    cameras: tuple[Camera, ...]
    bound: float = 1.0
    fit: str = "box"

    def first(self) -> CameraSet:
        """The same set cut to its first camera (thumbnails, overlays)."""
        return CameraSet(self.name, self.cameras[:1], self.bound, self.fit)


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world matrix of a camera at ``eye`` looking at ``target`` (Blender axes)."""
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    back = eye - target
    back /= np.linalg.norm(back)
    if abs(np.dot(back, up)) > 0.999:  # looking straight up or down: any horizontal up
        up = np.array([0.0, 1.0, 0.0])
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, np.cross(back, right), back, eye
    return c2w


def _radical_inverse(i: int) -> float:
    """Van der Corput sequence in base 2: the bits of ``i`` mirrored after the point."""
    result, f = 0.0, 0.5
    while i:
        result += f * (i & 1)
        i >>= 1
        f *= 0.5
    return result


def hammersley_directions(n: int, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(n, 2) yaw, pitch of a Hammersley point set on the sphere, shifted by ``offset``."""
    out = np.empty((n, 2))
    for i in range(n):
        u = (i / n + offset[0] / n) % 1.0
        v = (_radical_inverse(i) + offset[1]) % 1.0
        out[i] = 2.0 * math.pi * v, math.acos(1.0 - 2.0 * u) - math.pi / 2.0
    return out


def _on_sphere(yaw: float, pitch: float, radius: float) -> np.ndarray:
    return radius * np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                              math.sin(pitch)])


def parse_cameras(spec: str, seed: int = 0) -> CameraSet:
    """A named camera set (see the module docstring), seeded for the random parts."""
    rng = np.random.default_rng(seed)
    name, _, arg = spec.partition(":")
    if spec.endswith(".json") and os.path.isfile(spec):
        return _from_json(spec)
    if name == "hammersley":
        n = int(arg or 150)
        yaw_pitch = hammersley_directions(n, tuple(rng.uniform(0.0, 1.0, 2)))
        cams = tuple(Camera(look_at(_on_sphere(y, p, 2.0)), math.radians(40.0))
                     for y, p in yaw_pitch)
        return CameraSet(spec, cams, bound=0.5)
    if name == "cond":
        cams = []
        for _ in range(int(arg or 24)):
            fov = math.radians(rng.uniform(10.0, 70.0))
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            cams.append(Camera(look_at(direction / math.sin(fov / 2.0)), fov))
        return CameraSet(spec, tuple(cams), fit="sphere")
    if name == "ortho6":
        eyes = [(0, -3, 0), (0, 3, 0), (-3, 0, 0), (3, 0, 0), (0, 0, 3), (0, 0, -3)]
        return CameraSet(spec, tuple(Camera(look_at(e), 0.0, 2.0) for e in eyes))
    if name in ("orbit", "scoring4"):
        count, _, elevation = (arg or "4@20").partition("@") if name == "orbit" else ("4", "",
                                                                                      "20")
        pitch = math.radians(float(elevation or 20))
        n = int(count)
        fov = math.radians(40.0)
        radius = 1.0 / math.sin(fov / 2.0)  # the unit sphere fills the frame
        cams = tuple(Camera(look_at(_on_sphere(2 * math.pi * k / n - math.pi / 2, pitch,
                                               radius)), fov) for k in range(n))
        return CameraSet(spec, cams, fit="sphere")
    raise ValueError(f"unknown camera set {spec!r}: hammersley:N, cond:N, ortho6, orbit:N@ELEV, "
                     "scoring4 or a .json file")


def _from_json(path: str) -> CameraSet:
    with open(path, encoding="utf-8") as stream:
        data = json.load(stream)
    default_fov = data.get("camera_angle_x", math.radians(40.0))
    cams = tuple(Camera(np.asarray(f["transform_matrix"], dtype=np.float64),
                        float(f.get("camera_angle_x", default_fov)),
                        float(f.get("ortho_scale", 0.0))) for f in data["frames"])
    return CameraSet(os.path.basename(path), cams, float(data.get("bound", 1.0)),
                     data.get("fit", "box"))


def opencv_intrinsics(camera: Camera, width: int, height: int) -> np.ndarray:
    """3×3 ``K`` (pixels) of a perspective camera; for orthographic, pixels per world unit."""
    if camera.orthographic:
        scale = width / camera.ortho_scale
        return np.array([[scale, 0, width / 2], [0, scale, height / 2], [0, 0, 1.0]])
    focal = 0.5 * width / math.tan(camera.fov / 2.0)
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])


def opencv_extrinsics(camera: Camera) -> np.ndarray:
    """4×4 world-to-camera in OpenCV axes (camera looks along +Z, +Y down)."""
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    return flip @ np.linalg.inv(camera.c2w)
