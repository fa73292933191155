"""The steps a run applies to each asset, and :func:`process_asset`, which runs them.

A step is a function ``step(ctx: AssetContext) -> None`` that reads what earlier steps left on
the context and adds its own results, metrics and files. The built-in steps are::

    load → normalize → curate → watertight → voxelize → sample → render → write

and a configuration may insert user steps by import path (``"mypackage.filters:drop_planes"``)
anywhere in ``run.steps``: that is how curation filters and render hooks plug in. A step that
decides an asset should not go on raises :class:`SkipAsset`; any other exception fails the asset
with its class and message recorded, and the run goes on.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from meshprep.errors import MeshprepError

from .outcome import AssetOutcome
from .sources import AssetTask, file_sha256, is_uri
from .store import META, OutputStore


class SkipAsset(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by a step to stop an asset on purpose (a curation filter); recorded as skipped."""


class PipelineError(MeshprepError):
    """A step cannot run: a step it needs did not run before it, or it cannot be imported."""


class ChecksumError(MeshprepError):
    """The source's bytes do not match the SHA-256 the list gave for it."""


@dataclass
class AssetContext:
    """What the steps of one asset share.

    Attributes
    ----------
    task : AssetTask
    config : dict
        The resolved run configuration.
    staging : Path
        Private folder the steps write files into; published when every step succeeded.
    path : Path or None
        Local path of the source file (downloaded first when the source is a URI).
    mesh, canonical, transform, watertight, samples
        The products of ``load``, ``normalize``, ``watertight`` and ``sample``.
    parts, rig
        The canonical mesh's :class:`meshprep.io.parts.Parts` (one id per face) and
        :class:`meshprep.io.rig.Rig` (in the canonical cube, one weight row per vertex), when
        the run stores them (``[parts] store``, ``[rig] store``) and the asset has them.
    metrics : dict
        Numbers worth keeping per asset (flattened into the manifest).
    """

    task: AssetTask
    config: dict
    staging: Path
    path: Path | None = None
    mesh: Any = None
    canonical: Any = None
    transform: np.ndarray | None = None
    parts: Any = None
    part_iou: list | None = None
    rig: Any = None
    watertight: Any = None
    watertight_result: Any = None
    samples: Any = None
    metrics: dict = field(default_factory=dict)
    scratch: Path | None = None

    def require(self, attribute: str, step: str, producer: str) -> Any:
        """``getattr(self, attribute)``, or a clear error naming the step that should run first."""
        value = getattr(self, attribute)
        if value is None:
            raise PipelineError(f"step {step!r} needs {producer!r} to run before it")
        return value


def step_load(ctx: AssetContext) -> None:
    """Fetch the source if it is remote, check its checksum, load one triangle mesh."""
    from meshprep.io import load

    ctx.path = _local_source(ctx)
    if ctx.task.sha256 is not None:
        actual = file_sha256(ctx.path)
        if actual != ctx.task.sha256:
            raise ChecksumError(f"sha256 of the source is {actual[:12]}..., the list says "
                                f"{ctx.task.sha256[:12]}...")
    render = ctx.config["render"]
    colour = "render" in ctx.config["run"]["steps"] and "input" in render["targets"] and \
        bool({"color", "albedo"} & set(render["passes"]))
    colour = colour or _needs_materials(ctx.config)
    from .config import stores

    ctx.mesh = load(ctx.path, appearance=colour, parts=stores(ctx.config, "parts"),
                    rig=stores(ctx.config, "rig"))
    ctx.metrics.update(input_vertices=len(ctx.mesh.vertices), input_faces=len(ctx.mesh.faces))


def _needs_materials(config: dict) -> bool:
    """Whether the voxelize step needs the asset's materials (PBR voxels, condition views), or
    the write step (Hunyuan3D-2.1 Paint's and Step1X-3D's texture renders)."""
    voxel, layouts = config["voxel"], config["write"]["layouts"]
    textures = {"hunyuan3d-paint", "step1x3d-texture", "partcrafter"} & set(layouts)
    if textures and "write" in config["run"]["steps"]:
        return True
    if "hunyuan3d" in layouts and "render" in config["run"]["steps"]:
        return True  # the render step's Hunyuan3D-2.1 condition views
    if "voxelize" not in config["run"]["steps"]:
        return False
    return "trellis" in layouts or ("trellis2" in layouts and
                                    (voxel["pbr"] or voxel["cond_views"] > 0))


