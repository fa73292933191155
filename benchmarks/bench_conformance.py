"""Conformance sweep: does ``meshprep.load`` give the geometry a glTF file declares (issue 27)?

Three sources of files, each with an expectation meshprep did not compute:

1. ``blender``: scenes built in Blender (parents, mirroring scales, modifiers, linked duplicates,
   shape keys, a skinned and posed armature, a keyframed object) exported by Blender's glTF
   exporter as GLB / separate / embedded glTF and with Draco at several settings
   (``_conformance_blender.py``, run with Blender's Python). Expected: Blender's own evaluated
   world-space triangles at the exported frame, in Y-up.
2. ``feature``: small files written here for glTF features the others do not reach (cameras,
   EXT_mesh_gpu_instancing, missing scenes, ``matrix`` nodes, mixed primitive modes, uint8 and
   uint32 indices, byte strides, sparse-only accessors, a second joint set, skins under a
   non-uniform scale). Expected: the triangles the declarations give by glTF 2.0's rules,
   worked out here.
3. ``gltf-transform`` / ``gltf-pipeline``: variants (Draco, meshopt, quantize, weld, dedup,
   instance, sparse, join, flatten, interleaved, separate files...) of the uncompressed Blender
   exports and of the corpus GLBs (``../shared/corpus``). Expected: meshprep's load of the
   source file (itself checked against Blender for the Blender files) within the variant's
   quantization tolerance.

Per file: triangle counts, box error and symmetric Hausdorff distance between the triangle
corners (both over the expected box diagonal), flipped triangles (a matched triangle facing
the other way), and the status ``ok`` / ``SILENT-MISMATCH`` / ``refused``.

Run: ``.venv/bin/python benchmarks/bench_conformance.py [--out DIR] [--skip-npm]``
(Blender's Python from ``MESHPREP_BLENDER_PYTHON``, the npm tools
from ``--npm`` (default /tmp/npmtools)).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import meshprep as mp

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus"
_DTYPES = {5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}


@dataclass
class Case:
    """One file to load and what it must give."""

    file: Path
    source: str
    variant: str
    vertices: np.ndarray | None  # expected; None: meshprep's load of ``reference``
    faces: np.ndarray | None
    tolerance: float
    reference: Path | None = None


# ---------------------------------------------------------------- comparison


def compare(mesh, vertices: np.ndarray, faces: np.ndarray, tolerance: float) -> dict:
    """Counts, box error, Hausdorff distance and flipped triangles of ``mesh`` against the
    expected triangles, distances over the expected box diagonal."""
    got_v = np.asarray(mesh.vertices, np.float64)
    got_f = np.asarray(mesh.faces, np.int64)
    exp_corners, got_corners = vertices[faces].reshape(-1, 3), got_v[got_f].reshape(-1, 3)
    diagonal = float(np.linalg.norm(np.ptp(exp_corners, axis=0))) or 1.0
    # degenerate (zero-area) triangles draw nothing and Draco encoders drop them: not counted
    row = {"faces_expected": _drawn(vertices, faces, diagonal),
           "faces_got": _drawn(got_v, got_f, diagonal), "box": np.nan, "hausdorff": np.nan,
           "flipped": 0, "thin": _thin(vertices, faces, 2 * tolerance * diagonal)}
    if len(got_f) == 0 or len(faces) == 0:
        return row
    box = np.abs(np.r_[exp_corners.min(0) - got_corners.min(0),
                       exp_corners.max(0) - got_corners.max(0)]).max()
    near_got = cKDTree(got_corners).query(exp_corners)[0].max()
    near_exp = cKDTree(exp_corners).query(got_corners)[0].max()
    row.update(box=box / diagonal, hausdorff=max(near_got, near_exp) / diagonal,
               flipped=_flipped(vertices, faces, got_v, got_f, tolerance * diagonal))
    return row


def _drawn(vertices: np.ndarray, faces: np.ndarray, diagonal: float) -> int:
    """Triangles with an area (above 1e-12 of the squared box diagonal)."""
    corners = vertices[faces]
    area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]),
                          axis=1)
    return int((area > 1e-12 * diagonal**2).sum())


def _altitude(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Each triangle's smallest height (twice the area over the longest edge)."""
    corners = vertices[faces]
    area2 = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0],
                                    corners[:, 2] - corners[:, 0]), axis=1)
    longest = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2).max(axis=1)
    return area2 / np.maximum(longest, 1e-300)


