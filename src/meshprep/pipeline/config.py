"""The run configuration: a TOML file with documented defaults, resolved, hashed and saved.

Every key has a default (``DEFAULTS``); a user's ``meshprep.toml`` overrides some of them::

    [run]
    steps = ["load", "normalize", "curate", "watertight", "voxelize", "sample", "render",
             "write"]
    seed = 0

    [limits]                     # per asset, enforced by the executor
    timeout_s = 600.0            # wall clock
    memory_mb = 8000             # resident memory of the worker process
    memory_request_mb = 1500     # what the Ray executor asks the scheduler for per asset
    infra_retries = 3            # Ray: resubmissions of an asset whose node was lost

    [normalize]
    bound = 0.95

    [watertight]
    resolution = 512
    method = "band"              # or "reference"
    target_faces = 0             # 0: no decimation
    device = "cpu"

    [curate]                     # thresholds of the "curate" step; `meshprep curate` re-decides
    max_plane_share = 0.9        # area share on one plane
    min_thinness = 0.03          # smallest / largest principal extent of the surface
    max_ground_tile_share = 0.15 # area share of a floor the object stands on
    max_objects = 1              # separate objects (touching parts are one object)
    max_floater_share = 0.001    # area share of small parts apart from the object
    max_pose_ratio = 3.0         # animated glTF: frame-0 box over rest box (or its inverse)
    max_far_inside = 0.0         # sign check: share of far volume points labelled inside
    max_sign_disagreement = 0.02 # sign check: share of labels against ray parity
    max_volume_sigma = 6.0       # sign check: inside share vs volume, binomial sigmas
    max_part_iou = 0.5           # parts: voxel IoU of two parts (PartCrafter's iou_max)
    min_part_share = 0.0005      # parts: area share of the smallest part
    max_rig_weight_error = 0.0   # rig: share of skinned vertices whose weights do not sum to 1
    max_rig_joints_outside = 0.0 # rig: share of joints outside the mesh's box (+5% diagonal)
    max_rig_unused_bones = 0.25  # rig: share of leaf joints no vertex is weighted to
    drop = ["plane"]             # rules that drop (skip) an asset; the others flag it

    [parts]                      # per-face parts (the scene's geometries), parts.npz
    store = false                # load and store them (on by itself for part layouts)
    min = 1                      # curation rule "parts": part count outside [min, max]
    max = 16

    [rig]                        # skeleton and skin weights at frame 0, rig.npz
    store = true                 # store them for every skinned asset

    [render]                     # the "render" step
    cameras = "scoring4"         # hammersley:N, cond:N, ortho6, orbit:N@ELEV, scoring4
    size = 256
    passes = ["normal"]          # normal, depth, mask, color, albedo, shaded
    targets = ["input", "watertight"]
    backend = "builtin"          # builtin (numba rasterizer) or blender (meshprep[blender])
    engine = "cycles"            # blender backend: cycles, eevee or workbench
    samples = 64                 # blender backend: samples of the color pass
    envmaps = ""                 # folder of equirectangular HDR/EXR maps (hunyuan3d-paint's
                                 # light_ENVMAP: one drawn per view, seeded by the asset)

    [sample]                     # defaults cover every `meshprep layouts` layout's needs
    surface = 300000             # (meshprep.sample.defaults: UltraShape's 300000 + 300000,
    salient = 300000             # Dora's 400000 near rows around uniform samples)
    volume = 250000
    near = 600000
    angle = 30.0
    salient_from = "original"    # or "watertight"
    layout = "meshprep"          # or "hunyuan3d"
    float16 = false
    compact = true               # the store's compact encoding (meshprep.sample.compact: 16-bit
                                 # positions, octahedral normals, float16 distances, zstd;
                                 # watertight.npz); false: float32 (float16) npz, watertight.ply
    fps = 0                      # store the first N farthest-point samples' order (raised to
                                 # what the [write] layouts need: dora 32768)

    [voxel]                      # the "voxelize" step (runs for the layouts that need voxels)
    resolutions = [256, 512, 1024]   # O-Voxel resolutions (TRELLIS.2)
    pbr = true                   # O-Voxel PBR attributes beside the shape
    cond_views = 16              # TRELLIS.2 condition views (cond:N cameras), 0: none
    cond_size = 1024
    trellis_views = 150          # TRELLIS (v1) renders (hammersley:N, 512²)
    trellis_size = 512
    dinov2 = ""                  # local DINOv2 folder: TRELLIS voxel features (meshprep[embed])
    feature_device = "cpu"       # or "cuda"
    sdf_resolution = 0           # sparse SDF grid nodes per axis (0: the watertight step's)
    truncation = 4.0             # sparse SDF band half-width, voxels

    [write]
    layouts = []                 # what other trainers read: "trellis2", "trellis", "sparse-sdf"
                                 # (voxels), or any `meshprep layouts` name (written to
                                 # OUTPUT/<layout>/ from the store at the end of the run)

The *hash* covers every section that changes what is written for an asset (all but ``[limits]``,
``[curate]`` and ``[parts] min / max``, whose thresholds only decide which assets go on), so an
output folder made with one configuration is never silently extended with another.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tomllib
from typing import Any

from meshprep.errors import MeshprepError
from meshprep.sample import defaults as sample_defaults

DEFAULTS: dict[str, dict[str, Any]] = {
    "run": {
        "steps": ["load", "normalize", "curate", "watertight", "voxelize", "sample", "render",
                  "write"],
        "seed": 0,
    },
    "limits": {"timeout_s": 600.0, "memory_mb": 8000, "memory_request_mb": 1500,
               "infra_retries": 3},
    "normalize": {"bound": 0.95},
    "watertight": {"resolution": 512, "method": "band", "target_faces": 0, "device": "cpu"},
    "sample": {
        **sample_defaults.COUNTS,
        "angle": 30.0,
        "salient_from": "original",
        "layout": "meshprep",
        "float16": False,
        "compact": True,
        "fps": 0,
    },
    "voxel": {"resolutions": [256, 512, 1024], "pbr": True, "cond_views": 16,
              "cond_size": 1024, "trellis_views": 150, "trellis_size": 512, "dinov2": "",
              "feature_device": "cpu", "sdf_resolution": 0, "truncation": 4.0},
    "write": {"layouts": []},
    "curate": {"max_plane_share": 0.9, "min_thinness": 0.03, "max_ground_tile_share": 0.15,
               "max_objects": 1, "max_floater_share": 0.001, "max_pose_ratio": 3.0,
               "max_far_inside": 0.0, "max_sign_disagreement": 0.02, "max_volume_sigma": 6.0,
               "max_part_iou": 0.5, "min_part_share": 0.0005, "max_rig_weight_error": 0.0,
               "max_rig_joints_outside": 0.0, "max_rig_unused_bones": 0.25,
               "drop": ["plane"]},
    "parts": {"store": False, "min": 1, "max": 16},
    "rig": {"store": True},
    "render": {"cameras": "scoring4", "size": 256, "passes": ["normal"], "targets":
               ["input", "watertight"], "backend": "builtin", "engine": "cycles",
               "samples": 64, "envmaps": ""},
}

#: sections that do not change the files an asset produces, left out of the hash
UNHASHED_SECTIONS = ("limits", "curate")
#: keys of hashed sections that only decide which assets go on (curation thresholds)
UNHASHED_KEYS = (("parts", "min"), ("parts", "max"))

_CHOICES = {
    ("watertight", "method"): ("band", "reference"),
    ("watertight", "device"): ("cpu", "cuda"),
    ("sample", "salient_from"): ("original", "watertight"),
    ("sample", "layout"): ("meshprep", "hunyuan3d"),
    ("render", "backend"): ("builtin", "blender"),
    ("render", "engine"): ("cycles", "eevee", "workbench"),
    ("voxel", "feature_device"): ("cpu", "cuda"),
}
_LIST_CHOICES = {
    ("curate", "drop"): ("plane", "flat", "ground", "multi", "floaters", "animation",
                         "duplicate", "labels", "label_sign", "label_volume", "parts",
                         "part_overlap", "tiny_part", "rig_weights", "rig_joints",
                         "rig_bones"),
    ("render", "passes"): ("normal", "depth", "mask", "color", "albedo", "shaded"),
    ("render", "targets"): ("input", "watertight"),
}
#: ``[write] layouts`` the voxelize step writes; every other entry must be a registered sample
#: layout (``meshprep layouts``)
VOXEL_LAYOUTS = ("trellis2", "trellis", "sparse-sdf")


class ConfigError(MeshprepError):
    """The configuration has an unknown key, a value of the wrong type, or a bad choice."""


def default_config() -> dict[str, dict[str, Any]]:
    """A fresh copy of ``DEFAULTS``."""
    return copy.deepcopy(DEFAULTS)


def resolve_config(
    path: str | os.PathLike[str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Defaults, then the TOML file at ``path``, then ``overrides`` (from the command line).

    Parameters
    ----------
    path : path-like, optional
        A TOML file; sections and keys must be among ``DEFAULTS``, except that ``[steps.NAME]``
        tables hold free parameters for user steps.
    overrides : dict, optional
        ``{"section": {"key": value}}``; ``None`` values are ignored.

    Returns
    -------
    dict
        The full configuration, every key present and validated.

    Raises
    ------
    ConfigError
        Unreadable TOML, unknown section or key, wrong type or a value outside its choices.
    """
    config = default_config()
    if path is not None:
        try:
            with open(path, "rb") as stream:
                _merge(config, tomllib.load(stream), source=os.fspath(path))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {os.fspath(path)}: {exc}") from exc
    if overrides:
        cleaned = {s: {k: v for k, v in kv.items() if v is not None} for s, kv in overrides.items()}
        _merge(config, cleaned, source="command line")
    _validate(config)
    return config


