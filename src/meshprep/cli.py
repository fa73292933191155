"""The ``meshprep`` command line.

Every sub-command exits 0 on success, 1 with a one-line ``meshprep: error: ...`` on stderr when
the input cannot be used (no traceback), and 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import MeshprepError


def _add_watertight(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watertight", help="make a mesh a closed 2-manifold",
                       description="Load a mesh, normalize it, make it watertight, write it.")
    p.add_argument("input", type=Path, help="mesh file (glb, gltf, obj, ply, stl, off, dae, "
                                            "3mf, or a zip holding one)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output mesh (.ply binary recommended; .obj, .glb, .stl also work)")
    p.add_argument("-r", "--resolution", type=int, default=512, help="grid points per axis")
    p.add_argument("--target-faces", type=int, default=None,
                   help="decimate the output to about this many faces (stays closed)")
    p.add_argument("--method", choices=("band", "reference"), default="band",
                   help="'band' (default, fast, hugs the input) or the published 'reference'")
    p.add_argument("--eps", type=float, default=None,
                   help="shell half-width in voxels (default (res-1)/res, the reference's)")
    p.add_argument("--bound", type=float, default=0.95,
                   help="normalize into [-bound, bound]^3 before the grid (default 0.95)")
    p.add_argument("--normalized", action="store_true",
                   help="write the output in the canonical cube instead of input coordinates")
    p.set_defaults(run=_run_watertight)


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="report a mesh's topology",
                       description="Closedness, components, Euler characteristic and genus.")
    p.add_argument("mesh", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-weld", action="store_true",
                   help="do not merge bit-identical vertices first (STL files need merging)")
    p.set_defaults(run=_run_check)


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample", help="surface, salient-edge and SDF training samples",
        description="Sample a watertight mesh (used as it is when it is a closed 2-manifold and "
                    "no --resolution is given), or load, normalize and make any mesh watertight "
                    "first. Samples are in the canonical cube [-1, 1], signed distances negative "
                    "inside.")
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("-r", "--resolution", type=int, default=None,
                   help="make watertight at this resolution first (default 512 when the input "
                        "is not closed)")
    from .sample import defaults

    for key, count in defaults.COUNTS.items():
        p.add_argument(f"--{key}", type=int, default=count)
    p.add_argument("--angle", type=float, default=30.0, help="salient dihedral angle, degrees")
    p.add_argument("--salient-from", choices=("original", "watertight"), default="original")
    p.add_argument("--layout", choices=("meshprep", "hunyuan3d"), default="meshprep")
    p.add_argument("--float16", action="store_true", help="store meshprep-layout arrays as f16")
    p.add_argument("--id", default=None, help="asset id for file names (default: input stem)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_run_sample)


def _watertight_for_sampling(args: argparse.Namespace):
    """(watertight mesh, original mesh) in the canonical cube."""
    from .geometry import check_topology, normalize, weld_exact
    from .io import load
    from .watertight import make_watertight

    mesh = load(args.input)
    canonical, _ = normalize(mesh)
    if args.resolution is None:
        vertices, faces = weld_exact(canonical.vertices, canonical.faces)
        if check_topology(vertices, faces).closed_2manifold:
            return canonical, canonical
    result = make_watertight(canonical, args.resolution or 512)
    return result.mesh, canonical


def _run_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from .sample import sample_asset, write_layout

    watertight, original = _watertight_for_sampling(args)
    samples = sample_asset(watertight, original, surface=args.surface, salient=args.salient,
                           volume=args.volume, near=args.near, angle=args.angle,
                           salient_from=args.salient_from, seed=args.seed)
    asset_id = args.id or args.input.stem
    paths = write_layout(args.layout, samples, args.output, watertight=watertight,
                         asset_id=asset_id, dtype=np.float16 if args.float16 else np.float32)
    fallback = " (salient filled with uniform samples)" if samples.salient_stats.fallback else ""
    print(f"{args.output}: {', '.join(p.name for p in paths)}; "
          f"{samples.stats['time_total']:.2f} s{fallback}")
    return 0


def _run_watertight(args: argparse.Namespace) -> int:
    from .geometry import denormalize, normalize
    from .io import load, write_mesh
    from .watertight import make_watertight

    mesh = load(args.input)
    canonical, transform = normalize(mesh, bound=args.bound)
    result = make_watertight(canonical, args.resolution, method=args.method, eps=args.eps,
                             target_faces=args.target_faces)
    out = result.mesh if args.normalized else denormalize(result.mesh, transform)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_mesh(out, args.output)
    stats = result.stats
    print(f"{args.output}: {len(out.faces)} faces, {len(out.vertices)} vertices, closed "
          f"2-manifold, genus {result.topology.genus}, {result.topology.components} components, "
          f"{stats['time_total']:.2f} s at {args.resolution}^3 ({args.method})")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    import numpy as np

    from .geometry import check_topology, weld_exact
    from .io import load

    mesh = load(args.mesh)
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    if not args.no_weld:
        vertices, faces = weld_exact(vertices, faces)
    report = check_topology(vertices, faces)
    if args.json:
        print(json.dumps({"mesh": str(args.mesh), **report.as_dict()}))
        return 0
    verdict = "closed 2-manifold" if report.closed_2manifold else "NOT a closed 2-manifold"
    print(f"{args.mesh}: {verdict}")
    for key, value in report.as_dict().items():
        if key != "closed_2manifold":
            print(f"  {key:21s} {value}")
    return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="the whole pipeline over a dataset (resumable)",
        description="Load, normalize, make watertight, sample and write every asset of a folder "
                    "or CSV list into OUTPUT, recording each asset in OUTPUT/ledger.sqlite and "
                    "OUTPUT/manifest.parquet. Rerun the same command to resume.")
    p.add_argument("source", help="a folder of models, a CSV list (path/uri, uid, sha256 "
                                  "columns) or one model file")
    p.add_argument("-o", "--output", required=True, help="output folder or fsspec URL")
    p.add_argument("--config", type=Path, default=None, help="TOML configuration")
    p.add_argument("-r", "--resolution", type=int, default=None, help="watertight grid")
    p.add_argument("--layout", action="append", default=None, metavar="NAME",
                   help="also write this layout (repeatable; = [write] layouts): a sample "
                        "layout (`meshprep layouts`), trellis2, trellis or sparse-sdf")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None)
    p.add_argument("--timeout", type=float, default=None, help="seconds per asset")
    p.add_argument("--memory-mb", type=int, default=None, help="memory per worker")
    p.add_argument("-j", "--workers", type=int, default=None,
                   help="local worker processes (default: one per core)")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--ray-address", default=None, help="'auto' or ray://host:port")
    p.add_argument("--retry-failed", action="store_true", help="also retry earlier failures")
    p.add_argument("--ledger", type=Path, default=None,
                   help="ledger file (default OUTPUT/ledger.sqlite)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    fetching = p.add_argument_group("streaming (fetch a list while processing it)")
    fetching.add_argument("--stream", action="store_true",
                          help="SOURCE is an object list: fetch ahead into OUTPUT/raw, process, "
                               "delete each raw object once its asset is recorded")
    fetching.add_argument("--raw-budget", default="20GB",
                          help="raw bytes on disk at once (default 20GB)")
    fetching.add_argument("--keep-raw", action="store_true", help="keep raw objects")
    fetching.add_argument("--endpoint", action="append", default=[], metavar="NAME=URL")
    fetching.add_argument("--fetch-workers", type=int, default=8)
    fetching.add_argument("--limit", type=int, default=None)
    fetching.add_argument("--min-aesthetic", type=float, default=None)
    p.set_defaults(run=_run_run)


def _add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="what a run did: counts, slowest assets, top errors",
                       description="Summarize OUTPUT/ledger.sqlite.")
    p.add_argument("output", help="output folder of `meshprep run`")
    p.add_argument("--ledger", type=Path, default=None)
    p.add_argument("--export", action="store_true", help="write OUTPUT/manifest.parquet again")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--disk", action="store_true",
                   help="also measure the bytes per asset and per file kind (one pass over "
                        "OUTPUT/objects; under \"disk\" with --json)")
    p.set_defaults(run=_run_status)


def _run_run(args: argparse.Namespace) -> int:
    from .pipeline import LocalExecutor, RayExecutor, default_workers, resolve_config, run_dataset

    config = resolve_config(args.config, {
        "watertight": {"resolution": args.resolution, "device": args.device},
        "write": {"layouts": args.layout},
        "limits": {"timeout_s": args.timeout, "memory_mb": args.memory_mb},
    })
    if args.executor == "ray":
        executor = RayExecutor(args.ray_address,
                               num_gpus=1.0 if config["watertight"]["device"] == "cuda" else 0)
    else:
        executor = LocalExecutor(args.workers or default_workers())
    stream = _stream_source(args) if args.stream else None
    summary = run_dataset(args.source, args.output, config, executor=executor,
                          retry_failed=args.retry_failed, ledger_path=args.ledger,
                          progress=not args.quiet, stream=stream)
    counts = summary.counts
    adopted = f", {summary.adopted} adopted from an interrupted run" if summary.adopted else ""
    print(f"{args.output}: {summary.processed} processed this run{adopted}; dataset: "
          f"{counts['ok']} ok, {counts['failed']} failed{_infra_note(summary.failures)}, "
          f"{counts['skipped']} skipped; "
          f"manifest {summary.manifest}")
    return 0


def _infra_note(failures: dict) -> str:
    """`` (2 of them infrastructure, not the assets)`` when nodes were lost, else nothing."""
    infra = failures.get("infrastructure", 0)
    return f" ({infra} of them infrastructure, not the assets)" if infra else ""


def _stream_source(args: argparse.Namespace):
    from .data import Endpoints
    from .data.endpoints import parse_endpoint
    from .data.stream import StreamSource, parse_size
    from .pipeline import OutputStore, default_ledger_path

    store = OutputStore(args.output)
    if not store.is_local:
        raise ValueError("--stream needs a local output folder (raw files land in it)")
    ledger = args.ledger or default_ledger_path(store)
    return StreamSource(args.source, Path(store.root) / "raw", Path(ledger),
                        budget=parse_size(args.raw_budget), keep_raw=args.keep_raw,
                        endpoints=Endpoints.from_env(dict(map(parse_endpoint, args.endpoint))),
                        workers=args.fetch_workers, limit=args.limit,
                        min_aesthetic=args.min_aesthetic)


def _existing_ledger(output, ledger: Path | None) -> Path:
    """The ledger of a run's output (``--ledger`` or the default place), which must exist."""
    from .pipeline import OutputStore, default_ledger_path

    path = Path(ledger or default_ledger_path(OutputStore(output)))
    if not path.is_file():
        raise FileNotFoundError(f"no ledger at {path}: is {output} a `meshprep run` output?")
    return path


