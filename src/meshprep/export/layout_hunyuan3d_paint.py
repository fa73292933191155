"""``hunyuan3d-paint``: the training folders of Hunyuan3D-2.1's Paint model (MaterialMVP).

Matched against Tencent-Hunyuan/Hunyuan3D-2.1:

- the loader ``hy3dpaint/src/data/dataloader/objaverse_loader_forTexturePBR.py``
  (``TextureDataset``) and ``loader_util.py`` (``BaseDataset.load_image``): a JSON list of asset
  folders (``json.load``; the folders are opened as written, relative to the trainer's working
  directory, so we list absolute paths); per folder it globs ``render_tex/*_albedo.png`` (6 of
  them drawn) and reads ``_mr``, ``_normal`` and ``_pos`` beside each by name; it globs
  ``render_cond/*.png``, picks one, finds its suffix among ``light_PL``, ``light_AL``,
  ``light_ENVMAP`` and pairs it with the same view under another suffix of that pool. Images go
  through PIL, resized to 512, ``/ 255``; RGBA is composited over the background colour, RGB is
  taken as it is (``mode "L"`` converted to RGB; a 16-bit image would not load).
- the shipped example ``hy3dpaint/train_examples/001`` and its list ``examples.json``:
  ``render_tex/NNN.png``, ``NNN_albedo.png``, ``NNN_mr.png`` (RGBA 8-bit, transparent black
  background), ``NNN_normal.png`` / ``.jpg`` and ``NNN_pos.png`` / ``.jpg`` (RGB 8-bit, background
  127), 6 views; ``render_cond/NNN_light_{AL,PL,ENVMAP}.png`` (RGBA) for 24 views, ``mesh.ply``
  (x y z s t, the normalized mesh Y-up) and ``transforms.json`` in each folder (``aabb``,
  ``scale``, ``offset``, frames with ``file_path``, ``camera_angle_x``, ``proj_type``,
  ``azimuth``, ``elevation``, ``cam_dis``, ``transform_matrix``).
- the Blender script that wrote those keys, ``hy3dshape/tools/render/render.py``:
  ``orthogonal_camera_sequence`` (azimuths -90°, 0°, 90°, 180° at elevation 0, then top and
  bottom, distance 1.5, ``ortho_scale`` 1.2, fov ``1.5 * asin(sqrt(3) / 2 / 1.5)``),
  ``trellis_cond_camera_sequence`` (TRELLIS.2's condition views: meshprep's ``cond:N``),
  ``normalize_scene`` (box scaled into [-0.5, 0.5]^3: ``scale``, ``offset``),
  ``ConvertDepthMap`` (position ``(0.5 + p) * 255`` of the Y-up coordinates written by
  ``cv2.imwrite``, so the file's RGB holds (z, y, x); background 127) and ``init_lighting``
  (TRELLIS's lights, the ``trellis`` lighting, for the shaded ``NNN.png``, Standard view).
  The normal maps of the example hold the Z-up world normal ``(n + 1) / 2`` with its channels
  reversed (R = n_z, G = n_y, B = n_x: the top view is red, the -X side view has B = 0);
  the test reads them back that way.

Where the renders come from: the textured source mesh is only in the run, so the run's
``write`` step renders each asset into its own store folder (``objects/<id>/hunyuan3d-paint/``,
published atomically with the asset: :func:`write_paint_asset`), and the export links those
files into ``OUTPUT/hunyuan3d-paint/<id>/`` (:func:`export_paint_asset`). ``meshprep export
--layout hunyuan3d-paint`` works on a store whose run named the layout.

Skipped assets (recorded ``skipped`` with the reason in the export's ``export.parquet`` and as
``hunyuan3d_paint_skipped`` in the run's manifest): no material, no base-colour texture on the
faces' materials, or every such texture one flat colour: the RGB standard deviation (bytes / 255)
of 8192 texels drawn uniformly over the UV-covered area (area-weighted UV triangles, nearest
texel, wrapping) below 1/255 in every channel.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from meshprep.errors import MeshprepError
from meshprep.io import atomic_write

from .layouts import Key, Layout, LayoutSkip, plain_id, register, write_json_list

NAME = "hunyuan3d-paint"
LOADER = "Tencent-Hunyuan/Hunyuan3D-2.1:hy3dpaint/src/data/dataloader/" \
    "objaverse_loader_forTexturePBR.py"
#: the asset's products in its store folder, and the two folders the loader opens
FOLDER = "hunyuan3d-paint"
TEX, COND = "render_tex", "render_cond"
#: the asset folder's record of why it was not rendered
SKIPPED = "skipped.json"
#: the item list (as the example's ``train_examples/examples.json``)
LIST = "examples.json"
TEX_SIZE = COND_SIZE = 512
COND_VIEWS = 24
#: ``orthogonal_camera_sequence``: yaw and pitch (radians), distance, Blender's ortho_scale
ORTHO_YAWS = (-0.5 * math.pi, 0.0, 0.5 * math.pi, math.pi, -0.5 * math.pi, -0.5 * math.pi)
ORTHO_PITCHES = (0.0, 0.0, 0.0, 0.0, 0.5 * math.pi, -0.5 * math.pi)
CAM_DIS = 1.5
ORTHO_SCALE = 1.2
ORTHO_FOV = 1.5 * math.asin(math.sqrt(3.0) / 2.0 / CAM_DIS)
#: condition lightings written: file suffix -> meshprep lighting (``render_views(lighting=)``)
LIGHTINGS = {"light_AL": "uniform", "light_PL": "trellis2"}
ENVMAP = "light_ENVMAP"
ENVMAP_NOTE = ("light_ENVMAP written only with [render] envmaps (a folder of .hdr / .exr maps, "
               "none downloaded): without it train with lighting_suffix_pool=['light_PL', "
               "'light_AL'] (the loader's default pool also draws light_ENVMAP and fails on the "
               "missing file)")
#: texel spread (RGB bytes / 255) below which a base-colour texture is one flat colour
FLAT_STD = 1.0 / 255.0
FLAT_SAMPLES = 8192
#: the background of the normal and position maps (``(0.5 + 0) * 255`` truncated)
MAP_BACKGROUND = 127


# ---------------------------------------------------------------------------------------------
# cameras


def tex_cameras():
    """``orthogonal_camera_sequence``'s six views as a meshprep camera set (box in ±0.5).

    Returns
    -------
    meshprep.render.cameras.CameraSet
    """
    from meshprep.render.cameras import Camera, CameraSet

    cams = tuple(Camera(_ortho_c2w(yaw, pitch), 0.0, ORTHO_SCALE)
                 for yaw, pitch in zip(ORTHO_YAWS, ORTHO_PITCHES, strict=True))
    return CameraSet("hunyuan3d-paint-ortho6", cams, bound=0.5, fit="box")


def _ortho_c2w(yaw: float, pitch: float) -> np.ndarray:
    """Blender's TRACK_TO (-Z toward the origin, up Y) camera at ``CAM_DIS``; at the poles the
    example's axes (image right = +X)."""
    eye = CAM_DIS * np.array([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch),
                              math.sin(pitch)])
    back = eye / np.linalg.norm(eye)
    if abs(back[2]) > 0.999:
        back, right = np.array([0.0, 0.0, np.sign(back[2])]), np.array([1.0, 0.0, 0.0])
        eye = CAM_DIS * back
    else:
        right = np.cross([0.0, 0.0, 1.0], back)
        right /= np.linalg.norm(right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, np.cross(back, right), back, eye
    return c2w


# ---------------------------------------------------------------------------------------------
# which assets have a texture worth learning


def texture_skip_reason(look: Any, faces: np.ndarray) -> str | None:
    """Why an asset gives Paint nothing to learn, or None.

    Parameters
    ----------
    look : meshprep.io.appearance.Appearance or None
        The asset's materials, aligned with ``faces``.
    faces : (F, 3) int array

    Returns
    -------
    str or None
        ``"no materials ..."``, ``"no base-colour texture"`` or ``"base-colour texture is one
        flat colour ..."``; None when some used material has a texture that varies.
    """
    if look is None or len(look.face_material) != len(faces):
        return "no materials (loaded without them, or the extract step changed the faces)"
    used = [int(m) for m in np.unique(look.face_material)]
    textured = [m for m in used if look.materials[m].texture is not None]
    if not textured:
        return "no base-colour texture"
    spread = max(texel_spread(look, faces, m) for m in textured)
    if spread < FLAT_STD:
        return (f"base-colour texture is one flat colour (texel std {spread * 255:.2f}/255 over "
                "the UV-covered area, below 1/255)")
    return None


def texel_spread(look: Any, faces: np.ndarray, material: int, samples: int = FLAT_SAMPLES,
                 seed: int = 0) -> float:
    """The largest per-channel standard deviation (bytes / 255) of the base-colour texels
    under the faces of ``material``: ``samples`` points uniform over their UV triangles' area
    (nearest texel, repeat wrapping; zero-area UVs all read one texel)."""
    texture = look.materials[material].texture
    corners = np.asarray(look.uv, np.float64)[faces[look.face_material == material]]
    edge1, edge2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = np.abs(edge1[:, 0] * edge2[:, 1] - edge1[:, 1] * edge2[:, 0])
    rng = np.random.default_rng(seed)
    weights = area / area.sum() if area.sum() > 0 else np.full(len(area), 1.0 / len(area))
    pick = rng.choice(len(corners), samples, p=weights)
    a, b = rng.random(samples), rng.random(samples)
    flip = a + b > 1.0
    a[flip], b[flip] = 1.0 - a[flip], 1.0 - b[flip]
    uv = corners[pick, 0] + a[:, None] * edge1[pick] + b[:, None] * edge2[pick]
    height, width = texture.shape[:2]
    cols = np.floor(np.mod(uv[:, 0], 1.0) * width).astype(np.int64) % width
    rows = np.floor(np.mod(1.0 - uv[:, 1], 1.0) * height).astype(np.int64) % height
    texels = texture[rows, cols, :3].astype(np.float64) / 255.0
    return float(texels.std(axis=0).max())


# ---------------------------------------------------------------------------------------------
# rendering one asset (in the run's worker)


def write_paint_asset(folder: str | os.PathLike[str], mesh: trimesh.Trimesh, *,
                      appearance: Any = None, seed: int = 0, envmaps: str = "", skip: str = "",
                      tex_size: int = TEX_SIZE, cond_size: int = COND_SIZE,
                      cond_views: int = COND_VIEWS) -> dict[str, Any]:
    """Render one asset's ``render_tex/`` and ``render_cond/`` into ``folder/hunyuan3d-paint/``,
    or record why it is skipped (``skipped.json``).

    Parameters
    ----------
    folder : path-like
        The asset's (staging) folder.
    mesh : trimesh.Trimesh
        The asset as :func:`meshprep.load` returns it (source coordinates, glTF Y-up).
    appearance : Appearance, optional
        Its materials (default: ``mesh.metadata["meshprep_appearance"]``).
    seed : int
        The asset seed: condition cameras and point lights.
    envmaps : str
        ``[render] envmaps``: a folder of equirectangular HDR/EXR maps; given, the condition
        views are also lit by one of them each (``NNN_light_ENVMAP.png``, the ``envmap``
        lighting: map and rotation drawn from ``seed``); "" leaves them out
        (:data:`ENVMAP_NOTE`).
    skip : str
        A reason the caller found to skip the asset (nothing is rendered).
    tex_size, cond_size, cond_views : int
        Image sizes and the number of condition views (the example's 512, 512, 24).

    Returns
    -------
    dict
        Metrics: ``hunyuan3d_paint_skipped`` (the reason, or ""), ``hunyuan3d_paint_envmap``,
        ``hunyuan3d_paint_seconds``.
    """
    import time

    start = time.perf_counter()
    look = appearance if appearance is not None else mesh.metadata.get("meshprep_appearance")
    out = Path(folder) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    reason = skip or texture_skip_reason(look, np.asarray(mesh.faces))
    metrics: dict[str, Any] = {"hunyuan3d_paint_skipped": reason or "",
                               "hunyuan3d_paint_envmap": "" if envmaps else ENVMAP_NOTE}
    if reason is not None:
        _write_json(out / SKIPPED, {"reason": reason})
    else:
        _render_tex(out / TEX, mesh, look, tex_size)
        _render_cond(out / COND, mesh, look, seed, cond_size, cond_views, envmaps)
    metrics["hunyuan3d_paint_seconds"] = time.perf_counter() - start
    return metrics


def _render_tex(out: Path, mesh, look, size: int) -> None:
    """The six orthographic views: shaded, albedo, mr (RGBA) and normal, pos (RGB) maps."""
    from meshprep.render import render_views

    # init_lighting (TRELLIS's lights) and the Standard view of switch_to_color_render
    render_views(mesh, out, tex_cameras(), size=size, appearance=look, lighting="trellis",
                 view_transform="standard",
                 passes=("color", "albedo", "mr", "normal", "position"))
    rendered = json.loads((out / "transforms.json").read_text(encoding="utf-8"))
    for i in range(len(rendered["frames"])):
        _hunyuan_normal(out / f"{i:03d}_normal.png")
        _hunyuan_position(out / f"{i:03d}_pos.png")
    frames = [{"camera_angle_x": ORTHO_FOV, "proj_type": 1, "azimuth": yaw, "elevation": pitch,
               "cam_dis": CAM_DIS} for yaw, pitch in zip(ORTHO_YAWS, ORTHO_PITCHES, strict=True)]
    _write_transforms(out, rendered, frames,
                      {"lighting": [f.get("lighting") for f in rendered["frames"]]})


def _hunyuan_normal(path: Path) -> None:
    """The ``normal`` pass (RGBA, Z-up world ``(n + 1) / 2``) as the example's maps: RGB with
    the channels reversed, background 127; also the ``.jpg`` twin."""
    from PIL import Image

    rgba = np.asarray(Image.open(path))
    rgb = np.where(rgba[..., 3:] > 0, rgba[..., 2::-1], np.uint8(MAP_BACKGROUND))
    _save_map(np.ascontiguousarray(rgb, np.uint8), path)


def _hunyuan_position(path: Path) -> None:
    """The ``position`` pass (16-bit RGBA, ``p + 0.5`` of the Z-up world in the ±0.5 box) as
    ``ConvertDepthMap`` writes it: the Y-up point ``(x, z, -y)`` as ``(0.5 + p) * 255``
    (truncated) in the file's B, G, R; background 127; also the ``.jpg`` twin."""
    image = _read_png16(path)
    scaled = image[..., :3].astype(np.float64) / 65535.0  # x + 0.5, y + 0.5, z + 0.5
    # the Y-up point (x, z, -y), its channels reversed as cv2.imwrite stores them
    y_up = np.stack([1.0 - scaled[..., 1], scaled[..., 2], scaled[..., 0]], axis=-1)
    rgb = np.clip(y_up * 255.0, 0, 255).astype(np.uint8)
    rgb[image[..., 3] == 0] = MAP_BACKGROUND
    _save_map(rgb, path)


def _read_png16(path: Path) -> np.ndarray:
    """A 16-bit RGBA frame as :func:`meshprep.render.png.encode_png` writes it (one IDAT, no
    row filters); Pillow would read it as 8-bit."""
    import zlib

    data, chunks = path.read_bytes()[8:], {}
    while data:
        length = int.from_bytes(data[:4], "big")
        chunks[data[4:8]] = chunks.get(data[4:8], b"") + data[8:8 + length]
        data = data[12 + length:]
    header = chunks[b"IHDR"]
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    if header[8:10] != bytes([16, 6]):
        raise ValueError(f"{path} is not a 16-bit RGBA PNG")
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    if rows[:, 0].any():
        raise ValueError(f"{path} uses PNG row filters (not meshprep's writer)")
    return rows[:, 1:].copy().view(">u2").reshape(height, width, 4).astype(np.uint16)


def _save_map(rgb: np.ndarray, path: Path) -> None:
    """``path`` as an RGB PNG and ``path.with_suffix('.jpg')`` as JPEG (the example's pair;
    quality 95, OpenCV's default, as the script's ``cv2.imwrite``)."""
    from PIL import Image

    from meshprep.render.views import save_png

    save_png(rgb, path)
    jpg = path.with_suffix(".jpg")
    with atomic_write(jpg, durable=False) as tmp:
        Image.fromarray(rgb, "RGB").save(tmp, format="JPEG", quality=95)


def _render_cond(out: Path, mesh, look, seed: int, size: int, views: int, envmaps: str) -> None:
    """The condition views under each lighting (``NNN_light_AL.png`` ...), the normalized
    mesh (``mesh.ply``) and ``transforms.json``."""
    from meshprep.render import render_views
    from meshprep.render.cameras import parse_cameras

    cams = parse_cameras(f"cond:{views}", seed)
    out.mkdir(parents=True, exist_ok=True)
    lights: dict[str, list] = {}
    rendered: dict = {}
    kinds = {**LIGHTINGS, ENVMAP: "envmap"} if envmaps else dict(LIGHTINGS)
    with tempfile.TemporaryDirectory(prefix="meshprep-paint-", dir=out.parent) as scratch:
        for suffix, kind in kinds.items():
            # Hunyuan's geo-mode render keeps Blender 4's default view transform: AgX
            render_views(mesh, Path(scratch) / suffix, cams, size=size, passes=("color",),
                         appearance=look, lighting=kind, view_transform="agx", seed=seed,
                         envmaps=envmaps or None)
            rendered = json.loads((Path(scratch) / suffix / "transforms.json").read_text())
            lights[suffix] = [f.get("lighting") for f in rendered["frames"]]
            for i in range(len(cams.cameras)):
                os.replace(Path(scratch) / suffix / f"{i:03d}.png", out / f"{i:03d}_{suffix}.png")
    frames = []
    for camera in cams.cameras:
        eye = camera.c2w[:3, 3]
        radius = float(np.linalg.norm(eye))
        frames.append({"camera_angle_x": camera.fov, "proj_type": 0,
                       "azimuth": float(np.mod(math.atan2(eye[1], eye[0]), 2 * math.pi)),
                       "elevation": math.asin(float(eye[2]) / radius), "cam_dis": radius})
    skipped = {} if envmaps else {ENVMAP: ENVMAP_NOTE}
    lighting = [{s: lights[s][i] for s in kinds} for i in range(len(frames))]
    _write_transforms(out, rendered, frames, {"lighting": lighting, "skipped_lightings": skipped})
    _write_ply(out / "mesh.ply", mesh, np.asarray(rendered["normalization"]), look)


def _write_transforms(out: Path, rendered: dict, frames: list[dict], extra: dict) -> None:
    """Hunyuan's ``transforms.json``: ``aabb``, ``scale``, ``offset`` (``normalize_scene``:
    Blender world = scale * imported + offset) and the frames; meshprep's own record under
    ``"meshprep"``."""
    normalization = np.asarray(rendered["normalization"], np.float64)
    data = {"aabb": [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]],
            "scale": float(np.linalg.norm(normalization[:3, 0])),
            "offset": normalization[:3, 3].tolist(), "frames": []}
    for i, (frame, ours) in enumerate(zip(frames, rendered["frames"], strict=True)):
        data["frames"].append({"file_path": f"{i:03d}.png", **frame,
                               "transform_matrix": ours["transform_matrix"]})
    data["meshprep"] = {
        "normalization": rendered["normalization"],
        "normalization_maps": "meshprep.load coordinates (Y-up) -> Blender world (Z-up)",
        "size": rendered["width"], "view_transform": rendered.get("view_transform"), **extra}
    _write_json(out / "transforms.json", data)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, durable=False) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=4)