def _local_source(ctx: AssetContext) -> Path:
    if not is_uri(ctx.task.source):
        return Path(ctx.task.source)
    import fsspec

    ctx.scratch = Path(tempfile.mkdtemp(prefix="meshprep-src-"))
    target = ctx.scratch / os.path.basename(ctx.task.source.split("?")[0].rstrip("/"))
    with fsspec.open(ctx.task.source, "rb") as remote, open(target, "wb") as local:
        shutil.copyfileobj(remote, local, 1 << 20)
    return target


def step_normalize(ctx: AssetContext) -> None:
    """Move and scale into the canonical cube; keep the transform (saved in meta.json)."""
    from meshprep.geometry import normalize

    mesh = ctx.require("mesh", "normalize", "load")
    ctx.canonical, ctx.transform = normalize(mesh, bound=ctx.config["normalize"]["bound"])
    ctx.parts = mesh.metadata.get("meshprep_parts")
    rig = mesh.metadata.get("meshprep_rig")
    ctx.rig = rig.transformed(ctx.transform) if rig is not None else None


def step_curate(ctx: AssetContext) -> None:
    """Curation metrics of the canonical mesh and the decision; a drop skips the asset."""
    from meshprep.curate import asset_metrics, decide

    from .config import curation_params

    canonical = ctx.require("canonical", "curate", "normalize")
    metrics = asset_metrics(canonical.vertices, canonical.faces)
    metrics.pop("vertices"), metrics.pop("faces")  # the input_* counts already say it
    pose = (ctx.mesh.metadata.get("meshprep_pose") if ctx.mesh is not None else None) or {}
    metrics.update({k: v for k, v in pose.items()})  # animated, skinned, pose_bbox_ratio
    metrics.update(_structure_metrics(ctx))
    ctx.metrics.update(metrics)
    decision, reason = decide(metrics, curation_params(ctx.config))
    ctx.metrics.update(curation=decision, curation_reason=reason)
    if decision == "drop":
        raise SkipAsset(reason)


def _structure_metrics(ctx: AssetContext) -> dict:
    """The parts' and the rig's curation metrics (``part_*``, ``rig_*``) where the run stores
    them."""
    out: dict = {}
    if ctx.parts is not None:
        from meshprep.curate.part_metrics import part_metrics

        found = part_metrics(ctx.canonical, ctx.parts)
        ctx.part_iou = found.iou_list  # stored in parts.npz (the part layouts reuse it)
        out.update(part_count=found.count, part_geometry_count=found.geometry_count,
                   part_iou_mean=found.iou_mean, part_iou_max=found.iou_max,
                   part_box_iou_max=found.box_iou_max,
                   part_min_area_share=found.min_area_share)
    if ctx.rig is not None:
        from meshprep.curate.rig_metrics import rig_metrics

        out.update(rig_metrics(np.asarray(ctx.canonical.vertices), ctx.rig))
    return out


def step_extract(ctx: AssetContext) -> None:
    """Keep the main object (floor, floaters and extra objects removed), normalized again.

    Optional (add ``"extract"`` after ``"normalize"`` in ``run.steps``); the transform in
    meta.json still maps the source file to the final canonical cube.
    """
    import trimesh

    from meshprep.curate import main_object
    from meshprep.geometry import normalize

    canonical = ctx.require("canonical", "extract", "normalize")
    result = main_object(canonical.vertices, canonical.faces)
    ctx.metrics.update(result.as_metrics())
    if result.removed_components:
        kept = trimesh.Trimesh(result.vertices, result.faces, process=False)
        ctx.canonical, again = normalize(kept, bound=ctx.config["normalize"]["bound"])
        ctx.transform = again @ ctx.transform
        if ctx.parts is not None:
            ctx.parts, ctx.part_iou = ctx.parts.subset(result.face_keep), None
        if ctx.rig is not None:  # the kept mesh is welded: its vertices are not the rig's
            ctx.rig = None
            ctx.metrics["rig_dropped"] = "the extract step welded and cut the skinned mesh"


def step_watertight(ctx: AssetContext) -> None:
    """Make the canonical mesh a closed 2-manifold at the configured resolution."""
    from meshprep.watertight import make_watertight

    canonical = ctx.require("canonical", "watertight", "normalize")
    params = ctx.config["watertight"]
    result = make_watertight(canonical, params["resolution"], method=params["method"],
                             target_faces=params["target_faces"] or None)
    ctx.watertight, ctx.watertight_result = result.mesh, result
    topology = result.topology
    ctx.metrics.update(
        watertight_faces=len(result.mesh.faces), watertight_vertices=len(result.mesh.vertices),
        watertight_components=topology.components, watertight_genus=topology.genus,
        watertight_seconds=result.stats["time_total"],
    )