def _run_status(args: argparse.Namespace) -> int:
    from .pipeline import Ledger, OutputStore, format_summary, summarize
    from .pipeline.disk import format_disk, measure_disk
    from .pipeline.run import write_manifest

    store = OutputStore(args.output)
    with Ledger(_existing_ledger(args.output, args.ledger)) as ledger:
        summary = summarize(ledger)
        if args.export:
            summary["manifest"] = write_manifest(ledger, store)
    if args.disk:
        summary["disk"] = measure_disk(store)
    print(json.dumps(summary) if args.json else format_summary(summary))
    if args.export and not args.json:
        print(f"manifest: {summary['manifest']}")
    if args.disk and not args.json:
        print(format_disk(summary["disk"]))
    return 0


def _add_fetch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch", help="download the objects of a list, verified and resumable",
        description="Download the objects of a TRELLIS/Objaverse-XL CSV or parquet, a Step1X "
                    "JSON, a uid list or a CSV of URLs into OUTPUT/objects/<sha>/ (checksums "
                    "verified, mismatches quarantined), indexed in OUTPUT/fetched.csv.")
    p.add_argument("source", help="the object list")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--source", dest="sources", action="append", default=None,
                   choices=("objaverse", "github", "thingiverse", "url", "local"),
                   help="only objects of this source (repeatable)")
    p.add_argument("--limit", type=int, default=None, help="the first N objects of the list")
    p.add_argument("--min-aesthetic", type=float, default=None,
                   help="keep rows with aesthetic_score >= this")
    p.add_argument("-j", "--workers", type=int, default=32, help="concurrent downloads")
    p.add_argument("--per-host", type=int, default=16, help="concurrent requests per host")
    p.add_argument("--endpoint", action="append", default=[], metavar="NAME=URL",
                   help="replace a host: huggingface=, github= or thingiverse=URL (repeatable)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--retries", type=int, default=5, help="retries per request")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    from .data import Endpoints, RetryPolicy, fetch
    from .data.endpoints import parse_endpoint

    endpoints = Endpoints.from_env(dict(parse_endpoint(e) for e in args.endpoint))
    policy = RetryPolicy(attempts=args.retries + 1, timeout_s=args.timeout)
    summary = fetch(args.source, args.output, endpoints=endpoints, workers=args.workers,
                    per_host=args.per_host, limit=args.limit, min_aesthetic=args.min_aesthetic,
                    sources=tuple(args.sources) if args.sources else None, policy=policy,
                    progress=not args.quiet)
    counts = ", ".join(f"{n} {s}" for s, n in summary.counts.items() if n)
    print(f"{args.output}: {summary.listed} listed; {counts}; {summary.requests} requests, "
          f"{summary.bytes / 2**20:.1f} MB this run; index {summary.index}")
    return 0


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="multi-view normal, depth, mask and colour images",
                       description="Render a mesh from a camera set with the built-in "
                                   "rasterizer (headless, no GPU) or Blender; writes "
                                   "NNN_<pass>.png and transforms.json.")
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--cameras", default="scoring4",
                   help="hammersley:N, cond:N, ortho6, orbit:N@ELEV, scoring4 or a .json file")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--passes", default="normal,depth,mask",
                   help="comma-separated: normal, depth, mask, color, albedo, shaded, mr "
                        "(linear, G roughness, B metallic), normal_camera (OpenGL camera "
                        "axes), position (16-bit canonical coordinates), emission (sRGB)")
    p.add_argument("--backend", choices=("builtin", "blender"), default="builtin",
                   help="blender: bpy in a worker process (pip install \"meshprep[blender]\")")
    p.add_argument("--engine", choices=("cycles", "eevee", "workbench"), default="cycles",
                   help="Blender engine (--backend blender)")
    p.add_argument("--samples", type=int, default=64,
                   help="Blender samples of the color pass (--backend blender)")
    p.add_argument("--smooth", action="store_true", help="interpolated vertex normals")
    p.add_argument("--z-up", action="store_true",
                   help="the file is already Z-up (default: Y-up, turned as Blender does)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lighting",
                   choices=("headlight", "uniform", "trellis2", "trellis", "envmap"),
                   default="headlight",
                   help="color pass: headlight (cheap preview) or Cycles-like PBR shading "
                        "under a white world, TRELLIS.2's random lights, TRELLIS's lights or "
                        "an environment map of --envmaps per view")
    p.add_argument("--envmaps", default=None, metavar="DIR",
                   help="--lighting envmap: a folder of equirectangular .hdr / .exr maps (one "
                        "drawn per view, and its rotation, from --seed)")
    p.add_argument("--view-transform", choices=("filmic", "standard", "agx"), default="filmic",
                   help="Blender view transform of the PBR-lit color pass")
    p.set_defaults(run=_run_render)