def _merge(config: dict, update: dict, *, source: str) -> None:
    for section, values in update.items():
        if section == "steps":  # free parameters of user steps
            config.setdefault("steps", {}).update(copy.deepcopy(values))
            continue
        if section not in DEFAULTS or not isinstance(values, dict):
            raise ConfigError(f"{source}: unknown section [{section}]; known: "
                              f"{', '.join(DEFAULTS)}, steps")
        for key, value in values.items():
            if key not in DEFAULTS[section]:
                raise ConfigError(f"{source}: unknown key {section}.{key}; known: "
                                  f"{', '.join(DEFAULTS[section])}")
            config[section][key] = value


def _validate(config: dict) -> None:
    for section, defaults in DEFAULTS.items():
        for key, default in defaults.items():
            value = config[section][key]
            expected = float if isinstance(default, float) else type(default)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = config[section][key] = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"{section}.{key} must be {expected.__name__}, "
                                  f"got {value!r}")
            choices = _CHOICES.get((section, key))
            if choices and value not in choices:
                raise ConfigError(f"{section}.{key} must be one of {choices}, got {value!r}")
            choices = _LIST_CHOICES.get((section, key))
            if choices and not set(value) <= set(choices):
                raise ConfigError(f"{section}.{key} entries must be among {choices}, "
                                  f"got {value!r}")
    steps = config["run"]["steps"]
    if not steps or not all(isinstance(s, str) for s in steps):
        raise ConfigError("run.steps must be a non-empty list of step names")
    resolutions = config["voxel"]["resolutions"]
    if not resolutions or not all(isinstance(r, int) and 8 <= r <= 4096 for r in resolutions):
        raise ConfigError(f"voxel.resolutions must be integers in [8, 4096], got {resolutions!r}")
    for key in ("timeout_s", "memory_mb", "memory_request_mb"):
        if config["limits"][key] <= 0:
            raise ConfigError(f"limits.{key} must be positive")
    _check_write_layouts(config)
    parts = config["parts"]
    if not 1 <= parts["min"] <= parts["max"]:
        raise ConfigError(f"parts.min and parts.max must satisfy 1 <= min <= max, got "
                          f"{parts['min']} and {parts['max']}")
    envmaps = config["render"]["envmaps"]
    if envmaps and not os.path.isdir(envmaps):
        raise ConfigError(f"render.envmaps must be a folder of HDR/EXR maps, got {envmaps!r}")
    retries = config["limits"]["infra_retries"]
    if not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"limits.infra_retries must be an integer >= 0, got {retries!r}")