def _write_ply(path: Path, mesh, normalization: np.ndarray, look) -> None:
    """``mesh.ply`` as Blender's ``ply_export(up_axis='Y', forward_axis='NEGATIVE_Z')`` writes
    the normalized scene: binary, ``x y z s t`` floats, ``uchar uint`` face lists."""
    z_up = np.asarray(mesh.vertices, np.float64) @ normalization[:3, :3].T + normalization[:3, 3]
    uv = np.zeros((len(z_up), 2)) if look is None else np.asarray(look.uv, np.float64)
    vertices = np.empty(len(z_up), dtype=[(k, "<f4") for k in ("x", "y", "z", "s", "t")])
    vertices["x"], vertices["y"], vertices["z"] = z_up[:, 0], z_up[:, 2], -z_up[:, 1]
    vertices["s"], vertices["t"] = uv[:, 0], uv[:, 1]
    faces = np.empty(len(mesh.faces), dtype=[("n", "u1"), ("v", "<u4", (3,))])
    faces["n"], faces["v"] = 3, np.asarray(mesh.faces)
    header = ("ply\nformat binary_little_endian 1.0\ncomment Created by meshprep\n"
              f"element vertex {len(vertices)}\n"
              + "".join(f"property float {k}\n" for k in ("x", "y", "z", "s", "t"))
              + f"element face {len(faces)}\nproperty list uchar uint vertex_indices\n"
              "end_header\n")
    with atomic_write(path, durable=False) as tmp, open(tmp, "wb") as stream:
        stream.write(header.encode("ascii"))
        stream.write(vertices.tobytes())
        stream.write(faces.tobytes())