def _run_render(args: argparse.Namespace) -> int:
    from .io import load
    from .render import render_views

    passes = tuple(p.strip() for p in args.passes.split(",") if p.strip())
    if args.lighting == "envmap" and not args.envmaps:
        print("meshprep render: --lighting envmap needs --envmaps DIR", file=sys.stderr)
        return 2
    if args.backend == "blender":
        from .render.blender import render_blender

        result = render_blender(args.input, args.output, args.cameras, size=args.size,
                                passes=passes, engine=args.engine, samples=args.samples,
                                y_up=not args.z_up, seed=args.seed)
    else:
        colour = bool({"color", "albedo", "mr", "normal_camera", "emission"} & set(passes))
        result = render_views(load(args.input, appearance=colour), args.output, args.cameras,
                              size=args.size, passes=passes, smooth=args.smooth,
                              y_up=not args.z_up, seed=args.seed, lighting=args.lighting,
                              view_transform=args.view_transform, envmaps=args.envmaps)
    print(f"{args.output}: {result.frames} views, {len(result.files)} files, "
          f"{result.seconds:.2f} s")
    return 0


def _add_voxelize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("voxelize", help="sparse voxels for sparse-voxel models (TRELLIS.2)",
                       description="Load one asset and write its sparse voxels. ovoxel: "
                                   "TRELLIS.2's O-Voxels, dual_grid_<res>.vxz (shape) and "
                                   "pbr_voxels_<res>.vxz (PBR attributes), in the Z-up world "
                                   "of meshprep's renders.")
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--format", choices=("ovoxel", "trellis", "sparse-sdf"), default="ovoxel",
                   help="ovoxel: TRELLIS.2's O-Voxels; trellis: TRELLIS's 150 renders, mesh.ply, "
                        "64³ voxels.ply (and DINOv2 features with --dinov2); sparse-sdf: "
                        "sparse_sdf_<res>.npz beside the watertight.ply whose frame it uses")
    p.add_argument("--truncation", type=float, default=4.0,
                   help="sparse-sdf: band half-width in voxels")
    p.add_argument("-r", "--resolution", type=int, action="append", default=None,
                   help="voxels per axis (repeat for several; default 256)")
    p.add_argument("--no-pbr", action="store_true", help="shape only")
    p.add_argument("--views", type=int, default=150, help="trellis: Hammersley views")
    p.add_argument("--features", choices=("dinov2",), default=None,
                   help="trellis: voxel features (needs --dinov2)")
    p.add_argument("--dinov2", default=None, help="local DINOv2 model folder (transformers)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="trellis: the DINOv2 device; sparse-sdf: the watertight step's and the "
                        "distances' (cuda: Warp, meshprep[gpu])")
    p.set_defaults(run=_run_voxelize)


