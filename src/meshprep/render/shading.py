"""Physically based ``color`` renders that look like Blender Cycles' (TRELLIS / TRELLIS.2's).

Per view: the rasterizer's G-buffer at ``ssaa``× the size (``ssaa**2`` samples per pixel, box
filtered: Cycles' BOX filter of width 1 pixel), peeled up to :data:`MAX_LAYERS` surfaces deep
where MASK / BLEND materials let light through (Cycles' ``transparent_max_bounces = 3``); each
sample shaded with glTF 2.0's metallic-roughness BRDF (Appendix B: Trowbridge-Reitz / GGX ``D``,
Smith height-correlated ``V``, Schlick ``F``, ``F0 = mix(0.04, base, metallic)``) under the view's
:class:`~meshprep.render.lights.Lighting`, then Blender's view transform.

Choices (measured against the formulas in tests/render/test_shading.py):

- **Normals**: the file's (``Appearance.vertex_normal``) when the loader kept them, else
  area-weighted normals smoothed across edges flatter than :data:`CREASE_DEGREES` and split at
  sharper ones (glTF 3.7.2.1 asks flat normals for files without any, which Blender's importer
  draws flat; a mesh that lost its file's normals is mostly a smooth surface with hard edges);
  tangent-space normal maps (glTF ``normalTexture``: the file's ``TANGENT``, else per-face
  tangents from the UVs).
- **Radiometry** (Cycles'): a point light of ``P`` W has intensity ``P / (4 pi)`` W/sr, so the
  irradiance at distance ``d`` is ``P cos / (4 pi d^2)``; a white Lambertian surface shows
  ``E / pi``; a uniform world of radiance ``W`` shows ``W`` on it. Emission adds its radiance
  (factor × texture × strength). An area light is folded, with the world, into an irradiance
  table over directions (the object is small beside it).
- **Specular energy**: Cycles' Principled BSDF uses multiple-scattering GGX and puts the diffuse
  under the specular layer: the single-scattering lobe is scaled by ``1 + F0 (1 / E - 1)``
  (Turquin 2019, ``E = A + B`` of the split-sum table) and the diffuse by ``1 - E_spec(v)``
  instead of glTF's ``1 - F``.
- **World**: diffuse ``c_diff · W · AO``, specular ``W · (F0 A + B) · AO`` with ``A, B`` the
  split-sum DFG integral (Karis 2013), a 32×32 table computed once by importance sampling.
- **Ambient occlusion**: per sample from :data:`AO_DIRECTIONS` orthographic depth maps of the
  object (Fibonacci directions over the sphere, rasterized once per asset), cosine-weighted
  visibility to infinity, then Jimenez et al. 2016's multi-bounce fit for Cycles' one diffuse
  bounce. No rays: the BVH in meshprep.sample answers closest points, not ray hits.
- **Shadows**: per light and view a perspective depth map aimed at the object from the light
  (``shadow_size`` texels), percentage-closer soft shadows sized by the light's radius
  (blocker search, then a PCF kernel as wide as the penumbra ``radius · (d - d_blocker) /
  d_blocker``).
- **Alpha**: OPAQUE ignores it, MASK cuts at ``alpha_cutoff`` (colour and coverage), BLEND
  composites front to back; the PNG's alpha is the covered fraction and its colour straight
  (unassociated), as Blender writes film-transparent PNGs.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba as nb
import numpy as np

from .lights import Lighting
from .raster import _WRAP_CODES, _decode, _fold, _texel, _wrap, rasterize

CREASE_DEGREES = 30.0
MAX_LAYERS = 4
AO_DIRECTIONS = 32
AO_MAP_SIZE = 256
DFG_SIZE = 32
ENV_SIZE = (16, 32)
#: texels of a light's shadow map: the output size, within these bounds
SHADOW_SIZE_RANGE = (512, 2048)
#: the PCF kernel's taps per side, the blocker search's
PCF_TAPS, BLOCKER_TAPS = 5, 3
F0_DIELECTRIC = 0.04
VIEW_TRANSFORMS = ("standard", "filmic", "agx")
LUT_SIZE = 65
#: samples per pixel along each axis at least, where a material is MASK or BLEND: its cut-outs
#: are often thinner than a pixel, and 2 × 2 samples put many of them at exactly half coverage
ALPHA_SSAA = 3
#: views shaded at once (2 at 1024² with 2× supersampling: ~300 MB of buffers)
VIEWS_AT_ONCE = 2
_SRGB_TO_LINEAR = np.where(np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92,
                           ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4)


# ---- BRDF (glTF 2.0 Appendix B) --------------------------------------------------------------


@nb.njit(cache=True, inline="always")
def ggx_d(n_dot_h: float, alpha: float) -> float:
    """Trowbridge-Reitz / GGX ``D = a^2 / (pi ((n.h)^2 (a^2 - 1) + 1)^2)``, ``a = roughness^2``."""
    a2 = alpha * alpha
    t = n_dot_h * n_dot_h * (a2 - 1.0) + 1.0
    return a2 / (math.pi * t * t)


@nb.njit(cache=True, inline="always")
def smith_v(n_dot_l: float, n_dot_v: float, alpha: float) -> float:
    """Smith height-correlated visibility ``V = G / (4 |n.l| |n.v|)`` of glTF Appendix B."""
    a2 = alpha * alpha
    gv = n_dot_l * math.sqrt(n_dot_v * n_dot_v * (1.0 - a2) + a2)
    gl = n_dot_v * math.sqrt(n_dot_l * n_dot_l * (1.0 - a2) + a2)
    total = gv + gl
    return 0.5 / total if total > 0.0 else 0.0


@nb.njit(cache=True, inline="always")
def schlick_f(f0: float, v_dot_h: float) -> float:
    """Schlick's Fresnel ``F0 + (1 - F0) (1 - v.h)^5``."""
    m = min(max(1.0 - v_dot_h, 0.0), 1.0)
    return f0 + (1.0 - f0) * m * m * m * m * m


def dfg_table(size: int = DFG_SIZE, samples: int = 512) -> np.ndarray:
    """The split-sum DFG integral: (size, size, 2) ``A, B`` over (n.v, roughness) cell centres,
    ``specular albedo = F0 A + B`` (Karis 2013), by GGX importance sampling with the BRDF above."""
    mu = (np.arange(size) + 0.5) / size
    rough = (np.arange(size) + 0.5) / size
    i = np.arange(samples) + 0.5
    u1, u2 = i / samples, np.modf(i * 0.6180339887498949)[0]
    table = np.zeros((size, size, 2))
    for r, roughness in enumerate(rough):
        a2 = (roughness * roughness) ** 2
        cos_h = np.sqrt((1.0 - u1) / (1.0 + (a2 - 1.0) * u1))
        sin_h = np.sqrt(1.0 - cos_h**2)
        phi = 2.0 * np.pi * u2
        h = np.stack([sin_h * np.cos(phi), sin_h * np.sin(phi), cos_h], axis=1)
        for m, nv in enumerate(mu):
            v = np.array([np.sqrt(1.0 - nv * nv), 0.0, nv])
            vh = h @ v
            light = 2.0 * vh[:, None] * h - v
            nl, nh = light[:, 2], h[:, 2]
            ok = nl > 0
            a = roughness * roughness
            vis = 0.5 / (nl * np.sqrt(nv * nv * (1 - a * a) + a * a)
                         + nv * np.sqrt(nl * nl * (1 - a * a) + a * a))
            weight = np.where(ok, vis * 4.0 * nl * vh / nh, 0.0)
            fc = (1.0 - vh) ** 5
            table[m, r] = [np.mean((1 - fc) * weight), np.mean(fc * weight)]
    return table


@functools.cache
def _dfg() -> np.ndarray:
    return dfg_table()


@nb.njit(cache=True)
def _dfg_lookup(dfg, n_dot_v, roughness):
    """Bilinear ``A, B`` from :func:`dfg_table` at (n.v, roughness)."""
    size = dfg.shape[0]
    x = min(max(n_dot_v * size - 0.5, 0.0), size - 1.0)
    y = min(max(roughness * size - 0.5, 0.0), size - 1.0)
    x0, y0 = min(int(x), size - 2), min(int(y), size - 2)
    tx, ty = x - x0, y - y0
    a = b = 0.0
    for dx in range(2):
        for dy in range(2):
            w = (tx if dx else 1.0 - tx) * (ty if dy else 1.0 - ty)
            a += w * dfg[x0 + dx, y0 + dy, 0]
            b += w * dfg[x0 + dx, y0 + dy, 1]
    return a, b


