"""TRELLIS (v1)'s training data: 150 renders, the 64³ sparse structure, DINOv2 voxel features.

Matched against microsoft/TRELLIS: ``dataset_toolkits/blender_script/render.py`` (the scene
scaled to ``1 / largest extent`` and centred; ``transforms.json`` with ``aabb``, ``scale``,
``offset`` and per frame ``file_path`` ``"NNN.png"``, ``camera_angle_x``, ``transform_matrix``;
``mesh.ply``, the normalized scene, which ``voxelize.py`` reads), ``dataset_toolkits/render.py``
(150 views on a Hammersley sequence, radius 2, fov 40°, 512²), ``voxelize.py``
(``voxels/<sha256>.ply``: the voxel centres ``(i + 0.5) / 64 - 0.5``), ``extract_feature.py``
(``features/<model>/<sha256>.npz``), ``render_cond.py`` (``renders_cond/<sha256>/``: views
drawn as TRELLIS.2's ``cond:N`` draws them, the same code: Hammersley directions with a random
offset, ``1/r²`` uniform radii framing the unit cube's sphere at fov 10–70°; rendered at 1024² by
the same ``blender_script/render.py`` as the 150 views, so the same lights, Filmic and
``transforms.json``; ``cond_rendered``; read by ``trellis/datasets/components.py``
``ImageConditionedMixin``: a random frame's ``file_path``, cropped to its alpha's box),
``build_metadata.py`` and the reader
``trellis/datasets/sparse_structure.py`` (one root, one ``metadata.csv`` with ``sha256``,
``aesthetic_score``, ``rendered``, ``voxelized``, ``num_voxels``, ``feature_<model>``; the
boolean columns must hold ``True`` / ``False`` in every row, since the reader indexes with
them).

Per asset the products go into ``<asset>/trellis/`` (published atomically with the asset);
:func:`assemble_trellis` links them into ``<dataset>/trellis/`` named by ``sha256``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from meshprep.io import atomic_write

from ._root import link_file, write_metadata

TRELLIS_FOLDER = "trellis"
RENDERS = "renders"
COND = "renders_cond"
VOXELS = "voxels.ply"


def write_trellis_asset(
    folder: str | os.PathLike[str],
    mesh: Any,
    *,
    appearance: Any = None,
    views: int = 150,
    size: int = 512,
    dinov2: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    cond_views: int = 24,
    cond_size: int = 1024,
) -> dict[str, Any]:
    """Write one asset's TRELLIS products into ``folder/trellis/``.

    Parameters
    ----------
    folder : path-like
        The asset's (staging) folder.
    mesh : trimesh.Trimesh
        The asset in meshprep's coordinates (Y-up).
    appearance : meshprep.io.appearance.Appearance, optional
        Materials for the colour renders.
    views, size : int
        Hammersley views (TRELLIS renders 150) and their size.
    dinov2 : str, optional
        Local folder of a DINOv2 model (transformers format); with it, the voxel features.
    device : str
        Where the DINOv2 model runs.
    seed : int
        Seed of the Hammersley sequence's offset and of the condition cameras.
    cond_views, cond_size : int
        Condition views (``cond:N``, TRELLIS's ``render_cond.py``: 24 of 1024²); 0 writes none.

    Returns
    -------
    dict
        Metrics: ``trellis_voxels`` and seconds.
    """
    import time

    import trimesh

    from meshprep.io import write_mesh
    from meshprep.render import render_views
    from meshprep.voxel import surface_voxels, write_voxel_ply

    out = Path(folder) / TRELLIS_FOLDER
    renders = out / RENDERS
    # TRELLIS's render.py: Cycles under init_lighting (a point and a large area light, the
    # factory world), Blender 3's default Filmic view
    result = render_views(mesh, renders, f"hammersley:{views}", size=size, passes=("color",),
                          seed=seed, appearance=appearance, lighting="trellis",
                          view_transform="filmic")
    normalization = _finish_transforms(renders / "transforms.json")
    if cond_views > 0:
        # render_cond.py: the cameras of TRELLIS.2's render_cond.py, drawn by the same code,
        # rendered by blender_script/render.py (the 150 views' lights and Filmic)
        cond = render_views(mesh, out / COND, f"cond:{cond_views}", size=cond_size,
                            passes=("color",), seed=seed, appearance=appearance,
                            lighting="trellis", view_transform="filmic")
        _finish_transforms(out / COND / "transforms.json")
    vertices = np.asarray(mesh.vertices, np.float64) @ normalization[:3, :3].T \
        + normalization[:3, 3]
    normalized = trimesh.Trimesh(vertices.astype(np.float32), mesh.faces, process=False)
    write_mesh(normalized, renders / "mesh.ply")
    start = time.perf_counter()
    indices = surface_voxels(normalized.vertices, faces=normalized.faces, normalize=False)
    write_voxel_ply(out / VOXELS, indices)
    _picture(Path(folder) / "renders" / "trellis_voxels.png", mesh, indices, normalization)
    metrics: dict[str, Any] = {"trellis_voxels": int(len(indices)),
                               "trellis_render_seconds": result.seconds,
                               "trellis_voxel_seconds": time.perf_counter() - start}
    if cond_views > 0:
        metrics["trellis_cond_seconds"] = cond.seconds
    if dinov2:
        from meshprep.voxel.features import dinov2_voxel_features, write_feature_npz

        start = time.perf_counter()
        idx, tokens = dinov2_voxel_features(renders, indices, dinov2, device=device)
        write_feature_npz(out / f"features_{feature_name(dinov2)}.npz", idx, tokens)
        metrics["trellis_feature_seconds"] = time.perf_counter() - start
    return metrics


def _picture(path: Path, mesh, indices: np.ndarray, normalization: np.ndarray) -> None:
    """The report's picture: the 64³ voxel centres in red over the shape, mapped back from the
    render frame into the mesh's coordinates."""
    from meshprep.render.views import render_points_overlay

    centres = (indices.astype(np.float64) + 0.5) / 64 - 0.5
    linear = normalization[:3, :3]
    points = (centres - normalization[:3, 3]) @ np.linalg.inv(linear).T
    path.parent.mkdir(parents=True, exist_ok=True)
    render_points_overlay(mesh, points, path, size=256)


#: DINOv2's widths by the letter torch hub's model names give them (``dinov2_vit{s,b,l,g}14``)
DINOV2_SIZES = {384: "s", 768: "b", 1024: "l", 1536: "g"}


def feature_name(model_folder: str | os.PathLike[str]) -> str:
    """The name TRELLIS gives the model's features, from the model's ``config.json``.

    TRELLIS names the features folder (``features/<name>/``), the metadata column
    (``feature_<name>``) and its datasets' ``model`` / ``feat_model`` argument after the torch
    hub model it loads (microsoft/TRELLIS ``dataset_toolkits/extract_feature.py``: ``--model``
    default ``dinov2_vitl14_reg``; ``trellis/datasets/sparse_feat2render.py``,
    ``configs/vae/slat_vae_enc_dec_gs_swin8_B_64l8_fp16.json``: ``"model":
    "dinov2_vitl14_reg"``). Hub names are ``dinov2_vit{s,b,l,g}{patch}`` plus ``_reg`` with
    registers; we derive them from the hidden size, patch size and register tokens, never from
    the folder's name. A width hub does not have gives ``dinov2_w{hidden}p{patch}[_reg]``.

    Parameters
    ----------
    model_folder : path-like
        A local transformers DINOv2 folder (``config.json``).

    Returns
    -------
    str
        E.g. ``dinov2_vitl14_reg`` for ViT-L/14 with registers (TRELLIS's model).
    """
    config = json.loads((Path(model_folder) / "config.json").read_text(encoding="utf-8"))
    hidden, patch = int(config.get("hidden_size", 0)), int(config.get("patch_size", 14))
    # Dinov2WithRegistersConfig's num_register_tokens defaults to 4; Dinov2Config has none
    registers = (config.get("model_type") == "dinov2_with_registers"
                 and int(config.get("num_register_tokens", 4)) > 0)
    size = DINOV2_SIZES.get(hidden)
    base = f"dinov2_vit{size}{patch}" if size else f"dinov2_w{hidden}p{patch}"
    return base + ("_reg" if registers else "")


def _finish_transforms(path: Path) -> np.ndarray:
    """Add TRELLIS's ``aabb`` / ``scale`` / ``offset`` and name each frame's file; return the
    normalization (meshprep coordinates -> render world) the renders used."""
    data = json.loads(path.read_text(encoding="utf-8"))
    normalization = np.asarray(data["normalization"], np.float64)
    data["aabb"] = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
    # the render world is rotation (Y-up -> Z-up) · scale, then + offset (as Blender's
    # normalize_scene applies them)
    data["scale"] = float(np.linalg.norm(normalization[:3, 0]))
    data["offset"] = normalization[:3, 3].tolist()
    for frame in data["frames"]:
        frame["file_path"] = f"{frame['file_path']}.png"
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1)
    return normalization