def _run_voxelize(args: argparse.Namespace) -> int:
    if args.format == "trellis":
        return _run_voxelize_trellis(args)
    if args.format == "sparse-sdf":
        return _run_voxelize_sparse_sdf(args)
    return _run_voxelize_ovoxel(args)


def _run_voxelize_sparse_sdf(args: argparse.Namespace) -> int:
    from .geometry import normalize
    from .io import load, write_mesh
    from .voxel import sparse_sdf
    from .watertight import make_watertight

    res = (args.resolution or [512])[-1]
    canonical, _ = normalize(load(args.input))
    result = make_watertight(canonical, res, device=args.device)
    sdf = sparse_sdf(result, res, truncation=args.truncation, device=args.device)
    args.output.mkdir(parents=True, exist_ok=True)
    write_mesh(result.mesh, args.output / "watertight.ply")
    path = sdf.save(args.output / sdf.filename)
    print(f"{path}: {len(sdf.sparse_index)} nodes within {args.truncation:g} voxels "
          f"(watertight {result.stats['time_total']:.2f} s, "
          f"sparse SDF {sdf.stats['time_sparse_sdf']:.2f} s)")
    return 0


def _run_voxelize_trellis(args: argparse.Namespace) -> int:
    from .export import write_trellis_asset
    from .io import load

    if args.features and not args.dinov2:
        raise ValueError("--features dinov2 needs --dinov2 PATH (a local model folder)")
    mesh = load(args.input, appearance=True)
    metrics = write_trellis_asset(args.output, mesh,
                                  appearance=mesh.metadata.get("meshprep_appearance"),
                                  views=args.views, dinov2=args.dinov2 if args.features else None,
                                  device=args.device)
    print(f"{args.output / 'trellis'}: {metrics['trellis_voxels']} voxels, "
          f"{args.views} views")
    return 0


