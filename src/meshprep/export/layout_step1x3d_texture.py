"""``step1x3d-texture``: the multi-view training folders of Step1X-3D's texture model (IG2MV).

Matched against stepfun-ai/Step1X-3D:

- the render script ``data/ig2mv/render/multi-view-render.py`` with ``render_utils.py`` (from
  bpy-renderer): EEVEE, the glTF scaled into the unit cube (``normalize_scene(1.0)``: the box's
  longest side 1, centred), six orthographic cameras from ``get_camera_positions_on_sphere``
  (radius 1.8, elevations 0, 0, 0, 0, 89.99, -89.99 deg, azimuths -90, 0, 90, 180, 90, -90 deg,
  turned by ``to_track_quat("-Z", "Y")``; ``add_camera``'s ``ortho_scale`` 1.1, sensor 32 mm),
  1024² and, per view ``NNNN`` (the frame number, 4 digits):

  - ``color_NNNN.webp``: RGBA, transparent film, quality 100 (lossless WebP), Blender 4's
    default view transform (AgX), lit by the world ``env.exr`` at strength 1;
  - ``normal_NNNN.webp``: the Normal pass (world, Z up) ``* 0.5 + 0.5`` written as EXR, then
    ``convert_normal_to_webp``: RGB ``* 256`` cast to uint8, alpha 255 where the colour's
    alpha > 0, else 0;
  - ``depth_NNNN.exr``: the Depth pass (distance from the camera plane, world units) through a
    file-output node at 32-bit: float channels R, G, B all the depth, ZIP;
  - ``meta.json``: ``width``, ``height``, ``locations`` (``index`` "NNNN", ``projection_type``
    "ORTHO", ``ortho_scale``, ``camera_angle_x``, ``elevation`` and ``azimuth`` in radians,
    ``transform_matrix``: camera-to-world, Blender axes).
- the loader ``step1x3d_texture/data/multiview.py`` (``MultiviewDataset``, from MV-Adapter) with
  ``configs/train-texture-ig2mv/step1x3d_ig2mv_sdxl.yaml``: ``scene_list`` a JSON list of ids
  (``filter_obj.json``), each item's folder ``root_dir/<id[:2]>/<id>``; per view name it opens
  ``color_<name>.webp`` (PIL, resized, ``/ 255``, RGBA over grey 0.5), ``normal_<name>.webp``
  (PIL nearest, RGB world normal, its alpha the mask) and ``depth_<name>.exr`` (``cv2.imread``
  unchanged, channel 0, ``> 1000`` masked out), the views' ``transform_matrix`` and
  ``ortho_scale`` from ``meta.json``, and rebuilds positions from depth
  (``get_position_map_from_depth_ortho``, ``+ 0.5`` clamped to [0, 1]); prompts from
  ``objaverse_short_captions.json`` by id (``""`` when missing).
- the shipped items ``data/ig2mv/obajverse/<id[:2]>/<id>/``: lossless WebP (VP8L), colour and
  normal transparent black outside the object, depth EXR ``B, G, R`` float32 ZIP with 65504
  (the largest half) where nothing is hit.

What we write differs where meshprep's renderer differs: the colour is lit as the script lights
it, by its own ``env.exr`` (shipped in ``meshprep/export/data/``, Apache-2.0, see the README
there) at strength 1, not turned, through meshprep's environment-map shading (measured against
Cycles, ``benchmarks/RESULTS.md``; the script renders with EEVEE), AgX view; normals are the
renderer's area-weighted vertex normals (Blender shades the glTF's own normals, auto-smooth 30 deg)
re-encoded from its 8-bit normal pass (``* 256`` of ``(n + 1) / 2``, 255 at ``n = 1`` where the
script's uint8 cast would wrap to 0); depth is the 16-bit depth pass (steps of
``depth_max / 65535``, about 4e-5) rounded to the half-float grid as the shipped items' depths
are (1/1024 at depths 1-2, 1/512 at 2-4), stored float32, 65504 where nothing is hit.

The shipped config names views ``0000-0003, 0008, 0009`` of its 10-view example items; the
render script (and the inference cameras of ``step1x_3d_texture_synthesis_pipeline.py``) make
six, ``0000-0005``: train with ``data.image_names=["0000", ..., "0005"]`` and
``data.reference_image_names`` among them (:data:`CONFIG_NOTE`).

As ``hunyuan3d-paint``, the run's ``write`` step renders each textured asset into
``objects/<id>/step1x3d-texture/`` (:func:`write_texture_asset`) and the export links the files
into ``OUTPUT/step1x3d-texture/<id[:2]>/<id>/`` (:func:`export_texture_asset`); assets without a
varying base-colour texture are skipped with the reason
(:func:`~meshprep.export.layout_hunyuan3d_paint.texture_skip_reason`). The depth EXR needs the
``OpenEXR`` wheel (``pip install 'meshprep[exr]'``): a run naming the layout without it is
refused at start (:func:`require_exr`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from meshprep.errors import MeshprepError
from meshprep.io import atomic_write
from meshprep.io.exr import INSTALL, ExrUnavailableError  # noqa: F401  (raised by require_exr)
from meshprep.io.exr import require_exr as _require_exr

from .layout_hunyuan3d_paint import NotRenderedError, texture_skip_reason
from .layouts import Key, Layout, LayoutSkip, plain_id, register, write_json_list

NAME = "step1x3d-texture"
LOADER = "stepfun-ai/Step1X-3D:step1x3d_texture/data/multiview.py"
#: the asset's products in its store folder
FOLDER = "step1x3d-texture"
#: the asset folder's record of why it was not rendered
SKIPPED = "skipped.json"
#: the item list and the prompt table (the names of the shipped ``data/ig2mv/obajverse/``)
LIST, CAPTIONS = "filter_obj.json", "objaverse_short_captions.json"
SIZE = 1024
#: Blender's angle_x of ``add_camera``'s ortho cameras (sensor 32 mm, default 50 mm lens)
CAMERA_ANGLE_X = 2.0 * math.atan(16.0 / 50.0)
#: the render script's world map (``data/ig2mv/render/env.exr``, unchanged; Apache-2.0)
ENV_MAP = Path(__file__).with_name("data") / "step1x3d_env.exr"
#: the depth where nothing is hit (the shipped EXRs': the largest half float)
DEPTH_BACKGROUND = 65504.0
EXR_HINT = ("the step1x3d-texture layout writes depth as OpenEXR and needs the OpenEXR wheel: "
            f"{INSTALL}")
CONFIG_NOTE = ("six views 0000-0005 as the render script makes them (the shipped config's "
               "image_names 0008, 0009 are views of its 10-view example items): train with "
               "data.image_names=['0000','0001','0002','0003','0004','0005'] and "
               "data.reference_image_names among them")


def require_exr() -> Any:
    """The ``OpenEXR`` module, or :class:`ExrUnavailableError` saying how to install it."""
    return _require_exr("the step1x3d-texture layout's depth maps")


def write_depth_exr(path: str | os.PathLike[str], depth: np.ndarray) -> Path:
    """``depth`` (H, W) as the script's depth EXR: float32 ``R``, ``G``, ``B`` (each the depth),
    ZIP, scanlines; atomically."""
    openexr = require_exr()
    plane = np.ascontiguousarray(depth, dtype=np.float32)
    header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage}
    with atomic_write(path, durable=False) as tmp, \
            openexr.File(header, {c: plane for c in "RGB"}) as image:
        image.write(tmp)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# rendering one asset (in the run's worker)


def write_texture_asset(folder: str | os.PathLike[str], mesh: trimesh.Trimesh, *,
                        appearance: Any = None, skip: str = "", size: int = SIZE
                        ) -> dict[str, Any]:
    """Render one asset's six views into ``folder/step1x3d-texture/``, or record why it is
    skipped (``skipped.json``).

    Parameters
    ----------
    folder : path-like
        The asset's (staging) folder.
    mesh : trimesh.Trimesh
        The asset as :func:`meshprep.load` returns it (source coordinates, glTF Y-up).
    appearance : Appearance, optional
        Its materials (default: ``mesh.metadata["meshprep_appearance"]``).
    skip : str
        A reason the caller found to skip the asset (nothing is rendered).
    size : int
        Image width and height (the script's 1024).

    Returns
    -------
    dict
        Metrics: ``step1x3d_texture_skipped`` (the reason, or ""), ``step1x3d_texture_seconds``.
    """
    start = time.perf_counter()
    look = appearance if appearance is not None else mesh.metadata.get("meshprep_appearance")
    out = Path(folder) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    reason = skip or texture_skip_reason(look, np.asarray(mesh.faces))
    if reason is not None:
        _write_json(out / SKIPPED, {"reason": reason})
    else:
        _render(out, mesh, look, size)
    return {"step1x3d_texture_skipped": reason or "",
            "step1x3d_texture_seconds": time.perf_counter() - start}


def _render(out: Path, mesh, look, size: int) -> None:
    """The colour, normal and depth passes of :func:`ig2mv_cameras`, converted file by file."""
    from meshprep.render import render_views
    from meshprep.render.cameras import ig2mv_cameras

    require_exr()
    cams = ig2mv_cameras()
    with tempfile.TemporaryDirectory(prefix="meshprep-ig2mv-", dir=out) as scratch:
        render_views(mesh, scratch, cams, size=size, appearance=look, smooth=True,
                     lighting="envmap", envmaps=ENV_MAP, view_transform="agx",
                     passes=("color", "normal", "depth"))
        frames = json.loads((Path(scratch) / "transforms.json").read_text(encoding="utf-8"))
        for i in range(len(cams.cameras)):
            _convert_view(Path(scratch), out, i, frames["depth_max"])
    _write_meta(out, cams, frames, size)


def _convert_view(scratch: Path, out: Path, i: int, depth_max: float) -> None:
    """View ``i``'s ``NNN.png``, ``NNN_normal.png`` and ``NNN_depth.png`` as the script's
    ``color_NNNN.webp``, ``normal_NNNN.webp`` and ``depth_NNNN.exr``."""
    from PIL import Image

    color = np.asarray(Image.open(scratch / f"{i:03d}.png"))
    normal = np.asarray(Image.open(scratch / f"{i:03d}_normal.png"))
    depth16 = np.asarray(Image.open(scratch / f"{i:03d}_depth.png")).astype(np.float64)
    _save_webp(color, out / f"color_{i:04d}.webp")
    _save_webp(_normal_rgba(normal, color[..., 3]), out / f"normal_{i:04d}.webp")
    depth = np.where(depth16 > 0, depth16 / 65535.0 * depth_max, DEPTH_BACKGROUND)
    # on the half-float grid, as the shipped items' values (float32 channels): steps of 1/1024
    # at depths 1-2, 1/512 beyond; a quarter of the file that full float32 noise makes
    write_depth_exr(out / f"depth_{i:04d}.exr", depth.astype(np.float16))


def _normal_rgba(normal: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``convert_normal_to_webp`` of the renderer's normal pass (RGBA, ``(n + 1) / 2 * 255``):
    RGB ``(n + 1) / 2 * 256`` truncated (255 at ``n = 1``), 128 where no face is hit (the
    Normal pass's 0); alpha 255 where the colour's alpha is above 0."""
    rgb = np.minimum(normal[..., :3].astype(np.uint32) * 256 // 255, 255)
    rgb[normal[..., 3] == 0] = 128
    mask = np.where(alpha > 0, 255, 0)[..., None]
    return np.concatenate([rgb, mask], axis=-1).astype(np.uint8)


def _save_webp(rgba: np.ndarray, path: Path) -> None:
    """RGBA lossless WebP (Blender's and the shipped items' VP8L at quality 100) at libwebp's
    lowest effort: the same pixels, files about twice the default effort's, 0.015 instead of
    0.3 CPU-s per 1024² image."""
    from PIL import Image

    with atomic_write(path, durable=False) as tmp:
        Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(
            tmp, format="WEBP", lossless=True, method=0, quality=0)


def _write_meta(out: Path, cams, frames: dict, size: int) -> None:
    """The script's ``meta.json``; meshprep's record (normalization, lighting) under
    ``"meshprep"`` (the loader reads ``locations`` only)."""
    from meshprep.render.cameras import IG2MV_AZIMUTHS, IG2MV_ELEVATIONS

    locations = [{"index": f"{i:04d}", "projection_type": "ORTHO",
                  "ortho_scale": camera.ortho_scale, "camera_angle_x": CAMERA_ANGLE_X,
                  "elevation": math.radians(elevation), "azimuth": math.radians(azimuth),
                  "transform_matrix": camera.c2w.tolist()}
                 for i, (camera, elevation, azimuth) in enumerate(
                     zip(cams.cameras, IG2MV_ELEVATIONS, IG2MV_AZIMUTHS, strict=True))]
    meshprep = {"normalization": frames["normalization"],
                "normalization_maps": "meshprep.load coordinates (Y-up) -> Blender world (Z-up)",
                "view_transform": frames.get("view_transform"),
                "lighting": [f.get("lighting") for f in frames["frames"]],
                "depth_background": DEPTH_BACKGROUND, "note": CONFIG_NOTE}
    _write_json(out / "meta.json", {"width": size, "height": size, "locations": locations,
                                    "meshprep": meshprep})


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, durable=False) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=4)