def assemble_trellis(dataset: str | os.PathLike[str], assets: Iterable[Mapping[str, Any]]
                     ) -> Path:
    """Build (or rebuild) ``dataset/trellis/`` from the published assets (manifest rows).

    Returns
    -------
    Path
        The root to give TRELLIS's datasets (``roots``).
    """
    root = Path(dataset) / TRELLIS_FOLDER
    rows, models = [], set()
    for row in assets:
        if row.get("status") != "ok" or not row.get("path"):
            continue
        source = Path(row["path"]) / TRELLIS_FOLDER
        if not (source / VOXELS).is_file():
            continue
        key = row.get("sha256") or row["asset_id"]
        link_file(source / VOXELS, root / "voxels" / f"{key}.ply")
        for path in sorted((source / RENDERS).iterdir()):
            link_file(path, root / RENDERS / key / path.name)
        cond = (source / COND / "transforms.json").is_file()
        for path in sorted((source / COND).iterdir()) if cond else ():
            link_file(path, root / COND / key / path.name)
        record = {"sha256": key, "aesthetic_score": row.get("list_aesthetic_score"),
                  "rendered": True, "voxelized": True, "num_voxels": row.get("trellis_voxels"),
                  "cond_rendered": cond, "meshprep_id": row["asset_id"]}
        for path in sorted(source.glob("features_*.npz")):
            model = path.stem[len("features_"):]
            models.add(model)
            link_file(path, root / "features" / model / f"{key}.npz")
            record[f"feature_{model}"] = True
        rows.append(record)
    for record in rows:  # every boolean column holds True or False in every row
        for model in models:
            record.setdefault(f"feature_{model}", False)
    write_metadata(root / "metadata.csv", rows)
    return root
