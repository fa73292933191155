"""``vecset`` and ``vecsetx``: the sample files of 1zb/3DShape2VecSet and 1zb/VecSetX.

``vecset`` is matched against 3DShape2VecSet's loader, ``1zb/3DShape2VecSet:util/shapenet.py``
(``ShapeNet.__getitem__``), with the counts of ``util/datasets.py``
(``build_shape_surface_occupancy_dataset``: ``num_samples=1024``) and ``main_ae.py``
(``--point_cloud_size`` 2048). What the loader opens for one model ``<m>`` of category ``<c>``:

* ``<root>/ShapeNetV2_point/<c>/<m>.npz``: ``vol_points``, ``vol_label``, ``near_points``,
  ``near_label``; it draws ``num_samples`` rows of each without replacement, casts the labels
  with ``.float()`` (the points not), and trains ``BCEWithLogitsLoss`` on them: occupancy,
  1 inside (``engine_ae.py`` scores ``logits >= 0`` against it);
* ``<root>/ShapeNetV2_point/<c>/<m>.npy``: a scalar ``scale`` (``np.load(f).item()``);
* ``<root>/ShapeNetV2_watertight/<c>/4_pointcloud/<m>.npz``: ``points``, cast to float32 and
  multiplied by ``scale``; it draws ``pc_size`` rows without replacement;
* ``<root>/ShapeNetV2_point/<c>/<split>.lst``: the model names, one a line (a dataset-wide list
  that a per-asset export does not write); only folders whose name starts with ``0`` are
  categories, and ``category_ids[<c>]`` must be one of its 55 ShapeNet synsets.

Coordinates are [-1, 1] as ours (``eval.py`` decodes on ``linspace(-1, 1)``; the training
transform ``AxisScaling`` rescales the surface to ``max |x| = 0.999999`` and the points with it),
so ``scale`` is 1.

``vecsetx`` is matched against VecSetX's loader, ``1zb/VecSetX:vecset/utils/objaverse.py``
(``Objaverse.__getitem__``), with ``vecset/main_ae.py`` (``sdf_size=1024``,
``--point_cloud_size`` 8192). One ``<dataset_folder>/<row[0]>/<row[1]>.npz`` per row of
``utils/objaverse_<split>.csv``, keys ``vol_points``, ``vol_sdf``, ``near_points``, ``near_sdf``,
``surface_points``: it draws ``sdf_size // 2`` volume rows with ``vol_sdf < 0`` ("positive"),
``sdf_size // 2`` with ``vol_sdf >= 0`` and ``sdf_size`` near rows, all without replacement;
its occupancy mode is ``sdf < 0``: signed distances negative inside, as ours. It rotates, flips
and permutes the axes itself and normalizes nothing: coordinates as ours.
"""

from __future__ import annotations

from collections.abc import Callable
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
    near_rows_for,
    plain_id,
    register,
    save_npz,
    write_text,
)

LOADER_VECSET = "1zb/3DShape2VecSet:util/shapenet.py"
LOADER_VECSETX = "1zb/VecSetX:vecset/utils/objaverse.py"
#: ``util/datasets.py``: ``ShapeNet(..., num_samples=1024)``, drawn from vol_* and near_* each
NUM_SAMPLES = 1024
#: ``main_ae.py``: ``--point_cloud_size`` default, the surface rows drawn per item
PC_SIZE = 2048
#: the first of ``util/shapenet.py``'s ``category_ids`` (the loader looks the folder up there)
CATEGORY = "02691156"
#: VecSetX ``main_ae.py``: ``Objaverse(..., sdf_size=1024)``
SDF_SIZE = 1024
#: VecSetX ``main_ae.py``: ``--point_cloud_size`` default (the README's example uses it too)
SURFACE_SIZE = 8192


def _short(name: str, what: str, have: int, need: int, key: str) -> NotEnoughSamplesError:
    return NotEnoughSamplesError(
        f"layout {name!r} needs more samples than the store holds ({what}: {have} < {need}): "
        f"raise sample.{key} in the run's config and rerun (samples are never padded or "
        "repeated)")


