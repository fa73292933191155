"""``ultrashape``: the sample files PKU-YuanGroup/UltraShape-1.0's VAE (and DiT) trainer reads.

Matched against UltraShape's loader, ``PKU-YuanGroup/UltraShape-1.0:ultrashape/data/
objaverse_vae.py`` (``ObjaverseDataset._load_shape``; ``objaverse_dit.py`` reads the surface
part of the same file the same way), with the released config ``configs/train_vae_refine.yaml``
(``pc_size: 163840``, ``pc_sharpedge_size: 0``, ``sharpedge_label: true``, ``return_normal:
true``, ``sup_near_uni_size`` / ``sup_near_sharp_size`` / ``sup_space_size: 100000``,
``tsdf_threshold: 0.01``). What the loader does with ``<sample_pcd_dir>/<uid>.npz`` (uids from
``<training_data_list>/train.json``):

* coordinates in [0, 1]: ``uniform_near_points``, ``curvature_near_points``, ``space_points``
  and ``clean_surface_points`` come back as ``(p - 0.5) * 2`` and the signed distances
  ``uniform_near_sdf``, ``curvature_near_sdf``, ``space_sdf`` as ``sdf * 2``; so we store
  ``ours / 2 + 0.5`` and ``sdf / 2``, and the loader gets ours back;
* it draws ``sup_*_size`` rows of each group without replacement, turns NaN into 1 and clips:
  ``clip(sdf, -t, t) / t`` with ``t = tsdf_threshold``; the sign is passed through: it is that
  of the released preprocessing (``scripts/sampling.py``: cubvh's ``signed_distance`` in
  ``'watertight'`` mode: negative inside — ashawkey/cubvh ``src/bvh.cu``
  ``signed_distance_watertight`` signs the distance with ``normal · (p − closest)``);
* ``clean_surface_points`` / ``clean_surface_normals`` must hold exactly 600000 rows (asserted):
  the first 300000 uniform, the last 300000 "sharp" (curvature) samples; it draws
  ``pc_size // 2`` of each half, normalizes the normals and appends a sharp-edge label (0, 1).

``center`` and ``scale`` (written by the preprocessing, not read by the loader) are 0 and 2:
the preprocessing's ``(v - center) / scale + 0.5`` of our canonical coordinates.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import trimesh

from meshprep.sample.sdf import VOLUME_BOUND
from meshprep.sample.step import TrainingSamples

from .layouts import (
    Key,
    Layout,
    NotEnoughSamplesError,
    check_counts,
    item_splits,
    near_rows_by_origin,
    near_rows_for,
    plain_id,
    register,
    save_npz,
    write_json_list,
)

LOADER = "PKU-YuanGroup/UltraShape-1.0:ultrashape/data/objaverse_vae.py"
#: rows of each half of ``clean_surface_*``: the loader asserts 600000 and splits at 300000
HALF = 300_000
#: ``sup_near_uni_size``, ``sup_near_sharp_size``, ``sup_space_size`` of train_vae_refine.yaml
SUP_SIZES = (100_000, 100_000, 100_000)
#: ``tsdf_threshold`` of train_vae_refine.yaml (in the loader's [-1, 1] units)
TSDF = 0.01


def _short(name: str, what: str, have: int, need: int, key: str) -> NotEnoughSamplesError:
    return NotEnoughSamplesError(
        f"layout {name!r} needs more samples than the store holds ({what}: {have} < {need}): "
        f"raise sample.{key} in the run's config and rerun (samples are never padded or "
        "repeated)")


def to_unit(points: np.ndarray) -> np.ndarray:
    """Our [-1, 1] coordinates as UltraShape's [0, 1] ones (float32): ``p / 2 + 0.5``."""
    return (np.asarray(points, np.float32) * np.float32(0.5) + np.float32(0.5)).astype(np.float32)


def volume_rows_for(inside_unit_cube: int) -> int:
    """The ``sample.volume`` whose rows (uniform in ``[-VOLUME_BOUND, VOLUME_BOUND]^3``) hold at
    least ``inside_unit_cube`` rows inside ``[-1, 1]^3`` all but never: the expected share
    ``VOLUME_BOUND^-3`` with a 1 % margin (over 10 binomial sigma at UltraShape's 100,000)."""
    return int(math.ceil(inside_unit_cube * VOLUME_BOUND ** 3 * 1.01))


