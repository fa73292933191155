"""Cameras in the conventions trainers read.

World: Blender's, Z up. Camera-to-world matrices (``c2w``) use Blender/NeRF's camera axes: the
camera looks along its −Z, +Y is up in the image, +X to the right. ``transforms.json`` stores
them as ``frames[i].transform_matrix`` (what TRELLIS writes) and, per frame, OpenCV's ``K`` and
world-to-camera ``R | t`` (camera looks along +Z, +Y down).

Named sets (``parse_cameras``):

``hammersley:N``   TRELLIS's 150-view recipe: N views on its warped Hammersley sphere (a quarter
                   of them below the equator), radius 2, fov 40°, the object's bounding box
                   scaled into [−0.5, 0.5]³, the sequence's random offset seeded
``cond:N``         TRELLIS.2's condition views: the same warped Hammersley directions, ``1/r²``
                   uniform between the radii where fov 70° and 10° frame the sphere of radius
                   √3/2 around [−0.5, 0.5]³, the fov that frames it at that radius
``ortho6``         orthographic front, back, left, right, top, bottom, covering [−1, 1]
``orbit:N@ELEV``   N views evenly around Z at ELEV degrees, fov 40°, the unit sphere filling it
``scoring4``       ``orbit:4@20``: four normal views for scoring and thumbnails
a ``.json`` file   ``{"frames": [{"transform_matrix": 4x4, "camera_angle_x": rad}]}``

The random sets draw, like TRELLIS's scripts, from NumPy's legacy Mersenne Twister
(``RandomState``, the generator behind ``np.random.rand``) in the scripts' order: the two
offsets, then (``cond``) the radii. Seed them per asset (:func:`asset_seed`) so assets differ
and a rerun repeats.
"""

from __future__ import annotations

import hashlib
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


def asset_seed(asset_id: str) -> int:
    """A 32-bit seed from an asset id, stable across processes and Python versions.

    Parameters
    ----------
    asset_id : str
        The asset's id.

    Returns
    -------
    int
        The first 32 bits of the id's SHA-256 (not ``hash()``, which is salted per process).
    """
    return int(hashlib.sha256(asset_id.encode("utf-8")).hexdigest()[:8], 16)


def _radical_inverse(i: int) -> float:
    """Van der Corput sequence in base 2: the bits of ``i`` mirrored after the point."""
    result, f = 0.0, 0.5
    while i:
        result += f * (i & 1)
        i >>= 1
        f *= 0.5
    return result


def hammersley_directions(n: int, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(n, 2) yaw, pitch (radians) of TRELLIS's warped Hammersley set, shifted by ``offset``.

    Point ``i`` takes ``u = (i + offset[0]) / n`` and ``v`` = the base-2 radical inverse of ``i``
    plus ``offset[1]``; ``u`` below 1/4 is stretched over the lower hemisphere and the rest over
    the upper one (``u → 2u`` or ``2u/3 + 1/3``), then ``pitch = acos(1 − 2u) − π/2`` (equal area
    within each hemisphere), ``yaw = 2πv``. So a quarter of the views look from below.
    Matched to ``sphere_hammersley_sequence`` in microsoft/TRELLIS ``dataset_toolkits/utils.py``
    and microsoft/TRELLIS.2 ``data_toolkit/utils.py`` (same recipe in both).

    Parameters
    ----------
    n : int
        Number of directions.
    offset : tuple of float
        The two offsets in [0, 1) (TRELLIS draws them with ``np.random.rand()``).

    Returns
    -------
    (n, 2) ndarray
        Yaw (about +Z from +X) and pitch (above the XY plane) per direction.
    """
    u = (np.arange(n) + offset[0]) / n
    u = np.where(u < 0.25, 2.0 * u, u * (2.0 / 3.0) + 1.0 / 3.0)
    v = np.array([_radical_inverse(i) for i in range(n)]) + offset[1]
    return np.stack([2.0 * np.pi * v, np.arccos(1.0 - 2.0 * u) - np.pi / 2.0], axis=1)


def _on_sphere(yaw: float, pitch: float, radius: float) -> np.ndarray:
    return radius * np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                              math.sin(pitch)])


# TRELLIS.2's condition views frame the sphere around the unit cube with a fov in [10°, 70°]
COND_FOV_DEGREES = (10.0, 70.0)
COND_SPHERE = math.sqrt(3.0) / 2.0


def _random_state(seed: int) -> np.random.RandomState:
    """NumPy's legacy Mersenne Twister (what TRELLIS's ``np.random`` calls use), any int seed."""
    return np.random.RandomState(seed % 2**32)


def hammersley_cameras(n: int, seed: int) -> CameraSet:
    """TRELLIS's renders (``dataset_toolkits/render.py``): radius 2, fov 40°, box in ±0.5."""
    rng = _random_state(seed)
    offset = (rng.random_sample(), rng.random_sample())
    fov = math.radians(40.0)
    cams = tuple(Camera(look_at(_on_sphere(y, p, 2.0)), fov)
                 for y, p in hammersley_directions(n, offset))
    return CameraSet(f"hammersley:{n}", cams, bound=0.5, fit="box")