# ---------------------------------------------------------------------------------------------
# the export: the store's renders into the loader's folders


def item_folder(out: str | os.PathLike[str], asset_id: str) -> Path:
    """``out/<id[:2]>/<id>``: where ``_parse_scene_list_single`` looks for an id without "/"."""
    uid = plain_id(asset_id)
    return Path(out) / uid[:2] / uid


def export_texture_asset(store_folder: Path, out: Path, asset_id: str) -> list[Path]:
    """Link one asset's renders into ``out/<id[:2]>/<id>/``.

    Raises
    ------
    LayoutSkip
        The run recorded why the asset has no renders (no texture, a flat one).
    NotRenderedError
        The run did not render the layout.
    """
    from ._root import link_file

    source = Path(store_folder) / FOLDER
    if (source / SKIPPED).is_file():
        raise LayoutSkip(json.loads((source / SKIPPED).read_text(encoding="utf-8"))["reason"])
    if not (source / "meta.json").is_file():
        raise NotRenderedError(f"no {NAME} renders in {store_folder}: run `meshprep run` with "
                               f"[write] layouts = [\"{NAME}\"] (the renders need the textured "
                               "source)")
    target = item_folder(out, asset_id)
    if target.is_dir():
        shutil.rmtree(target)
    paths = []
    for path in sorted(source.iterdir()):
        if path.is_file():
            link_file(path, target / path.name)
            paths.append(target / path.name)
    return paths


