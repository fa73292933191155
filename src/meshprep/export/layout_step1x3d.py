"""``step1x3d``: the sample files stepfun-ai/Step1X-3D's geometry trainers read.

Matched against Step1X-3D's loader,
``stepfun-ai/Step1X-3D:step1x3d_geometry/data/base.py`` (``BaseDataset``, used as is by
``step1x3d_geometry/data/Objaverse.py``), with the released configs
(``configs/train-geometry-autoencoder/michelangelo.yaml``: ``n_samples: 32768``, sampling
``random``, ``scale`` 1.0, ``supervision_type`` left at ``sdf``, ``n_supervision`` 10000; the
diffusion configs set ``with_sharp_data: True``). What the loader does with
``<root_dir>/surfaces/<uid>.npz`` (``uid`` listed in ``<root_dir>/<split>.json``):

* ``surface`` ``(N, 6)`` xyz + normal: draws ``n_samples`` row indices in ``range(N)`` (with
  replacement) or farthest-point samples ``n_samples`` rows;
* ``sharp_surface`` ``(S, 6)`` xyz + normal, read when ``with_sharp_data``: with ``random``
  sampling it is indexed with the *surface's* indices, so it needs ``S >= N``;
* ``volume_rand_points`` ``(V, 4)`` and ``near_surface_points`` ``(M, 4)``, xyz + sdf:
  concatenated (volume first), ``n_supervision`` rows drawn without replacement;
* labels: ``sdf`` as stored (``sdf``), ``clip(sdf, -t, t) / t`` (``tsdf``, t = 0.01), or
  ``sdf < 1e-3 -> 0 else 1`` (``occupancy``): positive inside (the occupancy rule, and the
  surface extractor's ``-grid_logit`` for diso's negative-inside DMC), so we store ``-sdf``;
* ``bounds`` is not read by the loader (the system's own ``bounds: 1.05`` sets the extraction
  box); the data README calls it a float bounding the shape: we store the half side of our
  volume-sampling cube, 1.05.
"""

from __future__ import annotations

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
    plain_id,
    register,
    save_npz,
    write_json_list,
)

LOADER = "stepfun-ai/Step1X-3D:step1x3d_geometry/data/base.py"
#: ``data.n_samples`` of the released configs: surface rows the encoder takes per item
N_SAMPLES = 32768
#: ``n_supervision`` (BaseDataModuleConfig's default, not overridden by the released config)
N_SUPERVISION = 10000
#: the loader's ``occupancy`` threshold: ``sdf < 1e-3`` is outside
OCCUPANCY_THRESHOLD = 1e-3


def _short(what: str, have: int, need: int, key: str) -> NotEnoughSamplesError:
    return NotEnoughSamplesError(
        f"layout 'step1x3d' needs more samples than the store holds ({what}: {have} < {need})"
        f": raise sample.{key} in the run's config and rerun (samples are never padded or "
        "repeated)")