def _run_voxelize_ovoxel(args: argparse.Namespace) -> int:
    import time

    import trimesh

    from .export.trellis2 import dual_grid_name, pbr_name, z_up_vertices
    from .io import load
    from .voxel import flexible_dual_grids, pbr_voxels_multi, write_vxz

    resolutions = sorted(set(args.resolution or [256]))
    mesh = load(args.input, appearance=not args.no_pbr)
    vertices, faces = z_up_vertices(mesh.vertices), mesh.faces
    args.output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for res, grid in flexible_dual_grids(vertices, resolutions, faces=faces).items():
        write_vxz(args.output / dual_grid_name(res), grid.coords,
                  {"vertices": grid.vertices_u8(), "intersected": grid.intersected_u8()})
        print(f"{args.output / dual_grid_name(res)}: {len(grid)} voxels")
    if not args.no_pbr:
        look = mesh.metadata.get("meshprep_appearance")
        z_up = trimesh.Trimesh(vertices, faces, process=False)
        for res, (coords, attrs) in pbr_voxels_multi(z_up, resolutions, appearance=look).items():
            write_vxz(args.output / pbr_name(res), coords, attrs)
            print(f"{args.output / pbr_name(res)}: {len(coords)} voxels")
    print(f"{time.perf_counter() - start:.2f} s")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a finished run's samples in a trainer's layout",
                       description="Write the stored samples of every finished asset of a "
                                   "`meshprep run` output in a registered layout (meshprep "
                                   "layouts lists them); nothing is recomputed. Resumable: "
                                   "a rerun skips what is done. Writes the layout's item "
                                   "lists where its loader opens them and its own records in "
                                   "OUTPUT/.meshprep-export/ (export.parquet). A store with "
                                   "fewer samples than the layout needs is refused, naming the "
                                   "smallest [sample] config that fits. With --shards N: "
                                   "WebDataset tar shards of N assets each in "
                                   "OUTPUT/shards/ (a folder or fsspec URL), with "
                                   "OUTPUT/shards/index.json.")
    p.add_argument("dataset", type=Path, help="a `meshprep run` output folder")
    p.add_argument("--layout", required=True)
    p.add_argument("-o", "--output", required=True,
                   help="output folder (with --shards also an fsspec URL: s3://bucket/x)")
    p.add_argument("--shards", type=int, default=None, metavar="N",
                   help="pack the layout's files into tar shards of N assets each")
    p.add_argument("--ids", type=Path, default=None, help="file with one asset id per line")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--include-flagged", action="store_true",
                   help="also export assets whose labels the run's sign check flagged")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from .export.run import export_dataset
    from .pipeline.sources import is_uri

    ids = None
    if args.ids is not None:
        ids = [line.strip() for line in args.ids.read_text().splitlines() if line.strip()]
    if args.shards is not None:
        return _run_export_shards(args, ids)
    if is_uri(args.output):
        raise MeshprepError(f"{args.output}: a URL output needs --shards N")
    summary = export_dataset(args.dataset, args.layout, args.output, ids=ids,
                             workers=args.workers, progress=not args.no_progress,
                             include_flagged=args.include_flagged)
    flagged = f", {summary.flagged} flagged by the run's sign check" if summary.flagged else ""
    print(f"{args.output}: {summary.exported} exported, {summary.skipped} already done, "
          f"{summary.failed} failed{flagged} of {summary.listed} in {summary.seconds:.1f} s; "
          f"manifest {summary.manifest}")
    if summary.lists:
        print("item lists: " + ", ".join(summary.lists))
    for line in summary.errors[:5]:
        print(f"  failed {line}", file=sys.stderr)
    return 0 if summary.failed == 0 else 1