def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``filter_obj.json`` (the ids: ``scene_list``, with ``root_dir`` this folder) and
    ``objaverse_short_captions.json`` (``prompt_db_path``: every id with an empty caption, the
    loader's own default; fill in captions to train with prompts)."""
    ids = sorted(set(asset_ids))
    captions = Path(folder) / CAPTIONS
    with atomic_write(captions) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump({i: "" for i in ids}, stream, indent=4)
    return [write_json_list(Path(folder) / LIST, ids), captions]


def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
    """One item as ``MultiviewDataset`` loads it at 1024² (grey background, world normals):
    ``rgb`` and ``normal`` (6, 3, H, W) in [0, 1], ``depth`` and ``mask`` (6, H, W, 1),
    ``c2w`` (6, 4, 4) and ``ortho_scale``."""
    from PIL import Image

    openexr = require_exr()
    base = item_folder(folder, asset_id)
    meta = json.loads((base / "meta.json").read_text(encoding="utf-8"))
    names = [loc["index"] for loc in meta["locations"]]
    grey = np.full(3, 0.5, np.float32)

    def over_grey(path: Path) -> np.ndarray:
        image = np.asarray(Image.open(path), dtype=np.float32) / 255.0
        rgb = image[..., :3] * image[..., 3:] + grey * (1 - image[..., 3:])
        return rgb.transpose(2, 0, 1)

    depths = []
    for name in names:
        with openexr.File(str(base / f"depth_{name}.exr")) as image:
            depths.append(image.channels()["RGB"].pixels[..., 2:3].astype(np.float32))  # B
    depth = np.stack(depths)
    return {"rgb": np.stack([over_grey(base / f"color_{n}.webp") for n in names]),
            "normal": np.stack([over_grey(base / f"normal_{n}.webp") for n in names]),
            "depth": np.where(depth > 1000.0, 0.0, depth).astype(np.float32),
            "mask": (depth <= 1000.0).astype(np.float32),
            "c2w": np.asarray([loc["transform_matrix"] for loc in meta["locations"]]),
            "ortho_scale": np.float32(meta["locations"][0]["ortho_scale"])}


def _write_unused(samples, watertight, folder: Path, asset_id: str) -> list[Path]:
    raise MeshprepError(f"layout {NAME!r} is written from the run's renders "
                        "(export_texture_asset), not from the samples")


_IMG = "(1024, 1024, 4)"
register(Layout(
    name=NAME,
    trainer="Step1X-3D texture (IG2MV SDXL; MultiviewDataset)",
    loader=LOADER,
    keys=(
        Key("<id[:2]>/<id>/color_NNNN.webp", "RGBA", _IMG, "uint8",
            "6 ortho views (azimuth -90, 0, 90, 180 deg at elevation 0, then 89.99 and -89.99 "
            "deg; radius 1.8, ortho_scale 1.1, box in +-0.5): PBR colour lit by the script's "
            "env.exr (strength 1, not turned), AgX view; lossless WebP; alpha = coverage"),
        Key("<id[:2]>/<id>/normal_NNNN.webp", "RGBA", _IMG, "uint8",
            "world normal (Z up) (n + 1) / 2 * 256 (255 at n = 1); alpha 255 where the colour's "
            "alpha > 0"),
        Key("<id[:2]>/<id>/depth_NNNN.exr", "R, G, B", "(1024, 1024)", "float32",
            "distance from the camera plane (world units, on the half-float grid, ZIP); 65504 "
            "where nothing is hit (the loader masks > 1000)"),
        Key("<id[:2]>/<id>/meta.json", "width, height, locations", "", "json",
            "locations: index, projection_type, ortho_scale, camera_angle_x, elevation, "
            "azimuth (radians), transform_matrix (camera-to-world, Blender axes)"),
    ),
    sign="no labels (images)",
    coords="Blender world (Z up), the asset's box scaled into [-0.5, 0.5]^3 "
           "(normalize_scene(1.0)); positions rebuilt from depth + 0.5",
    write=_write_unused,
    read=read,
    notes=CONFIG_NOTE + "; colour lit by the script's own env.exr (shipped, Apache-2.0) "
          "through meshprep's renderer, not EEVEE; depth EXR needs meshprep[exr] "
          "(OpenEXR); assets without a varying base-colour texture are skipped with the reason",
    lists=f"{LIST}: every exported id (scene_list; root_dir = this folder); {CAPTIONS}: "
          "the ids with empty captions (prompt_db_path)",
    write_lists=write_lists,
    from_asset=export_texture_asset,
))
