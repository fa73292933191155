"""Passes texture and material models read: metallic-roughness, camera-space normals, canonical
positions and emission (issue 28, part 5).

Layouts follow what Hunyuan3D-2.1 Paint trains on (``Tencent-Hunyuan/Hunyuan3D-2.1``:
``hy3dpaint/src/data/dataloader/objaverse_loader_forTexturePBR.py`` loads ``*_mr``, ``*_normal``
and ``*_pos`` next to ``*_albedo``; the samples in ``hy3dpaint/train_examples/001/render_tex``):

``mr``             RGBA 8-bit, linear, not tone mapped: R 255, G roughness, B metallic (glTF's
                   metallic-roughness layout, as ``hy3dpaint/convert_utils.py`` packs it and the
                   sample ``NNN_mr.png`` holds it), A = mask
``normal_camera``  RGBA 8-bit ``(n + 1) / 2`` in OpenGL camera axes (+X right, +Y up, +Z toward
                   the camera), as ``MeshRender.render_normal(use_abs_coor=False)`` draws them
``position``       RGBA 16-bit ``p / (2 * bound) + 0.5``: render-world coordinates (Z up) over
                   the normalization box, i.e. the CCM ``MeshRender`` draws as
                   ``0.5 - vtx_pos / scale_factor`` in its flipped axes (= ``0.5 + p`` in
                   Blender's), A = mask
``emission``       RGBA 8-bit sRGB-encoded linear emission (factor × strength × texture),
                   clipped to [0, 1], A = mask

Material values go through each texture's own sampler. A material with a normal texture
perturbs both normal passes (world ``normal`` and ``normal_camera``) with the tangent frame of
the file's tangents, else :func:`meshprep.render.tangents.uv_tangents`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from meshprep.io.appearance import Appearance

from .raster import _decode, _encode, _texel, _unit_byte
from .tangents import uv_tangents

#: passes this module draws
MATERIAL_PASSES = ("mr", "normal_camera", "position", "emission")

_WRAP_CODES = {10497: 0, 33071: 1, 33648: 2}
_SRGB_TO_LINEAR = np.where(np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92,
                           ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4)


@dataclass
class _Textures:
    """One texture slot of every material, packed (offset -1: none)."""

    texels: np.ndarray
    offset: np.ndarray
    height: np.ndarray
    width: np.ndarray
    sampler: np.ndarray


def _pack(materials: list, texture: str, sampler: str) -> _Textures:
    chunks, offsets, heights, widths, used = [], [], [], [], 0
    codes = np.zeros((max(len(materials), 1), 3), np.int64)
    for m, material in enumerate(materials):
        image = getattr(material, texture, None)
        offsets.append(-1 if image is None else used)
        heights.append(0 if image is None else image.shape[0])
        widths.append(0 if image is None else image.shape[1])
        if image is not None:
            chunks.append(np.ascontiguousarray(image, np.uint8).reshape(-1))
            used += image.size
        s = getattr(material, sampler, None)
        if s is not None:
            codes[m] = (_WRAP_CODES.get(s.wrap_s, 0), _WRAP_CODES.get(s.wrap_t, 0),
                        int(s.nearest))
    texels = np.concatenate(chunks) if chunks else np.zeros(1, np.uint8)
    return _Textures(texels, np.array(offsets or [-1], np.int64),
                     np.array(heights or [0], np.int64), np.array(widths or [0], np.int64), codes)


def _scalars(materials: list) -> np.ndarray:
    """(M, 6): metallic, roughness, normal scale, emission RGB × strength."""
    out = np.zeros((max(len(materials), 1), 6))
    out[:, 1] = 0.5
    for m, material in enumerate(materials):
        emissive = np.asarray(getattr(material, "emissive_factor", np.zeros(3)), np.float64)
        out[m] = (material.metallic_factor, material.roughness_factor,
                  getattr(material, "normal_scale", 1.0),
                  *(emissive[:3] * getattr(material, "emissive_strength", 1.0)))
    return out


class MaterialPasses:
    """Draws :data:`MATERIAL_PASSES` for the views of one render (textures packed once).

    Parameters
    ----------
    look : Appearance
        The mesh's look (aligned with its vertices and faces).
    vertices : (V, 3) float64
        Render-world vertices.
    faces : (F, 3) int64
    face_normals, vertex_normals : (F, 3), (V, 3) float64
        Unit render-world normals (as the ``normal`` pass reads them).
    normalization : (4, 4) float
        Loaded coordinates to render world (rotation and uniform scale move the file's normals
        and tangents).
    bound : float
        Half the side of the render world's box (positions are divided by ``2 * bound``).
    smooth : bool
        Interpolated vertex normals instead of face normals (as the ``normal`` pass).
    """

    def __init__(self, look: Appearance, vertices: np.ndarray, faces: np.ndarray,
                 face_normals: np.ndarray, vertex_normals: np.ndarray,
                 normalization: np.ndarray, bound: float, smooth: bool) -> None:
        materials = look.materials
        self.vertices, self.faces = vertices, faces
        self.face_normals, self.vertex_normals, self.smooth = face_normals, vertex_normals, smooth
        self.uv = np.ascontiguousarray(look.uv, np.float64)
        self.face_material = np.ascontiguousarray(look.face_material, np.int64)
        self.scalars = _scalars(materials)
        self.mr = _pack(materials, "metallic_roughness_texture", "metallic_roughness_sampler")
        self.normal = _pack(materials, "normal_texture", "normal_sampler")
        self.emissive = _pack(materials, "emissive_texture", "emissive_sampler")
        self.position_scale = 1.0 / (2.0 * bound)
        self.shading_normals, self.tangents = self._frame(look, normalization)

    def _frame(self, look: Appearance, normalization: np.ndarray):
        """Render-world shading normals and tangents (0 rows when no normal texture)."""
        if not (self.normal.offset >= 0).any():
            return np.zeros((0, 3)), np.zeros((0, 4))
        rotation = normalization[:3, :3]
        normals = self.vertex_normals
        if look.vertex_normal is not None and len(look.vertex_normal) == len(self.vertices):
            normals = _unit(np.asarray(look.vertex_normal, np.float64) @ rotation.T)
        if look.tangent is not None and len(look.tangent) == len(self.vertices):
            tangent = np.asarray(look.tangent, np.float64).copy()
            tangent[:, :3] = _unit(tangent[:, :3] @ rotation.T)
        else:
            tangent = uv_tangents(self.vertices, self.faces, self.uv, normals).astype(np.float64)
        return np.ascontiguousarray(normals), np.ascontiguousarray(tangent)

    def render(self, passes, face_id, bary, w2c, eyes, forwards, ortho,
               world_normal: np.ndarray) -> dict[str, np.ndarray]:
        """The wanted passes of K views rasterized into ``face_id`` / ``bary``; ``world_normal``
        (the ``normal`` pass, (K, H, W, 4) uint8) is redrawn where a normal map perturbs it."""
        n, height, width = face_id.shape
        rows = {name: n if name in passes else 0 for name in MATERIAL_PASSES}
        out = {"mr": np.zeros((rows["mr"], height, width, 4), np.uint8),
               "normal_camera": np.zeros((rows["normal_camera"], height, width, 4), np.uint8),
               "position": np.zeros((rows["position"], height, width, 4), np.uint16),
               "emission": np.zeros((rows["emission"], height, width, 4), np.uint8)}
        tables = (self.mr, self.normal, self.emissive)
        shade_materials(face_id, bary, self.vertices, self.faces, self.face_normals,
                        self.vertex_normals, self.smooth, self.shading_normals, self.tangents,
                        self.uv, self.face_material, self.scalars,
                        *(t.texels for t in tables), np.stack([t.offset for t in tables]),
                        np.stack([t.height for t in tables]), np.stack([t.width for t in tables]),
                        np.stack([t.sampler for t in tables]), _SRGB_TO_LINEAR,
                        np.ascontiguousarray(w2c, np.float64), eyes, forwards, ortho,
                        self.position_scale, out["mr"], out["normal_camera"], out["position"],
                        out["emission"], world_normal)
        return {name: image for name, image in out.items() if name in passes}


def _unit(vectors: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, length, out=np.zeros_like(vectors), where=length > 0)


@nb.njit(cache=True, inline="always")
def _byte(value):
    return np.uint8(min(max(value, 0.0), 1.0) * 255.0 + 0.5)


@nb.njit(cache=True, inline="always")
def _interp(values, i0, i1, i2, b0, b1, b2, c):
    return b0 * values[i0, c] + b1 * values[i1, c] + b2 * values[i2, c]


@nb.njit(cache=True)
def _mapped_normal(i0, i1, i2, b0, b1, b2, normals, tangents, sx, sy, sz, scale):
    """Tangent-space sample (bytes) to a unit render-world normal (glTF 2.0, 3.9.3)."""
    nx = _interp(normals, i0, i1, i2, b0, b1, b2, 0)
    ny = _interp(normals, i0, i1, i2, b0, b1, b2, 1)
    nz = _interp(normals, i0, i1, i2, b0, b1, b2, 2)
    length = np.sqrt(nx * nx + ny * ny + nz * nz) + 1e-30
    nx, ny, nz = nx / length, ny / length, nz / length
    tx = _interp(tangents, i0, i1, i2, b0, b1, b2, 0)
    ty = _interp(tangents, i0, i1, i2, b0, b1, b2, 1)
    tz = _interp(tangents, i0, i1, i2, b0, b1, b2, 2)
    w = 1.0 if _interp(tangents, i0, i1, i2, b0, b1, b2, 3) >= 0.0 else -1.0
    d = tx * nx + ty * ny + tz * nz  # Gram-Schmidt against the normal
    tx, ty, tz = tx - d * nx, ty - d * ny, tz - d * nz
    length = np.sqrt(tx * tx + ty * ty + tz * tz) + 1e-30
    tx, ty, tz = tx / length, ty / length, tz / length
    bx, by, bz = w * (ny * tz - nz * ty), w * (nz * tx - nx * tz), w * (nx * ty - ny * tx)
    x = (sx / 255.0 * 2.0 - 1.0) * scale
    y = (sy / 255.0 * 2.0 - 1.0) * scale
    z = sz / 255.0 * 2.0 - 1.0
    rx, ry, rz = tx * x + bx * y + nx * z, ty * x + by * y + ny * z, tz * x + bz * y + nz * z
    length = np.sqrt(rx * rx + ry * ry + rz * rz)
    if not length > 1e-12:
        return nx, ny, nz
    return rx / length, ry / length, rz / length


@nb.njit(cache=True, inline="always")
def _sample(texels, offsets, heights, widths, samplers, slot, m, u, v, c):
    return _texel(texels, offsets[slot, m], heights[slot, m], widths[slot, m], u, v, c,
                  samplers[slot, m, 0], samplers[slot, m, 1], samplers[slot, m, 2])


@nb.njit(cache=True, parallel=True)
def shade_materials(face_id, bary, vertices, faces, face_normals, vertex_normals, smooth,
                    shading_normals, tangents, uv, face_material, scalars, mr_texels,
                    normal_texels, emissive_texels, offsets, heights, widths, samplers,
                    srgb_to_linear, w2c, eyes, forwards, orthographic, position_scale, mr,
                    normal_camera, position, emission, world_normal):
    """The material passes of K views (outputs with 0 rows are skipped; background left as is).

    ``offsets``, ``heights``, ``widths`` (3, M) and ``samplers`` (3, M, 3) describe the
    metallic-roughness, normal and emissive textures (slots 0, 1, 2) of every material;
    ``scalars`` (M, 6) are metallic, roughness, normal scale and emission RGB × strength.
    ``world_normal`` (K, H, W, 4) is overwritten where a normal map perturbs the normal.
    """
    n_views, height, width = face_id.shape
    want_mr, want_cam = mr.shape[0] == n_views, normal_camera.shape[0] == n_views
    want_pos, want_emission = position.shape[0] == n_views, emission.shape[0] == n_views
    redraw_world = world_normal.shape[0] == n_views
    for k in nb.prange(n_views):
        for y in range(height):
            for x in range(width):
                f = face_id[k, y, x]
                if f < 0:
                    continue
                b1, b2 = np.float64(bary[k, y, x, 0]), np.float64(bary[k, y, x, 1])
                b0 = 1.0 - b1 - b2
                i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
                m = face_material[f]
                u = _interp(uv, i0, i1, i2, b0, b1, b2, 0)
                v = _interp(uv, i0, i1, i2, b0, b1, b2, 1)
                if want_mr:
                    metal, rough = scalars[m, 0], scalars[m, 1]
                    if offsets[0, m] >= 0:  # glTF: G roughness, B metallic (linear)
                        rough *= _sample(mr_texels, offsets, heights, widths, samplers, 0, m,
                                         u, v, 1) / 255.0
                        metal *= _sample(mr_texels, offsets, heights, widths, samplers, 0, m,
                                         u, v, 2) / 255.0
                    mr[k, y, x, 0], mr[k, y, x, 1] = 255, _byte(rough)
                    mr[k, y, x, 2], mr[k, y, x, 3] = _byte(metal), 255
                if want_cam or (redraw_world and offsets[1, m] >= 0):
                    nx, ny, nz = _surface_normal(f, i0, i1, i2, b0, b1, b2, vertices, faces,
                                                 face_normals, vertex_normals, smooth,
                                                 shading_normals, tangents, normal_texels,
                                                 offsets, heights, widths, samplers, m, u, v,
                                                 scalars[m, 2], eyes[k], forwards[k],
                                                 orthographic[k])
                    if redraw_world and offsets[1, m] >= 0:
                        world_normal[k, y, x, 0] = _unit_byte(nx)
                        world_normal[k, y, x, 1] = _unit_byte(ny)
                        world_normal[k, y, x, 2] = _unit_byte(nz)
                    if want_cam:  # OpenCV camera axes, then OpenGL's (y and z flipped)
                        cx = w2c[k, 0, 0] * nx + w2c[k, 0, 1] * ny + w2c[k, 0, 2] * nz
                        cy = w2c[k, 1, 0] * nx + w2c[k, 1, 1] * ny + w2c[k, 1, 2] * nz
                        cz = w2c[k, 2, 0] * nx + w2c[k, 2, 1] * ny + w2c[k, 2, 2] * nz
                        normal_camera[k, y, x, 0] = _unit_byte(cx)
                        normal_camera[k, y, x, 1] = _unit_byte(-cy)
                        normal_camera[k, y, x, 2] = _unit_byte(-cz)
                        normal_camera[k, y, x, 3] = 255
                if want_pos:
                    for c in range(3):
                        p = _interp(vertices, i0, i1, i2, b0, b1, b2, c) * position_scale + 0.5
                        position[k, y, x, c] = np.uint16(min(max(p, 0.0), 1.0) * 65535.0 + 0.5)
                    position[k, y, x, 3] = 65535
                if want_emission:
                    for c in range(3):
                        e = scalars[m, 3 + c]
                        if offsets[2, m] >= 0 and e > 0.0:
                            e *= _decode(srgb_to_linear,
                                         _sample(emissive_texels, offsets, heights, widths,
                                                 samplers, 2, m, u, v, c))
                        emission[k, y, x, c] = _encode(e)
                    emission[k, y, x, 3] = 255


@nb.njit(cache=True)
def _surface_normal(f, i0, i1, i2, b0, b1, b2, vertices, faces, face_normals, vertex_normals,
                    smooth, shading_normals, tangents, normal_texels, offsets, heights, widths,
                    samplers, m, u, v, scale, eye, forward, ortho):
    """Render-world normal at a pixel: the ``normal`` pass's (face or smooth), or the normal
    map's perturbation of the shading normal; turned toward the camera when the face is seen
    from behind."""
    if offsets[1, m] >= 0:
        sx = _sample(normal_texels, offsets, heights, widths, samplers, 1, m, u, v, 0)
        sy = _sample(normal_texels, offsets, heights, widths, samplers, 1, m, u, v, 1)
        sz = _sample(normal_texels, offsets, heights, widths, samplers, 1, m, u, v, 2)
        nx, ny, nz = _mapped_normal(i0, i1, i2, b0, b1, b2, shading_normals, tangents, sx, sy,
                                    sz, scale)
    elif smooth:
        nx = _interp(vertex_normals, i0, i1, i2, b0, b1, b2, 0)
        ny = _interp(vertex_normals, i0, i1, i2, b0, b1, b2, 1)
        nz = _interp(vertex_normals, i0, i1, i2, b0, b1, b2, 2)
        length = np.sqrt(nx * nx + ny * ny + nz * nz)
        if length > 0:
            nx, ny, nz = nx / length, ny / length, nz / length
    else:
        nx, ny, nz = face_normals[f, 0], face_normals[f, 1], face_normals[f, 2]
    if ortho:
        dx, dy, dz = forward[0], forward[1], forward[2]
    else:
        a = faces[f, 0]
        dx, dy, dz = vertices[a, 0] - eye[0], vertices[a, 1] - eye[1], vertices[a, 2] - eye[2]
    if face_normals[f, 0] * dx + face_normals[f, 1] * dy + face_normals[f, 2] * dz > 0.0:
        return -nx, -ny, -nz
    return nx, ny, nz
