"""``dora``: the sample files Seed3D/Dora's VAE trainer reads.

Matched against Dora's loader, ``Seed3D/Dora:pytorch_lightning/craftsman/data/objaverse.py``
(``ObjaverseDataset._load_shape`` and ``_load_shape_supervision``), with the released config
``pytorch_lightning/configs/shape-autoencoder/Dora-VAE-train.yaml`` (``supervision_type: tsdf``,
``n_supervision: [21384, 10000, 10000]``) and the counts of the released preprocessing
(``sharp_edge_sampling/sharp_sample.py`` run with ``--point_number 65536``, as its README says).
What the loader does with one ``.npz`` (the path listed in ``<root_dir>/<split>.json``):

* ``fps_coarse_surface`` ``(M, 1, 6)``: it takes ``[:, 0, :]`` (xyz + normal), NaN -> 1;
* ``fps_sharp_surface`` ``(K, 1, 6)``: the same;
* ``sharp_near_surface`` ``(R, 4)``: xyz + sdf, draws ``n_supervision[0]`` rows without
  replacement;
* ``rand_points`` ``(400000 + V, 4)``: xyz + sdf; rows ``[:400000]`` are near-surface points
  (it draws ``n_supervision[1]`` there), rows ``[400000:]`` volume points (``n_supervision[2]``);
  the split at 400000 is hard-coded in the loader;
* labels: ``sdf.clip(-0.015, 0.015) / 0.015`` (``tsdf``), or ``sdf < 0 -> 0 else 1``
  (``occupancy``): positive inside (the preprocessing's pysdf sign), so we store ``-sdf``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

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

LOADER = "Seed3D/Dora:pytorch_lightning/craftsman/data/objaverse.py"
#: farthest-point-sampled surface rows: ``sharp_sample.py --point_number 65536`` keeps 65536 // 2
FPS_COUNT = 32768
#: ``rand_points[:400000]`` are near-surface rows in the loader (two offsets of 200000 samples)
NEAR_ROWS = 400_000
#: ``n_supervision`` of the released config: sharp-near, near, volume rows drawn per item
N_SUPERVISION = (21384, 10000, 10000)
#: the loader's TSDF truncation (``clip(-0.015, 0.015) / 0.015``)
TSDF = 0.015


def _fps_rows(points: np.ndarray, normals: np.ndarray, count: int,
              stored: np.ndarray | None) -> np.ndarray:
    """``count`` farthest-point-sampled rows of xyz + normal, shaped ``(count, 1, 6)``: a
    prefix of the store's FPS order when it holds enough (``sample.fps``), else sampled here."""
    if stored is not None and len(stored) >= count:
        index = stored[:count]
    else:
        from meshprep import farthest_point_sampling

        index = farthest_point_sampling(points, count, seed=0)
    rows = np.hstack([points[index], normals[index]]).astype(np.float32)
    return rows.reshape(count, 1, 6)


def _labelled(points: np.ndarray, sdf: np.ndarray) -> np.ndarray:
    """xyz + Dora's label (``-sdf``: positive inside) as ``(n, 4)`` float32."""
    return np.hstack([points, -sdf[:, None]]).astype(np.float32)


def _short(what: str, have: int, need: int, key: str) -> NotEnoughSamplesError:
    return NotEnoughSamplesError(
        f"layout 'dora' needs more samples than the store holds ({what}: {have} < {need}): "
        f"raise sample.{key} in the run's config and rerun (samples are never padded or "
        "repeated)")