def _thin(vertices: np.ndarray, faces: np.ndarray, step: float) -> int:
    """Drawn triangles thinner than ``step``: a quantizer may collapse or turn them over."""
    height = _altitude(vertices, faces)
    return int(((height > 0) & (height < step)).sum())


def _flipped(vertices, faces, got_v, got_f, reach: float) -> int:
    """Expected triangles whose got twins (same three corners, within ``reach``) all face
    away (a double-sided pair has a twin each way)."""
    def frame(v, f):
        corners = v[f]
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        key = np.sort(corners.reshape(len(f), -1), axis=1)  # corner-order free signature
        return corners.mean(axis=1), normal, key
    centre_e, normal_e, key_e = frame(vertices, faces)
    centre_g, normal_g, key_g = frame(got_v, got_f)
    k = min(4, len(centre_g))
    distance, match = cKDTree(centre_g).query(centre_e, k=k)
    distance, match = distance.reshape(len(centre_e), k), match.reshape(len(centre_e), k)
    reach = max(reach, 1e-9)
    same = (distance <= reach) & (
        np.abs(key_e[:, None] - key_g[match]).max(axis=2) <= 3 * reach)
    facing = np.einsum("ij,ikj->ik", normal_e, normal_g[match])
    big = _altitude(vertices, faces) >= 2 * reach  # thinner ones may turn over when quantized
    away = same.any(axis=1) & ~(same & (facing > 0)).any(axis=1)
    return int((big & away).sum())


def status(row: dict, tolerance: float) -> str:
    counts = abs(row["faces_expected"] - row["faces_got"]) <= row.get("thin", 0)
    ok = (counts and row["flipped"] == 0
          and row["hausdorff"] <= tolerance and row["box"] <= tolerance)
    return "ok" if ok else "SILENT-MISMATCH"


def run_case(case: Case, references: dict) -> dict:
    """Load one file (and its reference when the expectation is another load) and compare."""
    row = {"file": str(case.file), "source": case.source, "variant": case.variant}
    if case.vertices is None:
        if case.reference not in references:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref = mp.load(case.reference)
                references[case.reference] = (np.asarray(ref.vertices), np.asarray(ref.faces))
            except Exception as exc:  # the source itself is refused: nothing to compare with
                references[case.reference] = f"{type(exc).__name__}: {exc}"
        expected = references[case.reference]
        if isinstance(expected, str):
            return {**row, "status": "no-reference", "message": expected[:160]}
    else:
        expected = (case.vertices, case.faces)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mesh = mp.load(case.file)
    except Exception as exc:
        return {**row, "faces_expected": len(expected[1]), "status": "refused",
                "message": f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"}
    row.update(compare(mesh, *expected, case.tolerance))
    return {**row, "status": status(row, case.tolerance), "message": ""}


# ---------------------------------------------------------------- Blender exports


def blender_cases(out: Path) -> list[Case]:
    """Run the Blender script (once per output folder) and read its manifest."""
    manifest = out / "manifest_blender.json"
    if not manifest.exists():
        python = os.environ.get("MESHPREP_BLENDER_PYTHON")
        if not python:
            raise SystemExit("set MESHPREP_BLENDER_PYTHON to Blender's Python (with bpy)")
        script = HERE / "_conformance_blender.py"
        done = subprocess.run([python, str(script), str(out)], capture_output=True, text=True,
                              timeout=1200)
        if done.returncode != 0:
            raise RuntimeError(f"Blender script failed: {done.stderr[-2000:]}")
    cases = []
    for entry in json.loads(manifest.read_text()):
        expected = np.load(out / entry["expected"])
        cases.append(Case(out / entry["file"], "blender", f"{entry['scene']}/{entry['variant']}",
                          expected["vertices"], expected["faces"], entry["tolerance"]))
    return cases


# ---------------------------------------------------------------- hand-written feature files


class _Glb:
    """A minimal GLB writer (one buffer view per accessor)."""

    def __init__(self) -> None:
        self.bin = bytearray()
        self.tree: dict = {"asset": {"version": "2.0"}, "buffers": [{}], "bufferViews": [],
                           "accessors": [], "scenes": [{"nodes": []}], "scene": 0,
                           "nodes": [], "meshes": []}

    def view(self, data: bytes, **extra) -> int:
        self.bin += b"\0" * (-len(self.bin) % 4)
        self.tree["bufferViews"].append({"buffer": 0, "byteOffset": len(self.bin),
                                         "byteLength": len(data), **extra})
        self.bin += data
        return len(self.tree["bufferViews"]) - 1

    def accessor(self, values, kind: str, component: int = 5126, **extra) -> int:
        values = np.asarray(values, _DTYPES[component])
        entry = {"componentType": component, "count": len(values), "type": kind, **extra}
        if kind == "VEC3" and component == 5126 and "min" not in extra:
            entry.update(min=values.min(0).tolist(), max=values.max(0).tolist())
        entry["bufferView"] = self.view(np.ascontiguousarray(values).tobytes())
        self.tree["accessors"].append(entry)
        return len(self.tree["accessors"]) - 1

    def mesh(self, *primitives: dict) -> int:
        self.tree["meshes"].append({"primitives": list(primitives)})
        return len(self.tree["meshes"]) - 1

    def node(self, root: bool = True, **entry) -> int:
        self.tree["nodes"].append(entry)
        if root:
            self.tree["scenes"][0]["nodes"].append(len(self.tree["nodes"]) - 1)
        return len(self.tree["nodes"]) - 1

    def write(self, path: Path) -> Path:
        self.bin += b"\0" * (-len(self.bin) % 4)
        if self.bin:
            self.tree["buffers"][0]["byteLength"] = len(self.bin)
        else:
            self.tree["buffers"] = []
        text = json.dumps(self.tree).encode()
        text += b" " * (-len(text) % 4)
        body = struct.pack("<II", len(text), 0x4E4F534A) + text
        if self.bin:
            body += struct.pack("<II", len(self.bin), 0x004E4942) + bytes(self.bin)
        path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
        return path


_TRI = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float64)