def _run_export_shards(args: argparse.Namespace, ids: list[str] | None) -> int:
    from .export.shards import export_shards

    shards = export_shards(args.dataset, args.layout, args.output, shards=args.shards, ids=ids,
                           workers=args.workers, progress=not args.no_progress,
                           include_flagged=args.include_flagged)
    summary = shards.export
    flagged = f", {summary.flagged} flagged by the run's sign check" if summary.flagged else ""
    print(f"{args.output}: {summary.exported} exported, {summary.skipped} already done, "
          f"{summary.failed} failed{flagged} of {summary.listed}; {shards.assets} assets in "
          f"{shards.shards} shards ({shards.written} written, {shards.kept} kept, "
          f"{shards.bytes_written / 1e6:.1f} MB) in {shards.seconds:.1f} s; index {shards.index}")
    if shards.lists:
        print("item lists: " + ", ".join(shards.lists))
    for line in summary.errors[:5]:
        print(f"  failed {line}", file=sys.stderr)
    return 0 if summary.failed == 0 else 1


def _add_layouts(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layouts", help="every layout: files, keys, shapes, dtypes, sign, range",
                       description="The registered sample layouts and their conventions.")
    p.add_argument("--markdown", action="store_true", help="the README's table")
    p.set_defaults(run=_run_layouts)


def _run_layouts(args: argparse.Namespace) -> int:
    from .export.layouts import all_layouts, describe, markdown_table

    if args.markdown:
        print(markdown_table())
    else:
        print("\n\n".join(describe(layout) for layout in all_layouts()))
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="an HTML report of a run's output",
                       description="Write OUTPUT/report/index.html: overview, gallery, failures.")
    p.add_argument("output", type=Path, help="output folder of `meshprep run`")
    p.add_argument("--ledger", type=Path, default=None)
    p.add_argument("--render-missing", action="store_true",
                   help="render a watertight thumbnail where the run did not")
    p.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from .report import build_report

    index = build_report(args.output, ledger_path=_existing_ledger(args.output, args.ledger),
                         render_missing=args.render_missing)
    print(f"report: {index}")
    return 0