# ---------------------------------------------------------------------------------------------
# the export: the store's renders into the loader's folders


class NotRenderedError(MeshprepError):
    """The store holds no Paint renders for the asset (its run did not name the layout)."""


def export_paint_asset(store_folder: Path, out: Path, asset_id: str) -> list[Path]:
    """Link one asset's renders into ``out/<asset_id>/render_tex|render_cond/``.

    Raises
    ------
    LayoutSkip
        The run recorded why the asset has no renders (no texture, a flat one).
    NotRenderedError
        The run did not render the layout.
    """
    from ._root import link_file

    uid = plain_id(asset_id)
    source = Path(store_folder) / FOLDER
    if (source / SKIPPED).is_file():
        raise LayoutSkip(json.loads((source / SKIPPED).read_text(encoding="utf-8"))["reason"])
    if not (source / COND / "transforms.json").is_file():
        raise NotRenderedError(f"no {NAME} renders in {store_folder}: run `meshprep run` with "
                               f"[write] layouts = [\"{NAME}\"] (the renders need the textured "
                               "source)")
    paths = []
    target = Path(out) / uid
    for sub in (TEX, COND):
        if (target / sub).is_dir():
            shutil.rmtree(target / sub)
        for path in sorted((source / sub).iterdir()):
            link_file(path, target / sub / path.name)
            paths.append(target / sub / path.name)
    return paths


