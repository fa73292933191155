"""The two layouts the sample step already writes, on the registry: ``meshprep`` (the store
itself) and ``hunyuan3d`` (Tencent-Hunyuan/Hunyuan3D-2.1's files)."""

from __future__ import annotations

from pathlib import Path

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
    notes="the DiT loader reads only <id>_surface.npz (and render_cond/000-023.png, which "
          "export does not write); the sdf file follows the released preprocessing; it takes "
          "glob.glob(train_data_list + '/*') as its items (Python's glob skips dot-entries), "
          "so the export folder holds nothing but the item folders (the export's own records "
          "are in .meshprep-export/); its JSON-list branch reads an undefined name "
          "(read_json(data_list_json)), so no list is written",
    write=_write_hunyuan3d, read=_read_hunyuan3d,
    volume_inside=lambda got: (got["vol_points"].astype(np.float32), got["vol_label"] > 0)))
