"""TRELLIS.2's training data: O-Voxels, mesh dumps and condition views in the root it reads.

Matched against microsoft/TRELLIS.2: ``data_toolkit/dual_grid.py`` (``dual_grid_<res>/`` files
and their ``dual_grid_converted`` / ``dual_grid_size`` records), ``data_toolkit/voxelize_pbr.py``
(``pbr_voxels_<res>/``, ``pbr_voxelized`` / ``num_pbr_voxels``), ``data_toolkit/dump_mesh.py``
(``mesh_dumps/<sha256>.pickle``), ``data_toolkit/blender_script/dump_pbr.py`` and
``data_toolkit/dump_pbr.py`` (``pbr_dumps/<sha256>.pickle``, ``pbr_dumped``; read by
``trellis2/datasets/sparse_voxel_pbr.py``'s ``read_mesh_with_texture``),
``data_toolkit/render_cond.py`` and its Blender script (``renders_cond/<sha256>/NNN.png`` +
``transforms.json`` with ``file_path`` ``"NNN.png"``), and the readers
``trellis2/datasets/components.py`` (``roots`` = one folder per product, each with its own
``metadata.csv`` keyed by ``sha256``, merged with ``combine_first``),
``flexi_dual_grid.py`` and ``sparse_voxel_pbr.py`` (which filter on ``dual_grid_converted``,
``dual_grid_size``, ``pbr_voxelized``, ``num_pbr_voxels``, ``aesthetic_score``, ``num_faces``
and ``cond_rendered``).

Two halves:

- :func:`write_trellis2_asset` runs inside an asset's worker and writes its products into the
  asset's own folder (``<asset>/trellis2/``), so they are published atomically with the asset
  and a killed run resumes like any other.
- :func:`assemble_trellis2` builds the dataset root ``<dataset>/trellis2/`` from the published
  assets: hard links (copies where links are impossible) named by ``sha256``, and one
  ``metadata.csv`` per product folder. It is rebuilt at the end of every run, so it always lists
  exactly the assets that are done.

One frame for everything: the Z-up world of meshprep's renders (glTF's Y-up turned as Blender
imports it), which is TRELLIS.2's Blender world, so voxels and condition images agree.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from meshprep.geometry.axes import Y_UP_TO_Z_UP
from meshprep.io import atomic_write

from ._root import link_file, write_metadata

#: the dataset root's folder under a run's output, and the products' folder inside an asset
TRELLIS2_FOLDER = "trellis2"
MESH_DUMP = "mesh_dump.pickle"
PBR_DUMP = "pbr_dump.pickle"
COND_FOLDER = "renders_cond"


def dual_grid_name(resolution: int) -> str:
    """File of an asset's O-Voxel shape at ``resolution`` inside its ``trellis2/`` folder."""
    return f"dual_grid_{resolution}.vxz"


def pbr_name(resolution: int) -> str:
    """File of an asset's O-Voxel PBR attributes at ``resolution``."""
    return f"pbr_voxels_{resolution}.vxz"


def z_up_vertices(vertices: np.ndarray) -> np.ndarray:
    """meshprep's (glTF, Y-up) coordinates turned into the Z-up world, float32."""
    return (np.asarray(vertices, np.float64) @ Y_UP_TO_Z_UP[:3, :3].T).astype(np.float32)


