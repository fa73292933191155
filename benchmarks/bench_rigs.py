"""Skeletons and skin weights of ``meshprep.load(path, rig=True)`` against Blender's importer.

Usage (from the repository root)::

    python benchmarks/bench_rigs.py [CORPUS] [--out DIR]

The files: every glTF of CORPUS (default ``../shared/corpus``) that declares a skin, its FBX files
(through the Blender backend: Blender exports them as skinned GLB; a file without a skinned
mesh gets a row of NaN), the Khronos
``SimpleSkin.gltf`` of tests/data and the two-bone file of tests/io/test_rig.py (plain and
Draco-compressed) and a 20-bone chain skinning a 10k-vertex tube made in Blender
(``_make_rigged_blender.py``). Blender's
Python (``MESHPREP_BLENDER_PYTHON``) imports each with its glTF importer and goes to the first
keyframe (``_rigs_blender.py``). Both readings are put in meshprep's normalized frame (the
transform :func:`meshprep.normalize` gives our mesh); the table shows per file the largest joint
distance (bones matched by name), the largest weight difference (vertices matched by posed
position, Blender's weights normalized per vertex) and the largest vertex match distance.
Issue 30's target: joints within 1e-5, weights within 1e-4.
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
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.io.test_rig import _two_bones  # noqa: E402

import meshprep as mp  # noqa: E402


def declares_skin(path: Path) -> bool:
    """Whether a .glb / .gltf's JSON has a non-empty ``skins``."""
    data = path.read_bytes()
    try:
        if path.suffix.lower() == ".glb":
            length = struct.unpack("<I", data[12:16])[0]
            tree = json.loads(data[20:20 + length])
        else:
            tree = json.loads(data)
    except (ValueError, struct.error):
        return False
    return bool(tree.get("skins"))


def inputs(corpus: Path, out: Path) -> list[Path]:
    """The rigged files compared."""
    found = sorted(p for p in corpus.glob("*.gl*") if p.suffix.lower() in (".glb", ".gltf")
                   and declares_skin(p))
    found += sorted(p for p in corpus.glob("*") if p.suffix.lower() == ".fbx")
    chain = out / "chain.glb"  # a 20-bone chain skinning a 10k-vertex tube, made in Blender
    subprocess.run([os.environ["MESHPREP_BLENDER_PYTHON"],
                    str(Path(__file__).with_name("_make_rigged_blender.py")), str(chain)],
                   check=True, capture_output=True)
    found.append(chain)
    return found + [ROOT / "tests/data/gltf_conformance/SimpleSkin.gltf",
                    _two_bones(out / "two_bones.glb"),
                    _two_bones(out / "two_bones_draco.glb", "draco")]


def blender(files: list[Path], out: Path) -> float:
    """Run Blender's importer on every file; seconds taken."""
    python = os.environ.get("MESHPREP_BLENDER_PYTHON")
    if not python:
        sys.exit("set MESHPREP_BLENDER_PYTHON to Blender's Python (with bpy)")
    start = time.perf_counter()
    subprocess.run([python, str(Path(__file__).with_name("_rigs_blender.py")), str(out),
                    *map(str, files)], check=True, capture_output=True)
    return time.perf_counter() - start


def compare(path: Path, expected: dict) -> dict:
    """Largest joint, weight and vertex-match differences in the normalized frame."""
    start = time.perf_counter()
    mesh = mp.load(path, rig=True)
    seconds = time.perf_counter() - start
    if mesh.metadata["meshprep_rig"] is None:  # an FBX without a skinned mesh
        return {"file": path.name, "joints": 0, "vertices": len(mesh.vertices),
                "joint_error": float("nan"), "weight_error": float("nan"),
                "match": float("nan"), "seconds": seconds}
    normalized, transform = mp.normalize(mesh)
    rig = mesh.metadata["meshprep_rig"].transformed(transform)
    move = lambda p: p @ transform[:3, :3].T + transform[:3, 3]  # noqa: E731
    names = [str(n) for n in expected["names"]]
    ours = [rig.names.index(n) for n in names]
    joint_error = np.linalg.norm(rig.joints[ours] - move(expected["heads"]), axis=1).max()
    distance, match = cKDTree(normalized.vertices).query(move(expected["vertices"]))
    theirs = expected["weights"]
    theirs = theirs / np.maximum(theirs.sum(axis=1, keepdims=True), 1e-12)
    weight_error = np.abs(rig.dense()[match][:, ours] - theirs).max()
    return {"file": path.name, "joints": len(rig.names), "vertices": len(mesh.vertices),
            "joint_error": float(joint_error), "weight_error": float(weight_error),
            "match": float(distance.max()), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT.parent / "shared/corpus")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_rigs_"))
    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("MESHPREP_BLENDER_PYTHON"):
        sys.exit("set MESHPREP_BLENDER_PYTHON to Blender's Python (with bpy)")
    files = inputs(args.corpus, out)
    seconds = blender(files, out)
    print(f"Blender's importer: {seconds:.1f} s for {len(files)} files (one process)")
    print("| file | joints | vertices | joint error | weight error | vertex match | load s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path in files:
        row = compare(path, dict(np.load(out / f"{path.stem}.npz")))
        print(f"| {row['file']} | {row['joints']} | {row['vertices']} | "
              f"{row['joint_error']:.1e} | {row['weight_error']:.1e} | {row['match']:.1e} | "
              f"{row['seconds']:.3f} |")


if __name__ == "__main__":
    main()