# ---- per-asset preparation -------------------------------------------------------------------


@nb.njit(cache=True)
def _crease_corner_normals(faces, face_unit, face_area, starts, incident, cos_limit):
    """Per face corner, the area-weighted mean of the vertex's faces whose normal is within the
    crease angle of this face's (the face itself always)."""
    out = np.zeros((faces.shape[0], 3, 3), np.float32)
    for f in range(faces.shape[0]):
        for j in range(3):
            v = faces[f, j]
            sx = sy = sz = 0.0
            for t in range(starts[v], starts[v + 1]):
                g = incident[t]
                c = face_unit[f, 0] * face_unit[g, 0] + face_unit[f, 1] * face_unit[g, 1] \
                    + face_unit[f, 2] * face_unit[g, 2]
                if g == f or c >= cos_limit:
                    w = face_area[g]
                    sx += w * face_unit[g, 0]
                    sy += w * face_unit[g, 1]
                    sz += w * face_unit[g, 2]
            norm = math.sqrt(sx * sx + sy * sy + sz * sz)
            if norm > 0.0:
                out[f, j, 0], out[f, j, 1], out[f, j, 2] = sx / norm, sy / norm, sz / norm
            else:
                out[f, j, 0], out[f, j, 1], out[f, j, 2] = face_unit[f]
    return out