def _uniform_near(samples: TrainingSamples, name: str, need: int) -> tuple[np.ndarray, np.ndarray]:
    """The near rows around uniform surface samples (float32), at least ``need`` of them."""
    sdf = samples.sdf
    points, values = sdf.surface_near_points, sdf.surface_near_sdf
    if len(points) < need:
        raise _short(name, "near rows around uniform surface samples", len(points), need, "near")
    return np.asarray(points, np.float32), np.asarray(values, np.float32)


def _f32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def write_vecset_lists(category: str) -> Callable[[Path, list[str]], list[Path]]:
    """The list writer of a ``vecset`` layout for one category folder."""

    def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
        """``ShapeNetV2_point/<c>/{train,val,test}.lst``: one id a line, no trailing newline.

        ``ShapeNet.__init__`` reads ``os.path.join(subpath, split + '.lst')`` and keeps
        ``f.read().split('\\n')`` as model names (``util/datasets.py`` builds ``train``, ``val``
        and other splits): a trailing newline would add an empty name, a file that is not there.
        """
        points = Path(folder) / "ShapeNetV2_point" / category
        return [write_text(points / f"{split}.lst", "\n".join(ids))
                for split, ids in item_splits(asset_ids).items()]

    return write_lists


def write_vecsetx_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``utils/objaverse_{train,val}.csv``: rows ``<folder, absolute>,<id>,<id>``.

    ``Objaverse.__init__`` opens ``utils/objaverse_{split}.csv`` relative to its working
    directory (``vecset/``; ``main_ae.py`` builds ``train`` and ``val``) and opens
    ``os.path.join(dataset_folder, row[0], row[1] + '.npz')`` per row; ``row[2]`` comes back as
    the item's label and is not used in training (``engines/engine_ae.py``). An absolute
    ``row[0]`` makes ``os.path.join`` drop the hard-coded ``dataset_folder``, so the rows find
    our files wherever VecSetX runs; copy the files into ``vecset/utils/``.
    """
    import csv
    import io

    root = str(Path(folder).resolve())
    paths = []
    for split, ids in item_splits(asset_ids, ("train", "val")).items():
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([root, uid, uid] for uid in ids)
        paths.append(write_text(Path(folder) / "utils" / f"objaverse_{split}.csv",
                                text.getvalue()))
    return paths


def make_vecset_layout(name: str = "vecset", *, category: str = CATEGORY,
                       num_samples: int = NUM_SAMPLES, pc_size: int = PC_SIZE) -> Layout:
    """The ``vecset`` (3DShape2VecSet) layout for a category folder and the loader's counts.

    Parameters
    ----------
    name : str
        Registry name.
    category : str
        The category folder every asset goes in: one of the loader's ``category_ids`` (ShapeNet
        synsets; the autoencoder ignores the class, the class-conditional model does not).
    num_samples : int
        Rows the loader draws, without replacement, from ``vol_*`` and from ``near_*``.
    pc_size : int
        Surface rows it draws without replacement (``--point_cloud_size``).

    Returns
    -------
    Layout
    """
    if not category.startswith("0") or Path(category).name != category:
        raise ValueError(f"category must be a folder name starting with '0', got {category!r}")

    def paths(folder: Path, uid: str) -> tuple[Path, Path, Path]:
        points = Path(folder) / "ShapeNetV2_point" / category
        cloud = Path(folder) / "ShapeNetV2_watertight" / category / "4_pointcloud"
        return points / f"{uid}.npz", points / f"{uid}.npy", cloud / f"{uid}.npz"

    def write(samples: TrainingSamples, watertight: trimesh.Trimesh | None, folder: Path,
              asset_id: str) -> list[Path]:
        """Write the point file, its scale and the surface point cloud of one asset."""
        from meshprep.io import atomic_write

        uid = plain_id(asset_id)
        check_counts(layout, samples)
        near_points, near_sdf = _uniform_near(samples, name, num_samples)
        sdf = samples.sdf
        point_path, scale_path, cloud_path = paths(folder, uid)
        # occupancy, 1 inside (sdf < 0); the loader casts the labels with .float()
        save_npz(point_path, {"vol_points": _f32(sdf.volume_points),
                              "vol_label": (np.asarray(sdf.volume_sdf) < 0).astype(np.uint8),
                              "near_points": near_points,
                              "near_label": (near_sdf < 0).astype(np.uint8)})
        # the loader multiplies the point cloud by this scale: ours is already in place
        with atomic_write(scale_path) as tmp, open(tmp, "wb") as stream:
            np.save(stream, np.array(1.0, dtype=np.float32))
        save_npz(cloud_path, {"points": _f32(samples.surface_points)})
        return [point_path, scale_path, cloud_path]

    def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
        """The arrays as ``ShapeNet.__getitem__`` sees them, before its random draws.

        ``vol_points``, ``near_points`` as stored; ``vol_label``, ``near_label`` float32 0/1
        (its ``.float()``); ``surface``: ``points`` as float32 times the ``.npy`` scale.
        """
        point_path, scale_path, cloud_path = paths(folder, plain_id(asset_id))
        with np.load(point_path) as data:
            out = {"vol_points": data["vol_points"],
                   "vol_label": data["vol_label"].astype(np.float32),
                   "near_points": data["near_points"],
                   "near_label": data["near_label"].astype(np.float32)}
        with open(scale_path, "rb") as stream:
            scale = np.load(stream).item()
        with np.load(cloud_path) as data:
            out["surface"] = data["points"].astype(np.float32) * np.float32(scale)
        return out

    point_file = f"ShapeNetV2_point/{category}/<id>.npz"
    layout = Layout(
        name=name, trainer="3DShape2VecSet (autoencoder, ShapeNet loader)", loader=LOADER_VECSET,
        keys=(Key(point_file, "vol_points", "(V, 3)", "float32", "uniform in [-1.05, 1.05]^3"),
              Key(point_file, "vol_label", "(V,)", "uint8", "occupancy, 1 inside"),
              Key(point_file, "near_points", "(M, 3)", "float32",
                  "near the uniform surface samples"),
              Key(point_file, "near_label", "(M,)", "uint8", "occupancy, 1 inside"),
              Key(f"ShapeNetV2_point/{category}/<id>.npy", "(np.save of a scalar)", "()",
                  "float32", "scale the loader multiplies the point cloud by: 1"),
              Key(f"ShapeNetV2_watertight/{category}/4_pointcloud/<id>.npz", "points", "(N, 3)",
                  "float32", "uniform surface samples")),
        sign="occupancy: 1 inside (sdf < 0), 0 outside", coords="[-1, 1] (as ours; scale 1)",
        needs={"volume": num_samples, "near": near_rows_for(num_samples), "surface": pc_size},
        notes=(f"every asset goes in category folder {category} (the loader requires a "
               "ShapeNet synset of its category_ids; export per category with "
               "make_vecset_layout(category=...) for the class-conditional model); "
               "near rows are those around "
               "uniform surface samples (the loader knows no salient edges; which near rows "
               "the released preprocessing, 1zb/sdf_gen, writes is unverified: not read); the "
               "loader is followed"),
        write=write, read=read, write_lists=write_vecset_lists(category),
        lists=f"ShapeNetV2_point/{category}/{{train,val,test}}.lst: one id a line, no "
              "trailing newline (the loader splits on '\\n')",
        volume_inside=lambda got: (got["vol_points"], got["vol_label"] == 1))
    return layout


def make_vecsetx_layout(name: str = "vecsetx", *, sdf_size: int = SDF_SIZE,
                        surface_size: int = SURFACE_SIZE) -> Layout:
    """The ``vecsetx`` layout for the loader's counts.

    Parameters
    ----------
    name : str
        Registry name.
    sdf_size : int
        The loader's ``sdf_size``: it draws ``sdf_size // 2`` inside and ``sdf_size // 2``
        outside volume rows and ``sdf_size`` near rows, without replacement.
    surface_size : int
        Surface rows it draws without replacement (``--point_cloud_size``).

    Returns
    -------
    Layout
    """

    def write(samples: TrainingSamples, watertight: trimesh.Trimesh | None, folder: Path,
              asset_id: str) -> list[Path]:
        """Write ``<folder>/<asset_id>.npz`` with the five arrays the loader reads."""
        uid = plain_id(asset_id)
        check_counts(layout, samples)
        near_points, near_sdf = _uniform_near(samples, name, sdf_size)
        sdf = samples.sdf
        volume_sdf = _f32(sdf.volume_sdf)
        # the loader draws sdf_size // 2 rows with vol_sdf >= 0 without replacement (a
        # ValueError there when fewer); too few inside rows only trigger its fallback
        outside = int(np.count_nonzero(volume_sdf >= 0))
        if outside < sdf_size // 2:
            raise _short(name, "volume rows outside the shape", outside, sdf_size // 2, "volume")
        path = save_npz(Path(folder) / f"{uid}.npz", {
            "vol_points": _f32(sdf.volume_points), "vol_sdf": volume_sdf,
            "near_points": near_points, "near_sdf": near_sdf,
            "surface_points": _f32(samples.surface_points)})
        return [path]

    def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
        """The arrays as ``Objaverse.__getitem__`` sees them, before its draws and rotations.

        ``vol_points``, ``near_points``, ``surface_points`` as stored (``torch.from_numpy``);
        ``vol_sdf``, ``near_sdf`` float32 (its ``.float()``), negative inside.
        """
        with np.load(Path(folder) / f"{plain_id(asset_id)}.npz") as data:
            return {"vol_points": data["vol_points"],
                    "vol_sdf": data["vol_sdf"].astype(np.float32),
                    "near_points": data["near_points"],
                    "near_sdf": data["near_sdf"].astype(np.float32),
                    "surface_points": data["surface_points"]}

    layout = Layout(
        name=name, trainer="VecSetX (autoencoder, Objaverse loader)", loader=LOADER_VECSETX,
        keys=(Key("<id>.npz", "vol_points", "(V, 3)", "float32", "uniform in [-1.05, 1.05]^3"),
              Key("<id>.npz", "vol_sdf", "(V,)", "float32", "signed distance"),
              Key("<id>.npz", "near_points", "(M, 3)", "float32",
                  "near the uniform surface samples"),
              Key("<id>.npz", "near_sdf", "(M,)", "float32", "signed distance"),
              Key("<id>.npz", "surface_points", "(N, 3)", "float32", "uniform surface samples")),
        sign="sdf, negative inside (as ours; its occupancy mode is sdf < 0)",
        coords="[-1, 1] (as ours; the loader only rotates, flips and permutes axes)",
        needs={"volume": sdf_size, "near": near_rows_for(sdf_size), "surface": surface_size},
        notes=("fewer than sdf_size // 2 inside volume "
               "rows make the loader fall back to random volume rows for its inside half; the "
               "README normalizes inference input to the unit sphere, the loader does not "
               "(not applied); near rows are those around uniform surface samples; no "
               "preprocessing is released: the loader is followed"),
        write=write, read=read, write_lists=write_vecsetx_lists,
        lists="utils/objaverse_{train,val}.csv: rows '<export folder, absolute>,<id>,<id>' "
              "(the loader opens os.path.join(dataset_folder, row[0], row[1] + '.npz'), which "
              "an absolute row[0] overrides; copy them into VecSetX's vecset/utils/)",
        volume_inside=lambda got: (got["vol_points"], got["vol_sdf"] < 0))
    return layout


register(make_vecset_layout())
register(make_vecsetx_layout())
