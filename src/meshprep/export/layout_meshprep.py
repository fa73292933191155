"""The two layouts the sample step already writes, on the registry: ``meshprep`` (the store
itself) and ``hunyuan3d`` (Tencent-Hunyuan/Hunyuan3D-2.1's files).

Hunyuan3D-2.1's shape DiT (``hy3dshape/hy3dshape/data/dit_asl.py``, ``decode``) reads, per item
folder, ``geo_data/<uid>_surface.npz`` and ``render_cond/000.png`` … ``023.png`` (24 names, one
drawn per sample; ``cv2.IMREAD_UNCHANGED``, asserted 4 channels, composited over white, cropped
to the alpha > 0.3 box, padded 1.15×); ``render_cond/transforms.json`` is written but not read.
The condition views are those of ``hy3dshape/tools/render/render.py --geo_mode --resolution 512``
(``hy3dshape/tools/pipeline.sh``): ``trellis_cond_camera_sequence(24)`` (TRELLIS.2's condition
cameras: meshprep's ``cond:24``), 512², RGBA over a transparent film, TRELLIS's
``init_lighting`` (its extra bottom area light faces away from the object), no view transform
set, so Blender 4's default AgX, the textured asset (``override_material`` is commented out);
``transforms.json`` with ``aabb``, ``scale``, ``offset`` and per frame ``file_path``,
``camera_angle_x``, ``proj_type`` (0), ``azimuth``, ``elevation``, ``cam_dis``,
``transform_matrix``. The textured source is only in the run: its ``render`` step renders them
into the asset's store folder (``hunyuan3d/render_cond/``, :func:`write_hunyuan3d_cond`) when
``[write] layouts`` names ``hunyuan3d``, and the export links them into each item.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from meshprep.sample.layouts import read_hunyuan3d, read_meshprep, write_hunyuan3d, write_meshprep

from .layouts import Key, Layout, plain_id, register


def _write_meshprep(samples, watertight, folder: Path, asset_id: str) -> list[Path]:
    from meshprep.io import write_mesh

    out = Path(folder) / plain_id(asset_id)
    paths = list(write_meshprep(samples, out))
    if watertight is not None:
        paths.append(write_mesh(watertight, out / "watertight.ply"))
    return paths


def _read_meshprep(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
    s = read_meshprep(Path(folder) / asset_id)
    return {"surface_points": s.surface_points, "surface_normals": s.surface_normals,
            "salient_points": s.salient_points, "salient_normals": s.salient_normals,
            "volume_points": s.sdf.volume_points, "volume_sdf": s.sdf.volume_sdf,
            "near_points": s.sdf.near_points, "near_sdf": s.sdf.near_sdf}


def _write_hunyuan3d(samples, watertight, folder: Path, asset_id: str) -> list[Path]:
    # dit_asl.py's decode(): item = <root>/<uid>, files <item>/geo_data/<uid>_surface.npz; the
    # _sdf.npz is written too (the released watertight_and_sample.py writes it), the
    # _watertight.obj not (the loader's line reading it is commented out; text OBJ export is
    # what made this layout slow)
    uid = plain_id(asset_id)
    return list(write_hunyuan3d(samples, None, Path(folder) / uid / "geo_data", uid))


def _read_hunyuan3d(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
    return read_hunyuan3d(Path(folder) / asset_id / "geo_data", asset_id)


#: the asset's store subfolder of the run's Hunyuan3D-2.1 renders, and the item's folder of them
HUNYUAN3D_FOLDER = "hunyuan3d"
RENDER_COND = "render_cond"
#: dit_asl.py opens render_cond/000.png … 023.png; pipeline.sh renders at 512²
COND_VIEWS, COND_SIZE = 24, 512


def write_hunyuan3d_cond(folder: str | os.PathLike[str], mesh: Any, *, appearance: Any = None,
                         seed: int = 0, size: int = COND_SIZE) -> dict[str, Any]:
    """Render the 24 condition views of Hunyuan3D-2.1's DiT into ``folder/hunyuan3d/render_cond``.

    Parameters
    ----------
    folder : path-like
        The asset's (staging) folder.
    mesh : trimesh.Trimesh
        The asset in meshprep's coordinates (Y-up).
    appearance : meshprep.io.appearance.Appearance, optional
        Its materials (PBR shading of the colour pass).
    seed : int
        Seed of the ``cond:24`` cameras (drawn per asset, as render.py draws them per call).
    size : int
        Image side (render.py: 512).

    Returns
    -------
    dict
        ``hunyuan3d_cond_seconds``.
    """
    from meshprep.render import render_views

    from .trellis import _finish_transforms

    out = Path(folder) / HUNYUAN3D_FOLDER / RENDER_COND
    result = render_views(mesh, out, f"cond:{COND_VIEWS}", size=size, passes=("color",),
                          seed=seed, appearance=appearance, lighting="trellis",
                          view_transform="agx")
    _finish_transforms(out / "transforms.json")  # aabb, scale, offset, "NNN.png"
    _add_view_angles(out / "transforms.json")
    return {"hunyuan3d_cond_seconds": result.seconds}


def _add_view_angles(path: Path) -> None:
    """render.py's per-frame ``proj_type`` (0: perspective), ``azimuth`` / ``elevation`` (its
    ``hangle`` / ``vangle``: the camera at ``cam_dis · (cos e cos a, cos e sin a, sin e)``) and
    ``cam_dis``, from each frame's camera position (azimuth wrapped to [0, 2π))."""
    from meshprep.io import atomic_write

    data = json.loads(path.read_text(encoding="utf-8"))
    for frame in data["frames"]:
        x, y, z = np.asarray(frame["transform_matrix"], np.float64)[:3, 3]
        distance = float(np.sqrt(x * x + y * y + z * z))
        frame.update(proj_type=0, azimuth=float(np.arctan2(y, x) % (2 * np.pi)),
                     elevation=float(np.arcsin(np.clip(z / distance, -1, 1))),
                     cam_dis=distance)
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1)