def crease_normals(vertices: np.ndarray, faces: np.ndarray,
                   crease_degrees: float = CREASE_DEGREES) -> np.ndarray:
    """Per-corner normals (F, 3, 3) float32: smooth across edges flatter than the crease angle,
    split at sharper ones (area-weighted face normals)."""
    cross = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                     vertices[faces[:, 2]] - vertices[faces[:, 0]])
    area = np.linalg.norm(cross, axis=1)
    unit = cross / np.maximum(area, 1e-30)[:, None]
    flat = faces.reshape(-1)
    order = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[order], np.arange(len(vertices) + 1))
    return _crease_corner_normals(faces, unit, area, starts, (order // 3).astype(np.int64),
                                  math.cos(math.radians(crease_degrees)))


def _face_tangents(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(F, 2, 3) per-face tangent (along +u) and bitangent (along +v, up in the image) from the
    UVs (zero where the UVs are degenerate)."""
    e1 = vertices[faces[:, 1]] - vertices[faces[:, 0]]
    e2 = vertices[faces[:, 2]] - vertices[faces[:, 0]]
    d1 = uv[faces[:, 1]] - uv[faces[:, 0]]
    d2 = uv[faces[:, 2]] - uv[faces[:, 0]]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    inv = np.where(np.abs(det) > 1e-20, 1.0 / np.where(det == 0, 1.0, det), 0.0)[:, None]
    tangent = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * inv
    bitangent = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * inv
    return np.stack([tangent, bitangent], axis=1).astype(np.float32)


def _vertex_tangents(faces: np.ndarray, corner_normals: np.ndarray,
                     tangent: np.ndarray) -> np.ndarray:
    """(F, 2, 3) tangent frames from glTF ``TANGENT`` (bitangent = cross(n, t) · w, per face
    from its first corner)."""
    t = tangent[faces[:, 0], :3].astype(np.float64)
    w = tangent[faces[:, 0], 3:4].astype(np.float64)
    b = np.cross(corner_normals[:, 0].astype(np.float64), t) * w
    return np.stack([t, b], axis=1).astype(np.float32)


class Scene(NamedTuple):
    """One asset, ready to shade (built once, shared by its views)."""

    vertices: np.ndarray  # (V, 3) f64, render world
    faces: np.ndarray  # (F, 3) i64
    corner_normals: np.ndarray  # (F, 3, 3) f32
    tangents: np.ndarray  # (F, 2, 3) f32
    uv: np.ndarray  # (V, 2) f64
    vertex_color: np.ndarray  # (V, 4) f32 or 0 rows
    face_color: np.ndarray  # (F, 4) f32 or 0 rows
    face_material: np.ndarray  # (F,) i32
    params: np.ndarray  # (M, 12) f64: base rgba, metallic, roughness, alpha mode, cutoff,
    #                     normal scale, emission rgb × strength
    tex_offset: np.ndarray  # (M, 4) i64: base, metallic-roughness, normal, emissive (-1 none)
    tex_shape: np.ndarray  # (M, 4, 2) i64
    tex_sampler: np.ndarray  # (M, 4, 3) i64
    texels: np.ndarray  # packed RGBA bytes
    radius: float  # bounding sphere radius about the origin
    ao_maps: np.ndarray  # (D, S, S) f32 depth maps
    ao_w2c: np.ndarray  # (D, 4, 4)
    ao_scale: float  # texels per world unit
    has_alpha: bool


_ALPHA_CODES = {"OPAQUE": 0, "MASK": 1, "BLEND": 2}
_SLOTS = (("texture", "texture_sampler"),
          ("metallic_roughness_texture", "metallic_roughness_sampler"),
          ("normal_texture", "normal_sampler"), ("emissive_texture", "emissive_sampler"))


def _sampler_code(sampler) -> tuple[int, int, int]:
    if sampler is None:
        return 0, 0, 0
    return (_WRAP_CODES.get(sampler.wrap_s, 0), _WRAP_CODES.get(sampler.wrap_t, 0),
            int(sampler.nearest))


def _material_arrays(materials) -> tuple:
    """Material parameters and packed textures (see :class:`Scene`)."""
    count = max(len(materials), 1)
    params = np.zeros((count, 12))
    params[:, :4], params[:, 5] = 1.0, 0.5
    offsets = np.full((count, 4), -1, np.int64)
    shapes = np.zeros((count, 4, 2), np.int64)
    samplers = np.zeros((count, 4, 3), np.int64)
    chunks, used = [], 0
    for m, mat in enumerate(materials):
        emission = np.asarray(getattr(mat, "emissive_factor", np.zeros(3)), np.float64)
        params[m] = [*np.asarray(mat.factor, np.float64)[:4], mat.metallic_factor,
                     mat.roughness_factor, _ALPHA_CODES.get(mat.alpha_mode, 0), mat.alpha_cutoff,
                     float(getattr(mat, "normal_scale", 1.0)),
                     *(emission.reshape(3) * float(getattr(mat, "emissive_strength", 1.0)))]
        for slot, (name, sampler) in enumerate(_SLOTS):
            texture = getattr(mat, name, None)
            if texture is None:
                continue
            offsets[m, slot], shapes[m, slot] = used, texture.shape[:2]
            samplers[m, slot] = _sampler_code(getattr(mat, sampler, None))
            chunks.append(np.ascontiguousarray(texture, np.uint8).reshape(-1))
            used += texture.size
    texels = np.concatenate(chunks) if chunks else np.zeros(4, np.uint8)
    return params, offsets, shapes, samplers, texels


def _unit_rows(x: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, length, out=np.zeros_like(x), where=length > 0)


def prepare_scene(vertices: np.ndarray, faces: np.ndarray, look,
                  linear: np.ndarray | None = None) -> Scene:
    """Everything per asset: normals, tangents, packed materials, the AO depth maps.

    Parameters
    ----------
    vertices : (V, 3) float
        In the render world (normalized, Z up).
    faces : (F, 3) int
    look : Appearance
        Aligned with ``vertices`` / ``faces`` (``meshprep.io.appearance.plain`` when none).
    linear : (3, 3) float, optional
        The linear part of the map from the file's coordinates to the render world (the
        normalization's scale and Y-up turn): the file's normals are carried by its inverse
        transpose, its tangents by it. None: the identity (``vertices`` are the file's).

    Returns
    -------
    Scene
    """
    vertices = np.ascontiguousarray(vertices, np.float64)
    faces = np.ascontiguousarray(faces, np.int64)
    linear = np.eye(3) if linear is None else np.asarray(linear, np.float64)
    declared = getattr(look, "vertex_normal", None)
    if declared is not None and len(declared) == len(vertices):
        moved = _unit_rows(np.asarray(declared, np.float64) @ np.linalg.inv(linear))
        corner = np.ascontiguousarray(moved.astype(np.float32)[faces])
    else:
        corner = crease_normals(vertices, faces)
    uv = np.ascontiguousarray(look.uv, np.float64)
    tangent = getattr(look, "tangent", None)
    if tangent is not None and len(tangent) == len(vertices):
        tangent = np.asarray(tangent, np.float64)
        flip = -1.0 if np.linalg.det(linear) < 0 else 1.0
        tangent = np.concatenate([_unit_rows(tangent[:, :3] @ linear.T),
                                  tangent[:, 3:4] * flip], axis=1)
        tangents = _vertex_tangents(faces, corner, tangent)
    else:
        tangents = _face_tangents(vertices, faces, uv)
    params, offsets, shapes, samplers, texels = _material_arrays(look.materials)
    none = np.zeros((0, 4), np.float32)
    radius = float(np.linalg.norm(vertices, axis=1).max()) if len(vertices) else 1.0
    ao_maps, ao_w2c, ao_scale = occlusion_maps(vertices, faces, radius)
    return Scene(vertices, faces, corner, tangents, uv,
                 none if look.vertex_color is None else np.asarray(look.vertex_color, np.float32),
                 none if look.face_color is None else np.asarray(look.face_color, np.float32),
                 np.asarray(look.face_material, np.int32), params, offsets, shapes, samplers,
                 texels, radius, ao_maps, ao_w2c, ao_scale, bool((params[:, 6] > 0).any()))


def fibonacci_directions(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread evenly over the sphere (Fibonacci lattice)."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _look_w2c(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera (OpenCV axes) of a camera at ``eye`` looking at ``target``."""
    from .cameras import look_at

    up = (0.0, 0.0, 1.0) if abs(eye[2] - target[2]) < 0.999 * np.linalg.norm(eye - target) \
        else (0.0, 1.0, 0.0)
    return np.diag([1.0, -1.0, -1.0, 1.0]) @ np.linalg.inv(look_at(eye, target, up))


def occlusion_maps(vertices: np.ndarray, faces: np.ndarray, radius: float,
                   count: int = AO_DIRECTIONS, size: int = AO_MAP_SIZE) -> tuple:
    """Orthographic depth maps of the object seen from ``count`` directions (the AO's sky).

    Returns
    -------
    maps : (count, size, size) f32
        Depth along each view from a plane ``2 radius`` outside the object (inf: open sky).
    w2c : (count, 4, 4)
        World-to-camera per map.
    scale : float
        Texels per world unit.
    """
    radius = max(radius, 1e-9)
    dirs = fibonacci_directions(count)
    w2c = np.stack([_look_w2c(d * 3.0 * radius, np.zeros(3)) for d in dirs])
    scale = size / (2.05 * radius)
    intr = np.tile([scale, scale, size / 2.0, size / 2.0], (count, 1))
    maps = np.full((count, size, size), np.inf, np.float32)
    face_id = np.full((count, size, size), -1, np.int32)
    bary = np.zeros((count, size, size, 2), np.float32)
    rasterize(vertices, faces, w2c, intr, np.ones(count, np.bool_), size, size, maps, face_id,
              bary)
    return maps, w2c, scale


# ---- lights of a view ------------------------------------------------------------------------


class ViewLights(NamedTuple):
    """A :class:`Lighting` as the kernel reads it."""

    points: np.ndarray  # (L, 8): position, colour × P / (4 pi), radius, shadow map index
    env: np.ndarray  # (H, W, 3): world + area lights, irradiance / pi over directions
    env_uniform: bool


def _area_irradiance(area, directions: np.ndarray, grid: int = 24) -> np.ndarray:
    """Irradiance / pi at the origin from a square area light, per surface normal (rows of
    ``directions``): Cycles' area light has radiance ``P / (pi A)`` on its emitting side."""
    d = np.asarray(area.direction, np.float64)
    d = d / np.linalg.norm(d)
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    ex = np.cross(d, helper)
    ex /= np.linalg.norm(ex)
    ey = np.cross(d, ex)
    t = ((np.arange(grid) + 0.5) / grid - 0.5) * area.size
    pts = (np.asarray(area.position, np.float64)[None, None] + t[:, None, None] * ex
           + t[None, :, None] * ey).reshape(-1, 3)
    dist2 = np.einsum("ij,ij->i", pts, pts)
    to_light = pts / np.sqrt(dist2)[:, None]
    cos_emit = np.maximum(-(to_light @ d), 0.0)
    radiance = area.power_w / (math.pi * area.size**2)
    d_omega = (area.size / grid) ** 2 * cos_emit / dist2
    cos_recv = np.maximum(directions @ to_light.T, 0.0)
    return radiance * (cos_recv @ d_omega) / math.pi


def view_lights(lighting: Lighting) -> ViewLights:
    """Kernel arrays of one view's lights (column 7, each point light's shadow map, is set by
    :func:`_lights_arrays`, which numbers the distinct lights of a chunk)."""
    points = np.zeros((len(lighting.points), 8))
    for i, light in enumerate(lighting.points):
        points[i, :3] = light.position
        points[i, 3:6] = np.asarray(light.color, np.float64) * light.power_w / (4.0 * math.pi)
        points[i, 6] = light.radius
    h, w = ENV_SIZE
    env = np.broadcast_to(lighting.world, (h, w, 3)).astype(np.float64)
    if lighting.areas:
        theta = (np.arange(h) + 0.5) / h * math.pi
        phi = (np.arange(w) + 0.5) / w * 2.0 * math.pi - math.pi
        dirs = np.stack([np.sin(theta)[:, None] * np.cos(phi)[None],
                         np.sin(theta)[:, None] * np.sin(phi)[None],
                         np.broadcast_to(np.cos(theta)[:, None], (h, w))], axis=-1).reshape(-1, 3)
        for area in lighting.areas:
            irr = _area_irradiance(area, dirs)
            env = env + irr.reshape(h, w, 1) * np.asarray(area.color, np.float64)
    return ViewLights(points, np.ascontiguousarray(env), not lighting.areas)


class Scratch:
    """Buffers reused from chunk to chunk of one render: a fresh buffer of 100 MB or more is
    new pages from the kernel, zeroed on first touch, at every chunk (measured: 1024² views at
    2 × 2 samples allocate 300 MB per 2 views)."""

    def __init__(self) -> None:
        self._held: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple, dtype, fill=None) -> np.ndarray:
        """A C-contiguous ``shape`` array of ``dtype`` (filled with ``fill`` unless None)."""
        count = math.prod(shape)
        held = self._held.get(name)
        if held is None or held.size < count or held.dtype != np.dtype(dtype):
            held = self._held[name] = np.empty(count, dtype)
        view = held[:count].reshape(shape)
        if fill is not None:
            view.fill(fill)
        return view


def shadow_maps(scene: Scene, rows: np.ndarray, size: int,
                scratch: Scratch | None = None) -> tuple:
    """A perspective depth map per point light, aimed at the object.

    Parameters
    ----------
    scene : Scene
    rows : (L, 8) float
        The distinct point lights (:class:`ViewLights` rows: position first).
    size : int
        Texels per side.
    scratch : Scratch, optional
        Buffers to reuse.

    Returns
    -------
    maps : (L, size, size) f32, w2c : (L, 4, 4), focal : (L,) f64 (0: no map, light inside
    the object's sphere)
    """
    count = len(rows)
    w2c = np.tile(np.eye(4), (max(count, 1), 1, 1))
    focal = np.zeros(max(count, 1))
    for i, row in enumerate(rows):
        distance = float(np.linalg.norm(row[:3]))
        if distance <= scene.radius * 1.05:
            continue
        w2c[i] = _look_w2c(row[:3], np.zeros(3))
        half = math.asin(min(scene.radius * 1.02 / distance, 1.0))
        focal[i] = 0.5 * size / math.tan(half)
    scratch = scratch or Scratch()
    maps = scratch.get("shadow_depth", (max(count, 1), size, size), np.float32, np.inf)
    live = np.flatnonzero(focal > 0)
    if len(live):
        intr = np.stack([focal[live], focal[live], np.full(len(live), size / 2.0),
                         np.full(len(live), size / 2.0)], axis=1)
        every = len(live) == len(maps)
        depth = maps if every else np.full((len(live), size, size), np.inf, np.float32)
        face_id = scratch.get("shadow_face", depth.shape, np.int32, -1)
        bary = scratch.get("shadow_bary", (*depth.shape, 2), np.float32)
        rasterize(scene.vertices, scene.faces, w2c[live], intr, np.zeros(len(live), np.bool_),
                  size, size, depth, face_id, bary)
        if not every:
            maps[live] = depth
    return maps, w2c, focal


# ---- the per-sample kernel -------------------------------------------------------------------


@nb.njit(cache=True)
def _texture(texels, offsets, shapes, samplers, m, slot, u, v, c):
    """Channel ``c`` (0..255, filtered) of material ``m``'s texture ``slot`` at (u, v)."""
    return _texel(texels, offsets[m, slot], shapes[m, slot, 0], shapes[m, slot, 1], u, v, c,
                  samplers[m, slot, 0], samplers[m, slot, 1], samplers[m, slot, 2])


@nb.njit(cache=True, inline="always")
def _texture4(texels, offsets, shapes, samplers, m, slot, u, v):
    """All four channels (0..255, filtered as :func:`_texture`) of material ``m``'s texture
    ``slot`` at (u, v), the texel addresses and weights worked out once."""
    offset, height, width = offsets[m, slot], shapes[m, slot, 0], shapes[m, slot, 1]
    wrap_s, wrap_t = samplers[m, slot, 0], samplers[m, slot, 1]
    x = _fold(u, wrap_s) * width
    y = (1.0 - _fold(v, wrap_t)) * height
    if samplers[m, slot, 2]:
        base = offset + (_wrap(int(np.floor(y)), height, wrap_t) * width
                         + _wrap(int(np.floor(x)), width, wrap_s)) * 4
        return (np.float64(texels[base]), np.float64(texels[base + 1]),
                np.float64(texels[base + 2]), np.float64(texels[base + 3]))
    x -= 0.5
    y -= 0.5
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    tx, ty = x - x0, y - y0
    c0 = c1 = c2 = c3 = 0.0
    for dy in range(2):
        row = _wrap(y0 + dy, height, wrap_t)
        wy = ty if dy else 1.0 - ty
        for dx in range(2):
            col = _wrap(x0 + dx, width, wrap_s)
            w = (tx if dx else 1.0 - tx) * wy
            base = offset + (row * width + col) * 4
            c0 += w * texels[base]
            c1 += w * texels[base + 1]
            c2 += w * texels[base + 2]
            c3 += w * texels[base + 3]
    return c0, c1, c2, c3


@nb.njit(cache=True, inline="always")
def _normalize(x, y, z):
    norm = math.sqrt(x * x + y * y + z * z)
    if norm > 0.0:
        return x / norm, y / norm, z / norm
    return x, y, z


@nb.njit(cache=True)
def _env(env, uniform, x, y, z):
    """The view's world + area light table (irradiance / pi, RGB) toward unit (x, y, z)."""
    if uniform:
        return env[0, 0, 0], env[0, 0, 1], env[0, 0, 2]
    h, w = env.shape[0], env.shape[1]
    theta = math.acos(min(max(z, -1.0), 1.0))
    phi = math.atan2(y, x)
    row = min(int(theta / math.pi * h), h - 1)
    col = min(int((phi + math.pi) / (2.0 * math.pi) * w), w - 1)
    return env[row, col, 0], env[row, col, 1], env[row, col, 2]


@nb.njit(cache=True, inline="always")
def _equirect(x, y, z, turn, h, w):
    """Bilinear taps of an equirectangular table (Blender's layout, :mod:`.envmap`) toward unit
    (x, y, z) turned by ``turn`` about +Z: columns x0, x1 (wrapped), rows y0, y1, weights."""
    fy = min(max(math.acos(min(max(z, -1.0), 1.0)) / math.pi * h - 0.5, 0.0), h - 1.0)
    fx = ((0.5 - (math.atan2(y, x) + turn) / (2.0 * math.pi)) * w - 0.5) % w
    x0, y0 = min(int(fx), w - 1), min(int(fy), h - 2)
    return x0, (x0 + 1) % w, y0, y0 + 1, fx - x0, fy - y0


@nb.njit(cache=True, inline="always")
def _bilerp(table, x0, x1, y0, y1, tx, ty, c):
    top = table[y0, x0, c] * (1.0 - tx) + table[y0, x1, c] * tx
    return top * (1.0 - ty) + (table[y1, x0, c] * (1.0 - tx) + table[y1, x1, c] * tx) * ty


@nb.njit(cache=True)
def _ibl(tables, turn, nx, ny, nz, rx, ry, rz, rough):
    """An environment map's light at a sample: irradiance / pi toward the normal (table 0) and
    the GGX-prefiltered radiance toward the reflection (tables 1.., roughness 0 to 1 evenly,
    interpolated) for the split sum."""
    h, w, levels = tables.shape[1], tables.shape[2], tables.shape[0] - 1
    ax0, ax1, ay0, ay1, atx, aty = _equirect(nx, ny, nz, turn, h, w)
    bx0, bx1, by0, by1, btx, bty = _equirect(rx, ry, rz, turn, h, w)
    f = min(max(rough, 0.0), 1.0) * (levels - 1)
    i = min(int(f), levels - 2)
    t = f - i
    lo, hi, dif = tables[1 + i], tables[2 + i], tables[0]
    d0 = _bilerp(dif, ax0, ax1, ay0, ay1, atx, aty, 0)
    d1 = _bilerp(dif, ax0, ax1, ay0, ay1, atx, aty, 1)
    d2 = _bilerp(dif, ax0, ax1, ay0, ay1, atx, aty, 2)
    s0 = (1.0 - t) * _bilerp(lo, bx0, bx1, by0, by1, btx, bty, 0) \
        + t * _bilerp(hi, bx0, bx1, by0, by1, btx, bty, 0)
    s1 = (1.0 - t) * _bilerp(lo, bx0, bx1, by0, by1, btx, bty, 1) \
        + t * _bilerp(hi, bx0, bx1, by0, by1, btx, bty, 1)
    s2 = (1.0 - t) * _bilerp(lo, bx0, bx1, by0, by1, btx, bty, 2) \
        + t * _bilerp(hi, bx0, bx1, by0, by1, btx, bty, 2)
    return d0, d1, d2, s0, s1, s2


@nb.njit(cache=True)
def _occlusion(px, py, pz, nx, ny, nz, maps, w2c, scale, dirs):
    """Cosine-weighted visibility of the sky over the hemisphere of n, from the AO maps."""
    size = maps.shape[1]
    offset = 1.5 / scale
    qx, qy, qz = px + nx * offset, py + ny * offset, pz + nz * offset
    seen = total = 0.0
    for j in range(dirs.shape[0]):
        w = nx * dirs[j, 0] + ny * dirs[j, 1] + nz * dirs[j, 2]
        if w <= 0.0:
            continue
        total += w
        x = w2c[j, 0, 0] * qx + w2c[j, 0, 1] * qy + w2c[j, 0, 2] * qz + w2c[j, 0, 3]
        y = w2c[j, 1, 0] * qx + w2c[j, 1, 1] * qy + w2c[j, 1, 2] * qz + w2c[j, 1, 3]
        z = w2c[j, 2, 0] * qx + w2c[j, 2, 1] * qy + w2c[j, 2, 2] * qz + w2c[j, 2, 3]
        col, row = int(x * scale + 0.5 * size), int(y * scale + 0.5 * size)
        if col < 0 or row < 0 or col >= size or row >= size \
                or maps[j, row, col] >= z - 1.5 / scale:
            seen += w
    return seen / total if total > 0.0 else 1.0


@nb.njit(cache=True, inline="always")
def _multibounce(ao, albedo):
    """Jimenez et al. 2016 ("Practical real-time strategies for accurate indirect occlusion"):
    AO brightened by interreflection for a surface of this albedo."""
    a = 2.0404 * albedo - 0.3324
    b = -4.7951 * albedo + 0.6417
    c = 2.7552 * albedo + 0.6903
    return max(ao, ((ao * a + b) * ao + c) * ao)


@nb.njit(cache=True)
def _shadow(px, py, pz, nx, ny, nz, light_radius, smap, w2c, focal):
    """Percentage-closer soft shadow of one point light: 1 lit, 0 in the umbra."""
    size = smap.shape[0]
    half = 0.5 * size
    ex = -(w2c[0, 0] * w2c[0, 3] + w2c[1, 0] * w2c[1, 3] + w2c[2, 0] * w2c[2, 3])
    ey = -(w2c[0, 1] * w2c[0, 3] + w2c[1, 1] * w2c[1, 3] + w2c[2, 1] * w2c[2, 3])
    ez = -(w2c[0, 2] * w2c[0, 3] + w2c[1, 2] * w2c[1, 3] + w2c[2, 2] * w2c[2, 3])
    dist = math.sqrt((px - ex) ** 2 + (py - ey) ** 2 + (pz - ez) ** 2)
    texel = dist / focal
    qx, qy, qz = px + nx * 1.5 * texel, py + ny * 1.5 * texel, pz + nz * 1.5 * texel
    x = w2c[0, 0] * qx + w2c[0, 1] * qy + w2c[0, 2] * qz + w2c[0, 3]
    y = w2c[1, 0] * qx + w2c[1, 1] * qy + w2c[1, 2] * qz + w2c[1, 3]
    z = w2c[2, 0] * qx + w2c[2, 1] * qy + w2c[2, 2] * qz + w2c[2, 3]
    if z <= 0.0:
        return 1.0
    u, v = focal * x / z + half, focal * y / z + half
    # receiver-plane bias: taps off the centre sit deeper on a surface tilted from the light
    cos_l = min(max((nx * (ex - px) + ny * (ey - py) + nz * (ez - pz)) / dist, 0.05), 1.0)
    slope = min(math.sqrt(1.0 - cos_l * cos_l) / cos_l, 4.0) * texel
    limit = z - 1.5 * texel
    near = max(z - 4.0 * half / focal * z, 1e-6)  # nearest the object can be, roughly
    search = min(max(light_radius * (z - near) / near * focal / z, 1.0), 48.0)
    blockers = found = 0.0
    for i in range(BLOCKER_TAPS):
        for j in range(BLOCKER_TAPS):
            su = u + (2.0 * i / (BLOCKER_TAPS - 1) - 1.0) * search
            sv = v + (2.0 * j / (BLOCKER_TAPS - 1) - 1.0) * search
            col, row = int(su), int(sv)
            if 0 <= col < size and 0 <= row < size \
                    and smap[row, col] < limit - slope * search:
                blockers += smap[row, col]
                found += 1.0
    if found == 0.0:
        return 1.0
    blocker = blockers / found
    width = min(max(light_radius * (z - blocker) / blocker * focal / z, 0.75), 64.0)
    lit = 0.0
    for i in range(PCF_TAPS):
        for j in range(PCF_TAPS):
            su = u + ((i + 0.5) / PCF_TAPS * 2.0 - 1.0) * width
            sv = v + ((j + 0.5) / PCF_TAPS * 2.0 - 1.0) * width
            col, row = int(su), int(sv)
            if not (0 <= col < size and 0 <= row < size) \
                    or smap[row, col] >= limit - slope * width:
                lit += 1.0
    return lit / (PCF_TAPS * PCF_TAPS)


@nb.njit(cache=True)
def _phong_point(geo, f, b0, b1, b2, px, py, pz, gx, gy, gz):
    """The sample moved onto the Phong-tessellated surface of its triangle (Boubekeur and
    Alexa 2008): shadows and occlusion looked up there do not show the facets of a coarse
    smooth-shaded mesh (what Cycles' shadow terminator geometry offset does). Only outward,
    along the geometric normal ``g`` (toward the viewer): like Cycles' offset, which never
    sinks a point into the surface, a concave patch (the inside of a ring) stays where it is
    instead of moving into the solid behind it."""
    vertices, faces, corners = geo[0], geo[1], geo[2]
    qx = qy = qz = 0.0
    for j in range(3):
        w = b0 if j == 0 else (b1 if j == 1 else b2)
        v = faces[f, j]
        d = (px - vertices[v, 0]) * corners[f, j, 0] + (py - vertices[v, 1]) * corners[f, j, 1] \
            + (pz - vertices[v, 2]) * corners[f, j, 2]
        qx += w * (px - d * corners[f, j, 0])
        qy += w * (py - d * corners[f, j, 1])
        qz += w * (pz - d * corners[f, j, 2])
    lift = (qx - px) * gx + (qy - py) * gy + (qz - pz) * gz
    if lift <= 0.0:
        return px, py, pz
    return px + lift * gx, py + lift * gy, pz + lift * gz


@nb.njit(cache=True)
def _material(geo, mats, f, b0, b1, b2):
    """Base colour (linear), alpha, metallic, roughness, emission and the UVs of a sample."""
    faces, uv, vertex_color, face_color, face_material = geo[1], geo[4], geo[5], geo[6], geo[7]
    params, offsets, shapes, samplers, texels, srgb = mats
    i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
    m = face_material[f]
    u = b0 * uv[i0, 0] + b1 * uv[i1, 0] + b2 * uv[i2, 0]
    v = b0 * uv[i0, 1] + b1 * uv[i1, 1] + b2 * uv[i2, 1]
    r, g, b, a = params[m, 0], params[m, 1], params[m, 2], params[m, 3]
    if offsets[m, 0] >= 0:
        t = _texture4(texels, offsets, shapes, samplers, m, 0, u, v)
        r *= _decode(srgb, t[0])
        g *= _decode(srgb, t[1])
        b *= _decode(srgb, t[2])
        a *= t[3] / 255.0
    if vertex_color.shape[0] > 0:
        r *= b0 * vertex_color[i0, 0] + b1 * vertex_color[i1, 0] + b2 * vertex_color[i2, 0]
        g *= b0 * vertex_color[i0, 1] + b1 * vertex_color[i1, 1] + b2 * vertex_color[i2, 1]
        b *= b0 * vertex_color[i0, 2] + b1 * vertex_color[i1, 2] + b2 * vertex_color[i2, 2]
        a *= b0 * vertex_color[i0, 3] + b1 * vertex_color[i1, 3] + b2 * vertex_color[i2, 3]
    if face_color.shape[0] > 0:
        r, g, b = r * face_color[f, 0], g * face_color[f, 1], b * face_color[f, 2]
        a *= face_color[f, 3]
    metal, rough = params[m, 4], params[m, 5]
    if offsets[m, 1] >= 0:
        t = _texture4(texels, offsets, shapes, samplers, m, 1, u, v)
        rough *= t[1] / 255.0
        metal *= t[2] / 255.0
    er, eg, eb = params[m, 9], params[m, 10], params[m, 11]
    if offsets[m, 3] >= 0 and er + eg + eb > 0.0:
        t = _texture4(texels, offsets, shapes, samplers, m, 3, u, v)
        er *= _decode(srgb, t[0])
        eg *= _decode(srgb, t[1])
        eb *= _decode(srgb, t[2])
    return r, g, b, a, metal, rough, er, eg, eb, u, v


@nb.njit(cache=True)
def _normal(geo, mats, f, b0, b1, b2, u, v, vx, vy, vz):
    """Shading normal (interpolated corner normals, normal map) and geometric normal, both
    turned toward the viewer (``v`` points from the surface to the eye)."""
    vertices, faces, corners, tangents = geo[0], geo[1], geo[2], geo[3]
    params, offsets, shapes, samplers, texels = mats[0], mats[1], mats[2], mats[3], mats[4]
    a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
    e1x, e1y, e1z = vertices[b, 0] - vertices[a, 0], vertices[b, 1] - vertices[a, 1], \
        vertices[b, 2] - vertices[a, 2]
    e2x, e2y, e2z = vertices[c, 0] - vertices[a, 0], vertices[c, 1] - vertices[a, 1], \
        vertices[c, 2] - vertices[a, 2]
    gx, gy, gz = _normalize(e1y * e2z - e1z * e2y, e1z * e2x - e1x * e2z, e1x * e2y - e1y * e2x)
    nx = b0 * corners[f, 0, 0] + b1 * corners[f, 1, 0] + b2 * corners[f, 2, 0]
    ny = b0 * corners[f, 0, 1] + b1 * corners[f, 1, 1] + b2 * corners[f, 2, 1]
    nz = b0 * corners[f, 0, 2] + b1 * corners[f, 1, 2] + b2 * corners[f, 2, 2]
    nx, ny, nz = _normalize(nx, ny, nz)
    if gx * vx + gy * vy + gz * vz < 0.0:  # seen from behind: Cycles flips the normals
        gx, gy, gz, nx, ny, nz = -gx, -gy, -gz, -nx, -ny, -nz
    m = geo[7][f]
    if offsets[m, 2] >= 0:
        tx, ty, tz = tangents[f, 0, 0], tangents[f, 0, 1], tangents[f, 0, 2]
        d = tx * nx + ty * ny + tz * nz
        tx, ty, tz = _normalize(tx - d * nx, ty - d * ny, tz - d * nz)
        if tx * tx + ty * ty + tz * tz > 0.5:
            bx, by, bz = ny * tz - nz * ty, nz * tx - nx * tz, nx * ty - ny * tx
            if bx * tangents[f, 1, 0] + by * tangents[f, 1, 1] + bz * tangents[f, 1, 2] < 0.0:
                bx, by, bz = -bx, -by, -bz
            scale = params[m, 8]
            t = _texture4(texels, offsets, shapes, samplers, m, 2, u, v)
            mx, my, mz = t[0] / 127.5 - 1.0, t[1] / 127.5 - 1.0, t[2] / 127.5 - 1.0
            mx, my = mx * scale, my * scale
            nx, ny, nz = _normalize(mx * tx + my * bx + mz * nx, mx * ty + my * by + mz * ny,
                                    mx * tz + my * bz + mz * nz)
    return nx, ny, nz, gx, gy, gz


@nb.njit(cache=True)
def _point_light(point, px, py, pz, nx, ny, nz, vx, vy, vz, n_dot_v, alpha, f0, diffuse_weight,
                 ms):
    """Diffuse and specular factors (× the light's colour) of one point light at a sample,
    before shadowing: ``(E / pi) * diffuse_weight`` and ``E * D V F * ms``."""
    lx, ly, lz = point[0] - px, point[1] - py, point[2] - pz
    dist2 = lx * lx + ly * ly + lz * lz
    dist = math.sqrt(dist2)
    lx, ly, lz = lx / dist, ly / dist, lz / dist
    n_dot_l = nx * lx + ny * ly + nz * lz
    if n_dot_l <= 0.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    irradiance = n_dot_l / dist2
    hx, hy, hz = _normalize(lx + vx, ly + vy, lz + vz)
    n_dot_h = max(nx * hx + ny * hy + nz * hz, 0.0)
    v_dot_h = max(vx * hx + vy * hy + vz * hz, 0.0)
    # a sphere light's highlight: the lobe widened by its angular size, energy kept
    wide = min(alpha + 0.5 * point[6] / dist, 1.0)
    norm = (alpha / wide) ** 2
    dv = ggx_d(n_dot_h, wide) * smith_v(n_dot_l, n_dot_v, wide) * norm * ms
    fresnel = schlick_f(0.0, v_dot_h)  # (1 - v.h)^5: F = f0 + (1 - f0) * this
    spec = irradiance * dv
    return irradiance * diffuse_weight / math.pi, spec, fresnel, irradiance, n_dot_l


@nb.njit(cache=True, inline="always")
def _world(base, metal, da, db, diffuse_weight, ao, env_n, env_r):
    """One channel of the world's light: diffuse (multi-bounce AO) and split-sum specular
    (multiple-scattering compensated)."""
    f0 = F0_DIELECTRIC * (1.0 - metal) + base * metal
    ms = 1.0 + f0 * (1.0 / max(da + db, 1e-3) - 1.0)
    return base * diffuse_weight * env_n * _multibounce(ao, base) + (f0 * da + db) * ms * env_r * ao


@nb.njit(cache=True, inline="always")
def _lit(base, metal, da, db, fres, dif, spec):
    """One channel of a point light's BRDF × cos / d^2 (before its intensity and shadow)."""
    f0 = F0_DIELECTRIC * (1.0 - metal) + base * metal
    ms = 1.0 + f0 * (1.0 / max(da + db, 1e-3) - 1.0)
    return base * dif + spec * (f0 + (1.0 - f0) * fres) * ms


@nb.njit(cache=True, inline="always")  # inlined: 25 % less shading time, 13 s more compile
def _shade_sample(geo, mats, k, f, b0, b1, b2, material, views, lights, shadows, occlusion,
                  dfg):
    """Linear RGB a sample of face ``f`` at barycentrics (b0, b1, b2) sends toward view ``k``
    (world, point lights with their shadows, emission); ``material``: its base colour,
    metallic, roughness and emission (8 values, the pixel's samples' mean)."""
    vertices = geo[0]
    eyes, forwards, ortho = views
    points, counts, env, env_uniform, ibl, ibl_view = lights
    smaps, sw2c, sfocal = shadows
    ao_maps, ao_w2c, ao_scale, ao_dirs = occlusion
    i0, i1, i2 = geo[1][f, 0], geo[1][f, 1], geo[1][f, 2]
    px = b0 * vertices[i0, 0] + b1 * vertices[i1, 0] + b2 * vertices[i2, 0]
    py = b0 * vertices[i0, 1] + b1 * vertices[i1, 1] + b2 * vertices[i2, 1]
    pz = b0 * vertices[i0, 2] + b1 * vertices[i1, 2] + b2 * vertices[i2, 2]
    r, g, b, metal, rough = material[0], material[1], material[2], material[3], material[4]
    er, eg, eb = material[5], material[6], material[7]
    uv = geo[4]
    u = b0 * uv[i0, 0] + b1 * uv[i1, 0] + b2 * uv[i2, 0]
    v = b0 * uv[i0, 1] + b1 * uv[i1, 1] + b2 * uv[i2, 1]
    if ortho[k]:
        vx, vy, vz = -forwards[k, 0], -forwards[k, 1], -forwards[k, 2]
    else:
        vx, vy, vz = _normalize(eyes[k, 0] - px, eyes[k, 1] - py, eyes[k, 2] - pz)
    nx, ny, nz, gx, gy, gz = _normal(geo, mats, f, b0, b1, b2, u, v, vx, vy, vz)
    n_dot_v = max(nx * vx + ny * vy + nz * vz, 1e-4)
    rough = min(max(rough, 0.02), 1.0)
    alpha = rough * rough
    da, db = _dfg_lookup(dfg, n_dot_v, rough)
    spec_albedo_d = F0_DIELECTRIC * da + db
    sx, sy, sz = _phong_point(geo, f, b0, b1, b2, px, py, pz, gx, gy, gz)
    ao = _occlusion(sx, sy, sz, gx, gy, gz, ao_maps, ao_w2c, ao_scale[0], ao_dirs)
    rx, ry, rz = 2.0 * n_dot_v * nx - vx, 2.0 * n_dot_v * ny - vy, 2.0 * n_dot_v * nz - vz
    diffuse_weight = (1.0 - metal) * (1.0 - spec_albedo_d)
    if ibl_view[k, 0] >= 0.0:  # an environment map's prefiltered tables
        e0, e1, e2, s0, s1, s2 = _ibl(ibl[int(ibl_view[k, 0])], ibl_view[k, 1], nx, ny, nz,
                                      rx, ry, rz, rough)
    else:
        envk, uni = env[k], env_uniform[k]
        e0, e1, e2 = _env(envk, uni, nx, ny, nz)  # one direction's three channels at once
        s0, s1, s2 = _env(envk, uni, rx, ry, rz)
    o0 = _world(r, metal, da, db, diffuse_weight, ao, e0, s0)
    o1 = _world(g, metal, da, db, diffuse_weight, ao, e1, s1)
    o2 = _world(b, metal, da, db, diffuse_weight, ao, e2, s2)
    for j in range(counts[k]):
        point = points[k, j]
        dif, spec, fres, irr, ndl = _point_light(point, px, py, pz, nx, ny, nz, vx, vy, vz,
                                                 n_dot_v, alpha, 0.0, diffuse_weight, 1.0)
        if irr <= 0.0:
            continue
        m_idx = int(point[7])
        lit = 1.0
        if sfocal[m_idx] > 0.0:
            lit = _shadow(sx, sy, sz, gx, gy, gz, point[6], smaps[m_idx], sw2c[m_idx],
                          sfocal[m_idx])
        if lit <= 0.0:
            continue
        o0 += lit * point[3] * _lit(r, metal, da, db, fres, dif, spec)
        o1 += lit * point[4] * _lit(g, metal, da, db, fres, dif, spec)
        o2 += lit * point[5] * _lit(b, metal, da, db, fres, dif, spec)
    return o0 + er, o1 + eg, o2 + eb


@nb.njit(cache=True, inline="always")
def _coverage_alpha(params, m, a):
    """The material's alpha as the colour pass uses it: 1 for OPAQUE, 0 / 1 at the cutoff for
    MASK, the value for BLEND."""
    mode = params[m, 6]
    if mode == 0:
        return 1.0
    if mode == 1:
        return 1.0 if a >= params[m, 7] else 0.0
    return min(max(a, 0.0), 1.0)


@nb.njit(cache=True, parallel=True, fastmath=True)
def shade_layer(face_id, bary, depth, geo, mats, views, lights, shadows, occlusion, dfg, acc,
                floor, factor):
    """Shade one peeled layer of K views' samples into ``acc`` (K, S, S, 4) f32 (premultiplied
    RGB, coverage), front to back; set ``floor`` (K, S, S) to the depth of samples that let
    light through (the next layer starts behind them), +inf elsewhere.

    The ``factor``² samples of an output pixel that hit the same face are lit once, at their
    mean barycentrics, with the mean of their materials (the textures box-filtered as Cycles'
    samples average them; AO, shadows and the BRDF hardly change within a pixel); the edges of
    faces and the alpha cut-outs, tested per sample, keep the coverage exact.

    ``views``: eyes (K, 3), forwards (K, 3), orthographic (K,); ``lights``: points (K, L, 8),
    counts (K,), env (K, h, w, 3), env_uniform (K,), ibl (M, levels, H, W, 3) environment
    maps' tables, ibl_view (K, 2) each view's map (-1: none) and turn;
    ``shadows``: maps, w2c, focal;
    ``occlusion``: maps, w2c, scale (1,), directions. Returns the count of samples that need
    another layer.
    """
    n_views, height, width = face_id.shape
    rows, cols, n_sub = height // factor, width // factor, factor * factor
    more = np.zeros(n_views * rows, np.int64)
    params, offsets, shapes, uv = mats[0], mats[1], mats[2], geo[4]
    for row in nb.prange(n_views * rows):
        k, pyx = row // rows, row % rows
        group_face = np.empty(n_sub, np.int64)
        group_b = np.empty((n_sub, 15))  # b1, b2, count, material sums (8), u/v min/max
        group_rgb = np.empty((n_sub, 3))
        sample_group = np.empty(n_sub, np.int64)
        sample_alpha = np.empty(n_sub)
        sample_b = np.empty((n_sub, 2))
        mean = np.empty(15)
        for pxx in range(cols):
            groups = 0
            for s in range(n_sub):
                y, x = pyx * factor + s // factor, pxx * factor + s % factor
                floor[k, y, x] = np.inf
                sample_group[s] = -1
                f = face_id[k, y, x]
                if f < 0 or acc[k, y, x, 3] >= 1.0 - 1e-4:
                    continue
                b1, b2 = np.float64(bary[k, y, x, 0]), np.float64(bary[k, y, x, 1])
                b0 = 1.0 - b1 - b2
                m = geo[7][f]
                a = 1.0
                if params[m, 6] != 0:  # the alpha decides coverage: the material per sample
                    mat = _material(geo, mats, f, b0, b1, b2)
                    a = _coverage_alpha(params, m, mat[3])
                    if a < 1.0:
                        # just past this surface: the depth is kept as float32 and the
                        # rasterizer's float64 depth of the same point may round above it
                        floor[k, y, x] = depth[k, y, x] * (1.0 + 1e-6)
                        more[row] += 1
                    if a <= 0.0:
                        continue
                j = -1
                for q in range(groups):
                    if group_face[q] == f:
                        j = q
                        break
                if j < 0:
                    j = groups
                    groups += 1
                    group_face[j] = f
                    group_b[j] = 0.0
                    group_b[j, 11] = group_b[j, 13] = np.inf
                    group_b[j, 12] = group_b[j, 14] = -np.inf
                group_b[j, 0] += b1
                group_b[j, 1] += b2
                group_b[j, 2] += 1.0
                if params[m, 6] != 0:
                    group_b[j, 3] += mat[0]
                    group_b[j, 4] += mat[1]
                    group_b[j, 5] += mat[2]
                    for c in range(5):
                        group_b[j, 6 + c] += mat[4 + c]
                else:
                    i0, i1, i2 = geo[1][f, 0], geo[1][f, 1], geo[1][f, 2]
                    u = b0 * uv[i0, 0] + b1 * uv[i1, 0] + b2 * uv[i2, 0]
                    v = b0 * uv[i0, 1] + b1 * uv[i1, 1] + b2 * uv[i2, 1]
                    group_b[j, 11], group_b[j, 12] = min(group_b[j, 11], u), \
                        max(group_b[j, 12], u)
                    group_b[j, 13], group_b[j, 14] = min(group_b[j, 13], v), \
                        max(group_b[j, 14], v)
                sample_group[s], sample_alpha[s] = j, a
                sample_b[s, 0], sample_b[s, 1] = b1, b2
            for q in range(groups):
                f = group_face[q]
                m = geo[7][f]
                count = group_b[q, 2]
                b1, b2 = group_b[q, 0] / count, group_b[q, 1] / count
                if params[m, 6] == 0:
                    # the textures box-filtered over the pixel as Cycles' samples average them:
                    # one lookup at the samples' mean where the base colour texture is
                    # magnified (the samples within a texel), else one per sample
                    spread = 0.0
                    if offsets[m, 0] >= 0 and count > 1.0:
                        spread = max((group_b[q, 12] - group_b[q, 11]) * shapes[m, 0, 1],
                                     (group_b[q, 14] - group_b[q, 13]) * shapes[m, 0, 0])
                    if spread <= 1.0:
                        mat = _material(geo, mats, f, 1.0 - b1 - b2, b1, b2)
                        group_b[q, 3], group_b[q, 4], group_b[q, 5] = mat[0], mat[1], mat[2]
                        for c in range(5):
                            group_b[q, 6 + c] = mat[4 + c]
                        count = 1.0
                    else:
                        for s in range(n_sub):
                            if sample_group[s] == q:
                                sb1, sb2 = sample_b[s, 0], sample_b[s, 1]
                                mat = _material(geo, mats, f, 1.0 - sb1 - sb2, sb1, sb2)
                                group_b[q, 3] += mat[0]
                                group_b[q, 4] += mat[1]
                                group_b[q, 5] += mat[2]
                                for c in range(5):
                                    group_b[q, 6 + c] += mat[4 + c]
                for c in range(3, 11):
                    mean[c] = group_b[q, c] / count
                c0, c1, c2 = _shade_sample(geo, mats, k, f, 1.0 - b1 - b2, b1, b2, mean[3:11],
                                           views, lights, shadows, occlusion, dfg)
                group_rgb[q, 0], group_rgb[q, 1], group_rgb[q, 2] = c0, c1, c2
            for s in range(n_sub):
                j = sample_group[s]
                if j < 0:
                    continue
                y, x = pyx * factor + s // factor, pxx * factor + s % factor
                weight = (1.0 - acc[k, y, x, 3]) * sample_alpha[s]
                acc[k, y, x, 0] += weight * group_rgb[j, 0]
                acc[k, y, x, 1] += weight * group_rgb[j, 1]
                acc[k, y, x, 2] += weight * group_rgb[j, 2]
                acc[k, y, x, 3] += weight
    return more.sum()


# ---- resolve and view transform --------------------------------------------------------------


@functools.cache
def view_lut(name: str, size: int = LUT_SIZE) -> np.ndarray:
    """(size, size, size, 3) f32 display values of Blender's view ``name`` over log2-spaced
    linear RGB (Filmic's 25 stops), for trilinear lookups (``standard`` needs none)."""
    from . import tonemap

    lo, hi = tonemap.FILMIC_STOPS
    axis = np.exp2(np.linspace(0.0, 1.0, size) * (hi - lo) + lo)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    transform = {"filmic": tonemap.filmic, "agx": tonemap.agx}[name]
    return np.ascontiguousarray(transform(grid), np.float32)


@nb.njit(cache=True, inline="always")
def _srgb_byte(linear):
    linear = min(max(linear, 0.0), 1.0)
    encoded = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1.0 / 2.4) - 0.055
    return np.uint8(encoded * 255.0 + 0.5)


@nb.njit(cache=True)
def _lut_apply(lut, r, g, b, lo, hi):
    """Trilinear lookup of :func:`view_lut` at linear (r, g, b): three display values."""
    size = lut.shape[0]
    coords = np.empty(3)
    for c, value in enumerate((r, g, b)):
        t = (math.log2(max(value, 1e-30)) - lo) / (hi - lo)
        coords[c] = min(max(t, 0.0), 1.0) * (size - 1)
    i0 = min(int(coords[0]), size - 2)
    j0 = min(int(coords[1]), size - 2)
    k0 = min(int(coords[2]), size - 2)
    ti, tj, tk = coords[0] - i0, coords[1] - j0, coords[2] - k0
    out = np.zeros(3)
    for di in range(2):
        wi = ti if di else 1.0 - ti
        for dj in range(2):
            wj = tj if dj else 1.0 - tj
            for dk in range(2):
                w = wi * wj * (tk if dk else 1.0 - tk)
                for c in range(3):
                    out[c] += w * lut[i0 + di, j0 + dj, k0 + dk, c]
    return out


@nb.njit(cache=True, parallel=True)
def resolve(acc, factor, lut, use_lut, lo, hi, out):
    """Box-filter ``factor``² samples per pixel of ``acc`` (premultiplied) into ``out`` (K, H,
    W, 4) uint8: straight colour through the view transform (sRGB OETF, or ``lut``), alpha =
    the covered fraction."""
    n_views, height, width = out.shape[0], out.shape[1], out.shape[2]
    inv = 1.0 / (factor * factor)
    for row in nb.prange(n_views * height):
        k, y = row // height, row % height
        for x in range(width):
            r = g = b = a = 0.0
            for sy in range(factor):
                for sx in range(factor):
                    s = acc[k, y * factor + sy, x * factor + sx]
                    r, g, b, a = r + s[0], g + s[1], b + s[2], a + s[3]
            a *= inv
            if a <= 0.0:
                out[k, y, x, 0] = out[k, y, x, 1] = out[k, y, x, 2] = out[k, y, x, 3] = 0
                continue
            r, g, b = r * inv / a, g * inv / a, b * inv / a
            if use_lut:
                display = _lut_apply(lut, r, g, b, lo, hi)
                for c in range(3):
                    out[k, y, x, c] = np.uint8(min(max(display[c], 0.0), 1.0) * 255.0 + 0.5)
            else:
                out[k, y, x, 0], out[k, y, x, 1] = _srgb_byte(r), _srgb_byte(g)
                out[k, y, x, 2] = _srgb_byte(b)
            out[k, y, x, 3] = np.uint8(min(a, 1.0) * 255.0 + 0.5)


# ---- driver ----------------------------------------------------------------------------------


def _lights_arrays(lightings: list[Lighting]) -> tuple[np.ndarray, tuple]:
    """The distinct point lights of the views (one shadow map each: views that share a
    lighting, as ``uniform`` and ``trellis`` do, share its maps) and the kernel's per-view
    arrays, each point light row pointing at its map."""
    per_view, built, maps, distinct = [], {}, {}, []
    for lighting in lightings:
        if id(lighting) not in built:  # the same Lighting object: built once
            built[id(lighting)] = view_lights(lighting)
        lights = built[id(lighting)]
        points = lights.points.copy()
        for row in points:
            key = (*row[:3], row[6])  # position and radius
            if key not in maps:
                maps[key] = len(distinct)
                distinct.append(row)
            row[7] = maps[key]
        per_view.append(lights._replace(points=points))
    most = max(1, max(len(v.points) for v in per_view))
    points = np.zeros((len(per_view), most, 8))
    for k, v in enumerate(per_view):
        points[k, :len(v.points)] = v.points
    counts = np.array([len(v.points) for v in per_view], np.int64)
    env = np.stack([v.env for v in per_view])
    uniform = np.array([v.env_uniform for v in per_view], np.bool_)
    ibl = _ibl_arrays(lightings)
    return np.array(distinct).reshape(-1, 8), (points, counts, env, uniform, *ibl)


def _ibl_arrays(lightings: list[Lighting]) -> tuple[np.ndarray, np.ndarray]:
    """The environment maps' prefiltered tables (:func:`meshprep.render.envmap.prefiltered`
    × the world's colour and strength; one per distinct map and tint) and per view its table
    (-1: none) and Z rotation."""
    from .envmap import prefiltered

    tables, index = [], {}
    view = np.zeros((len(lightings), 2))
    view[:, 0] = -1.0
    for k, lighting in enumerate(lightings):
        if not lighting.envmap:
            continue
        key = (str(lighting.envmap), *np.asarray(lighting.world, np.float64).tolist())
        if key not in index:
            index[key] = len(tables)
            tables.append(prefiltered(lighting.envmap) * lighting.world)
        view[k] = index[key], lighting.envmap_rotation
    if not tables:
        return np.zeros((1, 3, 2, 2, 3)), view
    return np.ascontiguousarray(np.stack(tables)), view


def render_color(scene: Scene, w2c: np.ndarray, intrinsics: np.ndarray, orthographic: np.ndarray,
                 eyes: np.ndarray, forwards: np.ndarray, lightings: list[Lighting], size: int, *,
                 ssaa: int = 2, view_transform: str = "filmic") -> np.ndarray:
    """RGBA uint8 (K, size, size, 4) colour renders of K views.

    Parameters
    ----------
    scene : Scene
        :func:`prepare_scene`'s asset.
    w2c, intrinsics, orthographic, eyes, forwards : arrays
        The views as :func:`meshprep.render.raster.rasterize` takes them (at ``size``), the
        camera centres and viewing directions.
    lightings : list of Lighting
        One per view.
    size : int
        Output width and height.
    ssaa : int
        Samples per pixel along each axis (box filter of one pixel).
    view_transform : str
        ``standard``, ``filmic`` (Blender 3's default, look None) or ``agx``.

    Returns
    -------
    (K, size, size, 4) uint8
        Display sRGB, straight alpha.
    """
    if view_transform not in VIEW_TRANSFORMS:
        raise ValueError(f"unknown view transform {view_transform!r}: one of {VIEW_TRANSFORMS}")
    out = np.empty((len(w2c), size, size, 4), np.uint8)
    scratch = Scratch()
    for first in range(0, len(w2c), VIEWS_AT_ONCE):
        views = slice(first, first + VIEWS_AT_ONCE)
        _render_chunk(scene, w2c[views], intrinsics[views], orthographic[views], eyes[views],
                      forwards[views], lightings[views], size, ssaa, view_transform, scratch,
                      out[views])
    return out


def _render_chunk(scene: Scene, w2c, intrinsics, orthographic, eyes, forwards, lightings, size,
                  ssaa, view_transform, scratch: Scratch, out: np.ndarray) -> None:
    """:func:`render_color` of a few views at once into ``out`` (bounds the G-buffer's
    memory)."""
    if scene.has_alpha:
        ssaa = max(ssaa, ALPHA_SSAA)
    n, big = len(w2c), size * ssaa
    distinct, lights = _lights_arrays(lightings)
    shadow_size = min(max(size, SHADOW_SIZE_RANGE[0]), SHADOW_SIZE_RANGE[1])
    shadows = shadow_maps(scene, distinct, shadow_size, scratch)
    intr = np.asarray(intrinsics, np.float64) * ssaa
    geo = (scene.vertices, scene.faces, scene.corner_normals, scene.tangents, scene.uv,
           scene.vertex_color, scene.face_color, scene.face_material)
    mats = (scene.params, scene.tex_offset, scene.tex_shape, scene.tex_sampler, scene.texels,
            _SRGB_TO_LINEAR)
    occlusion = (scene.ao_maps, scene.ao_w2c, np.array([scene.ao_scale]),
                 fibonacci_directions(len(scene.ao_maps)))
    views = (np.asarray(eyes, np.float64), np.asarray(forwards, np.float64),
             np.asarray(orthographic, np.bool_))
    depth = scratch.get("depth", (n, big, big), np.float32, np.inf)
    face_id = scratch.get("face_id", (n, big, big), np.int32, -1)
    bary = scratch.get("bary", (n, big, big, 2), np.float32)  # read only where a face is
    acc = scratch.get("acc", (n, big, big, 4), np.float32, 0.0)
    floor = scratch.get("floor", (n, big, big), np.float32)
    rasterize(scene.vertices, scene.faces, w2c, intr, orthographic, big, big, depth, face_id,
              bary)
    for layer in range(MAX_LAYERS):
        more = shade_layer(face_id, bary, depth, geo, mats, views, lights, shadows, occlusion,
                           _dfg(), acc, floor, ssaa)
        if not more or not scene.has_alpha or layer == MAX_LAYERS - 1:
            break
        depth.fill(np.inf)
        face_id.fill(-1)
        rasterize(scene.vertices, scene.faces, w2c, intr, orthographic, big, big, depth,
                  face_id, bary, floor)
    from .tonemap import FILMIC_STOPS

    lut = view_lut(view_transform) if view_transform != "standard" \
        else np.zeros((2, 2, 2, 3), np.float32)
    resolve(acc, ssaa, lut, view_transform != "standard", FILMIC_STOPS[0], FILMIC_STOPS[1], out)