def step_voxelize(ctx: AssetContext) -> None:
    """The sparse voxels of the configured layouts into the asset's folder: TRELLIS.2's
    O-Voxels (shape and PBR, with its mesh dump and condition views) into ``trellis2/``,
    TRELLIS's renders, 64³ voxels and DINOv2 features into ``trellis/``."""
    layouts = ctx.config["write"]["layouts"]
    if "sparse-sdf" in layouts:
        _write_sparse_sdf(ctx)
    if not {"trellis2", "trellis"} & set(layouts):
        return
    from meshprep.export import write_trellis2_asset, write_trellis_asset

    loaded = ctx.require("mesh", "voxelize", "load")
    mesh = ctx.canonical if ctx.canonical is not None else loaded
    look = loaded.metadata.get("meshprep_appearance")
    if len(mesh.faces) != len(loaded.faces):  # the extract step removed parts: no materials
        look = None
    from meshprep.render.cameras import asset_seed

    # the random camera sets (condition views, TRELLIS's Hammersley offset) drawn per asset, as
    # TRELLIS's scripts draw them; the same again when the asset is rerun
    params, seed = ctx.config["voxel"], asset_seed(ctx.task.asset_id)
    if "trellis2" in layouts:
        ctx.metrics.update(write_trellis2_asset(
            ctx.staging, mesh, resolutions=params["resolutions"], appearance=look,
            pbr=params["pbr"], cond_views=params["cond_views"], cond_size=params["cond_size"],
            seed=seed))
    if "trellis" in layouts:
        ctx.metrics.update(write_trellis_asset(
            ctx.staging, mesh, appearance=look, views=params["trellis_views"],
            size=params["trellis_size"], dinov2=params["dinov2"] or None,
            device=params["feature_device"], seed=seed, cond_views=params["cond_views"],
            cond_size=params["cond_size"]))


def _write_sparse_sdf(ctx: AssetContext) -> None:
    """``sparse_sdf_<res>.npz``: signed distances to the watertight output near its surface,
    from the watertight step's result when it ran at that resolution (undecimated)."""
    from meshprep.voxel import sparse_sdf

    params = ctx.config["voxel"]
    res = params["sdf_resolution"] or ctx.config["watertight"]["resolution"]
    result = ctx.watertight_result
    reusable = result is not None and result.stats.get("resolution") == res and \
        not result.stats.get("decimated") and result.stats.get("method", "band") == "band"
    source = result if reusable else ctx.require("canonical", "voxelize", "normalize")
    # on the watertight step's device: Warp's closest-point queries on a GPU, numba otherwise
    sdf = sparse_sdf(source, res, truncation=params["truncation"],
                     device=ctx.config["watertight"]["device"])
    sdf.save(ctx.staging / sdf.filename)
    ctx.metrics[f"sdf_{res}_nodes"] = len(sdf.sparse_index)
    ctx.metrics["sdf_seconds"] = sdf.stats.get("time_sparse_sdf")


def step_sample(ctx: AssetContext) -> None:
    """Surface, salient-edge and SDF samples of the watertight mesh."""
    from meshprep.sample import sample_asset

    watertight = ctx.require("watertight", "sample", "watertight")
    params = ctx.config["sample"]
    ctx.samples = sample_asset(
        watertight, ctx.canonical, surface=params["surface"], salient=params["salient"],
        volume=params["volume"], near=params["near"], angle=params["angle"],
        salient_from=params["salient_from"], fps=_fps_count(ctx.config),
        seed=ctx.config["run"]["seed"],
    )
    ctx.metrics.update(salient_edges=int(ctx.samples.salient_stats.salient_edges),
                       salient_fallback=bool(ctx.samples.salient_stats.fallback))
    _check_signs(ctx, watertight)


def _fps_count(config: dict) -> int:
    """``sample.fps``, raised to what the ``[write]`` sample layouts farthest-point sample."""
    from meshprep.export.layouts import get_layout

    from .config import sample_layouts

    return max([config["sample"]["fps"], *(get_layout(n).fps for n in sample_layouts(config))])


