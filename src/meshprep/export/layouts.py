"""Vecset trainers' sample files: one canonical store, thin writers registered by name.

The store is what ``meshprep run`` writes per asset (``surface.npz``, ``sdf.npz``: compact
(:mod:`meshprep.sample.compact`) or float32 in older stores, read by ``read_meshprep``; coordinates
in the canonical cube [-1, 1], signed distances negative inside; and ``watertight.npz``, or
``watertight.ply`` in older stores). Each layout is a :class:`Layout`: a writer from the store, a
reader written from the trainer's own loader (for tests and for ``meshprep export``'s checks),
and its conventions declared as data, so ``meshprep layouts`` and the README's table come from
the same declaration. A layout that needs more samples than the store holds raises
:class:`NotEnoughSamplesError` naming the config key to raise (never pads or repeats points).

Writers are registered with :func:`register` by the modules ``export/layout_*.py``. A layout
whose loader opens an item list (``train.json`` ...) writes it with ``write_lists`` once the
assets are exported (:func:`item_splits`: every item in ``train``, the first ``VAL_ITEMS`` of
them in ``val`` / ``test``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from meshprep.errors import MeshprepError
from meshprep.sample.sdf import SALIENT_NEAR_FRACTION
from meshprep.sample.step import TrainingSamples


class NotEnoughSamplesError(MeshprepError):
    """The store holds fewer samples than the layout needs."""


class LayoutSkip(MeshprepError):  # noqa: N818  (a decision, not an error)
    """The asset gives the layout nothing to train on (e.g. no texture); the export records it
    ``skipped`` with the message as its reason."""


@dataclass(frozen=True)
class Key:
    """One array a layout writes: file, key, shape, dtype and what it holds."""

    file: str
    name: str
    shape: str
    dtype: str
    meaning: str


@dataclass(frozen=True)
class Layout:
    """A trainer's sample files and the conventions its loader expects.

    Attributes
    ----------
    name : str
        Registry name (``--layout NAME``).
    trainer : str
        The project whose loader reads the files.
    loader : str
        ``owner/repo:path`` of the loader the writer was matched against.
    keys : tuple of Key
        Every array written.
    sign : str
        The label convention (``"sdf, negative inside"``, ``"label = -sdf"``, ``"occupancy"``).
    coords : str
        The coordinate range and how it maps from ours.
    needs : dict
        Minimum counts per store array, e.g. ``{"surface": 200_000}``; config keys are
        ``sample.<array>``.
    notes : str
        Where the loader and the released preprocessing disagree, and what we follow.
    uses_watertight : bool
        The writer needs the watertight mesh (the store's ``watertight.npz`` / ``.drc`` / ``.ply``
        is read only then).
    fps : int
        Points the writer farthest-point samples from the surface and salient samples; a run
        writing this layout stores that many in FPS order (``sample.fps``), so the export only
        slices them.
    volume_inside : callable, optional
        ``volume_inside(read(folder, asset_id)) -> (points, inside)``: the volume rows of the
        reader's output back in our frame, and which the trainer reads as inside; the export's
        sign check runs on it (layouts without volume labels leave it None).
    inside_margin : float
        Depth (our sdf units) above which the trainer's own rule reads an inside row as outside
        (Step1X-3D's occupancy: ``label < 1e-3`` is outside): the export's check compares the
        read-back inside share with the store's rows deeper than it.
    lists : str
        The item lists the loader opens (files and what they hold), "" when it opens none.
    write_lists : callable, optional
        ``write_lists(folder, asset_ids) -> list[Path]``: the item lists of the exported assets,
        written where and as the loader opens them.
    store_needs : tuple of str
        What the run must store for the layout beyond samples: ``"parts"`` (``parts.npz``),
        ``"rig"`` (``rig.npz``).
    store_files : callable, optional
        ``store_files(store_folder, folder, asset_id) -> list[Path]``: files the run rendered
        into the asset's store folder for this layout (they need the textured source), linked
        into its item beside what ``write`` writes (Hunyuan3D-2.1's ``render_cond/``).
    from_asset : callable, optional
        ``from_asset(store_folder, folder, asset_id) -> list[Path]``: for layouts the run renders
        into the asset's store folder (they need the textured source): the export writes them
        from there instead of calling ``write`` on the samples; raises :class:`LayoutSkip`.
    write : callable
        ``write(samples, watertight, folder, asset_id) -> list[Path]``.
    read : callable
        ``read(folder, asset_id) -> dict`` of the arrays as the trainer's loader sees them.
    """

    name: str
    trainer: str
    loader: str
    keys: tuple[Key, ...]
    sign: str
    coords: str
    write: Callable[[TrainingSamples, trimesh.Trimesh | None, Path, str], list[Path]]
    read: Callable[[Path, str], dict[str, np.ndarray]]
    needs: dict[str, int] = field(default_factory=dict)
    notes: str = ""
    uses_watertight: bool = False
    fps: int = 0
    volume_inside: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]] | None = None
    inside_margin: float = 0.0
    lists: str = ""
    write_lists: Callable[[Path, list[str]], list[Path]] | None = None
    from_asset: Callable[[Path, Path, str], list[Path]] | None = None
    store_files: Callable[[Path, Path, str], list[Path]] | None = None
    store_needs: tuple[str, ...] = ()


#: items listed in ``val`` / ``test`` lists (a prefix of the sorted ``train`` list: the released
#: example lists of Dora and Step1X-3D hold the same item in all three)
VAL_ITEMS = 16

LAYOUTS: dict[str, Layout] = {}


def register(layout: Layout) -> Layout:
    """Add a layout to the registry (by name); returns it."""
    LAYOUTS[layout.name] = layout
    return layout


def get_layout(name: str) -> Layout:
    """The registered layout ``name``; a clear error listing the others."""
    _load_builtin()
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}: use one of {', '.join(sorted(LAYOUTS))}")
    return LAYOUTS[name]


def all_layouts() -> list[Layout]:
    """Every registered layout, sorted by name."""
    _load_builtin()
    return [LAYOUTS[name] for name in sorted(LAYOUTS)]


def _load_builtin() -> None:
    """Import every ``export/layout_*.py`` module (each registers its layouts)."""
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("layout_"):
            importlib.import_module(f"{package}.{info.name}")


def store_counts(samples: TrainingSamples) -> dict[str, int]:
    """How many samples of each kind the store holds (the names of ``[sample]``)."""
    sdf = samples.sdf
    return {"surface": len(samples.surface_points), "salient": len(samples.salient_points),
            "volume": len(sdf.volume_points), "near": len(sdf.near_points)}


def smallest_config(needs: dict[str, int], have: dict[str, int]) -> str:
    """The ``[sample]`` keys to raise, as config lines: ``"[sample] near = 600000 (the store
    has 500000)"``; "" when ``have`` covers ``needs``.

    Parameters
    ----------
    needs : dict
        Minimum count per ``[sample]`` key (``Layout.needs``).
    have : dict
        What the store (or the run's config) holds per key.

    Returns
    -------
    str
    """
    short = [f"{key} = {need} (the store has {have.get(key, 0)})"
             for key, need in needs.items() if have.get(key, 0) < need]
    return f"[sample] {', '.join(short)}" if short else ""


def not_enough(layout: Layout, have: dict[str, int]) -> NotEnoughSamplesError | None:
    """The error naming the smallest ``[sample]`` config that fits ``layout``, or None."""
    config = smallest_config(layout.needs, have)
    if not config:
        return None
    return NotEnoughSamplesError(
        f"layout {layout.name!r} needs more samples than the store holds: {config}; run "
        "`meshprep run` with that config into a new output and export it (samples are never "
        "padded or repeated)")


def check_counts(layout: Layout, samples: TrainingSamples) -> None:
    """Raise :class:`NotEnoughSamplesError` when the store is too small for ``layout``."""
    error = not_enough(layout, store_counts(samples))
    if error is not None:
        raise error


def near_rows_for(around_uniform: int = 0, around_salient: int = 0) -> int:
    """The smallest ``sample.near`` that leaves at least these near rows around uniform and
    around salient surface samples, as the sample step splits them
    (``round(near * SALIENT_NEAR_FRACTION)`` around salient ones, the rest around uniform ones).

    Parameters
    ----------
    around_uniform, around_salient : int
        Rows a layout's writer takes from each group.

    Returns
    -------
    int
    """
    share = SALIENT_NEAR_FRACTION
    near = max(around_uniform + around_salient,
               int(np.ceil(around_uniform / (1 - share))) if around_uniform else 0,
               int(np.ceil(around_salient / share)) if around_salient else 0)
    while (near - round(near * share) < around_uniform
           or round(near * share) < around_salient):
        near += 1
    return near


def near_rows_by_origin(samples: TrainingSamples, n_uniform: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The store's near rows split by origin: ``(uniform_points, uniform_sdf, salient_points,
    salient_sdf)`` for loaders that draw from the two groups apart (Dora, UltraShape).

    Without salient edges the store's salient samples are uniform ones, and so are all its near
    rows: the first ``n_uniform`` are the uniform group and the rows after them stand in for
    the salient one, none used twice.
    """
    sdf = samples.sdf
    points, values = sdf.surface_near_points, sdf.surface_near_sdf
    if sdf.salient_count:
        return points, values, sdf.salient_near_points, sdf.salient_near_sdf
    return points[:n_uniform], values[:n_uniform], points[n_uniform:], values[n_uniform:]


def item_splits(asset_ids: list[str], splits: tuple[str, ...] = ("train", "val", "test")
                ) -> dict[str, list[str]]:
    """The items of each split's list: every id (sorted) in ``train``; the first
    :data:`VAL_ITEMS` of them in the others (the loaders build a validation set at fit time;
    replace those lists for a held-out evaluation).

    Parameters
    ----------
    asset_ids : list of str
        The exported assets.
    splits : tuple of str
        The lists the loader opens.

    Returns
    -------
    dict
        ``{split: ids}``.
    """
    ordered = sorted(set(asset_ids))
    return {split: ordered if split == "train" else ordered[:VAL_ITEMS] for split in splits}


def write_json_list(path: str | os.PathLike[str], items: list[str]) -> Path:
    """A JSON list of strings (indented as the released example lists are), atomically."""
    from meshprep.io import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as stream:
        json.dump(items, stream, indent=4)
    return path


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """``text`` into ``path`` (UTF-8, no newline translation), atomically."""
    from meshprep.io import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)
    return path


def plain_id(asset_id: str) -> str:
    """``asset_id`` when it is a plain file name; else a ValueError."""
    if not asset_id or Path(asset_id).name != asset_id or asset_id in (".", ".."):
        raise ValueError(f"asset_id must be a plain file name, got {asset_id!r}")
    return asset_id


def save_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], *,
             compressed: bool = False) -> Path:
    """``np.savez`` (or ``savez_compressed``) into place, atomically."""
    from meshprep.io import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "wb") as stream:
        (np.savez_compressed if compressed else np.savez)(stream, **arrays)
    return path