def write_trellis2_asset(
    folder: str | os.PathLike[str],
    mesh: Any,
    *,
    resolutions: Iterable[int],
    appearance: Any = None,
    pbr: bool = True,
    cond_views: int = 16,
    cond_size: int = 1024,
    seed: int = 0,
) -> dict[str, Any]:
    """Write one asset's TRELLIS.2 products into ``folder/trellis2/``.

    Parameters
    ----------
    folder : path-like
        The asset's (staging) folder.
    mesh : trimesh.Trimesh
        The asset in meshprep's coordinates (Y-up; any scale: TRELLIS.2 renormalizes).
    resolutions : iterable of int
        O-Voxel resolutions (TRELLIS.2 trains on 256, 512 and 1024).
    appearance : meshprep.io.appearance.Appearance, optional
        Materials for the PBR voxels and the condition views; without it both use the default
        material (0.8 grey, metallic 0, roughness 0.5, opaque), as TRELLIS.2's toolkit does for
        faces without one.
    pbr : bool
        Write the PBR voxels too.
    cond_views, cond_size : int
        Condition views (``cond:N`` cameras: fov 10–70°) and their size; 0 views writes none.
    seed : int
        Seed of the condition cameras.

    Returns
    -------
    dict
        Metrics: ``num_faces``, ``ovoxel_<res>_voxels``, ``pbr_<res>_voxels``, seconds.
    """
    import time

    from meshprep.voxel import flexible_dual_grids, write_vxz

    out = Path(folder) / TRELLIS2_FOLDER
    out.mkdir(parents=True, exist_ok=True)
    vertices = z_up_vertices(mesh.vertices)
    faces = np.asarray(mesh.faces, dtype=np.int32)
    metrics: dict[str, Any] = {"num_faces": int(len(faces))}
    _write_pickle(out / MESH_DUMP, {"objects": [{"vertices": vertices, "faces": faces}]})
    resolutions = sorted({int(r) for r in resolutions})
    start = time.perf_counter()
    grids = flexible_dual_grids(vertices, resolutions, faces=faces)
    metrics["ovoxel_seconds"] = time.perf_counter() - start
    for res, grid in grids.items():
        write_vxz(out / dual_grid_name(res), grid.coords,
                  {"vertices": grid.vertices_u8(), "intersected": grid.intersected_u8()})
        metrics[f"ovoxel_{res}_voxels"] = len(grid)
    _picture(Path(folder) / "renders" / "ovoxel.png", mesh, vertices, grids[resolutions[0]])
    if pbr:
        metrics.update(_write_pbr(out, vertices, faces, appearance, resolutions))
        _write_pickle(out / PBR_DUMP, pbr_dump(mesh, appearance))
    if cond_views > 0:
        metrics.update(_write_cond(out / COND_FOLDER, mesh, appearance, cond_views, cond_size,
                                   seed))
    return metrics


def _picture(path: Path, mesh, z_up: np.ndarray, grid) -> None:
    """The report's picture: the dual vertices of the coarsest O-Voxels, in red over the shape
    (the first scoring camera), mapped back into the mesh's coordinates."""
    from meshprep.render.views import render_points_overlay
    from meshprep.voxel import normalize_for_dual_grid

    normalized = normalize_for_dual_grid(z_up).astype(np.float64)
    # normalize_for_dual_grid is affine: recover its scale and offset from the box
    scale = np.ptp(normalized, axis=0).max() / max(np.ptp(z_up, axis=0).max(), 1e-30)
    offset = normalized.min(axis=0) - z_up.min(axis=0) * scale
    points = (grid.positions.astype(np.float64) - offset) / scale @ Y_UP_TO_Z_UP[:3, :3]
    path.parent.mkdir(parents=True, exist_ok=True)
    render_points_overlay(mesh, points, path, size=256)


def _write_pickle(path: Path, data: dict) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as stream:
        pickle.dump(data, stream, protocol=pickle.HIGHEST_PROTOCOL)


def _write_pbr(out: Path, vertices, faces, appearance, resolutions) -> dict[str, Any]:
    import time

    import trimesh

    from meshprep.voxel import pbr_voxels_multi, write_vxz

    start = time.perf_counter()
    metrics: dict[str, Any] = {}
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    for res, (coords, attrs) in pbr_voxels_multi(mesh, resolutions, appearance=appearance).items():
        write_vxz(out / pbr_name(res), coords, attrs)
        metrics[f"pbr_{res}_voxels"] = len(coords)
    metrics["pbr_seconds"] = time.perf_counter() - start
    return metrics


# ---------------------------------------------------------------------------------------------
# the textured mesh dump (microsoft/TRELLIS.2 data_toolkit/blender_script/dump_pbr.py)

#: the Blender texture node's ``extension`` of a glTF wrap mode, as Blender's glTF importer sets
#: it and dump_pbr.py records it (sparse_voxel_pbr.py maps it back to a wrap mode)
_EXTENSIONS = {10497: "REPEAT", 33071: "EXTEND", 33648: "MIRROR"}