def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``examples.json``: the asset folders, absolute (the loader opens them as written)."""
    root = Path(folder).resolve()
    return [write_json_list(root / LIST, [str(root / i) for i in sorted(set(asset_ids))])]


def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
    """One asset's images as ``TextureDataset`` loads them (background grey, no augmentation):
    ``albedo``, ``mr``, ``normal``, ``position`` (6, 3, H, W) and ``cond_<suffix>`` (V, 3, H, W),
    float32 in [0, 1]."""
    from PIL import Image

    base = Path(folder) / plain_id(asset_id)
    grey = np.full(3, 127 / 255.0, np.float32)

    def load(path: Path) -> np.ndarray:
        image = Image.open(path)
        image = image.convert("RGB") if image.mode == "L" else image
        array = np.asarray(image, dtype=np.float32) / 255.0
        if array.shape[2] == 4:
            array = array[..., :3] * array[..., 3:] + grey * (1 - array[..., 3:])
        return array.transpose(2, 0, 1)

    albedo = sorted((base / TEX).glob("*_albedo.png"))
    out = {name: np.stack([load(Path(str(p).replace("_albedo", suffix))) for p in albedo])
           for name, suffix in (("albedo", "_albedo"), ("mr", "_mr"), ("normal", "_normal"),
                                ("position", "_pos"))}
    for suffix in LIGHTINGS:
        out[f"cond_{suffix}"] = np.stack([load(p) for p in
                                          sorted((base / COND).glob(f"*_{suffix}.png"))])
    return out


def _write_unused(samples, watertight, folder: Path, asset_id: str) -> list[Path]:
    raise MeshprepError(f"layout {NAME!r} is written from the run's renders "
                        "(export_paint_asset), not from the samples")


_IMG = "(512, 512, 4)"
register(Layout(
    name=NAME,
    trainer="Hunyuan3D-2.1 Paint (MaterialMVP; TextureDataset)",
    loader=LOADER,
    keys=(
        Key("<id>/render_tex/NNN_albedo.png", "RGBA", _IMG, "uint8",
            "6 ortho views (azimuth -90, 0, 90, 180 deg at elevation 0, top, bottom; ortho_scale "
            "1.2, box in +-0.5): base colour unlit, sRGB; alpha = coverage"),
        Key("<id>/render_tex/NNN_mr.png", "RGBA", _IMG, "uint8",
            "linear: R 255, G roughness, B metallic (factor x texture)"),
        Key("<id>/render_tex/NNN_normal.png (+ .jpg)", "RGB", "(512, 512, 3)", "uint8",
            "Z-up world normal (n + 1) / 2, channels reversed (R n_z, G n_y, B n_x); bg 127"),
        Key("<id>/render_tex/NNN_pos.png (+ .jpg)", "RGB", "(512, 512, 3)", "uint8",
            "(0.5 + p) * 255 of the Y-up point in the +-0.5 box, channels reversed (R z, G y, "
            "B x); bg 127"),
        Key("<id>/render_tex/NNN.png", "RGBA", _IMG, "uint8",
            "PBR shaded under TRELLIS's lights (init_lighting), Standard view; not read"),
        Key("<id>/render_cond/NNN_light_AL.png", "RGBA", _IMG, "uint8",
            "24 cond:24 views (fov 10-70 deg) under a uniform white world, AgX view"),
        Key("<id>/render_cond/NNN_light_PL.png", "RGBA", _IMG, "uint8",
            "the same views under TRELLIS.2's random point lights (trellis2), AgX view"),
        Key("<id>/render_cond/NNN_light_ENVMAP.png", "RGBA", _IMG, "uint8",
            "with [render] envmaps only: the same views each lit by a map of that folder "
            "turned about Z (envmap; map and turn drawn from the asset seed), AgX view"),
        Key("<id>/render_cond/mesh.ply", "x y z s t", "(V,), faces (F, 3)", "float32",
            "the mesh normalized into the +-0.5 box, Y-up, with its UVs"),
        Key("<id>/render_*/transforms.json", "aabb, scale, offset, frames", "", "json",
            "frames: file_path, camera_angle_x, proj_type, azimuth, elevation, cam_dis, "
            "transform_matrix (camera-to-world, Blender axes)"),
    ),
    sign="no labels (images)",
    coords="Blender world (Z up), the asset's box scaled into [-0.5, 0.5]^3 "
           "(normalize_scene); positions Y-up",
    write=_write_unused,
    read=read,
    notes=ENVMAP_NOTE + "; the mr map is glTF's (factor x texture) where Blender's script puts "
          "0.5 / 0 for unlinked roughness / metallic; assets without a varying base-colour "
          "texture are skipped with the reason",
    lists=f"{LIST}: every exported asset folder (absolute paths; TextureDataset's json_path)",
    write_lists=write_lists,
    from_asset=export_paint_asset,
))