def _link_hunyuan3d_cond(store: Path, folder: Path, asset_id: str) -> list[Path]:
    """The run's renders of the asset linked into its item's ``render_cond/`` (none when the
    run did not render them: the item then has its samples only, which dit_asl.py skips)."""
    from ._root import link_file

    source = Path(store) / HUNYUAN3D_FOLDER / RENDER_COND
    if not (source / "transforms.json").is_file():
        return []
    target = Path(folder) / plain_id(asset_id) / RENDER_COND
    paths = []
    for path in sorted(source.iterdir()):
        link_file(path, target / path.name)
        paths.append(target / path.name)
    return paths


register(Layout(
    name="meshprep", trainer="meshprep (the canonical store)", loader="this repository",
    keys=(Key("<id>/surface.npz", "surface_points, surface_normals", "(N, 3)", "float32",
              "uniform surface samples of the watertight mesh"),
          Key("<id>/surface.npz", "salient_points, salient_normals", "(S, 3)", "float32",
              "salient-edge samples"),
          Key("<id>/sdf.npz", "volume_points, volume_sdf", "(V, 3), (V,)", "float32",
              "uniform in [-1.05, 1.05]^3"),
          Key("<id>/sdf.npz", "near_points, near_sdf", "(M, 3), (M,)", "float32",
              "near the surface; the last near_salient_count rows near salient samples")),
    sign="sdf, negative inside", coords="[-1, 1] (the canonical cube)",
    write=_write_meshprep, read=_read_meshprep, uses_watertight=True,
    volume_inside=lambda got: (got["volume_points"], got["volume_sdf"] < 0)))

register(Layout(
    name="hunyuan3d", trainer="Hunyuan3D-2.1 (DiT data loader)",
    loader="Tencent-Hunyuan/Hunyuan3D-2.1:hy3dshape/hy3dshape/data/dit_asl.py",
    keys=(Key("<id>/geo_data/<id>_surface.npz", "random_surface", "(N, 6)", "float16",
              "xyz + normal"),
          Key("<id>/geo_data/<id>_surface.npz", "sharp_surface", "(S, 6)", "float16",
              "salient xyz + normal"),
          Key("<id>/geo_data/<id>_sdf.npz", "vol_points, vol_label", "(V, 3), (V,)", "float16",
              "volume"),
          Key("<id>/geo_data/<id>_sdf.npz", "random_near_points, random_near_label",
              "(M, 3), (M,)", "float16", "near the uniform surface samples"),
          Key("<id>/geo_data/<id>_sdf.npz", "sharp_near_points, sharp_near_label",
              "(K, 3), (K,)", "float16", "near the salient samples")),
    sign="label = -sdf (positive inside)", coords="[-1, 1] (as ours)",
    notes="the DiT loader reads <id>_surface.npz and render_cond/000-023.png (RGBA, 512², "
          "cond:24 cameras, rendered by the run's render step when [write] layouts names "
          "hunyuan3d, linked from the store; an item without them is skipped by the loader); "
          "the sdf file follows the released preprocessing; it takes "
          "glob.glob(train_data_list + '/*') as its items (Python's glob skips dot-entries), "
          "so the export folder holds nothing but the item folders (the export's own records "
          "are in .meshprep-export/); its JSON-list branch reads an undefined name "
          "(read_json(data_list_json)), so no list is written",
    write=_write_hunyuan3d, read=_read_hunyuan3d, store_files=_link_hunyuan3d_cond,
    volume_inside=lambda got: (got["vol_points"].astype(np.float32), got["vol_label"] > 0)))
