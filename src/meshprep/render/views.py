"""Render an asset's views and write them with ``transforms.json``.

Passes (files per frame ``NNN``):

``normal``  ``NNN_normal.png`` RGBA: world-space normal ``(n + 1) / 2`` in RGB, alpha = mask
``depth``   ``NNN_depth.png`` 16-bit: z-depth along the camera axis, ``value / 65535 *
            depth_max`` world units (``depth_max`` in transforms.json), 0 = background
``mask``    ``NNN_mask.png`` 8-bit coverage (255 = object)
``color``   ``NNN.png`` RGBA sRGB: base colour (texture through UVs, bilinear, × material factor
            × vertex / face colour) lit by a headlight (0.35 ambient + 0.65 Lambert), alpha = mask
``albedo``  ``NNN_albedo.png`` RGBA sRGB: the same base colour, unlit
``shaded``  ``NNN_shaded.png`` RGBA grey Lambert shading from the camera, alpha = mask
``mr``      ``NNN_mr.png`` RGBA linear, not tone mapped: R 255, G roughness, B metallic (glTF's
            layout, as Hunyuan3D-2.1 Paint's ``*_mr`` training images), alpha = mask
``normal_camera``  ``NNN_normal_cam.png`` RGBA: camera-space normal ``(n + 1) / 2``, OpenGL
            axes (+X right, +Y up, +Z toward the camera), alpha = mask
``position``  ``NNN_pos.png`` RGBA 16-bit: canonical coordinates ``p / (2 * bound) + 0.5`` of
            the render world (Z up, the normalization box spans [0, 1]; Hunyuan3D-2.1 Paint's
            ``*_pos`` maps), alpha = mask
``emission``  ``NNN_emission.png`` RGBA sRGB: emitted colour (factor × strength × texture,
            linear, clipped to [0, 1], then sRGB-encoded), alpha = mask

A normal texture perturbs both normal passes (``normal`` and ``normal_camera``); the material
textures are sampled with their own samplers (:mod:`meshprep.render.material_passes`).

Colour comes from ``mesh.metadata["meshprep_appearance"]`` (``meshprep.load(path,
appearance=True)``); a mesh without it (or whose faces changed since it was loaded) is white.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from meshprep.geometry import face_normals
from meshprep.geometry.axes import Y_UP_TO_Z_UP
from meshprep.io import atomic_write
from meshprep.io.appearance import Appearance, plain

from .cameras import CameraSet, opencv_extrinsics, opencv_intrinsics, parse_cameras
from .lights import lighting_for_views
from .material_passes import MATERIAL_PASSES, MaterialPasses
from .png import encode_png
from .raster import rasterize, sampler_codes, shade_colors, shade_views
from .shading import VIEW_TRANSFORMS, prepare_scene, render_color
from .tonemap import colormanagement_dir

PASSES = ("normal", "depth", "mask", "color", "albedo", "shaded", *MATERIAL_PASSES)
#: file name suffix of each pass (``NNN<suffix>.png``)
PASS_SUFFIX = {"normal": "_normal", "depth": "_depth", "mask": "_mask", "color": "",
           "albedo": "_albedo", "shaded": "_shaded", "mr": "_mr",
           "normal_camera": "_normal_cam", "position": "_pos", "emission": "_emission"}


@dataclass
class RenderResult:
    """What a renderer wrote: the frame count, the files, the timing (``stage_seconds``: the
    Blender backend's render time per pass and frame)."""

    frames: int
    files: list
    seconds: float
    stage_seconds: dict = field(default_factory=dict)


def world_transform(vertices: np.ndarray, bound: float, y_up: bool = True,
                    fit: str = "box") -> np.ndarray:
    """4×4 from the loaded mesh's coordinates to the render world: Z up, bounding box centred,
    scaled so the box's longest side is ``2 * bound`` (``fit="box"``) or the farthest vertex is
    ``bound`` from the centre (``fit="sphere"``)."""
    rotate = Y_UP_TO_Z_UP if y_up else np.eye(4)
    rotated = vertices @ rotate[:3, :3].T
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    if fit == "sphere":
        extent = 2.0 * float(np.linalg.norm(rotated - (lo + hi) / 2.0, axis=1).max())
    else:
        extent = float((hi - lo).max())
    scale = 2.0 * bound / max(extent, 1e-12)
    matrix = np.eye(4)
    matrix[:3, :3] = scale * rotate[:3, :3]
    matrix[:3, 3] = -scale * (lo + hi) / 2.0
    return matrix


def _camera_arrays(cameras: CameraSet, size: int):
    w2c = np.stack([opencv_extrinsics(c) for c in cameras.cameras])
    intr = np.array([[k[0, 0], k[1, 1], k[0, 2], k[1, 2]]
                     for k in (opencv_intrinsics(c, size, size) for c in cameras.cameras)])
    ortho = np.array([c.orthographic for c in cameras.cameras])
    eyes = np.stack([c.c2w[:3, 3] for c in cameras.cameras])
    forwards = np.stack([-c.c2w[:3, 2] for c in cameras.cameras])
    return w2c, intr, ortho, eyes, forwards


def render_views(
    mesh: trimesh.Trimesh,
    out_dir: str | os.PathLike[str],
    cameras: str | CameraSet = "scoring4",
    *,
    size: int = 512,
    passes: tuple[str, ...] = ("normal", "depth", "mask"),
    smooth: bool = False,
    y_up: bool = True,
    seed: int = 0,
    chunk: int = 8,
    appearance: Appearance | None = None,
    lighting: str = "headlight",
    view_transform: str = "filmic",
    envmaps: str | os.PathLike[str] | None = None,
) -> RenderResult:
    """Render ``mesh`` from every camera and write the passes and ``transforms.json``.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        As :func:`meshprep.load` returns it (any coordinates; normalized here).
    out_dir : path-like
        Folder for the images (created).
    cameras : str or CameraSet
        A camera set name (:func:`parse_cameras`) or a set.
    size : int
        Image width and height in pixels.
    passes : tuple of str
        Any of ``normal, depth, mask, color, albedo, shaded, mr, normal_camera, position,
        emission``.
    smooth : bool
        Interpolate vertex normals instead of face normals.
    y_up : bool
        Turn the mesh Z-up as Blender's importers do (glTF and OBJ are Y-up).
    seed : int
        Seeds random camera sets (use a hash of the asset id so renders reproduce).
    chunk : int
        Views rasterized at once (bounds memory: ``chunk * size^2 * 16`` bytes).
    appearance : Appearance, optional
        The look for ``color`` / ``albedo`` (default: ``mesh.metadata["meshprep_appearance"]``).
    lighting : str
        Lights of the ``color`` pass: ``headlight`` (the cheap preview look), or Cycles-like
        PBR shading (:mod:`meshprep.render.shading`) under ``uniform`` (white world),
        ``trellis2`` (TRELLIS.2's random lights per view, seeded by ``seed``), ``trellis``
        (TRELLIS's lights) or ``envmap`` (an environment map of ``envmaps`` per view);
        recorded per frame in transforms.json. With PBR shading the ``mask`` pass is the
        colour's anti-aliased coverage (alpha cut-outs included).
    view_transform : str
        Blender's view of the PBR-lit colour: ``filmic`` (TRELLIS.2's Blender 3 default; falls
        back to ``standard`` with a warning where Blender's LUTs are missing), ``standard`` or
        ``agx``.
    envmaps : path-like, optional
        The ``envmap`` lighting's folder of equirectangular ``.hdr`` / ``.exr`` maps (per view
        one map and a rotation about Z drawn from ``seed``), or one map file (every view, not
        turned).

    Returns
    -------
    RenderResult
    """
    import time

    start = time.perf_counter()
    unknown = set(passes) - set(PASSES)
    if unknown:
        raise ValueError(f"unknown passes {sorted(unknown)}: use {PASSES}")
    cams = parse_cameras(cameras, seed) if isinstance(cameras, str) else cameras
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaded = np.asarray(mesh.vertices, dtype=np.float64)
    normalization = world_transform(loaded, cams.bound, y_up, cams.fit)
    vertices = loaded @ normalization[:3, :3].T + normalization[:3, 3]
    faces = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    unit_normals, vertex_normals = _normals(vertices, faces)
    look = _packed_appearance(mesh, appearance) if {"color", "albedo"} & set(passes) else None
    material = (MaterialPasses(_look(mesh, appearance), vertices, faces, unit_normals,
                               vertex_normals, normalization, cams.bound, smooth)
                if set(MATERIAL_PASSES) & set(passes) else None)
    w2c, intr, ortho, eyes, forwards = _camera_arrays(cams, size)
    depth_max = depth_range(cams)
    lightings = lighting_for_views(lighting, cams, seed, envmaps) if "color" in passes else None
    pbr = lightings is not None and lighting != "headlight"
    if pbr:
        view_transform = _available_view(view_transform)
        scene = prepare_scene(vertices, faces, _look(mesh, appearance),
                              normalization[:3, :3])
    files: list[Path] = []
    # the z-buffer is reused chunk after chunk (the images are new: writer threads hold them)
    depth_all = np.empty((chunk, size, size), np.float32)
    face_all = np.empty((chunk, size, size), np.int32)
    bary_all = np.empty((chunk, size, size, 2), np.float32)  # read only where a face is
    with ThreadPoolExecutor(max_workers=2) as writers:
        jobs = []
        for first in range(0, len(cams.cameras), chunk):
            views = slice(first, min(first + chunk, len(cams.cameras)))
            n = views.stop - views.start
            depth, face_id, bary = depth_all[:n], face_all[:n], bary_all[:n]
            lit = "color" in passes
            # the PBR colour pass rasterizes on its own: the G-buffer here only for other passes
            gbuffer = not pbr or bool(set(passes) - {"color", "mask"})
            if gbuffer:
                depth.fill(np.inf)
                face_id.fill(-1)
                rasterize(vertices, faces, w2c[views], intr[views], ortho[views], size, size,
                          depth, face_id, bary)
            normals = np.zeros((n if lit and gbuffer else 0, size, size, 3), np.float32)
            # the normal map is always drawn (the lit colour pass reads its normals); the other
            # outputs only when asked (0 rows: skipped)
            rgba = np.zeros((n, size, size, 4), np.uint8)
            depth16 = np.zeros((n if "depth" in passes else 0, size, size), np.uint16)
            mask8 = np.zeros((n if "mask" in passes else 0, size, size), np.uint8)
            shaded = np.zeros((n if "shaded" in passes else 0, size, size, 4), np.uint8)
            if gbuffer:
                shade_views(face_id, bary, depth, vertices, faces, unit_normals, vertex_normals,
                            smooth, eyes[views], forwards[views], ortho[views], depth_max, rgba,
                            depth16, mask8, shaded, normals)
            images = {"normal": rgba, "depth": depth16, "mask": mask8, "shaded": shaded}
            if material is not None:
                images.update(material.render(passes, face_id, bary, w2c[views], eyes[views],
                                              forwards[views], ortho[views], rgba))
            for name in ("color", "albedo"):
                if name == "color" and pbr:
                    images[name] = render_color(
                        scene, w2c[views], intr[views], ortho[views], eyes[views],
                        forwards[views], lightings[views], size, view_transform=view_transform)
                    if "mask" in passes:
                        images["mask"] = np.ascontiguousarray(images[name][..., 3])
                elif name in passes:
                    images[name] = np.empty((n, size, size, 4), np.uint8)
                    shade_colors(face_id, bary, faces, *look, normals, forwards[views],
                                 name == "color", images[name])
            for i in range(n):
                for name in passes:
                    path = out / f"{first + i:03d}{PASS_SUFFIX[name]}.png"
                    files.append(path)
                    jobs.append(writers.submit(save_png, images[name][i], path))
        for job in jobs:
            job.result()
    files.append(write_transforms(out, cams, size, passes, normalization, depth_max,
                                  lightings, view_transform if pbr else None))
    return RenderResult(len(cams.cameras), files, time.perf_counter() - start)


def depth_range(cams: CameraSet) -> float:
    """The depth PNGs' full scale: farther than any point of the scene from any camera."""
    eyes = np.stack([c.c2w[:3, 3] for c in cams.cameras])
    return float(np.linalg.norm(eyes, axis=1).max() + cams.bound * math.sqrt(3.0))


def _normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit face normals and area-weighted unit vertex normals."""
    unit, areas = face_normals(vertices, faces)
    weighted = unit * areas[:, None]
    vertex_normals = np.zeros_like(vertices)
    for j in range(3):
        np.add.at(vertex_normals, faces[:, j], weighted)
    length = np.linalg.norm(vertex_normals, axis=1, keepdims=True)
    np.divide(vertex_normals, length, out=vertex_normals, where=length > 0)
    return unit, vertex_normals


def _look(mesh: trimesh.Trimesh, look: Appearance | None) -> Appearance:
    """The look given, else the mesh's; the plain one when it does not fit the mesh."""
    look = look if look is not None else mesh.metadata.get("meshprep_appearance")
    n_vertices, n_faces = len(mesh.vertices), len(mesh.faces)
    if not isinstance(look, Appearance) or len(look.uv) != n_vertices \
            or len(look.face_material) != n_faces:
        look = plain(n_vertices, n_faces)
    return look


def _available_view(view_transform: str) -> str:
    """``view_transform``, or ``standard`` (warned) when Blender's LUTs for it are missing."""
    if view_transform not in VIEW_TRANSFORMS:
        raise ValueError(f"unknown view transform {view_transform!r}: one of {VIEW_TRANSFORMS}")
    if view_transform == "standard":
        return view_transform
    try:
        colormanagement_dir()
    except FileNotFoundError as error:
        warnings.warn(f"{error}; the color pass uses the standard view transform",
                      stacklevel=3)
        return "standard"
    return view_transform


def _packed_appearance(mesh: trimesh.Trimesh, look: Appearance | None) -> tuple:
    """The mesh's look as the arrays :func:`shade_colors` reads (white when it has none)."""
    look = _look(mesh, look)
    offsets, heights, widths, chunks, used = [], [], [], [], 0
    for material in look.materials:
        texture = material.texture
        offsets.append(-1 if texture is None else used)
        heights.append(0 if texture is None else texture.shape[0])
        widths.append(0 if texture is None else texture.shape[1])
        if texture is not None:
            chunks.append(texture.reshape(-1))
            used += texture.size
    texels = np.concatenate(chunks) if chunks else np.zeros(1, np.uint8)
    none = np.zeros((0, 4), np.float32)
    return (np.ascontiguousarray(look.uv, np.float64),
            none if look.vertex_color is None else look.vertex_color,
            none if look.face_color is None else look.face_color,
            look.face_material, np.stack([m.factor for m in look.materials]).astype(np.float64),
            texels, np.array(offsets, np.int64), np.array(heights, np.int64),
            np.array(widths, np.int64), sampler_codes(look.materials), _SRGB_TO_LINEAR)


_SRGB_TO_LINEAR = np.where(np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92,
                           ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4)


def save_png(image: np.ndarray, path: Path) -> None:
    """Encode and write one frame atomically (no fsync: frames are published with their
    asset)."""
    data = encode_png(image)
    # frames are published together with their asset: atomic, without a per-file fsync
    with atomic_write(path, durable=False) as tmp, open(tmp, "wb") as stream:
        stream.write(data)


def write_transforms(out: Path, cams: CameraSet, size: int, passes, normalization,
                     depth_max: float, lightings: list | None = None,
                     view_transform: str | None = None) -> Path:
    """Write ``transforms.json`` (cameras; per frame its ``lighting`` when given; the colour
    pass's ``view_transform`` when PBR-lit)."""
    frames = []
    for i, camera in enumerate(cams.cameras):
        frame = {
            "file_path": f"{i:03d}",
            "transform_matrix": camera.c2w.tolist(),
            "camera_angle_x": camera.fov,
            "opencv": {"K": opencv_intrinsics(camera, size, size).tolist(),
                       "w2c": opencv_extrinsics(camera).tolist()},
        }
        if camera.orthographic:
            frame["ortho_scale"] = camera.ortho_scale
        if lightings is not None:
            frame["lighting"] = lightings[i].to_json()
        frames.append(frame)
    data = {
        "camera_set": cams.name,
        "camera_angle_x": cams.cameras[0].fov,
        "width": size, "height": size, "passes": list(passes),
        "convention": "transform_matrix: camera-to-world, Blender/NeRF axes (camera looks "
                      "along -Z, +Y up), world Z up; opencv: K and world-to-camera (+Z forward, "
                      "+Y down)",
        "normalization": normalization.tolist(),
        "normalization_maps": "meshprep.load coordinates -> render world",
        "depth": "16-bit PNG: depth along the camera axis = value / 65535 * depth_max",
        "depth_max": depth_max,
        "frames": frames,
    }
    if view_transform is not None:
        data["view_transform"] = view_transform
    path = out / "transforms.json"
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1)
    return path


def render_points_overlay(mesh: trimesh.Trimesh, points: np.ndarray, path: str | os.PathLike[str],
                          cameras: str | CameraSet = "scoring4", *, size: int = 256,
                          y_up: bool = True, seed: int = 0, max_points: int = 20000) -> Path:
    """The first camera's view of ``mesh`` (grey shading) with ``points`` drawn in red where
    the surface does not hide them: salient-edge samples over the shape, for the report.

    ``points`` are in the mesh's coordinates; at most ``max_points`` (evenly strided) are drawn.
    """
    from .overlays import first_view

    view = first_view(mesh, cameras, size=size, y_up=y_up, seed=seed)
    image = view.shaded.copy()
    stride = max(1, len(points) // max_points)
    uv, z = view.project(np.asarray(points[::stride], np.float64))
    col, row = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
    inside = (z > 1e-6) & (col >= 0) & (col < size) & (row >= 0) & (row < size)
    col, row, z = col[inside], row[inside], z[inside]
    visible = z <= view.depth[row, col] * 1.01 + 2e-3
    image[row[visible], col[visible]] = (220, 30, 30, 255)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(image, out)
    return out
