"""A z-buffer rasterizer in numba: per pixel, the nearest triangle, its depth and barycentrics.

Headless everywhere (no OpenGL, no GPU). Views are rendered in parallel, one view per thread;
each triangle is projected, clipped to the image and scanned over the pixel centres inside its
box with edge functions; depth is interpolated perspective-correctly (``1/z`` is linear in screen
space for a perspective camera, ``z`` for an orthographic one).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .._jit import njit

NEAR = 1e-4
#: fast-math without assuming finite values: the NaN screen corners of vertices behind the
#: camera must still fail the area test
FAST = {"contract", "arcp", "afn", "reassoc"}


@nb.njit(cache=True, inline="always", fastmath=FAST)
def _edge(ax, ay, bx, by, px, py):
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


@nb.njit(cache=True, inline="always", fastmath=FAST)
def _cover(px, py, ax, ay, bx, by, qx, qy, za, zb, zc, inv_area, ortho, f, depth, face_id,
           bary, floor):
    """Depth-test pixel (px, py) of one view's buffers against the triangle; keep it when
    nearer, and farther than ``floor`` (a (H, W) map, or (1, 1): one value for every pixel).

    ``za, zb, zc`` are the corners' depths (orthographic) or their reciprocals (perspective).
    """
    cx_, cy_ = px + 0.5, py + 0.5
    w0 = _edge(bx, by, qx, qy, cx_, cy_) * inv_area
    if w0 < 0.0:
        return
    w1 = _edge(qx, qy, ax, ay, cx_, cy_) * inv_area
    if w1 < 0.0:
        return
    w2 = 1.0 - w0 - w1
    if w2 < 0.0:
        return
    if ortho:
        d = w0 * za + w1 * zb + w2 * zc
    else:
        d = 1.0 / (w0 * za + w1 * zb + w2 * zc)
    if d < depth[py, px] and d > floor[min(py, floor.shape[0] - 1), min(px, floor.shape[1] - 1)]:
        depth[py, px] = d
        face_id[py, px] = f
        if ortho:
            bary[py, px, 0] = w1
            bary[py, px, 1] = w2
        else:
            bary[py, px, 0] = w1 * zb * d
            bary[py, px, 1] = w2 * zc * d


@njit(cache=True, parallel=True, error_model="numpy", fastmath=FAST)
def rasterize(vertices, faces, w2c, intrinsics, orthographic, width, height, depth, face_id,
              bary, floor=None):
    """Fill ``depth`` (K, H, W) f32 (inf = background), ``face_id`` (K, H, W) int32 (-1) and
    ``bary`` (K, H, W, 2) f32 (weights of the triangle's 2nd and 3rd corner) for K views.

    ``w2c`` (K, 4, 4) world-to-camera in OpenCV axes; ``intrinsics`` (K, 4) fx, fy, cx, cy in
    pixels (pixels per world unit for orthographic views). ``floor`` (K, H, W) f32, optional:
    only surfaces strictly farther than it are kept (depth peeling: the next layer behind).
    """
    if floor is None:
        floor = np.full((w2c.shape[0], 1, 1), -np.inf, np.float32)
    n_views = w2c.shape[0]
    n_vertices = vertices.shape[0]
    for k in nb.prange(n_views):
        # screen x, y and depth of every vertex, packed so a corner is one cache line
        screen = np.empty((n_vertices, 4))
        view_depth, view_face, view_bary, view_floor = depth[k], face_id[k], bary[k], floor[k]
        ortho = orthographic[k]
        fx, fy, cx, cy = intrinsics[k, 0], intrinsics[k, 1], intrinsics[k, 2], intrinsics[k, 3]
        for v in range(n_vertices):
            x = w2c[k, 0, 0] * vertices[v, 0] + w2c[k, 0, 1] * vertices[v, 1] \
                + w2c[k, 0, 2] * vertices[v, 2] + w2c[k, 0, 3]
            y = w2c[k, 1, 0] * vertices[v, 0] + w2c[k, 1, 1] * vertices[v, 1] \
                + w2c[k, 1, 2] * vertices[v, 2] + w2c[k, 1, 3]
            z = w2c[k, 2, 0] * vertices[v, 0] + w2c[k, 2, 1] * vertices[v, 1] \
                + w2c[k, 2, 2] * vertices[v, 2] + w2c[k, 2, 3]
            screen[v, 2] = z
            if orthographic[k]:
                screen[v, 0], screen[v, 1] = fx * x + cx, fy * y + cy
            elif z > NEAR:
                screen[v, 0], screen[v, 1] = fx * x / z + cx, fy * y / z + cy
            else:
                screen[v, 0], screen[v, 1] = np.nan, np.nan
        for f in range(faces.shape[0]):
            a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
            za, zb, zc = screen[a, 2], screen[b, 2], screen[c, 2]
            if not orthographic[k] and (za <= NEAR or zb <= NEAR or zc <= NEAR):
                continue  # crosses the camera plane (never for the named camera sets)
            ax, ay, bx, by = screen[a, 0], screen[a, 1], screen[b, 0], screen[b, 1]
            qx, qy = screen[c, 0], screen[c, 1]
            area = _edge(ax, ay, bx, by, qx, qy)
            if not abs(area) > 1e-12:
                continue  # degenerate on screen (or NaN)
            # pixel centres px + 0.5 inside [min, max]: the first is ceil(min - 0.5)
            x0 = max(int(np.ceil(min(ax, bx, qx) - 0.5)), 0)
            x1 = min(int(np.floor(max(ax, bx, qx) - 0.5)), width - 1)
            if x0 > x1:
                continue  # no pixel centre inside the box
            y0 = max(int(np.ceil(min(ay, by, qy) - 0.5)), 0)
            y1 = min(int(np.floor(max(ay, by, qy) - 0.5)), height - 1)
            if y0 > y1:
                continue
            inv_area = 1.0 / area
            if not orthographic[k]:
                za, zb, zc = 1.0 / za, 1.0 / zb, 1.0 / zc  # 1/z is linear on screen
            if (x1 - x0 + 1) * (y1 - y0 + 1) <= 4:
                # most triangles of a dense mesh cover a pixel or two: test the centres directly
                for py in range(y0, y1 + 1):
                    for px in range(x0, x1 + 1):
                        _cover(px, py, ax, ay, bx, by, qx, qy, za, zb, zc, inv_area, ortho,
                               f, view_depth, view_face, view_bary, view_floor)
                continue
            for py in range(y0, y1 + 1):
                cy_ = py + 0.5
                # the row's span inside the triangle (edges crossing this row): thin diagonal
                # triangles then cost their length, not their bounding box
                left, right = np.inf, -np.inf
                for ex0, ey0, ex1, ey1 in ((ax, ay, bx, by), (bx, by, qx, qy),
                                           (qx, qy, ax, ay)):
                    if (ey0 - cy_) * (ey1 - cy_) <= 0.0 and ey0 != ey1:
                        xc = ex0 + (cy_ - ey0) * (ex1 - ex0) / (ey1 - ey0)
                        left, right = min(left, xc), max(right, xc)
                if left > right:
                    continue
                start = max(x0, int(np.floor(left - 0.5)))
                stop = min(x1, int(np.ceil(right - 0.5)))
                for px in range(start, stop + 1):
                    _cover(px, py, ax, ay, bx, by, qx, qy, za, zb, zc, inv_area, ortho, f,
                           view_depth, view_face, view_bary, view_floor)


@nb.njit(cache=True, inline="always")
def _pixel_normal(f, b1, b2, vertices, faces, face_normals, vertex_normals, smooth, eye,
                  forward, ortho):
    """World-space normal of face ``f`` at barycentrics (b1, b2), turned toward the camera
    where it sees the face from behind. The side is exact: the sign of ``n . (corner - eye)``
    (perspective) or ``n . forward`` (orthographic)."""
    if smooth:
        nx = ny = nz = 0.0
        for j in range(3):
            w = 1.0 - b1 - b2 if j == 0 else (b1 if j == 1 else b2)
            v = faces[f, j]
            nx += w * vertex_normals[v, 0]
            ny += w * vertex_normals[v, 1]
            nz += w * vertex_normals[v, 2]
        norm = np.sqrt(nx * nx + ny * ny + nz * nz)
        if norm > 0:
            nx, ny, nz = nx / norm, ny / norm, nz / norm
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


@nb.njit(cache=True, inline="always")
def _unit_byte(value):
    return np.uint8(min(max((value * 0.5 + 0.5) * 255.0 + 0.5, 0.0), 255.0))


@njit(cache=True, parallel=True)
def shade_views(face_id, bary, depth, vertices, faces, face_normals, vertex_normals, smooth,
                eyes, forwards, orthographic, depth_max, rgba, depth16, mask8, shaded, normals):
    """Every per-pixel pass of K views in one sweep over the covered pixels.

    Writes world-space normals as ``(n + 1) / 2`` RGBA (alpha = mask), depth as 16-bit
    ``depth / depth_max``, the mask, grey Lambert shading, and float normals into ``normals``
    (K, H, W, 3) when it has K rows (the lit colour pass reads them). An output with 0 rows is
    not computed. Background pixels are left as they are: pass zero-filled outputs.
    """
    n_views, height, width = face_id.shape
    keep_normals = normals.shape[0] == n_views
    want_depth, want_mask = depth16.shape[0] == n_views, mask8.shape[0] == n_views
    want_shaded = shaded.shape[0] == n_views
    for k in nb.prange(n_views):
        eye, forward = eyes[k], forwards[k]
        for y in range(height):
            for x in range(width):
                f = face_id[k, y, x]
                if f < 0:
                    continue
                nx, ny, nz = _pixel_normal(f, np.float64(bary[k, y, x, 0]),
                                           np.float64(bary[k, y, x, 1]), vertices, faces,
                                           face_normals, vertex_normals, smooth, eye, forward,
                                           orthographic[k])
                if keep_normals:
                    normals[k, y, x, 0], normals[k, y, x, 1], normals[k, y, x, 2] = nx, ny, nz
                rgba[k, y, x, 0] = _unit_byte(nx)
                rgba[k, y, x, 1] = _unit_byte(ny)
                rgba[k, y, x, 2] = _unit_byte(nz)
                rgba[k, y, x, 3] = 255
                if want_depth:
                    scaled = min(max(depth[k, y, x] / depth_max, 0.0), 1.0) * 65535.0 + 0.5
                    depth16[k, y, x] = np.uint16(scaled)
                if want_mask:
                    mask8[k, y, x] = 255
                if want_shaded:
                    light = min(max(-(nx * forward[0] + ny * forward[1] + nz * forward[2]),
                                    0.0), 1.0)
                    grey = np.uint8((0.2 + 0.75 * light) * 255.0)
                    shaded[k, y, x, 0] = shaded[k, y, x, 1] = shaded[k, y, x, 2] = grey
                    shaded[k, y, x, 3] = 255


#: wrap codes of :func:`sampler_codes` (the PBR voxelizer's too): glTF's REPEAT, CLAMP_TO_EDGE,
#: MIRRORED_REPEAT (glTF 2.0, 5.26 "Sampler"; Blender's REPEAT, EXTEND, MIRROR)
_WRAP_CODES = {10497: 0, 33071: 1, 33648: 2}


def sampler_codes(materials) -> np.ndarray:
    """Per material, how :func:`shade_colors` samples its base colour texture.

    Parameters
    ----------
    materials : list of meshprep.io.appearance.Material

    Returns
    -------
    (M, 3) int64
        Wrap code along U and V (0 repeat, 1 clamp to edge, 2 mirrored repeat) and 1 where
        magnification picks the nearest texel (glTF ``magFilter: NEAREST``), else 0 (bilinear).
    """
    codes = np.zeros((max(len(materials), 1), 3), np.int64)
    for m, material in enumerate(materials):
        sampler = getattr(material, "texture_sampler", None)
        if sampler is not None:
            codes[m] = (_WRAP_CODES.get(sampler.wrap_s, 0), _WRAP_CODES.get(sampler.wrap_t, 0),
                        int(sampler.nearest))
    return codes


@nb.njit(cache=True, inline="always")
def _wrap(i, size, mode):
    """Texel index ``i`` wrapped into [0, size) (the codes of :func:`sampler_codes`)."""
    if mode == 1:  # clamp to edge
        return min(max(i, 0), size - 1)
    if mode == 2:  # mirrored repeat: 0..size-1, then size-1..0, ...
        i %= 2 * size
        return i if i < size else 2 * size - 1 - i
    return i % size


@nb.njit(cache=True, inline="always")
def _fold(t, mode):
    """A texture coordinate brought near [0, 1] without changing what it samples (keeps float
    precision far from the origin); clamp needs it as is."""
    if mode == 0:
        return t - np.floor(t)
    if mode == 2:
        return t - 2.0 * np.floor(0.5 * t)
    return t


@nb.njit(cache=True, inline="always")
def _texel(data, offset, height, width, u, v, c, wrap_s, wrap_t, nearest):
    """Sample of channel ``c`` of a packed (H, W, 4) texture at (u, v): bilinear (or nearest)
    with the sampler's wrap modes; v = 0 is the image's bottom row (trimesh's UV convention)."""
    x = _fold(u, wrap_s) * width
    y = (1.0 - _fold(v, wrap_t)) * height
    if nearest:
        row = _wrap(int(np.floor(y)), height, wrap_t)
        col = _wrap(int(np.floor(x)), width, wrap_s)
        return np.float64(data[offset + (row * width + col) * 4 + c])
    x -= 0.5
    y -= 0.5
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    tx, ty = x - x0, y - y0
    total = 0.0
    for dy in range(2):
        row = _wrap(y0 + dy, height, wrap_t)
        wy = ty if dy else 1.0 - ty
        for dx in range(2):
            col = _wrap(x0 + dx, width, wrap_s)
            wx = tx if dx else 1.0 - tx
            total += wx * wy * data[offset + (row * width + col) * 4 + c]
    return total


@nb.njit(cache=True, inline="always")
def _decode(srgb_to_linear, byte_value):
    """A filtered sRGB byte value (0..255, fractional) to linear light, through the table."""
    lo = min(int(byte_value), 254)
    return srgb_to_linear[lo] + (byte_value - lo) * (srgb_to_linear[lo + 1] - srgb_to_linear[lo])


@nb.njit(cache=True, inline="always")
def _encode(linear):
    """Linear light in [0, 1] (clamped) to an sRGB byte."""
    linear = min(max(linear, 0.0), 1.0)
    encoded = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1.0 / 2.4) - 0.055
    return np.uint8(encoded * 255.0 + 0.5)


@nb.njit(cache=True, parallel=True)
def shade_colors(face_id, bary, faces, uv, vertex_color, face_color, face_material, factors,
                 texels, tex_offset, tex_height, tex_width, tex_sampler, srgb_to_linear, normals,
                 forwards, lit, out):
    """Base colour per pixel into ``out`` (K, H, W, 4) uint8 sRGB, alpha = coverage.

    Base colour = material factor × texture (bilinear through the interpolated UVs, decoded
    from sRGB) × vertex colour × face colour, in linear light; ``lit`` multiplies a headlight
    Lambert term (0.35 ambient + 0.65 diffuse) on the normals. ``vertex_color`` (V, 4) and
    ``face_color`` (F, 4) may have 0 rows (all white); ``texels`` packs every texture's RGBA
    bytes, ``tex_offset`` per material (-1: none); ``tex_sampler`` (M, 3) per material is
    :func:`sampler_codes`' wrap along U, V and nearest flag.
    """
    n_views, height, width = face_id.shape
    has_vc = vertex_color.shape[0] > 0
    has_fc = face_color.shape[0] > 0
    for k in nb.prange(n_views):
        for y in range(height):
            for x in range(width):
                f = face_id[k, y, x]
                if f < 0:
                    for c in range(4):
                        out[k, y, x, c] = 0
                    continue
                b1 = np.float64(bary[k, y, x, 0])
                b2 = np.float64(bary[k, y, x, 1])
                b0 = 1.0 - b1 - b2
                i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
                m = face_material[f]
                r, g, b = factors[m, 0], factors[m, 1], factors[m, 2]
                if tex_offset[m] >= 0:
                    u = b0 * uv[i0, 0] + b1 * uv[i1, 0] + b2 * uv[i2, 0]
                    v = b0 * uv[i0, 1] + b1 * uv[i1, 1] + b2 * uv[i2, 1]
                    off, th, tw = tex_offset[m], tex_height[m], tex_width[m]
                    ws, wt, near = tex_sampler[m, 0], tex_sampler[m, 1], tex_sampler[m, 2]
                    r *= _decode(srgb_to_linear,
                                 _texel(texels, off, th, tw, u, v, 0, ws, wt, near))
                    g *= _decode(srgb_to_linear,
                                 _texel(texels, off, th, tw, u, v, 1, ws, wt, near))
                    b *= _decode(srgb_to_linear,
                                 _texel(texels, off, th, tw, u, v, 2, ws, wt, near))
                if has_vc:
                    r *= b0 * vertex_color[i0, 0] + b1 * vertex_color[i1, 0] \
                        + b2 * vertex_color[i2, 0]
                    g *= b0 * vertex_color[i0, 1] + b1 * vertex_color[i1, 1] \
                        + b2 * vertex_color[i2, 1]
                    b *= b0 * vertex_color[i0, 2] + b1 * vertex_color[i1, 2] \
                        + b2 * vertex_color[i2, 2]
                if has_fc:
                    r, g, b = r * face_color[f, 0], g * face_color[f, 1], b * face_color[f, 2]
                light = 1.0
                if lit:
                    ndotv = -(normals[k, y, x, 0] * forwards[k, 0] + normals[k, y, x, 1]
                              * forwards[k, 1] + normals[k, y, x, 2] * forwards[k, 2])
                    light = 0.35 + 0.65 * min(max(ndotv, 0.0), 1.0)
                out[k, y, x, 0] = _encode(r * light)
                out[k, y, x, 1] = _encode(g * light)
                out[k, y, x, 2] = _encode(b * light)
                out[k, y, x, 3] = 255