def pbr_dump(mesh: Any, appearance: Any = None) -> dict[str, list[dict[str, Any]]]:
    """The asset as TRELLIS.2's ``dump_pbr.py`` pickles it: materials, then one object.

    What Blender's glTF import of the asset holds and ``dump_pbr.py`` reads from it: per material
    ``baseColorFactor`` (linear; RGB when a texture multiplies it, else RGBA), ``alphaFactor``,
    ``metallicFactor``, ``roughnessFactor``, ``alphaMode`` (``OPAQUE`` / ``MASK`` / ``BLEND``),
    ``alphaCutoff`` and the textures ``baseColorTexture`` (RGB), ``alphaTexture`` (the base
    colour's A), ``metallicTexture`` (B of glTF's metallic-roughness texture) and
    ``roughnessTexture`` (its G), each ``{'image': PNG bytes, 'interpolation': 'Linear' |
    'Closest', 'extension': 'REPEAT' | 'EXTEND' | 'MIRROR'}`` or None. The PNGs hold Blender's
    ``image.pixels`` rows as they are, bottom row first (dump_pbr.py reshapes them without a
    flip): the texel at UV ``(u, v)`` (origin bottom-left) is row ``v·H``, column ``u·W``.
    The object: ``vertices`` float32 (V, 3) in the Z-up frame of the other dumps, ``faces``
    int32 (F, 3), ``normals`` float32 (F, 3, 3) per corner, ``uvs`` float32 (F, 3, 2) per corner
    or None, ``mat_ids`` int32 (F,) (-1: no material; the readers give it TRELLIS.2's default),
    ``matIDs`` None (a key dump_pbr.py leaves unset).

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The asset in meshprep's coordinates (Y-up), faces aligned with ``appearance``.
    appearance : meshprep.io.appearance.Appearance, optional
        Its materials; without them every face has none (-1).

    Returns
    -------
    dict
        ``{'materials': [...], 'objects': [{...}]}``.
    """
    faces = np.asarray(mesh.faces, dtype=np.int32)
    usable = appearance is not None and len(appearance.face_material) == len(faces)
    materials, mat_ids = _dump_materials(appearance, len(faces)) if usable else \
        ([], np.full(len(faces), -1, np.int32))
    uvs = None
    if usable and len(appearance.uv) == len(mesh.vertices) and appearance.textured:
        uvs = np.asarray(appearance.uv, np.float32)[faces]
    normals = appearance.vertex_normal if usable and appearance.vertex_normal is not None \
        else mesh.vertex_normals
    obj = {"vertices": z_up_vertices(mesh.vertices), "faces": faces, "uvs": uvs,
           "matIDs": None, "normals": z_up_vertices(np.asarray(normals))[faces],
           "mat_ids": mat_ids}
    return {"materials": materials, "objects": [obj]}


def _dump_materials(appearance: Any, n_faces: int) -> tuple[list[dict], np.ndarray]:
    """The distinct materials (Blender's ``bpy.data.materials``) and each face's index; a face
    with meshprep's stand-in for "no material" gets -1, as a Blender face without a slot."""
    packs: list[dict] = []
    index: dict[int, int] = {}
    table = np.full(len(appearance.materials), -1, np.int32)
    for i, material in enumerate(appearance.materials):
        if _is_default(material):
            continue
        if id(material) not in index:
            index[id(material)] = len(packs)
            packs.append(_dump_material(material))
        table[i] = index[id(material)]
    ids = table[np.asarray(appearance.face_material, np.int64)] if n_faces else \
        np.zeros(0, np.int32)
    return packs, ids.astype(np.int32)


def _is_default(material: Any) -> bool:
    """meshprep's material of a surface that has none (Blender's default surface)."""
    from meshprep.io.appearance import DEFAULT_BASE_COLOR

    return (material.texture is None and material.metallic_roughness_texture is None
            and np.allclose(material.factor, DEFAULT_BASE_COLOR)
            and material.metallic_factor == 0.0 and material.roughness_factor == 0.5
            and material.alpha_mode == "OPAQUE")


def _dump_material(material: Any) -> dict[str, Any]:
    """One material as dump_pbr.py reads Blender's glTF import of it (factors multiplied by a
    MIX / MATH node when the texture is there, the socket's value when it is not)."""
    factor = [float(x) for x in material.factor]
    texture, sampler = material.texture, material.texture_sampler
    pack = {"baseColorFactor": factor[:3] if texture is not None else factor[:3] + [1.0],
            "alphaFactor": factor[3], "metallicFactor": float(material.metallic_factor),
            "roughnessFactor": float(material.roughness_factor), "alphaMode": "OPAQUE",
            "alphaCutoff": 0.5, "baseColorTexture": None, "alphaTexture": None,
            "metallicTexture": None, "roughnessTexture": None}
    if texture is not None:
        pack["baseColorTexture"] = _dump_image(texture[..., :3], sampler)
    pack.update(_dump_alpha(material, factor[3]))
    mr = material.metallic_roughness_texture
    if mr is not None:
        pack["metallicTexture"] = _dump_image(mr[..., 2], material.metallic_roughness_sampler)
        pack["roughnessTexture"] = _dump_image(mr[..., 1], material.metallic_roughness_sampler)
    return pack