def _check_signs(ctx: AssetContext, watertight) -> None:
    """The sign check (sample/check.py) into the metrics, and the curation decision again:
    labels that disagree with the mesh flag the asset with the reason (or drop it when
    ``[curate] drop`` names the rule)."""
    import time

    from meshprep.curate import decide
    from meshprep.sample.check import sign_check

    from .config import curation_params

    start = time.perf_counter()
    ctx.metrics.update(sign_check(watertight, ctx.samples, seed=ctx.config["run"]["seed"]))
    ctx.metrics["check_seconds"] = time.perf_counter() - start
    decision, reason = decide(ctx.metrics, curation_params(ctx.config))
    ctx.metrics.update(curation=decision, curation_reason=reason)
    if decision == "drop":
        raise SkipAsset(reason)


def step_write(ctx: AssetContext) -> None:
    """Write the watertight mesh and the samples into the staging folder."""
    from meshprep.io import write_mesh
    from meshprep.sample import write_layout
    from meshprep.sample.layouts import WATERTIGHT_FILES, write_compact

    layout = ctx.config["sample"]["layout"]
    compact = ctx.config["sample"]["compact"] and layout == "meshprep"
    if ctx.watertight is not None and layout == "meshprep":
        write_mesh(ctx.watertight, ctx.staging / WATERTIGHT_FILES[0 if compact else -1])
    _write_structure(ctx)
    if ctx.samples is not None and compact:
        write_compact(ctx.samples, ctx.staging)
    elif ctx.samples is not None:
        dtype = np.float16 if ctx.config["sample"]["float16"] else np.float32
        write_layout(layout, ctx.samples, ctx.staging, watertight=ctx.watertight,
                     asset_id=ctx.task.asset_id, dtype=dtype)
    if "hunyuan3d-paint" in ctx.config["write"]["layouts"]:
        _write_paint(ctx)
    if "step1x3d-texture" in ctx.config["write"]["layouts"]:
        _write_step1x3d_texture(ctx)
    if "partcrafter" in ctx.config["write"]["layouts"]:
        _write_partcrafter_image(ctx)


def _write_partcrafter_image(ctx: AssetContext) -> None:
    """PartCrafter's condition image of the textured source into ``partcrafter/`` (the export
    links it into the item), unless the extract step removed parts of the source."""
    from meshprep.export.layout_partcrafter import write_condition_image

    loaded = ctx.require("mesh", "write", "load")
    if ctx.canonical is not None and len(ctx.canonical.faces) != len(loaded.faces):
        ctx.metrics["partcrafter_skipped"] = "the extract step removed parts of the source"
        return
    ctx.metrics.update(write_condition_image(
        ctx.staging, loaded, appearance=loaded.metadata.get("meshprep_appearance")))


def _write_structure(ctx: AssetContext) -> None:
    """``parts.npz`` and ``rig.npz``: the canonical mesh with its parts and with its rig, for
    the part and rig layouts (``meshprep export --layout partcrafter`` ...)."""
    from meshprep.io.parts import PARTS_FILE, save_parts
    from meshprep.io.rig import RIG_FILE, save_rig

    mesh = ctx.canonical
    if mesh is None:
        return
    if ctx.parts is not None:
        save_parts(ctx.staging / PARTS_FILE, mesh.vertices, mesh.faces, ctx.parts,
                   iou_list=ctx.part_iou)
        ctx.metrics["parts_stored"] = int((ctx.parts.face_counts() > 0).sum())
    if ctx.rig is not None:
        save_rig(ctx.staging / RIG_FILE, mesh.vertices, mesh.faces, ctx.rig)
        ctx.metrics["rig_joints_stored"] = len(ctx.rig.names)


def _write_paint(ctx: AssetContext) -> None:
    """Hunyuan3D-2.1 Paint's renders of the textured source into ``hunyuan3d-paint/`` (the
    export links them into ``OUTPUT/hunyuan3d-paint/``), or the reason it is skipped."""
    from meshprep.export.layout_hunyuan3d_paint import write_paint_asset
    from meshprep.render.cameras import asset_seed

    loaded = ctx.require("mesh", "write", "load")
    look = loaded.metadata.get("meshprep_appearance")
    # the extract step removed parts: the renders would show them (materials follow the source)
    extracted = ctx.canonical is not None and len(ctx.canonical.faces) != len(loaded.faces)
    ctx.metrics.update(write_paint_asset(
        ctx.staging, loaded, appearance=look, seed=asset_seed(ctx.task.asset_id),
        envmaps=ctx.config["render"]["envmaps"],
        skip="the extract step removed parts of the textured source" if extracted else ""))


