"""``make_watertight``: any triangle mesh in the canonical cube -> a closed 2-manifold."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import trimesh

from ..errors import WatertightError
from ..geometry.topology import TopologyReport, require_closed_manifold
from .band import build_band, from_grid
from .contour import emit_faces, plan_contour
from .decimate import decimate_closed
from .floodfill import sign_band
from .reference import reference_watertight

Method = Literal["band", "reference"]


@dataclass
class WatertightResult:
    """The closed mesh and what it took to make it.

    Attributes
    ----------
    mesh : trimesh.Trimesh
        Closed, consistently oriented 2-manifold, in the same frame as the input.
    topology : TopologyReport
        The check run on ``mesh``.
    stats : dict
        ``method``, ``resolution``, ``eps_voxels``, stage timings in seconds
        (``time_band``, ``time_sign``, ``time_contour``, ``time_check``, ``time_decimate``,
        ``time_total``), ``band_blocks``, ``band_points``, ``band_bytes``, ``faces_contour``,
        ``decimated``.
    """

    mesh: trimesh.Trimesh
    topology: TopologyReport
    stats: dict = field(default_factory=dict)


def _validate(vertices: np.ndarray, faces: np.ndarray, resolution: int) -> None:
    if resolution < 8:
        raise ValueError(f"resolution must be at least 8, got {resolution}")
    if len(faces) == 0:
        raise WatertightError("the mesh has no faces")
    if not np.isfinite(vertices).all():
        raise WatertightError("the mesh has non-finite vertex coordinates")
    if np.abs(vertices).max() > 1.0:
        raise WatertightError(
            "the mesh must lie inside [-1, 1]^3: call meshprep.normalize(mesh) first"
        )


def _band_method(vertices, faces, resolution, eps, stats, warp_device=None):
    # every sign change is on a grid edge with one end in the shell (udf < eps), so its other
    # end is within eps + 1 voxel: that is all the band needs to hold exactly
    width = eps + 1.0
    start = time.perf_counter()
    band = build_band(vertices, faces, resolution, width)
    stats["time_band"] = time.perf_counter() - start
    stats.update(band_blocks=band.n_blocks, band_points=band.n_blocks * band.udf.shape[1],
                 band_bytes=band.nbytes)
    start = time.perf_counter()
    if warp_device is None:
        signed, empty_outside = sign_band(band, eps)
    else:  # the flood fill and signing with Warp (same labels; the rest stays on the CPU)
        from .floodfill_warp import sign_band_warp

        signed, empty_outside, stats["sign_passes"] = sign_band_warp(band, eps,
                                                                     device=warp_device)
    stats["time_sign"] = time.perf_counter() - start
    start = time.perf_counter()
    plan = plan_contour(band, signed, empty_outside)
    del band, signed, empty_outside  # the band is not needed for the faces: free it first
    out_faces = emit_faces(plan)
    grid_vertices = plan.vertices
    del plan
    stats["time_contour"] = time.perf_counter() - start
    return grid_vertices, out_faces


def make_watertight(
    mesh: trimesh.Trimesh,
    resolution: int = 512,
    *,
    method: Method = "band",
    eps: float | None = None,
    target_faces: int | None = None,
    device: str = "cpu",
) -> WatertightResult:
    """Turn a triangle mesh (open, self-intersecting, a soup...) into a closed 2-manifold.

    The mesh must already be in the canonical cube (see :func:`meshprep.normalize`). The
    default ``method="band"`` computes distances only near the surface, flood fills the exterior
    once per grid point, and contours close to the input surface (thin sheets come out as closed
    slivers); ``method="reference"`` is the published dense recipe, for comparison.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        Vertices inside ``[-1, 1]^3``.
    resolution : int
        Grid points per axis over ``[-1, 1]``.
    method : {"band", "reference"}
    eps : float, optional
        Shell half-width in voxels for ``"band"`` (holes and gaps narrower than about
        ``2 * eps`` voxels are closed). Default ``(res - 1) / res``: the reference's ``2 / res``.
    target_faces : int, optional
        Decimate the output to about this many faces, keeping it closed.
    device : str
        ``"cpu"`` (numba), or a Warp device (``"cuda"``, ``"auto"``, Warp's ``"cpu"`` backend
        as ``"warp-cpu"``) for the flood fill and signing; the band and the contour stay on
        the CPU for now (``meshprep[gpu]``).

    Returns
    -------
    WatertightResult

    Raises
    ------
    WatertightError
        Empty or non-finite input, input outside the cube, or (never expected) an output that
        fails the closed 2-manifold check.

    Examples
    --------
    >>> import trimesh
    >>> quad = trimesh.Trimesh([[-.5, -.5, 0], [.5, -.5, 0], [.5, .5, 0], [-.5, .5, 0]],
    ...                        [[0, 1, 2], [0, 2, 3]])
    >>> make_watertight(quad, 64).topology.closed_2manifold
    True
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    _validate(vertices, faces, resolution)
    eps = (resolution - 1) / resolution if eps is None else float(eps)
    stats: dict = {"method": method, "resolution": resolution, "eps_voxels": eps}
    total = time.perf_counter()
    if method == "band":
        # grid coordinates (float32) and int32 faces: mapped to the cube once checked
        warp_device = None if device == "cpu" else "cpu" if device == "warp-cpu" else device
        out_vertices, out_faces = _band_method(vertices, faces, resolution, eps, stats,
                                               warp_device)
    elif method == "reference":
        start = time.perf_counter()
        out_vertices, out_faces = reference_watertight(vertices, faces, resolution)
        stats["time_reference"] = time.perf_counter() - start
    else:
        raise ValueError(f"unknown method {method!r}: use 'band' or 'reference'")
    if len(out_faces) == 0:
        raise WatertightError("the surface vanished at this resolution (the mesh is too small)")
    stats["faces_contour"] = len(out_faces)
    stats["decimated"] = False
    if target_faces:
        if method == "band":
            out_vertices = from_grid(out_vertices, resolution)
        start = time.perf_counter()
        out_vertices, out_faces, stats["decimated"] = decimate_closed(
            out_vertices, out_faces.astype(np.int64), target_faces
        )
        stats["time_decimate"] = time.perf_counter() - start
    start = time.perf_counter()
    # checked before the float64 copy of the vertices exists: the check's tables are the
    # largest arrays of a huge output
    report = require_closed_manifold(out_vertices, out_faces)
    stats["time_check"] = time.perf_counter() - start
    if method == "band" and not target_faces:
        out_vertices = from_grid(out_vertices, resolution)
    stats["time_total"] = time.perf_counter() - total
    # decimate_closed already drops the vertices its collapses left unused
    out = trimesh.Trimesh(out_vertices, out_faces, process=False)
    return WatertightResult(out, report, stats)