def _dump_alpha(material: Any, alpha: float) -> dict[str, Any]:
    """``alphaMode`` / ``alphaFactor`` / ``alphaCutoff`` / ``alphaTexture``: the importer links
    the texture's A (MASK through its cutoff nodes) unless the mode is OPAQUE; an unlinked
    Alpha below 1 reads as BLEND."""
    mode, texture = material.alpha_mode, material.texture
    if mode == "OPAQUE":
        return {"alphaFactor": 1.0}
    if texture is not None:
        return {"alphaMode": mode, "alphaFactor": alpha, "alphaCutoff": material.alpha_cutoff,
                "alphaTexture": _dump_image(texture[..., 3], material.texture_sampler)}
    if mode == "MASK":
        alpha = 1.0 if alpha >= material.alpha_cutoff else 0.0
    return {"alphaFactor": alpha, "alphaMode": "BLEND" if alpha < 1.0 else "OPAQUE"}


def _dump_image(pixels: np.ndarray, sampler: Any) -> dict[str, Any]:
    """dump_pbr.py's ``extract_image``: the channels as an RGB or L PNG, bottom row first (as
    Blender's ``image.pixels`` hold them), with the texture node's interpolation and extension."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.asarray(pixels, np.uint8)[::-1])).save(
        buffer, format="PNG")
    return {"image": buffer.getvalue(),
            "interpolation": "Closest" if sampler.nearest else "Linear",
            "extension": _EXTENSIONS.get(sampler.wrap_s, "REPEAT")}


def _write_cond(out: Path, mesh, appearance, views: int, size: int, seed: int) -> dict:
    from meshprep.render import render_views

    # TRELLIS.2's render_cond.py: Cycles under init_random_lighting, Blender 3's Filmic
    result = render_views(mesh, out, f"cond:{views}", size=size, passes=("color",), seed=seed,
                          appearance=appearance, lighting="trellis2", view_transform="filmic")
    # TRELLIS.2's loader opens os.path.join(folder, frame["file_path"]): name the file itself
    transforms = out / "transforms.json"
    data = json.loads(transforms.read_text(encoding="utf-8"))
    for frame in data["frames"]:
        frame["file_path"] = f"{frame['file_path']}.png"
    with atomic_write(transforms) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1)
    return {"cond_seconds": result.seconds}


# ---------------------------------------------------------------------------------------------
# the dataset root


def assemble_trellis2(dataset: str | os.PathLike[str], assets: Iterable[Mapping[str, Any]]
                      ) -> Path:
    """Build (or rebuild) ``dataset/trellis2/`` from the published assets.

    Parameters
    ----------
    dataset : path-like
        A run's local output folder.
    assets : iterable of mapping
        One row per asset (the manifest's): ``asset_id``, ``sha256``, ``status``, ``path``,
        ``num_faces``, ``list_aesthetic_score`` (optional) and the voxel counts.

    Returns
    -------
    Path
        The root to give TRELLIS.2's datasets (see the README for the ``roots`` JSON).
    """
    root = Path(dataset) / TRELLIS2_FOLDER
    records: dict[str, list[dict]] = {}
    for row in assets:
        if row.get("status") != "ok" or not row.get("path"):
            continue
        source = Path(row["path"]) / TRELLIS2_FOLDER
        if not source.is_dir():
            continue
        key = row.get("sha256") or row["asset_id"]
        common = {"sha256": key, "aesthetic_score": row.get("list_aesthetic_score"),
                  "num_faces": row.get("num_faces")}
        for product, record in _link_products(source, root, key):
            records.setdefault(product, []).append({**common, **record})
        records.setdefault("", []).append({**common, "meshprep_id": row["asset_id"]})
    for product, rows in records.items():
        write_metadata(root / product / "metadata.csv", rows)
    return root


def _link_products(source: Path, root: Path, key: str):
    """Link an asset's products into the root; yields (product folder, its record)."""
    if (source / MESH_DUMP).is_file():
        link_file(source / MESH_DUMP, root / "mesh_dumps" / f"{key}.pickle")
        yield "mesh_dumps", {"mesh_dumped": True}
    if (source / PBR_DUMP).is_file():
        link_file(source / PBR_DUMP, root / "pbr_dumps" / f"{key}.pickle")
        yield "pbr_dumps", {"pbr_dumped": True}
    for path in sorted(source.glob("*.vxz")):
        product = path.stem  # dual_grid_<res> / pbr_voxels_<res>
        link_file(path, root / product / f"{key}.vxz")
        count = _voxel_count(path)
        if product.startswith("dual_grid_"):
            yield product, {"dual_grid_converted": True, "dual_grid_size": count}
        else:
            yield product, {"pbr_voxelized": True, "num_pbr_voxels": count}
    cond = source / COND_FOLDER
    if (cond / "transforms.json").is_file():
        for path in sorted(cond.iterdir()):
            link_file(path, root / COND_FOLDER / key / path.name)
        yield COND_FOLDER, {"cond_rendered": True}


def _voxel_count(path: Path) -> int:
    from meshprep.voxel import read_vxz_info

    return int(read_vxz_info(path)["num_voxel"])