def curation_params(config: dict) -> dict:
    """The thresholds :func:`meshprep.curate.decide` applies: ``[curate]`` with the part
    count's bounds of ``[parts]`` (``min_parts``, ``max_parts``)."""
    return {**config["curate"], "min_parts": config["parts"]["min"],
            "max_parts": config["parts"]["max"]}


def stores(config: dict, what: str) -> bool:
    """Whether the run loads and stores ``what`` (``"parts"``, ``"rig"``): its section's
    ``store``, or a ``[write]`` layout that reads it."""
    from meshprep.export.layouts import get_layout

    return config[what]["store"] or any(
        what in get_layout(n).store_needs for n in sample_layouts(config))


def sample_layouts(config: dict) -> list[str]:
    """The ``[write] layouts`` that are sample layouts (written from the store), in order."""
    return [name for name in config["write"]["layouts"] if name not in VOXEL_LAYOUTS]


def _check_write_layouts(config: dict) -> None:
    """Every ``[write] layouts`` entry is known, and the ``[sample]`` counts cover what each
    sample layout needs (so a run never makes a store too small for its own layouts)."""
    from meshprep.export.layouts import LAYOUTS, get_layout

    layouts = config["write"]["layouts"]
    if not isinstance(layouts, list) or not all(isinstance(n, str) for n in layouts):
        raise ConfigError(f"write.layouts must be a list of names, got {layouts!r}")
    for name in sample_layouts(config):
        try:
            layout = get_layout(name)
        except ValueError:
            known = sorted(set(VOXEL_LAYOUTS) | set(LAYOUTS))
            raise ConfigError(f"write.layouts: unknown layout {name!r}; known: "
                              f"{', '.join(known)}") from None
        for key, need in layout.needs.items():
            if config["sample"][key] < need:
                raise ConfigError(f"write.layouts: {name!r} needs sample.{key} >= {need}, "
                                  f"the config has {config['sample'][key]}: raise it")
    if "step1x3d-texture" in layouts:  # its depth maps are EXR: refused before any asset
        from meshprep.export.layout_step1x3d_texture import require_exr

        try:
            require_exr()
        except MeshprepError as exc:
            raise ConfigError(f"write.layouts: {exc}") from None


def config_hash(config: dict) -> str:
    """SHA-256 (first 16 hex digits) of the sections that change outputs."""
    hashed = {k: dict(v) for k, v in config.items() if k not in UNHASHED_SECTIONS}
    for section, key in UNHASHED_KEYS:
        hashed.get(section, {}).pop(key, None)
    text = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dump_toml(config: dict) -> str:
    """Write the configuration as TOML (scalars, lists and one level of sub-tables)."""
    lines = [f"# meshprep run configuration, hash {config_hash(config)}"]
    for section, values in config.items():
        scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        if scalars or not tables:
            lines += ["", f"[{section}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in scalars.items()]
        for name, table in tables.items():
            lines += ["", f"[{section}.{json.dumps(name)}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")
