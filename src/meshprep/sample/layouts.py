"""Write (and read back) training samples in the layouts trainers read.

``meshprep``: our own ``surface.npz`` and ``sdf.npz`` (DESIGN.md section 2), float32 or float16,
signed distances negative inside::

    surface.npz  surface_points (N, 3), surface_normals (N, 3),
                 salient_points (S, 3), salient_normals (S, 3)
    sdf.npz      volume_points (V, 3), volume_sdf (V,), near_points (M, 3), near_sdf (M,),
                 near_salient_count () int64  (the last rows of near_* around salient samples),
                 optional: volume_occupancy, near_occupancy (uint8, inside = 1),
                 truncation () float64

``hunyuan3d``: Hunyuan3D-2.1's files, float16, label = -sdf (inside positive), coordinates in
``[-1, 1]`` (what its loader expects)::

    <id>_surface.npz    random_surface (N, 6), sharp_surface (S, 6)   xyz + normal
    <id>_sdf.npz        vol_points, vol_label, random_near_points, random_near_label,
                        sharp_near_points, sharp_near_label
    <id>_watertight.obj

Every file is written atomically (:func:`meshprep.io.atomic_write`).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import trimesh

from meshprep.io import atomic_write, write_mesh

from .salient import SalientStats
from .sdf import SDFSamples
from .step import TrainingSamples

_FLOATS = (np.float32, np.float16)


def _save_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
    """``np.savez`` (uncompressed: float noise does not compress; ``compressed``: zlib, for
    the compact encoding's byte planes) into place, atomically."""
    with atomic_write(path) as tmp, open(tmp, "wb") as stream:
        (np.savez_compressed if compressed else np.savez)(stream, **arrays)
    return path


def _check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.type not in _FLOATS:
        raise ValueError(f"dtype must be float32 or float16, got {dtype}")
    return dtype


def write_meshprep(
    samples: TrainingSamples,
    folder: str | os.PathLike[str],
    *,
    dtype=np.float32,
    occupancy: bool = False,
) -> tuple[Path, Path]:
    """Write ``surface.npz`` and ``sdf.npz`` (our keys) into ``folder``.

    Parameters
    ----------
    samples : TrainingSamples
    folder : str or os.PathLike
        Created if missing.
    dtype : {numpy.float32, numpy.float16}
        Storage type of points, normals and distances.
    occupancy : bool
        Also store ``volume_occupancy`` and ``near_occupancy`` (uint8, inside = 1).

    Returns
    -------
    (Path, Path)
        The two files written.
    """
    dtype = _check_dtype(dtype)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    surface = {
        "surface_points": samples.surface_points.astype(dtype),
        "surface_normals": samples.surface_normals.astype(dtype),
        "salient_points": samples.salient_points.astype(dtype),
        "salient_normals": samples.salient_normals.astype(dtype),
    }
    for name in ("surface_fps", "salient_fps"):
        order = getattr(samples, name)
        if order is not None:
            surface[f"{name}_index"] = np.asarray(order, np.int32)
    sdf = samples.sdf
    volumetric = {
        "volume_points": sdf.volume_points.astype(dtype),
        "volume_sdf": sdf.volume_sdf.astype(dtype),
        "near_points": sdf.near_points.astype(dtype),
        "near_sdf": sdf.near_sdf.astype(dtype),
        "near_salient_count": np.int64(sdf.salient_count),
    }
    if occupancy:
        volumetric["volume_occupancy"] = sdf.volume_occupancy
        volumetric["near_occupancy"] = sdf.near_occupancy
    if sdf.truncation is not None:
        volumetric["truncation"] = np.float64(sdf.truncation)
    return (_save_npz(folder / "surface.npz", surface), _save_npz(folder / "sdf.npz", volumetric))


#: the ``encoding`` key of the compact store's files (:func:`write_compact`)
COMPACT_ENCODING = "meshprep-compact-1"
#: the watertight mesh's file in an asset's store folder: a packed mesh in the compact store
#: (:mod:`meshprep.io.meshpack`), Draco in compact stores written before it, PLY otherwise
WATERTIGHT_FILES = ("watertight.npz", "watertight.drc", "watertight.ply")


def stored_watertight(folder: str | os.PathLike[str]) -> Path | None:
    """The asset's watertight mesh file (``watertight.npz``, ``.drc`` or ``.ply``), or None."""
    for name in WATERTIGHT_FILES:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def read_watertight(path: str | os.PathLike[str]) -> trimesh.Trimesh:
    """A stored watertight mesh (:func:`stored_watertight`'s file), vertices and faces as
    stored, nothing merged."""
    from meshprep.io.load import read_draco
    from meshprep.io.meshpack import read_packed_mesh

    path = Path(path)
    if path.suffix == ".npz":
        return read_packed_mesh(path)
    if path.suffix == ".drc":
        return read_draco(path)
    return trimesh.load(path, process=False)


def write_compact(samples: TrainingSamples, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``surface.npz`` and ``sdf.npz`` in the compact encoding (the run's store).

    Every point set is stored with :mod:`meshprep.sample.compact` (16-bit positions as sorted Morton
    deltas, octahedral normals, sign-safe float16 distances; byte planes; Zstandard), so a read
    gives its rows in the encoding's read order (:func:`meshprep.sample.compact.read_rows`), not the
    sampler's: rows stay paired (point, normal, distance), each near group stays apart, and the
    farthest-point orders are remapped to the read order. :func:`read_meshprep` reads both this
    and the float32 files of :func:`write_meshprep`.

    Parameters
    ----------
    samples : TrainingSamples
    folder : path-like

    Returns
    -------
    (Path, Path)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    surface: dict[str, np.ndarray] = {"encoding": np.array(COMPACT_ENCODING)}
    for name in ("surface", "salient"):
        rows = _put_set(surface, name, getattr(samples, f"{name}_points"),
                        normals=getattr(samples, f"{name}_normals"))
        order = getattr(samples, f"{name}_fps")
        if order is not None:
            surface[f"{name}_fps_index"] = _inverse(rows)[np.asarray(order)].astype(np.int32)
    sdf = samples.sdf
    volumetric: dict[str, np.ndarray] = {"encoding": np.array(COMPACT_ENCODING),
                                         "near_salient_count": np.int64(sdf.salient_count)}
    _put_set(volumetric, "volume", sdf.volume_points, distances=sdf.volume_sdf)
    _put_set(volumetric, "near_uniform", sdf.surface_near_points,
             distances=sdf.surface_near_sdf)
    _put_set(volumetric, "near_salient", sdf.salient_near_points,
             distances=sdf.salient_near_sdf)
    if sdf.truncation is not None:
        volumetric["truncation"] = np.float64(sdf.truncation)
    return (_save_npz(folder / "surface.npz", surface), _save_npz(folder / "sdf.npz", volumetric))


def _put_set(arrays: dict, name: str, points: np.ndarray, *, normals: np.ndarray | None = None,
             distances: np.ndarray | None = None) -> np.ndarray:
    """One point set (and its paired normals or distances) into ``arrays``; the input rows in
    read order."""
    from meshprep.sample.compact import (
        CompactRangeError,
        byte_planes,
        encode_distances,
        encode_normals,
        encode_points,
        read_rows,
        squeeze,
    )

    try:
        packed, sort = encode_points(points)
        arrays[f"{name}_points_q"] = squeeze(packed)
    except CompactRangeError:  # a point beyond the range: this set's positions as float32
        sort = np.arange(len(points))
        arrays[f"{name}_points_f32"] = np.asarray(points, np.float32)
    arrays[f"{name}_count"] = np.int64(len(sort))
    if normals is not None:
        codes = encode_normals(np.asarray(normals)[sort])
        arrays[f"{name}_normals_oct"] = squeeze(byte_planes(codes))
    if distances is not None:
        half = encode_distances(np.asarray(distances)[sort])
        arrays[f"{name}_sdf_f16"] = squeeze(byte_planes(half))
    return read_rows(sort) if f"{name}_points_q" in arrays else sort


def _set_arrays(members: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """The stored arrays of one set."""
    return {key: value for key, value in members.items() if key.startswith(f"{name}_")}


def _get_set(arrays, name: str, points_out: np.ndarray | None = None,
             distances_out: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A set of :func:`_put_set` in read order: points, normals or None, distances or None
    (points and distances written into the arrays given)."""
    from meshprep.sample.compact import (
        decode_distances,
        decode_normals,
        decode_set,
        from_byte_planes,
        unsqueeze,
    )

    count = int(arrays[f"{name}_count"])
    normals_z, distances_z = arrays.get(f"{name}_normals_oct"), arrays.get(f"{name}_sdf_f16")
    if f"{name}_points_q" in arrays:
        return decode_set(count, arrays[f"{name}_points_q"], normals_z=normals_z,
                          distances_z=distances_z, points_out=points_out,
                          distances_out=distances_out)
    # positions stored as they were (a point beyond the range): rows in the stored order
    points = np.array(arrays[f"{name}_points_f32"])  # not a view of the file's bytes
    if points_out is not None:
        points_out[:] = points
        points = points_out
    normals = None if normals_z is None else decode_normals(
        from_byte_planes(unsqueeze(normals_z, 4 * count), np.uint16, 2 * count))
    distances = None if distances_z is None else decode_distances(
        from_byte_planes(unsqueeze(distances_z, 2 * count), np.uint16, count), distances_out)
    return points, normals, distances


def _inverse(rows: np.ndarray) -> np.ndarray:
    out = np.empty_like(rows)
    out[rows] = np.arange(len(rows))
    return out


def _read_compact(surface, sdf) -> TrainingSamples:
    """The samples of :func:`write_compact`'s two files' members, the sets decoded in parallel
    (the decoders release the GIL), the largest submitted first; both near sets straight into
    one array."""
    from meshprep.io.packing import decode_pool

    pool = decode_pool()
    uniform, salient = int(sdf["near_uniform_count"]), int(sdf["near_salient_count"])
    near_points = np.empty((uniform + salient, 3), np.float32)
    near_sdf = np.empty(uniform + salient, np.float32)
    into = {"near_uniform": (near_points[:uniform], near_sdf[:uniform]),
            "near_salient": (near_points[uniform:], near_sdf[uniform:])}
    stored, decoded = {}, {}
    for npz, name in ((sdf, "near_uniform"), (surface, "surface"), (surface, "salient"),
                      (sdf, "volume"), (sdf, "near_salient")):
        stored[name] = _set_arrays(npz, name)
        decoded[name] = pool.submit(_get_set, stored[name], name, *into.get(name, (None, None)))
    volume, _, volume_sdf = decoded["volume"].result()
    loaded = SDFSamples(volume_points=volume, volume_sdf=volume_sdf,
                        near_points=near_points, near_sdf=near_sdf,
                        salient_count=int(sdf["near_salient_count"]),
                        truncation=float(sdf["truncation"]) if "truncation" in sdf else None)
    decoded["near_uniform"].result(), decoded["near_salient"].result()  # their errors, if any
    surface_points, surface_normals, _ = decoded["surface"].result()
    salient_points, salient_normals, _ = decoded["salient"].result()
    return TrainingSamples(
        surface_points=surface_points, surface_normals=surface_normals,
        salient_points=salient_points, salient_normals=salient_normals, sdf=loaded,
        salient_stats=SalientStats(0, 0, 0, 0, False),
        surface_fps=_copy(stored["surface"].get("surface_fps_index")),  # read with their sets
        salient_fps=_copy(stored["salient"].get("salient_fps_index")))


def _copy(array: np.ndarray | None) -> np.ndarray | None:
    """A writable copy (members of :func:`~meshprep.io.packing.load_members` are views of the
    file's bytes)."""
    return None if array is None else np.array(array)


def read_meshprep(folder: str | os.PathLike[str]) -> TrainingSamples:
    """Read ``surface.npz`` and ``sdf.npz`` written by :func:`write_meshprep` (as float32) or
    by :func:`write_compact` (the run's store; its ``encoding`` key says so).

    ``salient_stats`` and ``stats`` are not stored; they come back empty.
    """
    from meshprep.io.packing import load_members

    folder = Path(folder)
    try:
        with zipfile.ZipFile(folder / "surface.npz") as archive:
            compact = "encoding.npy" in archive.namelist()
    except zipfile.BadZipFile:  # np.load below says what it is instead
        compact = False
    if compact:
        surface = load_members(folder / "surface.npz")
        if str(surface["encoding"]) != COMPACT_ENCODING:
            raise ValueError(f"{folder}: unknown sample encoding {surface['encoding']}")
        return _read_compact(surface, load_members(folder / "sdf.npz"))
    with np.load(folder / "surface.npz") as surface, np.load(folder / "sdf.npz") as sdf:
        loaded = SDFSamples(
            volume_points=sdf["volume_points"].astype(np.float32),
            volume_sdf=sdf["volume_sdf"].astype(np.float32),
            near_points=sdf["near_points"].astype(np.float32),
            near_sdf=sdf["near_sdf"].astype(np.float32),
            salient_count=int(sdf["near_salient_count"]),
            truncation=float(sdf["truncation"]) if "truncation" in sdf else None,
        )
        return TrainingSamples(
            surface_points=surface["surface_points"].astype(np.float32),
            surface_normals=surface["surface_normals"].astype(np.float32),
            salient_points=surface["salient_points"].astype(np.float32),
            salient_normals=surface["salient_normals"].astype(np.float32),
            sdf=loaded,
            salient_stats=SalientStats(0, 0, 0, 0, False),
            surface_fps=surface["surface_fps_index"] if "surface_fps_index" in surface else None,
            salient_fps=surface["salient_fps_index"] if "salient_fps_index" in surface else None,
        )


def write_hunyuan3d(
    samples: TrainingSamples,
    watertight: trimesh.Trimesh | None,
    folder: str | os.PathLike[str],
    asset_id: str,
) -> tuple[Path, ...]:
    """Write Hunyuan3D-2.1's ``<id>_surface.npz``, ``<id>_sdf.npz`` and ``<id>_watertight.obj``.

    Parameters
    ----------
    samples : TrainingSamples
    watertight : trimesh.Trimesh or None
        The closed mesh the distances were computed against (None: no ``.obj``; Hunyuan3D's
        loader does not read it).
    folder : str or os.PathLike
        Created if missing.
    asset_id : str
        File name prefix; must be a plain name (no path separators).

    Returns
    -------
    (Path, Path, Path)
        Surface, SDF and mesh files.
    """
    if not asset_id or Path(asset_id).name != asset_id or asset_id in (".", ".."):
        raise ValueError(f"asset_id must be a plain file name, got {asset_id!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    f16 = np.float16
    surface = {
        "random_surface": np.hstack([samples.surface_points, samples.surface_normals]).astype(f16),
        "sharp_surface": np.hstack([samples.salient_points, samples.salient_normals]).astype(f16),
    }
    sdf = samples.sdf
    # Hunyuan3D labels are -sdf: positive inside
    volumetric = {
        "vol_points": sdf.volume_points.astype(f16),
        "vol_label": (-sdf.volume_sdf).astype(f16),
        "random_near_points": sdf.surface_near_points.astype(f16),
        "random_near_label": (-sdf.surface_near_sdf).astype(f16),
        "sharp_near_points": sdf.salient_near_points.astype(f16),
        "sharp_near_label": (-sdf.salient_near_sdf).astype(f16),
    }
    surface_path = _save_npz(folder / f"{asset_id}_surface.npz", surface)
    sdf_path = _save_npz(folder / f"{asset_id}_sdf.npz", volumetric)
    if watertight is None:
        return surface_path, sdf_path
    mesh_path = write_mesh(watertight, folder / f"{asset_id}_watertight.obj")
    return surface_path, sdf_path, mesh_path


def read_hunyuan3d(folder: str | os.PathLike[str], asset_id: str) -> dict[str, np.ndarray]:
    """Read the two ``.npz`` files of :func:`write_hunyuan3d` into one dict of arrays."""
    folder = Path(folder)
    out: dict[str, np.ndarray] = {}
    for suffix in ("surface", "sdf"):
        with np.load(folder / f"{asset_id}_{suffix}.npz") as data:
            out.update({key: data[key] for key in data.files})
    return out


LAYOUTS = ("meshprep", "hunyuan3d")


def write_layout(
    layout: str,
    samples: TrainingSamples,
    folder: str | os.PathLike[str],
    *,
    watertight: trimesh.Trimesh | None = None,
    asset_id: str | None = None,
    dtype=np.float32,
) -> tuple[Path, ...]:
    """Write ``samples`` in the named layout (``"meshprep"`` or ``"hunyuan3d"``).

    ``hunyuan3d`` needs ``watertight`` and ``asset_id``; ``dtype`` applies to ``meshprep``
    (Hunyuan3D's files are float16 by definition).

    Examples
    --------
    >>> write_layout("meshprep", samples, "out/objects/ab/abcd")  # doctest: +SKIP
    """
    if layout == "meshprep":
        return write_meshprep(samples, folder, dtype=dtype)
    if layout == "hunyuan3d":
        if watertight is None or asset_id is None:
            raise ValueError("the hunyuan3d layout needs watertight= and asset_id=")
        return write_hunyuan3d(samples, watertight, folder, asset_id)
    raise ValueError(f"unknown layout {layout!r}: use one of {LAYOUTS}")
