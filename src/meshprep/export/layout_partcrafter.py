"""PartCrafter's training files (layout ``partcrafter``), from the run's ``parts.npz``.

Matched against wgsxm/PartCrafter: its loader ``src/datasets/objaverse_part.py``
(``ObjaversePartDataset._get_data_by_config``) and its preprocessing ``datasets/preprocess/``
(``mesh_to_point.py``, ``calculate_iou.py``, ``render.py``, ``rmbg.py``, ``preprocess.py``),
with ``src/utils/data_utils.py`` and ``src/utils/metric_utils.py`` they call:

* ``<id>/points.npy``: ``np.save`` of a dict ``{"object": S, "parts": [S, ...]}``, each ``S``
  ``{"surface_points": (204800, 3), "surface_normals": (204800, 3)}`` (area-weighted samples,
  face normals) of the whole object and of each part, in the frame of ``normalize_mesh``: the
  object's box centred and scaled so its longest side is 2. ``parts`` is empty for one part
  or more than 16 (``mesh_to_point.py``); the loader then trains the object as one part. The
  loader draws 204800 rows of each without replacement (``load_surface``), so exactly that
  many are written;
* ``<id>/num_parts.json`` ``{"num_parts": n}`` and ``<id>/iou.json`` ``{"iou_mean", "iou_max",
  "iou_list"}``: the voxel IoU of every pair of parts (``compute_IoU_for_scene`` at 64 cells
  over the scaled box, as :mod:`meshprep.curate.part_metrics` measures it);
* ``<id>/rendering_rmbg.png``: the condition image, rendered by the run (it needs the
  textured source): the front view (``render.py``: the camera on +Z of the glTF frame at
  radius 4, 40° field of view), composited over white, cropped to the object and padded by
  10 % of its longer side to a square (``rmbg.py``'s ``prepare_image``); RGB;
* ``<id>/mesh.glb``: the parts as one geometry each (the normalized mesh: ``mesh_path``);
* ``object_part_configs.json``: the loader's config list (``preprocess.py``): per item
  ``file``, ``num_parts``, ``valid``, ``mesh_path``, ``surface_path``, ``image_path``,
  ``iou_mean``, ``iou_max``, with absolute paths (the loader opens them as given).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from meshprep.errors import MeshprepError
from meshprep.io.parts import PARTS_FILE, Parts, read_parts_file

from .layouts import Key, Layout, LayoutSkip, plain_id, register, write_json_list

NAME = "partcrafter"
LOADER = "wgsxm/PartCrafter:src/datasets/objaverse_part.py"
#: the asset's store subfolder of the run's condition image
STORE_FOLDER = "partcrafter"
IMAGE = "rendering_rmbg.png"
POINTS, NUM_PARTS, IOU, MESH = "points.npy", "num_parts.json", "iou.json", "mesh.glb"
CONFIGS = "object_part_configs.json"
#: ``mesh_to_surface``'s and ``load_surface``'s point count
SURFACE_POINTS = 204800
#: ``mesh_to_point.py`` writes per-part samples for 2..16 parts
MAX_SAMPLED_PARTS = 16
#: ``render.py``: the camera's distance and vertical field of view; ``prepare_image``'s padding
RADIUS, FOV_DEGREES, PADDING = 4.0, 40.0, 0.1
RENDER_SIZE = 1024


def write_condition_image(folder: str | os.PathLike[str], mesh: trimesh.Trimesh, *,
                          appearance: Any = None, size: int = RENDER_SIZE) -> dict[str, Any]:
    """Render PartCrafter's condition image of the textured asset into
    ``folder/partcrafter/rendering_rmbg.png`` (the export links it into the item).

    Parameters
    ----------
    folder : path-like
        The asset's (staging) folder.
    mesh : trimesh.Trimesh
        The asset as loaded (Y up; any scale: placed as ``normalize_mesh`` places it).
    appearance : meshprep.io.appearance.Appearance, optional
        Its materials (the colour pass is PBR-shaded under a uniform white world).
    size : int
        Side of the render before the crop.

    Returns
    -------
    dict
        ``partcrafter_image_seconds``.
    """
    import tempfile
    import time

    from meshprep.render import render_views
    from meshprep.render.cameras import Camera, CameraSet, look_at

    start = time.perf_counter()
    # render.py's camera: +Z of the glTF frame is -Y in the render world (Z up)
    camera = Camera(look_at((0.0, -RADIUS, 0.0)), fov=np.radians(FOV_DEGREES))
    cameras = CameraSet("partcrafter", (camera,), bound=1.0, fit="box")
    with tempfile.TemporaryDirectory(prefix="meshprep-partcrafter-") as scratch:
        render_views(mesh, scratch, cameras, size=size, passes=("color",),
                     appearance=appearance, lighting="uniform", view_transform="agx")
        rgba = _read_rgba(Path(scratch) / "000.png")  # the colour pass of view 0
    target = Path(folder) / STORE_FOLDER / IMAGE
    _save_rgb(crop_on_white(rgba), target)
    return {"partcrafter_image_seconds": time.perf_counter() - start}


def _read_rgba(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def _save_rgb(rgb: np.ndarray, path: Path) -> None:
    from PIL import Image

    from meshprep.io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")


def crop_on_white(rgba: np.ndarray, padding: float = PADDING) -> np.ndarray:
    """``prepare_image``'s result for an image with alpha: over white, cropped to the pixels
    with alpha > 0, padded with white to a square by ``padding`` of the longer side.

    Parameters
    ----------
    rgba : (H, W, 4) uint8 array
    padding : float

    Returns
    -------
    (S, S, 3) uint8 array

    Raises
    ------
    MeshprepError
        When no pixel is covered.
    """
    alpha = rgba[..., 3]
    rows, cols = np.nonzero(alpha)
    if not len(rows):
        raise MeshprepError("the condition view shows nothing (the object is out of view)")
    a = alpha[..., None].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) / 255.0 * a + (1.0 - a)
    y0, x0 = rows.min(), cols.min()
    h, w = rows.max() - y0 + 1, cols.max() - x0 + 1
    crop = rgb[y0:y0 + h, x0:x0 + w]
    # the pads as prepare_image computes them (int() of each side's share)
    if w > h:
        left = int(w * padding)
        top = int(left + (w - h) / 2)
    else:
        top = int(h * padding)
        left = int(top + (h - w) / 2)
    padded = np.pad(crop, ((top, top), (left, left), (0, 0)), constant_values=1.0)
    return (padded * 255.0).astype(np.uint8)


def partcrafter_frame(vertices: np.ndarray) -> np.ndarray:
    """``normalize_mesh``: vertices with the box centred and its longest side scaled to 2."""
    vertices = np.asarray(vertices, np.float64)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    return (vertices - (lo + hi) / 2.0) * (2.0 / max(float((hi - lo).max()), 1e-12))


def surface_dict(vertices: np.ndarray, faces: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """``mesh_to_surface(..., return_dict=True)``: area-weighted samples and face normals."""
    from meshprep.sample import sample_surface

    points, normals = sample_surface((vertices, faces), SURFACE_POINTS, seed=seed)
    return {"surface_points": points, "surface_normals": normals}


def export_partcrafter_asset(store_folder: Path, out: Path, asset_id: str) -> list[Path]:
    """One item of the layout from the asset's store folder (``Layout.from_asset``).

    Raises
    ------
    LayoutSkip
        Without ``parts.npz`` (a run without ``[parts] store``) or without the condition image
        (a run whose ``[write] layouts`` did not name ``partcrafter``).
    """
    from meshprep.curate.part_metrics import part_metrics
    from meshprep.render.cameras import asset_seed

    from ._root import link_file

    store_folder, item = Path(store_folder), Path(out) / plain_id(asset_id)
    if not (store_folder / PARTS_FILE).is_file():
        raise LayoutSkip("no parts.npz: run with [parts] store = true or a part layout")
    image = store_folder / STORE_FOLDER / IMAGE
    if not image.is_file():
        raise LayoutSkip("no condition image: run with [write] layouts naming 'partcrafter' "
                         "(it renders the textured source)")
    mesh = read_parts_file(store_folder / PARTS_FILE)
    parts: Parts = mesh.metadata["meshprep_parts"]
    vertices, faces = partcrafter_frame(mesh.vertices), np.asarray(mesh.faces)
    present = np.flatnonzero(parts.face_counts() > 0)
    seed = asset_seed(asset_id)
    data = {"object": surface_dict(vertices, faces, seed), "parts": []}
    if 1 < len(present) <= MAX_SAMPLED_PARTS:
        data["parts"] = [surface_dict(vertices, faces[parts.face_part == p], seed + 1 + i)
                         for i, p in enumerate(present)]
    ious = mesh.metadata.get("meshprep_part_iou")  # measured by the run's curate step
    if ious is None:
        ious = part_metrics(trimesh.Trimesh(vertices, faces, process=False), parts).iou_list
    ious = [float(v) for v in ious]
    paths = [_save_npy_dict(item / POINTS, data),
             _write_json(item / NUM_PARTS, {"num_parts": int(len(present))}),
             _write_json(item / IOU, {"iou_mean": float(np.mean(ious)) if ious else 0.0,
                                      "iou_max": float(np.max(ious)) if ious else 0.0,
                                      "iou_list": ious}),
             _write_parts_glb(item / MESH, vertices, faces, parts, present)]
    link_file(image, item / IMAGE)
    return [*paths, item / IMAGE]


def _save_npy_dict(path: Path, data: dict) -> Path:
    """``np.save`` of a dict (a pickled 0-d object array, as ``mesh_to_point.py`` saves it)."""
    from meshprep.io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "wb") as stream:
        np.save(stream, data, allow_pickle=True)
    return path


def _write_json(path: Path, data: dict) -> Path:
    from meshprep.io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=4)
    return path


def _write_parts_glb(path: Path, vertices: np.ndarray, faces: np.ndarray, parts: Parts,
                     present: np.ndarray) -> Path:
    """The parts as one geometry each, named after them (what ``trimesh.load`` of the source
    gives ``mesh_to_point.py``: one entry of ``scene.geometry`` per part)."""
    from meshprep.io import atomic_write

    scene = trimesh.Scene()
    for p in present:
        chosen = faces[parts.face_part == p]
        used, local = np.unique(chosen, return_inverse=True)
        scene.add_geometry(trimesh.Trimesh(vertices[used], local.reshape(-1, 3), process=False),
                           geom_name=parts.names[p], node_name=parts.names[p])
    with atomic_write(path) as tmp:
        scene.export(tmp, file_type="glb")
    return path


def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``object_part_configs.json``: one entry per exported item, as ``preprocess.py`` writes
    it (``valid`` true: items without their files are not exported)."""
    folder = Path(folder).resolve()
    entries = []
    for asset_id in sorted(set(asset_ids)):
        item = folder / plain_id(asset_id)
        iou = json.loads((item / IOU).read_text(encoding="utf-8"))
        entries.append({
            "file": asset_id,
            "num_parts": json.loads((item / NUM_PARTS).read_text(encoding="utf-8"))["num_parts"],
            "valid": True,
            "mesh_path": str(item / MESH),
            "surface_path": str(item / POINTS),
            "image_path": str(item / IMAGE),
            "iou_mean": iou["iou_mean"],
            "iou_max": iou["iou_max"],
        })
    return [write_json_list(folder / CONFIGS, entries)]