def cond_radii(count: int, rng: np.random.RandomState) -> np.ndarray:
    """Radii of TRELLIS.2's condition views: ``1/r²`` uniform between the radii at which the
    fov bounds frame the sphere of radius √3/2 (``data_toolkit/render_cond.py``)."""
    fov_min, fov_max = (math.radians(f) for f in COND_FOV_DEGREES)
    k_low = (math.sin(fov_min / 2.0) / COND_SPHERE) ** 2  # 1 / r_max²
    k_high = (math.sin(fov_max / 2.0) / COND_SPHERE) ** 2  # 1 / r_min²
    return 1.0 / np.sqrt(rng.uniform(k_low, k_high, count))


def cond_cameras(n: int, seed: int) -> CameraSet:
    """TRELLIS.2's condition views (``data_toolkit/render_cond.py``): draws in its order, the
    Hammersley offset then the radii; each fov frames the sphere of radius √3/2; the asset's
    bounding box scaled into ±0.5 as its Blender script's ``normalize_scene`` does."""
    rng = _random_state(seed)
    offset = (rng.random_sample(), rng.random_sample())
    # TRELLIS.2 draws 1,000,000 radii and keeps the first n: the same first n values
    radii = cond_radii(n, rng)
    cams = []
    for (yaw, pitch), radius in zip(hammersley_directions(n, offset), radii, strict=True):
        fov = 2.0 * math.asin(COND_SPHERE / radius)
        cams.append(Camera(look_at(_on_sphere(yaw, pitch, radius)), fov))
    return CameraSet(f"cond:{n}", tuple(cams), bound=0.5, fit="box")


#: Step1X-3D's texture renders (``data/ig2mv/render/multi-view-render.py``): degrees, radius
IG2MV_ELEVATIONS = (0.0, 0.0, 0.0, 0.0, 89.99, -89.99)
IG2MV_AZIMUTHS = (-90.0, 0.0, 90.0, 180.0, 90.0, -90.0)
IG2MV_RADIUS, IG2MV_ORTHO_SCALE = 1.8, 1.1
#: the image's up as Blender's ``to_track_quat("-Z", "Y")`` picks it for these views: nearest
#: to world +Z at the sides; at ±89.99° (float32 near the pole) −Y on top and +Y below,
#: as mathutils computes them for the script's positions
IG2MV_UPS = ((0, 0, 1),) * 4 + ((0, -1, 0), (0, 1, 0))


def ig2mv_cameras() -> CameraSet:
    """Step1X-3D's six orthographic texture views (``get_camera_positions_on_sphere`` of
    bpy-renderer's ``render_utils.py``: radius 1.8, ``ortho_scale`` 1.1, box in ±0.5), turned
    as Blender turns them (:data:`IG2MV_UPS`)."""
    cams = []
    for elevation, azimuth, up in zip(IG2MV_ELEVATIONS, IG2MV_AZIMUTHS, IG2MV_UPS, strict=True):
        pitch, yaw = math.radians(elevation), math.radians(azimuth)
        back = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                         math.sin(pitch)])
        right = np.cross(up, back)
        right /= np.linalg.norm(right)
        c2w = np.eye(4)
        c2w[:3, 0], c2w[:3, 1], c2w[:3, 2] = right, np.cross(back, right), back
        c2w[:3, 3] = IG2MV_RADIUS * back
        cams.append(Camera(c2w, 0.0, IG2MV_ORTHO_SCALE))
    return CameraSet("ig2mv-ortho6", tuple(cams), bound=0.5, fit="box")


def parse_cameras(spec: str, seed: int = 0) -> CameraSet:
    """A named camera set (see the module docstring), seeded for the random parts."""
    name, _, arg = spec.partition(":")
    if spec.endswith(".json") and os.path.isfile(spec):
        return _from_json(spec)
    if name == "hammersley":
        return hammersley_cameras(int(arg or 150), seed)
    if name == "cond":
        return cond_cameras(int(arg or 24), seed)
    if name == "ortho6":
        eyes = [(0, -3, 0), (0, 3, 0), (-3, 0, 0), (3, 0, 0), (0, 0, 3), (0, 0, -3)]
        return CameraSet(spec, tuple(Camera(look_at(e), 0.0, 2.0) for e in eyes))
    if name in ("orbit", "scoring4"):
        return _orbit(spec, *((arg or "4@20").partition("@")[::2] if name == "orbit"
                              else ("4", "20")))
    raise ValueError(f"unknown camera set {spec!r}: hammersley:N, cond:N, ortho6, orbit:N@ELEV, "
                     "scoring4 or a .json file")


def _orbit(spec: str, count: str, elevation: str) -> CameraSet:
    """N views evenly around Z at an elevation, fov 40°, the unit sphere filling the frame."""
    pitch = math.radians(float(elevation or 20))
    n = int(count)
    fov = math.radians(40.0)
    radius = 1.0 / math.sin(fov / 2.0)
    cams = tuple(Camera(look_at(_on_sphere(2 * math.pi * k / n - math.pi / 2, pitch, radius)),
                        fov) for k in range(n))
    return CameraSet(spec, cams, fit="sphere")


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
