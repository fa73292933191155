"""Equirectangular environment maps: reading ``.hdr`` / ``.exr`` and prefiltering for shading.

Directions follow Blender's Environment Texture (equirectangular, Cycles'
``direction_to_equirectangular``): the image's top row looks up (+Z), its centre column looks
along +X, and ``u`` grows as the azimuth ``atan2(y, x)`` falls (+Y at u = 0.25, -Y at 0.75).
A world rotated by the Mapping node's Z rotation ``theta`` shows direction ``d`` the pixel of
``Rz(theta) d``: azimuth ``atan2(y, x) + theta``.

Readers: Radiance RGBE (``.hdr``, flat or run-length scanlines) is decoded here with NumPy (no
installed library reads it: Pillow has no HDR codec and imageio's is FreeImage's, a binary it
downloads); OpenEXR (``.exr``) through the ``OpenEXR`` wheel (the ``exr`` extra). Prefiltering
(:func:`prefiltered`) turns a map into the tables the kernel reads: the diffuse irradiance / pi
(cosine convolution) and the GGX-prefiltered radiance at :data:`ROUGHNESS_LEVELS` (the split
sum's first half, the ``N = V = R`` approximation of UE4 / Filament; the DFG table of
:mod:`meshprep.render.shading` is the other half).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

#: the image suffixes a folder of maps is searched for
SUFFIXES = (".hdr", ".exr")
#: the kernel tables' rows and columns (every level is stored at this size)
TABLE_SIZE = (64, 128)
#: roughness of the specular tables 1.. (table 0 is the diffuse one)
ROUGHNESS_LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
#: the source / output resolution (rows) each table is convolved at: sharp lobes need texels
_LEVEL_ROWS = {0.2: (64, 32), 0.4: (64, 32), 0.6: (32, 32), 0.8: (32, 16), 1.0: (32, 16)}
#: the diffuse table's source / output rows
_DIFFUSE_ROWS = (32, 16)


class EnvmapError(ValueError):
    """An environment map that cannot be read."""


def list_envmaps(folder: str | os.PathLike[str]) -> list[Path]:
    """The ``.hdr`` / ``.exr`` files of ``folder`` (absolute: worker processes and Blender may
    run elsewhere), sorted by name (the draw order)."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise EnvmapError(f"envmaps must be a folder of .hdr / .exr maps, got {str(folder)!r}")
    maps = sorted(p for p in root.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not maps:
        raise EnvmapError(f"no .hdr or .exr environment map in {str(folder)!r}")
    return maps


def read_envmap(path: str | os.PathLike[str]) -> np.ndarray:
    """An equirectangular map as linear RGB.

    Parameters
    ----------
    path : path-like
        A Radiance ``.hdr`` or an OpenEXR ``.exr`` file.

    Returns
    -------
    (H, W, 3) float32
        Top row first (the +Z pole).
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".hdr":
        return read_hdr(path)
    if suffix == ".exr":
        return read_exr(path)
    raise EnvmapError(f"{str(path)!r}: environment maps are .hdr (Radiance) or .exr files")


# ---- Radiance RGBE ---------------------------------------------------------------------------


def _hdr_header(data: bytes) -> tuple[int, int, int]:
    """(height, width, offset of the pixels) of a Radiance file; only ``-Y H +X W`` images."""
    if not data.startswith((b"#?RADIANCE", b"#?RGBE")):
        raise EnvmapError("not a Radiance HDR file (no #?RADIANCE signature)")
    end = data.find(b"\n\n")
    if end < 0:
        raise EnvmapError("truncated Radiance header")
    for line in data[:end].split(b"\n"):
        if line.startswith(b"FORMAT=") and line.strip() != b"FORMAT=32-bit_rle_rgbe":
            raise EnvmapError(f"unsupported Radiance format {line.decode(errors='replace')}")
    stop = data.find(b"\n", end + 2)
    size = data[end + 2:stop].split()
    if len(size) != 4 or size[0] != b"-Y" or size[2] != b"+X":
        raise EnvmapError("unsupported Radiance orientation (only '-Y H +X W')")
    return int(size[1]), int(size[3]), stop + 1


def _rle_scanline(data: memoryview, pos: int, width: int, out: np.ndarray) -> int:
    """Decode one new-style run-length scanline (4 channels, each in runs) into ``out``
    (width, 4) uint8; returns the offset after it."""
    for c in range(4):
        x = 0
        while x < width:
            count = data[pos]
            pos += 1
            if count > 128:
                count -= 128
                out[x:x + count, c] = data[pos]
                pos += 1
            else:
                if count == 0:
                    raise EnvmapError("corrupt Radiance run")
                out[x:x + count, c] = np.frombuffer(data[pos:pos + count], np.uint8)
                pos += count
            x += count
    return pos


def read_hdr(path: str | os.PathLike[str]) -> np.ndarray:
    """A Radiance RGBE ``.hdr`` file as (H, W, 3) float32 linear RGB (flat or new-style
    run-length scanlines; the old run-length form is refused)."""
    data = Path(path).read_bytes()
    height, width, pos = _hdr_header(data)
    rgbe = np.empty((height, width, 4), np.uint8)
    view = memoryview(data)
    try:
        for row in range(height):
            head = data[pos:pos + 4]
            if 8 <= width < 32768 and head[:2] == b"\x02\x02" and \
                    (head[2] << 8 | head[3]) == width:
                pos = _rle_scanline(view, pos + 4, width, rgbe[row])
            else:
                flat = np.frombuffer(data, np.uint8, width * 4, pos).reshape(width, 4)
                if np.any(np.all(flat[:, :3] == 1, axis=1)):
                    raise EnvmapError("old-style Radiance run-length encoding is not supported")
                rgbe[row] = flat
                pos += width * 4
    except (IndexError, ValueError) as exc:
        if isinstance(exc, EnvmapError):
            raise
        raise EnvmapError(f"{str(path)!r}: truncated or corrupt Radiance pixels") from exc
    exponent = rgbe[..., 3].astype(np.int32)
    scale = np.where(exponent > 0, np.ldexp(1.0, exponent - 136), 0.0)
    return ((rgbe[..., :3] + 0.5) * scale[..., None]).astype(np.float32)


def write_hdr(path: str | os.PathLike[str], rgb: np.ndarray) -> Path:
    """Write (H, W, 3) linear RGB as a flat (not run-length) Radiance ``.hdr`` file."""
    rgb = np.maximum(np.asarray(rgb, np.float64), 0.0)
    height, width = rgb.shape[:2]
    peak = rgb.max(axis=-1)
    mantissa, exponent = np.frexp(peak)
    scale = np.where(peak > 1e-32, mantissa * 256.0 / np.maximum(peak, 1e-300), 0.0)
    rgbe = np.empty((height, width, 4), np.uint8)
    rgbe[..., :3] = np.clip(np.floor(rgb * scale[..., None]), 0, 255)
    rgbe[..., 3] = np.where(peak > 1e-32, exponent + 128, 0)
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode()
    out = Path(path)
    out.write_bytes(header + rgbe.tobytes())
    return out


# ---- OpenEXR ---------------------------------------------------------------------------------


def read_exr(path: str | os.PathLike[str]) -> np.ndarray:
    """An OpenEXR file's R, G, B (first part) as (H, W, 3) float32 (needs ``meshprep[exr]``)."""
    from meshprep.io.exr import require_exr

    openexr = require_exr("an .exr environment map")
    with openexr.File(str(path), separate_channels=True) as image:
        channels = image.channels()
        if "Y" in channels and "R" not in channels:
            plane = np.asarray(channels["Y"].pixels, np.float32)
            return np.repeat(plane[..., None], 3, axis=-1)
        missing = [c for c in "RGB" if c not in channels]
        if missing:
            raise EnvmapError(f"{str(path)!r} has no {', '.join(missing)} channel "
                              f"(channels: {sorted(channels)})")
        return np.stack([np.asarray(channels[c].pixels, np.float32) for c in "RGB"], axis=-1)


def write_exr(path: str | os.PathLike[str], rgb: np.ndarray) -> Path:
    """Write (H, W, 3) linear RGB as a float32 ZIP OpenEXR file (needs ``meshprep[exr]``)."""
    from meshprep.io.exr import require_exr

    openexr = require_exr("writing an .exr environment map")
    header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage}
    with openexr.File(header, {"RGB": np.ascontiguousarray(rgb, np.float32)}) as image:
        image.write(str(path))
    return Path(path)