def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``<folder>/{train,val}.json``: JSON lists of the ids.

    ``ObjaverseDataModule`` passes ``f'{training_data_list}/train.json'`` and ``.../val.json``
    as ``data_json``; ``ObjaverseDataset`` reads ``json.load(open(data_json))`` and opens
    ``f'{sample_root}/{uid}.npz'`` per entry: set both ``training_data_list`` and
    ``sample_pcd_dir`` to the export folder.
    """
    return [write_json_list(Path(folder) / f"{split}.json", ids)
            for split, ids in item_splits(asset_ids, ("train", "val")).items()]


def make_layout(name: str = "ultrashape", *, half: int = HALF,
                sup_sizes: tuple[int, int, int] = SUP_SIZES, tsdf: float = TSDF,
                sharpedge_label: bool = True, return_normal: bool = True) -> Layout:
    """The ``ultrashape`` layout for given counts (the registered one uses the released ones).

    Parameters
    ----------
    name : str
        Registry name.
    half : int
        Rows of each half of ``clean_surface_*``; the loader hard-codes 300000, so other values
        only suit a loader edited to match (or tests).
    sup_sizes : (int, int, int)
        Rows the loader draws without replacement from the uniform-near, curvature-near and
        space groups.
    tsdf : float
        The loader's ``tsdf_threshold`` (the reader applies its clip).
    sharpedge_label, return_normal : bool
        The loader's flags: what its ``surface`` rows hold besides xyz (the reader's view).

    Returns
    -------
    Layout
    """
    n_uniform, n_sharp, n_space = sup_sizes

    def write(samples: TrainingSamples, watertight: trimesh.Trimesh | None, folder: Path,
              asset_id: str) -> list[Path]:
        """Write ``<folder>/<asset_id>.npz`` in UltraShape's [0, 1] coordinates."""
        uid = plain_id(asset_id)
        check_counts(layout, samples)
        sdf = samples.sdf
        uniform_p, uniform_s, sharp_p, sharp_s = near_rows_by_origin(samples, n_uniform)
        if len(uniform_p) < n_uniform:
            raise _short(name, "near rows around uniform surface samples", len(uniform_p),
                         n_uniform, "near")
        if len(sharp_p) < n_sharp:
            raise _short(name, "near rows around salient samples", len(sharp_p), n_sharp,
                         "near")
        # space_points are torch.rand in [0, 1]^3 (ours [-1, 1]^3): rows beyond it are dropped
        box = np.all(np.abs(sdf.volume_points) <= 1.0, axis=1)
        if int(box.sum()) < n_space:
            raise _short(name, "volume rows inside [-1, 1]^3", int(box.sum()), n_space, "volume")
        # store rows are in random order, so these prefixes are uniform subsets
        points = np.concatenate([samples.surface_points[:half], samples.salient_points[:half]])
        normals = np.concatenate([samples.surface_normals[:half],
                                  samples.salient_normals[:half]])
        half_sdf = np.float32(0.5)
        path = save_npz(Path(folder) / f"{uid}.npz", {
            "space_points": to_unit(sdf.volume_points[box]),
            "space_sdf": np.asarray(sdf.volume_sdf[box], np.float32) * half_sdf,
            "clean_surface_points": to_unit(points),
            "clean_surface_normals": np.asarray(normals, np.float32),
            "uniform_near_points": to_unit(uniform_p),
            "curvature_near_points": to_unit(sharp_p),
            "uniform_near_sdf": np.asarray(uniform_s, np.float32) * half_sdf,
            "curvature_near_sdf": np.asarray(sharp_s, np.float32) * half_sdf,
            "center": np.zeros(3, np.float32), "scale": np.array(2.0, np.float32)})
        return [path]

    def clip(values: np.ndarray) -> np.ndarray:
        values = np.nan_to_num(values, nan=1.0, posinf=1.0, neginf=-1.0)
        return values.reshape(-1).astype(np.float32).clip(-tsdf, tsdf) / np.float32(tsdf)

    def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
        """The arrays as ``ObjaverseDataset._load_shape`` sees them, before its random draws.

        ``sup_near_uniform``, ``sup_near_sharp``, ``sup_space`` ``(n, 4)``: xyz in [-1, 1] and
        the clipped TSDF in [-1, 1], negative inside; ``surface`` ``(2 * half, 3 + 3 + 1)``:
        xyz, unit normal (``return_normal``) and the sharp-edge label (``sharpedge_label``), the
        uniform half first; all float32.
        """
        with np.load(Path(folder) / f"{plain_id(asset_id)}.npz") as data:
            arrays = {key: np.asarray(data[key]) for key in data.files}
        out = {}
        for group, key in (("near_uniform", "uniform_near"), ("near_sharp", "curvature_near"),
                           ("space", "space")):
            points = (arrays[f"{key}_points"] - 0.5) * 2
            values = clip(arrays[f"{key}_sdf"] * 2)
            out[f"sup_{group}"] = np.concatenate([points, values[:, None]], axis=1).astype(
                np.float32)
        surface = ((arrays["clean_surface_points"] - 0.5) * 2).astype(np.float32)
        normals = arrays["clean_surface_normals"].astype(np.float32)
        if len(surface) != 2 * half:
            raise ValueError(f"clean_surface_points has {len(surface)} rows, the loader asserts "
                             f"{2 * half}")
        columns = [surface]
        if return_normal:
            norm = np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
            columns.append(normals / norm)
        if sharpedge_label:
            columns.append(np.repeat(np.array([[0.0], [1.0]], np.float32), half, axis=0))
        out["surface"] = np.concatenate(columns, axis=1).astype(np.float32)
        return out

    file = "<id>.npz"
    layout = Layout(
        name=name, trainer="UltraShape 1.0 (refine VAE; the DiT reads the surface)",
        loader=LOADER,
        keys=(Key(file, "clean_surface_points", f"({2 * half}, 3)", "float32",
                  f"{half} uniform then {half} salient surface samples, in [0, 1]"),
              Key(file, "clean_surface_normals", f"({2 * half}, 3)", "float32", "unit normals"),
              Key(file, "uniform_near_points, uniform_near_sdf", "(M, 3), (M,)", "float32",
                  "near the uniform surface samples; sdf / 2"),
              Key(file, "curvature_near_points, curvature_near_sdf", "(K, 3), (K,)", "float32",
                  "near the salient samples; sdf / 2"),
              Key(file, "space_points, space_sdf", "(V, 3), (V,)", "float32",
                  "our volume rows inside [-1, 1]^3; sdf / 2"),
              Key(file, "center, scale", "(3,), ()", "float32",
                  "0 and 2 (preprocessing's keys; not read by the loader)")),
        sign=f"sdf, negative inside (the loader clips sdf * 2 to +-{tsdf} and divides)",
        coords="[0, 1]: ours / 2 + 0.5 (sdf / 2); the loader's (p - 0.5) * 2 gives ours back",
        needs={"surface": half, "salient": half, "volume": volume_rows_for(n_space),
               "near": near_rows_for(n_uniform, n_sharp)},
        notes=("the sign is the released preprocessing's (scripts/sampling.py, cubvh "
               "signed_distance: negative inside, its src/bvh.cu signs with "
               "normal . (p - closest)), "
               "which the loader passes through; the DMC extractor it inherits from "
               "Hunyuan3D-2.1 negates the logits (Hunyuan's positive-inside labels), which "
               "disagrees: the loader and preprocessing are followed; volume rows outside "
               "[-1, 1]^3 are dropped (its space points are uniform in [0, 1]^3)"),
        write=write, read=read, write_lists=write_lists,
        lists="train.json, val.json (training_data_list): JSON lists of the ids (the loader "
              "opens sample_pcd_dir/<id>.npz)",
        volume_inside=lambda got: (got["sup_space"][:, :3], got["sup_space"][:, 3] < 0))
    return layout


register(make_layout())