def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``<folder>/{train,val,test}.json``: JSON lists of the items' uids.

    ``BaseDataset.__init__`` reads ``json.load(open(f"{cfg.root_dir}/{split}.json"))`` for the
    splits ``train``, ``val`` and ``test`` (``step1x3d_geometry/data/Objaverse.py``'s
    ``setup``) and opens ``f"{cfg.root_dir}/surfaces/{uid}.npz"`` per entry: the entries are
    paths under ``surfaces/`` without ``.npz`` (the released
    ``data/shape_autoencoder/objaverse/train.json`` lists ``"000-000/<uid>"``); ours are the
    ids, since the files are ``surfaces/<id>.npz``.
    """
    return [write_json_list(Path(folder) / f"{split}.json", ids)
            for split, ids in item_splits(asset_ids).items()]


def make_layout(name: str = "step1x3d", *, n_samples: int = N_SAMPLES,
                n_supervision: int = N_SUPERVISION) -> Layout:
    """The ``step1x3d`` layout for given counts (the registered one uses the released ones).

    Parameters
    ----------
    name : str
        Registry name.
    n_samples : int
        Step1X-3D's ``data.n_samples``: at least this many surface and salient rows are stored
        (its ``fps`` strategy needs them; ``random`` would repeat points).
    n_supervision : int
        Step1X-3D's ``data.n_supervision``: rows drawn without replacement from the volume and
        near rows together.

    Returns
    -------
    Layout
    """

    def write(samples: TrainingSamples, watertight: trimesh.Trimesh | None, folder: Path,
              asset_id: str) -> list[Path]:
        """Write ``<folder>/surfaces/<asset_id>.npz`` in Step1X-3D's keys."""
        uid = plain_id(asset_id)
        check_counts(layout, samples)
        n_surface, n_salient = len(samples.surface_points), len(samples.salient_points)
        if n_salient < n_surface:
            # random sampling indexes sharp_surface with indices drawn in range(len(surface))
            raise _short("salient rows, the loader needs as many as surface rows", n_salient,
                         n_surface, "salient")
        sdf = samples.sdf
        if len(sdf.volume_points) + len(sdf.near_points) < n_supervision:
            raise _short("volume + near rows", len(sdf.volume_points) + len(sdf.near_points),
                         n_supervision, "volume")
        f32 = np.float32
        arrays = {
            "surface": np.hstack([samples.surface_points, samples.surface_normals]).astype(f32),
            "sharp_surface": np.hstack([samples.salient_points,
                                        samples.salient_normals]).astype(f32),
            "volume_rand_points": np.hstack([sdf.volume_points,
                                             -sdf.volume_sdf[:, None]]).astype(f32),
            "near_surface_points": np.hstack([sdf.near_points,
                                              -sdf.near_sdf[:, None]]).astype(f32),
            "bounds": np.float64(VOLUME_BOUND),
        }
        return [save_npz(Path(folder) / "surfaces" / f"{uid}.npz", arrays)]

    def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
        """The arrays as Step1X-3D's loader sees them (before its random draw and flip).

        ``surface``, ``sharp_surface`` ``(n, 6)`` (times ``scale`` 1.0); ``rand_points``
        ``(V + M, 3)`` (volume then near rows, as it concatenates them) with ``sdf`` (its
        default ``sdf`` supervision: positive inside) and ``occupancies`` (its ``occupancy``
        rule); ``bounds``; ``volume_rows``: V, where the near rows start.
        """
        with np.load(Path(folder) / "surfaces" / f"{plain_id(asset_id)}.npz") as data:
            raw = {key: data[key] for key in data.files}
        rows = np.concatenate([raw["volume_rand_points"], raw["near_surface_points"]])
        sdf = rows[:, 3:].flatten().astype(np.float32)
        return {"surface": raw["surface"].astype(np.float32),
                "sharp_surface": raw["sharp_surface"].astype(np.float32),
                "rand_points": rows[:, :3].astype(np.float32), "sdf": sdf,
                "occupancies": np.where(sdf < OCCUPANCY_THRESHOLD, 0, 1).astype(np.float32),
                "bounds": raw["bounds"], "volume_rows": len(raw["volume_rand_points"])}

    layout = Layout(
        name=name, trainer="Step1X-3D (geometry VAE and DiT)", loader=LOADER,
        keys=(Key("surfaces/<id>.npz", "surface", "(N, 6)", "float32",
                  "uniform surface samples, xyz + normal"),
              Key("surfaces/<id>.npz", "sharp_surface", "(S >= N, 6)", "float32",
                  "salient-edge samples, xyz + normal"),
              Key("surfaces/<id>.npz", "volume_rand_points", "(V, 4)", "float32",
                  "uniform in [-1.05, 1.05]^3, xyz + label"),
              Key("surfaces/<id>.npz", "near_surface_points", "(M, 4)", "float32",
                  "near the surface (around uniform, then salient samples), xyz + label"),
              Key("surfaces/<id>.npz", "bounds", "()", "float64",
                  "half side of the volume-sampling cube (1.05); not read by the loader")),
        sign="label = -sdf (positive inside); the loader's occupancy: label >= 1e-3 inside",
        coords="[-1, 1] (as ours; the loader's scale 1.0)",
        needs={"surface": n_samples, "salient": n_samples},
        notes=("no preprocessing is released (only data/shape_autoencoder/README.md, which "
               "states no sign): the sign comes from the loader's occupancy rule and the "
               "surface extractor; sharp_surface holds at least as many rows as surface "
               "because random sampling indexes it with the surface's indices; the loader's "
               "occupancy rule labels inside points closer than 1e-3 to the surface outside "
               "(as it does for the files Step1X-3D trained on)"),
        write=write, read=read, write_lists=write_lists,
        lists="train.json, val.json, test.json (root_dir): JSON lists of the ids (the loader "
              "opens root_dir/surfaces/<id>.npz)",
        volume_inside=lambda got: (got["rand_points"][:got["volume_rows"]],
                                   got["occupancies"][:got["volume_rows"]] == 1),
        inside_margin=OCCUPANCY_THRESHOLD)
    return layout


register(make_layout())