def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
    """The item as ``_get_data_by_config`` reads it: ``part_surfaces`` ``(N, 204800, 6)``
    float32 (the parts', or the object as one part; not shuffled, all rows in file order) and
    ``image`` ``(512, 512, 3)`` uint8 (PIL, resized to 512²)."""
    from PIL import Image

    item = Path(folder) / plain_id(asset_id)
    data = np.load(item / POINTS, allow_pickle=True).item()
    surfaces = data["parts"] if len(data["parts"]) > 0 else [data["object"]]
    part_surfaces = np.stack([np.concatenate([np.asarray(s["surface_points"], np.float32),
                                              np.asarray(s["surface_normals"], np.float32)], 1)
                              for s in surfaces])
    with Image.open(item / IMAGE) as image:
        pixels = np.asarray(image.resize((512, 512)))
    return {"part_surfaces": part_surfaces, "image": pixels}


def _write_unused(samples, watertight, folder: Path, asset_id: str) -> list[Path]:
    raise MeshprepError(f"layout {NAME!r} is written from the run's parts.npz and condition "
                        "image (export_partcrafter_asset), not from the samples")


register(Layout(
    name=NAME,
    trainer="PartCrafter (ObjaversePartDataset)",
    loader=LOADER,
    keys=(
        Key("<id>/points.npy", "object: surface_points, surface_normals", "(204800, 3)",
            "float32", "np.save'd dict: area-weighted samples of the whole object, face normals"),
        Key("<id>/points.npy", "parts[i]: surface_points, surface_normals", "(204800, 3)",
            "float32", "the same per part (2 to 16 parts; empty list otherwise)"),
        Key("<id>/rendering_rmbg.png", "RGB", "(S, S, 3)", "uint8",
            "front view (+Z, radius 4, 40° fov), PBR under a white world, over white, cropped "
            "to the object and padded 10 % to a square"),
        Key("<id>/num_parts.json, iou.json", "num_parts; iou_mean, iou_max, iou_list", "",
            "json", "part count; voxel IoU of every pair of parts (64 cells over the box)"),
        Key(CONFIGS, "file, num_parts, valid, mesh_path, surface_path, image_path, iou_mean, "
            "iou_max", "", "json", "the loader's dataset config (absolute paths)"),
    ),
    sign="no labels (surface samples)",
    coords="normalize_mesh: box centred, longest side 2 ([-1, 1]), glTF axes (Y up)",
    write=_write_unused,
    read=read,
    notes="num_parts counts part instances (a mesh drawn twice is two parts), as the loader's "
          "batching needs it to equal the number of surfaces, where mesh_to_point.py counts "
          "len(scene.geometry); samples are float32 (trimesh's are float64: the loader casts "
          "to float32); the condition image is lit by a uniform white world, not render.py's "
          "ring of 36 pyrender directional lights; assets without parts.npz or the image are "
          "skipped with the reason",
    lists=f"{CONFIGS}: every exported item (the dataset's config)",
    write_lists=write_lists,
    from_asset=export_partcrafter_asset,
    store_needs=("parts",),
))