# ---- prefiltering ----------------------------------------------------------------------------


def _resample_axis(image: np.ndarray, count: int, axis: int) -> np.ndarray:
    """Box-average ``image`` to ``count`` samples along ``axis`` (nearest where it grows)."""
    size = image.shape[axis]
    if size >= count:
        edges = (np.arange(count) * size) // count
        sums = np.add.reduceat(image, edges, axis=axis)
        widths = np.diff(np.append(edges, size)).astype(np.float64)
        shape = [1] * image.ndim
        shape[axis] = count
        return sums / widths.reshape(shape)
    index = ((np.arange(count) + 0.5) * size / count).astype(np.int64)
    return np.take(image, index, axis=axis)


def resample(image: np.ndarray, rows: int) -> np.ndarray:
    """``image`` box-averaged (or repeated) to ``rows`` × ``2 rows`` texels, float64."""
    out = _resample_axis(np.asarray(image, np.float64), rows, 0)
    return _resample_axis(out, 2 * rows, 1)


def texel_directions(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (rows · 2 rows, 3) of an equirectangular grid's texel centres and their
    solid angles (rows · 2 rows,)."""
    cols = 2 * rows
    theta = (np.arange(rows) + 0.5) / rows * math.pi
    phi = (0.5 - (np.arange(cols) + 0.5) / cols) * 2.0 * math.pi
    sin_t = np.sin(theta)[:, None]
    dirs = np.stack([sin_t * np.cos(phi)[None], sin_t * np.sin(phi)[None],
                     np.broadcast_to(np.cos(theta)[:, None], (rows, cols))], axis=-1)
    d_omega = np.broadcast_to(sin_t * (math.pi / rows) * (2.0 * math.pi / cols), (rows, cols))
    return dirs.reshape(-1, 3), d_omega.reshape(-1)


def _convolve(source: np.ndarray, out_rows: int, roughness: float | None) -> np.ndarray:
    """``source`` (rows, 2 rows, 3) convolved at ``out_rows`` texels: with the clamped cosine
    (``roughness`` None: irradiance / pi) or GGX's lobe about the reflection ``r`` as the split
    sum's ``N = V = R`` prefilter (weight ``D(h) (r . l)``), each row of weights normalized."""
    src_dirs, d_omega = texel_directions(source.shape[0])
    out_dirs, _ = texel_directions(out_rows)
    radiance = source.reshape(-1, 3).astype(np.float32)
    src_t = src_dirs.T.astype(np.float32)
    d_omega = d_omega.astype(np.float32)
    alpha2 = None if roughness is None else max(roughness, 1e-3) ** 4
    out = np.empty((len(out_dirs), 3))
    for first in range(0, len(out_dirs), 512):
        cos = out_dirs[first:first + 512].astype(np.float32) @ src_t
        weight = np.maximum(cos, 0.0)
        if alpha2 is not None:
            n_dot_h2 = (1.0 + cos) * 0.5  # cos² of the half angle between r and l
            weight = weight * (alpha2 / (n_dot_h2 * (alpha2 - 1.0) + 1.0) ** 2)
        weight *= d_omega
        out[first:first + 512] = (weight @ radiance) / np.maximum(weight.sum(1), 1e-30)[:, None]
    return out.reshape(out_rows, 2 * out_rows, 3)


def _upsample(table: np.ndarray, rows: int) -> np.ndarray:
    """A smooth table bilinearly resampled to ``rows`` × ``2 rows`` (wrapping in azimuth)."""
    if table.shape[0] == rows:
        return table
    src_rows, src_cols = table.shape[:2]
    y = np.clip((np.arange(rows) + 0.5) * src_rows / rows - 0.5, 0.0, src_rows - 1.0)
    x = (np.arange(2 * rows) + 0.5) * src_cols / (2 * rows) - 0.5
    y0 = np.minimum(y.astype(np.int64), src_rows - 2) if src_rows > 1 else np.zeros_like(y, int)
    ty = (y - y0)[:, None, None]
    x0 = np.floor(x).astype(np.int64)
    tx = (x - x0)[None, :, None]
    x0, x1 = x0 % src_cols, (x0 + 1) % src_cols
    y1 = np.minimum(y0 + 1, src_rows - 1)
    top = table[y0][:, x0] * (1 - tx) + table[y0][:, x1] * tx
    bottom = table[y1][:, x0] * (1 - tx) + table[y1][:, x1] * tx
    return top * (1 - ty) + bottom * ty


@functools.lru_cache(maxsize=16)
def _prefiltered(path: str, mtime_ns: int) -> np.ndarray:
    image = read_envmap(path)
    rows = TABLE_SIZE[0]
    sources = {r: resample(image, r) for r in {32, 64}}
    tables = [_upsample(_convolve(sources[_DIFFUSE_ROWS[0]], _DIFFUSE_ROWS[1], None), rows)]
    for roughness in ROUGHNESS_LEVELS:
        if roughness == 0.0:
            tables.append(sources[rows])
            continue
        src_rows, out_rows = _LEVEL_ROWS[roughness]
        tables.append(_upsample(_convolve(sources[src_rows], out_rows, roughness), rows))
    out = np.ascontiguousarray(np.stack(tables), np.float64)
    out.setflags(write=False)
    return out


def prefiltered(path: str | os.PathLike[str]) -> np.ndarray:
    """The kernel tables of a map (cached per file and modification time).

    Returns
    -------
    (1 + len(ROUGHNESS_LEVELS), 64, 128, 3) float64
        Table 0: irradiance / pi per normal; table ``1 + i``: the GGX-prefiltered radiance at
        roughness ``ROUGHNESS_LEVELS[i]`` per reflection direction (read-only).
    """
    resolved = Path(path).resolve()
    return _prefiltered(str(resolved), resolved.stat().st_mtime_ns)