def _write_step1x3d_texture(ctx: AssetContext) -> None:
    """Step1X-3D's texture views of the textured source into ``step1x3d-texture/`` (the
    export links them into ``OUTPUT/step1x3d-texture/``), or the reason it is skipped."""
    from meshprep.export.layout_step1x3d_texture import write_texture_asset

    loaded = ctx.require("mesh", "write", "load")
    extracted = ctx.canonical is not None and len(ctx.canonical.faces) != len(loaded.faces)
    ctx.metrics.update(write_texture_asset(
        ctx.staging, loaded, appearance=loaded.metadata.get("meshprep_appearance"),
        skip="the extract step removed parts of the textured source" if extracted else ""))


def step_render(ctx: AssetContext) -> None:
    """Views of the input and/or the watertight mesh into ``renders/<target>/`` (staging)."""
    from meshprep.render.cameras import asset_seed

    params = ctx.config["render"]
    # seeded from the asset id so random camera sets reproduce for the same asset
    seed = asset_seed(ctx.task.asset_id)
    if "hunyuan3d" in ctx.config["write"]["layouts"]:
        _render_hunyuan3d_cond(ctx, seed)
    meshes = {"input": ctx.canonical if ctx.canonical is not None else ctx.mesh,
              "watertight": ctx.watertight}
    for target in params["targets"]:
        mesh = meshes[target]
        if mesh is None:
            continue
        out = ctx.staging / "renders" / target
        if params["backend"] == "blender":
            result = _render_with_blender(ctx, target, mesh, out, seed)
        else:
            from meshprep.render import render_views

            look = ctx.mesh.metadata.get("meshprep_appearance") if target == "input" else None
            result = render_views(mesh, out, params["cameras"], size=params["size"],
                                  passes=tuple(params["passes"]), seed=seed, appearance=look)
        ctx.metrics[f"render_{target}_seconds"] = result.seconds
    if ctx.samples is not None and meshes["input"] is not None and \
            len(ctx.samples.salient_points):
        from meshprep.render.views import render_points_overlay

        # the salient-edge samples over the shape, for the report's gallery
        render_points_overlay(meshes["input"], ctx.samples.salient_points,
                              ctx.staging / "renders" / "salient.png", params["cameras"],
                              size=params["size"], seed=seed)


def _render_hunyuan3d_cond(ctx: AssetContext, seed: int) -> None:
    """Hunyuan3D-2.1's DiT condition views of the textured asset into ``hunyuan3d/`` (the
    export links them into each item's ``render_cond/``)."""
    from meshprep.export.layout_meshprep import write_hunyuan3d_cond

    loaded = ctx.require("mesh", "render", "load")
    mesh = ctx.canonical if ctx.canonical is not None else loaded
    look = loaded.metadata.get("meshprep_appearance")
    if len(mesh.faces) != len(loaded.faces):  # the extract step removed parts: no materials
        look = None
    ctx.metrics.update(write_hunyuan3d_cond(ctx.staging, mesh, appearance=look, seed=seed))


def _render_with_blender(ctx: AssetContext, target: str, mesh, out: Path, seed: int):
    """The input file itself when Blender imports it (its materials too), else the mesh as PLY."""
    from meshprep.blender import BLENDER_FORMATS
    from meshprep.io import write_mesh
    from meshprep.render.blender import render_blender

    params = ctx.config["render"]
    options = dict(size=params["size"], passes=tuple(params["passes"]), seed=seed,
                   engine=params["engine"], samples=params["samples"])
    source = Path(ctx.path) if ctx.path is not None else None
    importable = {".glb", ".gltf", ".obj", ".ply", ".stl", *BLENDER_FORMATS}
    if target == "input" and source is not None and source.suffix.lower() in importable:
        # the file as loaded (not the canonical mesh): the coordinates Blender imports
        return render_blender(source, out, params["cameras"], mesh=ctx.mesh, **options)
    with tempfile.TemporaryDirectory(prefix="meshprep-render-") as folder:
        ply = Path(folder) / f"{target}.ply"
        write_mesh(mesh, ply)
        return render_blender(ply, out, params["cameras"], mesh=mesh, **options)


BUILTIN_STEPS: dict[str, Callable[[AssetContext], None]] = {
    "load": step_load,
    "normalize": step_normalize,
    "curate": step_curate,
    "extract": step_extract,
    "watertight": step_watertight,
    "voxelize": step_voxelize,
    "sample": step_sample,
    "render": step_render,
    "write": step_write,
}