def _tri_mesh(g: _Glb) -> int:
    return g.mesh({"attributes": {"POSITION": g.accessor(_TRI, "VEC3")}})


def _expect(*triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.vstack(triangles).astype(np.float64)
    return v, np.arange(len(v)).reshape(-1, 3)


def _quat_z(angle: float) -> list[float]:
    return [0.0, 0.0, float(np.sin(angle / 2)), float(np.cos(angle / 2))]


def _feature_camera(g: _Glb):
    g.tree["cameras"] = [{"type": "perspective", "perspective": {"yfov": 1, "znear": 0.1}}]
    m = _tri_mesh(g)
    child = g.node(root=False, mesh=m, translation=[5, 0, 0])
    g.node(camera=0, mesh=m, translation=[0, 7, 0], children=[child])
    return _expect(_TRI + [0, 7, 0], _TRI + [5, 7, 0])


def _feature_instancing(g: _Glb):
    m = _tri_mesh(g)
    t = g.accessor([[0, 0, 0], [10, 0, 0], [0, 10, 0]], "VEC3")
    r = g.accessor([[0, 0, 0, 1], _quat_z(np.pi / 2), [0, 0, 0, 1]], "VEC4")
    g.node(mesh=m, scale=[1, 1, 2], extensions={"EXT_mesh_gpu_instancing": {
        "attributes": {"TRANSLATION": t, "ROTATION": r}}})
    g.tree["extensionsUsed"] = ["EXT_mesh_gpu_instancing"]
    turned = np.c_[-_TRI[:, 1], _TRI[:, 0], _TRI[:, 2]]
    return _expect(_TRI, turned + [10, 0, 0], _TRI + [0, 10, 0])


def _feature_no_scenes(g: _Glb):
    m = _tri_mesh(g)
    child = g.node(root=False, mesh=m, translation=[1, 0, 0])
    g.node(children=[child], translation=[0, 2, 0])
    del g.tree["scenes"], g.tree["scene"]
    return _expect(_TRI + [1, 2, 0])


def _feature_scene_absent(g: _Glb):
    m = _tri_mesh(g)
    a, b = g.node(mesh=m), g.node(root=False, mesh=m, translation=[3, 0, 0])
    g.tree["scenes"] = [{"nodes": [a]}, {"nodes": [b]}]
    del g.tree["scene"]
    return _expect(_TRI)


def _feature_second_scene(g: _Glb):
    m = _tri_mesh(g)
    a, b = g.node(mesh=m), g.node(root=False, mesh=m, translation=[3, 0, 0])
    g.tree["scenes"] = [{"nodes": [a]}, {"nodes": [b]}]
    g.tree["scene"] = 1
    return _expect(_TRI + [3, 0, 0])


def _feature_matrix(g: _Glb):
    m = _tri_mesh(g)
    matrix = np.diag([-1.0, 2.0, 1.0, 1.0])
    matrix[:3, 3] = [1, 2, 3]
    parent = np.eye(4)
    parent[:3, 3] = [0, 0, 10]
    child = g.node(root=False, mesh=m, matrix=matrix.T.ravel().tolist())
    g.node(matrix=parent.T.ravel().tolist(), children=[child])
    return _expect((_TRI * [-1, 2, 1] + [1, 2, 13])[::-1])


def _feature_mixed_modes(g: _Glb):
    points = g.accessor([[9, 9, 9], [8, 8, 8], [7, 7, 7], [6, 6, 6]], "VEC3")
    second = g.accessor(_TRI + [0, 0, 2], "VEC3")
    m = g.mesh({"attributes": {"POSITION": points}, "mode": 0},
               {"attributes": {"POSITION": g.accessor(_TRI, "VEC3")}},
               {"attributes": {"POSITION": points}, "mode": 1},
               {"attributes": {"POSITION": points}, "mode": 3},
               {"attributes": {"POSITION": second},
                "indices": g.accessor(np.array([0, 1, 2]), "SCALAR", 5121)})
    g.node(mesh=m)
    return _expect(_TRI, _TRI + [0, 0, 2])


def _feature_interleaved(g: _Glb):
    rows = np.zeros((3, 8), np.float32)
    rows[:, :3], rows[:, 3:6], rows[:, 6:] = _TRI, [0, 0, 1], [[0, 0], [1, 0], [0, 1]]
    v = g.view(rows.tobytes(), byteStride=32, target=34962)
    g.tree["accessors"] += [
        {"bufferView": v, "componentType": 5126, "count": 3, "type": "VEC3",
         "min": [0, 0, 0], "max": [1, 1, 0]},
        {"bufferView": v, "byteOffset": 12, "componentType": 5126, "count": 3, "type": "VEC3"},
        {"bufferView": v, "byteOffset": 24, "componentType": 5126, "count": 3, "type": "VEC2"}]
    n = len(g.tree["accessors"])
    g.node(mesh=g.mesh({"attributes": {"POSITION": n - 3, "NORMAL": n - 2,
                                       "TEXCOORD_0": n - 1}}))
    return _expect(_TRI)


def _feature_sparse_only(g: _Glb):
    """No buffer view under POSITION: zeros with three rows substituted (glTF 2.0, 3.6.2.3)."""
    indices = g.view(np.array([0, 1, 2], "<u2").tobytes() + b"\0\0")
    values = g.view(_TRI.astype("<f4").tobytes())
    g.tree["accessors"].append({"componentType": 5126, "count": 4, "type": "VEC3",
                                "min": [0, 0, 0], "max": [1, 1, 0], "sparse": {
                                    "count": 3, "indices": {"bufferView": indices,
                                                            "componentType": 5123},
                                    "values": {"bufferView": values}}})
    faces = g.accessor(np.array([0, 1, 2, 0, 2, 3]), "SCALAR", 5121)
    g.node(mesh=g.mesh({"attributes": {"POSITION": len(g.tree["accessors"]) - 2},
                        "indices": faces}))
    return np.vstack([_TRI, [0, 0, 0]]), np.array([[0, 1, 2], [0, 2, 3]])


def _feature_big_uint32(g: _Glb):
    count = 70_000
    x = np.arange(count, dtype=np.float64)
    v = np.c_[x, np.sin(x) * 0.1, np.zeros(count)]
    f = np.c_[np.arange(count - 2), np.arange(1, count - 1), np.arange(2, count)][::7]
    f = np.r_[f, [[0, count - 1, count // 2]]]
    g.node(mesh=g.mesh({"attributes": {"POSITION": g.accessor(v, "VEC3")},
                        "indices": g.accessor(f.ravel(), "SCALAR", 5125)}))
    return v, f


def _feature_skin_nonuniform(g: _Glb):
    """A skinned triangle: joint 1 (weight 0.5 per vertex with joint 0) sits under a parent
    scaled (2, 1, 1) and moved 4 in y; both joints' inverse bind matrices are the identity;
    the mesh node's own scale (9) is ignored (glTF 2.0, 3.7.3)."""
    attributes = {"POSITION": g.accessor(_TRI, "VEC3"),
                  "JOINTS_0": g.accessor(np.tile([0, 1, 0, 0], (3, 1)), "VEC4", 5121),
                  "WEIGHTS_0": g.accessor(np.tile([0.5, 0.5, 0, 0], (3, 1)), "VEC4")}
    g.node(mesh=g.mesh({"attributes": attributes}), skin=0, scale=[9, 9, 9])
    j1 = g.node(root=False, translation=[0, 4, 0])
    j0 = g.node(scale=[2, 1, 1], children=[j1])
    g.tree["skins"] = [{"joints": [j0, j1]}]
    first = _TRI * [2, 1, 1]
    second = _TRI * [2, 1, 1] + [0, 4, 0]
    return _expect((first + second) / 2)


def _feature_two_joint_sets(g: _Glb):
    attributes = {"POSITION": g.accessor(_TRI, "VEC3"),
                  "JOINTS_0": g.accessor(np.zeros((3, 4)), "VEC4", 5121),
                  "WEIGHTS_0": g.accessor(np.tile([0.25, 0, 0, 0], (3, 1)), "VEC4"),
                  "JOINTS_1": g.accessor(np.tile([1, 0, 0, 0], (3, 1)), "VEC4", 5121),
                  "WEIGHTS_1": g.accessor(np.tile([0.75, 0, 0, 0], (3, 1)), "VEC4")}
    g.node(mesh=g.mesh({"attributes": attributes}), skin=0)
    g.tree["skins"] = [{"joints": [g.node(), g.node(translation=[4, 0, 0])]}]
    return _expect(_TRI + [3, 0, 0])


def _feature_animated_matrix_sibling(g: _Glb):
    """First keyframe of a rotation channel, a step sampler, on a node beside a matrix one."""
    m = _tri_mesh(g)
    still = np.eye(4)
    still[:3, 3] = [0, 5, 0]
    g.node(mesh=m, matrix=still.T.ravel().tolist())
    moving = g.node(mesh=m, translation=[1, 0, 0])
    times = g.accessor(np.array([0.5, 1.0]), "SCALAR", min=[0.5], max=[1.0])
    values = g.accessor([_quat_z(np.pi), [0, 0, 0, 1]], "VEC4")
    g.tree["animations"] = [{"samplers": [{"input": times, "output": values,
                                           "interpolation": "STEP"}],
                             "channels": [{"sampler": 0,
                                           "target": {"node": moving, "path": "rotation"}}]}]
    return _expect(_TRI + [0, 5, 0], _TRI * [-1, -1, 1] + [1, 0, 0])


FEATURES = {name[9:]: fn for name, fn in globals().items() if name.startswith("_feature_")}


def feature_cases(out: Path) -> list[Case]:
    folder = out / "feature"
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, build in FEATURES.items():
        g = _Glb()
        vertices, faces = build(g)
        path = g.write(folder / f"{name}.glb")
        cases.append(Case(path, "feature", name, vertices, faces, 1e-5))
    return cases


# ---------------------------------------------------------------- npm tool variants

_TRANSFORM = {  # variant -> (gltf-transform arguments, tolerance)
    "gt_copy": (["copy"], 1e-5),
    "gt_draco": (["draco"], 2e-3),
    "gt_draco_edgebreaker_q10": (["draco", "--method", "edgebreaker",
                                  "--quantize-position", "10"], 8e-3),
    "gt_meshopt": (["meshopt"], 2e-3),
    "gt_meshopt_high": (["meshopt", "--level", "high"], 2e-3),
    "gt_quantize": (["quantize"], 2e-3),
    "gt_quantize_scene": (["quantize", "--quantization-volume", "scene"], 2e-3),
    "gt_weld": (["weld"], 1e-5),
    "gt_dedup": (["dedup"], 1e-5),
    "gt_instance": (["instance", "--min", "2"], 1e-5),
    "gt_sparse": (["sparse"], 1e-5),
    "gt_join": (["join"], 1e-5),
    "gt_flatten": (["flatten"], 1e-5),
    "gt_reorder": (["reorder"], 1e-5),
    "gt_interleaved": (["copy", "--vertex-layout", "interleaved"], 1e-5),
    "gt_partition": (["partition", "--meshes"], 1e-5),
    "gt_resample": (["resample"], 1e-5),
    "gt_unweld": (["unweld"], 1e-5),
}
_PIPELINE = {  # variant -> (gltf-pipeline arguments, output suffix, tolerance)
    "gp_draco": (["-d"], ".glb", 2e-3),
    "gp_draco_l10": (["-d", "--draco.compressionLevel", "10"], ".glb", 2e-3),
    "gp_draco_q8": (["-d", "--draco.quantizePositionBits", "8"], ".glb", 2e-2),
    "gp_draco_unified": (["-d", "--draco.unifiedQuantization"], ".glb", 2e-3),
    "gp_draco_fallback": (["-d", "--draco.uncompressedFallback"], ".glb", 2e-3),
    "gp_separate": (["-s"], ".gltf", 1e-5),
    "gp_gltf": ([], ".gltf", 1e-5),
}


#: the variants made of corpus files unless ``--full-npm`` (each tool call costs seconds)
_CORPUS_VARIANTS = {"gt_draco", "gt_meshopt", "gt_quantize", "gt_instance", "gt_sparse",
                    "gp_draco"}


def npm_sources(out: Path, blender: list[Case]) -> list[Path]:
    """Uncompressed Blender GLBs and the corpus GLBs (broken ones left out)."""
    sources = [c.file for c in blender if c.variant.split("/")[1].startswith("glb")]
    if CORPUS.is_dir():
        sources += sorted(p for p in CORPUS.glob("*.glb") if not p.name.startswith("bad_"))
    return sources


def npm_cases(out: Path, sources: list[Path], npm: Path, full: bool = False) -> list[Case]:
    """Run each tool on each source (outputs kept between runs) and list the variants (the
    corpus files get :data:`_CORPUS_VARIANTS` only, unless ``full``)."""
    transform, pipeline = npm / "node_modules/.bin/gltf-transform", \
        npm / "node_modules/.bin/gltf-pipeline"
    cases = []
    for source in sources:
        stem = source.stem if source.parent == CORPUS else source.parent.name
        wanted = (lambda name: True) if full or source.parent != CORPUS \
            else _CORPUS_VARIANTS.__contains__
        for variant, (args, tolerance) in _TRANSFORM.items():
            if not wanted(variant):
                continue
            target = out / "npm" / stem / variant / f"{stem}.glb"
            command = [str(transform), args[0], str(source), str(target), *args[1:]]
            if _made(command, target):
                cases.append(Case(target, "gltf-transform", f"{stem}/{variant}", None, None,
                                  tolerance, source))
        for variant, (args, suffix, tolerance) in _PIPELINE.items():
            if not wanted(variant):
                continue
            target = out / "npm" / stem / variant / f"{stem}{suffix}"
            command = [str(pipeline), "-i", str(source), "-o", str(target), *args]
            if _made(command, target):
                cases.append(Case(target, "gltf-pipeline", f"{stem}/{variant}", None, None,
                                  tolerance, source))
    return cases


def _made(command: list[str], target: Path) -> bool:
    """Run a conversion unless its output exists; False when the tool refuses the source."""
    if target.exists():
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not target.exists():
        (target.parent / "tool_error.txt").write_text(done.stdout[-1000:] + done.stderr[-2000:])
        return False
    return True


# ---------------------------------------------------------------- table


def print_table(rows: list[dict], show_all: bool) -> None:
    print(f"{'file':58} {'source':14} {'tris exp/got':>15} {'box':>9} {'hausdorff':>9} "
          f"{'flip':>4}  status")
    for row in rows:
        if not show_all and row["status"] == "ok":
            continue
        faces = f"{row.get('faces_expected', '-')}/{row.get('faces_got', '-')}"
        box, dist = row.get("box", np.nan), row.get("hausdorff", np.nan)
        print(f"{row['variant'][:58]:58} {row['source']:14} {faces:>15} {box:9.2e} "
              f"{dist:9.2e} {row.get('flipped', 0):4}  {row['status']} {row['message']}")
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["status"]] = totals.get(row["status"], 0) + 1
    by_source: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_source.setdefault(row["source"], {})
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    print(f"\ntotal {len(rows)} files: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    for source, counts in by_source.items():
        print(f"  {source}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / "meshprep_conformance")
    parser.add_argument("--npm", type=Path, default=Path("/tmp/npmtools"))
    parser.add_argument("--skip-npm", action="store_true")
    parser.add_argument("--full-npm", action="store_true",
                        help="every tool variant of the corpus files too")
    parser.add_argument("--all", action="store_true", help="print ok rows too")
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    blender = blender_cases(args.out)
    cases = blender + feature_cases(args.out)
    if not args.skip_npm:
        cases += npm_cases(args.out, npm_sources(args.out, blender), args.npm, args.full_npm)
    references: dict = {}
    rows = [run_case(case, references) for case in cases]
    print_table(rows, args.all)
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    bad = sum(row["status"] not in ("ok",) for row in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