def describe(layout: Layout) -> str:
    """The declaration as text (what ``meshprep layouts`` prints)."""
    lines = [f"{layout.name}: {layout.trainer} (matched against {layout.loader})",
             f"  sign: {layout.sign}", f"  coordinates: {layout.coords}"]
    if layout.needs:
        lines.append("  needs: " + ", ".join(f"sample.{k} >= {v}" for k, v in layout.needs.items()))
    lines += [f"  {k.file} {k.name} {k.shape} {k.dtype}: {k.meaning}" for k in layout.keys]
    if layout.lists:
        lines.append(f"  item lists: {layout.lists}")
    if layout.notes:
        lines.append(f"  note: {layout.notes}")
    return "\n".join(lines)


def markdown_table() -> str:
    """The README's layout table, from the declarations."""
    rows = ["| layout | trainer | file | key | shape | dtype | sign | coordinates |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for layout in all_layouts():
        for i, key in enumerate(layout.keys):
            head = (f"`{layout.name}`", layout.trainer) if i == 0 else ("", "")
            tail = (layout.sign, layout.coords) if i == 0 else ("", "")
            rows.append(f"| {head[0]} | {head[1]} | `{key.file}` | `{key.name}` | {key.shape} | "
                        f"{key.dtype} | {tail[0]} | {tail[1]} |")
    return "\n".join(rows)