def resolve_step(name: str) -> Callable[[AssetContext], None]:
    """A built-in step by name, or a user step by ``"module:function"``."""
    if name in BUILTIN_STEPS:
        return BUILTIN_STEPS[name]
    module_name, _, function_name = name.partition(":")
    if not function_name:
        raise PipelineError(f"unknown step {name!r}: use one of {', '.join(BUILTIN_STEPS)} "
                            "or 'module:function'")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise PipelineError(f"cannot import step {name!r}: {exc}") from exc


def failure(task: AssetTask, error_class: str, message: str, seconds: float = 0.0,
            stage: str | None = None) -> AssetOutcome:
    """An outcome for an asset whose worker died, timed out or ran out of memory."""
    return AssetOutcome(task.asset_id, "failed", seconds, stage, error_class, message)


def process_asset(task: AssetTask, config: dict, store: OutputStore,
                  config_digest: str) -> AssetOutcome:
    """Run every configured step on one asset and publish its files; never raises.

    Parameters
    ----------
    task : AssetTask
    config : dict
        Resolved configuration.
    store : OutputStore
    config_digest : str
        Hash of ``config``, written into ``meta.json``.

    Returns
    -------
    AssetOutcome
    """
    start = time.perf_counter()
    staging = store.new_staging(task.asset_id)
    ctx = AssetContext(task, config, staging)
    outcome = AssetOutcome(task.asset_id, "ok")
    try:
        for name in config["run"]["steps"]:
            outcome.stage = name
            step_start = time.perf_counter()
            try:
                resolve_step(name)(ctx)
            except SkipAsset as exc:
                outcome.stages.append((name, "skipped", time.perf_counter() - step_start))
                outcome.status, outcome.error_message = "skipped", str(exc) or name
                break
            except Exception as exc:  # noqa: BLE001  (one asset's failure is data)
                outcome.stages.append((name, "failed", time.perf_counter() - step_start))
                outcome.status = "failed"
                outcome.error_class = type(exc).__name__
                outcome.error_message = _one_line(exc)
                break
            outcome.stages.append((name, "ok", time.perf_counter() - step_start))
        else:
            outcome.stage = None
        outcome.metrics = _plain(ctx.metrics)
        outcome.seconds = time.perf_counter() - start
        if outcome.status == "ok":
            _write_meta(ctx, outcome, config_digest)
            outcome.files = store.publish(staging, task.asset_id)
    except Exception as exc:  # noqa: BLE001  (publishing failed: still data)
        outcome.status, outcome.error_class = "failed", type(exc).__name__
        outcome.error_message = f"while publishing: {_one_line(exc)}"
    finally:
        store.discard(staging)
        if ctx.scratch is not None:
            shutil.rmtree(ctx.scratch, ignore_errors=True)
    outcome.seconds = time.perf_counter() - start
    return outcome


def _write_meta(ctx: AssetContext, outcome: AssetOutcome, config_digest: str) -> None:
    from meshprep import __version__

    meta = {
        "id": ctx.task.asset_id, "source": ctx.task.source, "uid": ctx.task.uid,
        "sha256": ctx.task.sha256, "config_hash": config_digest, "meshprep": __version__,
        "store": _store_encoding(ctx.config),
        "transform": None if ctx.transform is None else np.asarray(ctx.transform).tolist(),
        "transform_maps": "source coordinates -> canonical cube (invert it to map back)",
        "stages": [{"name": n, "status": s, "seconds": round(t, 4)}
                   for n, s, t in outcome.stages],
        "metrics": outcome.metrics,
        "files": sorted(p.relative_to(ctx.staging).as_posix() for p in ctx.staging.rglob("*")
                        if p.is_file()),
    }
    with open(ctx.staging / META, "w", encoding="utf-8") as stream:
        json.dump(meta, stream, indent=1)


def _store_encoding(config: dict) -> str:
    """How the asset's samples and watertight mesh are stored (meta.json's ``store``)."""
    from meshprep.sample.layouts import COMPACT_ENCODING

    sample = config["sample"]
    if sample["layout"] != "meshprep":
        return sample["layout"]
    return COMPACT_ENCODING if sample["compact"] else \
        ("float16" if sample["float16"] else "float32")


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line; where it came from when it has no message."""
    message = " ".join(str(exc).split())
    if message:
        return message[:500]
    if exc.__traceback__ is None:
        return "(no message)"
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"(no message) at {Path(frame.filename).name}:{frame.lineno}"


def _plain(metrics: dict) -> dict:
    """Metrics as JSON-able Python scalars."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out