def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``<folder>/{train,val,test}.json``: JSON lists of the items' ``.npz`` paths, absolute.

    ``ObjaverseDataset.__init__`` reads ``json.load(open(f'{root_dir}/{split}.json'))`` for the
    splits ``train``, ``val`` and ``test`` (``ObjaverseDataModule.setup``), and ``_load_shape``
    opens each entry with ``np.load(f'{self.uids[index]}')``: a path relative to the trainer's
    working directory, not to ``root_dir`` (the released ``data/dataset1/train.json`` lists
    ``"../sharp_edge_sampling/sample/000-152/<uid>.npz"``), so ours are absolute.
    """
    root = Path(folder).resolve()
    return [write_json_list(root / f"{split}.json", [str(root / f"{uid}.npz") for uid in ids])
            for split, ids in item_splits(asset_ids).items()]


def make_layout(name: str = "dora", *, fps: int = FPS_COUNT, near_rows: int = NEAR_ROWS,
                n_supervision: tuple[int, int, int] = N_SUPERVISION) -> Layout:
    """The ``dora`` layout for given counts (the registered one uses Dora's released counts).

    Parameters
    ----------
    name : str
        Registry name.
    fps : int
        Rows of ``fps_coarse_surface`` and ``fps_sharp_surface``.
    near_rows : int
        Near-surface rows at the head of ``rand_points``; Dora's loader hard-codes 400000, so
        other values only suit a loader edited to match (or tests).
    n_supervision : (int, int, int)
        Dora's ``data.n_supervision``: rows the loader draws, without replacement, from
        ``sharp_near_surface``, ``rand_points[:near_rows]`` and ``rand_points[near_rows:]``.

    Returns
    -------
    Layout
    """
    n_sharp, n_near, n_volume = n_supervision
    if n_near > near_rows:
        raise ValueError(f"n_supervision[1] = {n_near} > near_rows = {near_rows}: the loader "
                         "draws that many rows from rand_points[:near_rows] without replacement")

    def write(samples: TrainingSamples, watertight: trimesh.Trimesh | None, folder: Path,
              asset_id: str) -> list[Path]:
        """Write ``<folder>/<asset_id>.npz`` in Dora's keys."""
        uid = plain_id(asset_id)
        check_counts(layout, samples)
        sdf = samples.sdf
        # near rows by origin: the loader draws its three groups from three row ranges
        near_points, near_sdf, sharp_points, sharp_sdf = near_rows_by_origin(samples, near_rows)
        if len(near_points) < near_rows:
            raise _short("near rows around uniform surface samples", len(near_points),
                         near_rows, "near")
        if len(sharp_points) < n_sharp:
            raise _short("near rows around salient samples", len(sharp_points), n_sharp, "near")
        if sdf.truncation is not None and sdf.truncation < TSDF:
            raise ValueError(f"the store's distances are truncated at {sdf.truncation} < "
                             f"{TSDF}, Dora's TSDF band: resample without truncation")
        arrays = {
            "fps_coarse_surface": _fps_rows(samples.surface_points, samples.surface_normals,
                                            fps, samples.surface_fps),
            "fps_sharp_surface": _fps_rows(samples.salient_points, samples.salient_normals, fps,
                                           samples.salient_fps),
            "sharp_near_surface": _labelled(sharp_points, sharp_sdf),
            # surface-near rows are in random order: the first near_rows are a uniform subset
            "rand_points": np.concatenate([
                _labelled(near_points[:near_rows], near_sdf[:near_rows]),
                _labelled(sdf.volume_points, sdf.volume_sdf)]),
        }
        return [save_npz(Path(folder) / f"{uid}.npz", arrays)]

    def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
        """The arrays as Dora's loader sees them (before its random draw and augmentation).

        ``coarse_surface``/``sharp_surface`` ``(n, 6)``; ``sharp_near_points``/``_sdf``,
        ``near_points``/``_sdf`` (``rand_points[:near_rows]``) and ``volume_points``/``_sdf``
        (``rand_points[near_rows:]``), the labels as its ``tsdf`` supervision makes them
        (in [-1, 1], positive inside) and ``*_occupancy`` as its ``occupancy`` one does.
        """
        with np.load(Path(folder) / f"{plain_id(asset_id)}.npz") as data:
            raw = {key: data[key] for key in data.files}
        out: dict[str, np.ndarray] = {}
        for key, name in (("fps_coarse_surface", "coarse_surface"),
                          ("fps_sharp_surface", "sharp_surface")):
            rows = raw[key][:, 0, :]
            out[name] = np.where(np.isnan(rows), 1, rows).astype(np.float32)
        rand = raw["rand_points"]
        groups = {"sharp_near": raw["sharp_near_surface"], "near": rand[:near_rows],
                  "volume": rand[near_rows:]}
        for name, rows in groups.items():
            sdf = np.where(np.isnan(rows[:, 3]), 0, rows[:, 3]).astype(np.float32)
            out[f"{name}_points"] = rows[:, :3].astype(np.float32)
            out[f"{name}_sdf"] = sdf.clip(-TSDF, TSDF) / TSDF
            out[f"{name}_occupancy"] = np.where(sdf < 0, 0, 1).astype(np.float32)
        return out

    layout = Layout(
        name=name, trainer="Dora (Seed3D, VAE)", loader=LOADER,
        keys=(Key("<id>.npz", "fps_coarse_surface", f"({fps}, 1, 6)", "float32",
                  "farthest-point-sampled uniform surface samples, xyz + normal"),
              Key("<id>.npz", "fps_sharp_surface", f"({fps}, 1, 6)", "float32",
                  "farthest-point-sampled salient-edge samples, xyz + normal"),
              Key("<id>.npz", "sharp_near_surface", "(R, 4)", "float32",
                  "near the salient samples, xyz + label"),
              Key("<id>.npz", "rand_points", f"({near_rows} + V, 4)", "float32",
                  f"xyz + label: {near_rows} near-surface rows (around uniform samples), "
                  "then the V volume rows")),
        sign="label = -sdf (positive inside); the loader trains on "
             f"clip(label, -{TSDF}, {TSDF}) / {TSDF}",
        coords="[-1, 1] (as ours; volume rows in [-1.05, 1.05]^3, as Dora's)",
        # near rows: near_rows around uniform samples, which the sample step's default
        # salient share (sdf.py's salient_fraction 1/3) leaves from 1.5 * near_rows
        needs={"surface": fps, "salient": fps, "volume": n_volume,
               "near": max(near_rows + n_sharp, near_rows_for(near_rows, n_sharp))},
        notes=(f"rand_points' split at {near_rows} rows is hard-coded in the loader: exactly "
               f"that many near rows are written (the first of ours, a uniform subset) and "
               f"the export fails if fewer are stored (near rows around uniform samples: "
               f"raise sample.near; with the default one third around salient samples, "
               f"sample.near >= {int(np.ceil(near_rows * 1.5))}); an asset without salient "
               f"edges (which Dora's preprocessing skips) gets the near rows after those "
               f"{near_rows} as sharp_near_surface, as its salient samples are uniform ones "
               f"(then sample.near >= {near_rows + n_sharp}); labels are stored raw "
               f"(untruncated) as the preprocessing writes them, the loader clips them "
               f"to the {TSDF} TSDF band; our near offsets (sigma 0.005/0.05 around uniform "
               f"samples, 0.001-0.06 around salient ones) are wider than the preprocessing's "
               f"(0.001/0.005 and 0.001-0.01): same format, more rows with saturated labels"),
        write=write, read=read, fps=fps, write_lists=write_lists,
        lists="train.json, val.json, test.json (root_dir): JSON lists of the items' absolute "
              ".npz paths (the loader opens each entry as a path)",
        volume_inside=lambda got: (got["volume_points"], got["volume_occupancy"] == 1))
    return layout


register(make_layout())