def _add_curate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("curate", help="re-decide keep / flag / drop from stored metrics",
                       description="Apply the [curate] thresholds of a config to the metrics "
                                   "the run stored (nothing is recomputed); finds duplicates.")
    p.add_argument("output", type=Path, help="output folder of `meshprep run`")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML with a [curate] section (and [parts] min, max)")
    p.add_argument("--ledger", type=Path, default=None)
    p.set_defaults(run=_run_curate)


def _run_curate(args: argparse.Namespace) -> int:
    from .pipeline import Ledger, OutputStore, resolve_config
    from .pipeline.config import curation_params
    from .pipeline.curation import curate_dataset
    from .pipeline.run import write_manifest

    ledger = _existing_ledger(args.output, args.ledger)
    params = curation_params(resolve_config(args.config))
    result = curate_dataset(args.output, params, ledger)
    with Ledger(ledger) as opened:
        manifest = write_manifest(opened, OutputStore(args.output))
    decisions = ", ".join(f"{n} {d}" for d, n in sorted(result["decisions"].items()))
    print(f"{args.output}: {decisions}; {result['duplicates']} duplicates; "
          f"{result['newly_skipped']} newly skipped, {result['requeued']} back to pending "
          f"(rerun `meshprep run` to process them); manifest {manifest}")
    return 0


#: ``meshprep.curate.score.extractor_names()``, spelled out so the parser imports nothing
_EXTRACTORS = ("builtin", "dinov2", "clip", "clip+dinov2")


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="train or apply the quality scorer",
                       description="A ridge regressor on normal-view features and metrics.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = actions.add_parser("train", help="fit on human ratings (CSV id,score)")
    train.add_argument("ratings", type=Path)
    train.add_argument("-o", "--output", type=Path, required=True, help="scorer JSON")
    train.add_argument("--dataset", type=Path, required=True, help="a `meshprep run` output")
    train.add_argument("--alpha", type=float, default=1.0, help="ridge penalty")
    train.add_argument("--extractor", choices=_EXTRACTORS, default="builtin",
                       help="features: 'builtin' (view statistics, no weights) or embeddings of "
                            "the normal views (needs meshprep[embed] and --dinov2 / --clip)")
    predict = actions.add_parser("predict", help="add quality_score to a dataset's manifest")
    predict.add_argument("dataset", type=Path)
    predict.add_argument("--model", type=Path, required=True)
    for action, note in ((train, "recorded in the scorer"), (predict, "default: the scorer's")):
        action.add_argument("--dinov2", type=Path, default=None, metavar="PATH",
                            help=f"local DINOv2 weights folder (save_pretrained; {note})")
        action.add_argument("--clip", type=Path, default=None, metavar="PATH",
                            help=f"local CLIP weights folder (save_pretrained; {note})")
        action.add_argument("--device", default="cpu",
                            help="torch device of the embedding extractors (cpu, cuda)")
    p.set_defaults(run=_run_score)


def _run_score(args: argparse.Namespace) -> int:
    from .curate.score import Scorer
    from .pipeline import Ledger, OutputStore
    from .pipeline.curation import predict_dataset, train_from_ratings
    from .pipeline.run import write_manifest

    paths = {key: path for key, path in (("dinov2", args.dinov2), ("clip", args.clip)) if path}
    if args.action == "train":
        scorer = train_from_ratings(args.ratings, args.dataset, alpha=args.alpha,
                                    extractor=args.extractor, model_paths=paths,
                                    device=args.device)
        scorer.save(args.output)
        print(f"{args.output}: {scorer.n_train} rated assets, {len(scorer.features)} features "
              f"({scorer.extractor}), cross-validated R^2 {scorer.cv_r2:.3f}")
        return 0
    count = predict_dataset(args.dataset, Scorer.load(args.model), model_paths=paths,
                            device=args.device)
    with Ledger(args.dataset / "ledger.sqlite") as ledger:
        manifest = write_manifest(ledger, OutputStore(args.dataset))
    print(f"{args.dataset}: quality_score for {count} assets; manifest {manifest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``meshprep`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="meshprep", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"meshprep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_run, _add_status, _add_report, _add_curate, _add_score, _add_fetch, _add_render,
    _add_voxelize, _add_export, _add_layouts,
    _add_watertight, _add_sample, _add_check,
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (MeshprepError, OSError, ValueError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"meshprep: error: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("meshprep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
