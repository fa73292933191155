"""Load benchmark: compressed glTF (quantized, Draco, meshopt) against the uncompressed file.

    python benchmarks/bench_load.py [--assets a,b,c] [--repeats 7] [--size 256]
        [--gltf-transform PATH]

The variants are written by glTF-Transform (``npm install @gltf-transform/cli``;
``--gltf-transform`` names its executable, found on ``PATH`` otherwise) with its defaults, into a
temporary folder, from the corpus GLBs (``../shared/corpus``). Prints one markdown table row per
asset and variant:

- ``load ms``: median of ``--repeats`` ``meshprep.load(path, appearance=True)`` after a warm-up,
  the uncompressed file's beside it, and their ratio (target: at most 2);
- ``faces``: whether the triangle count equals the uncompressed file's;
- ``pos err / step``: the largest distance of a face corner (position and UV) to the nearest
  corner of the uncompressed mesh, in units of one 14-bit quantization step of its largest side
  (glTF-Transform's default; at most 1 is within the step);
- ``PSNR``: of the built-in renderer's ``color`` pass (``scoring4`` cameras, ``--size``²) against
  the uncompressed file's, over all pixels (target: at least 35 dB); ``inf`` when identical.

A variant that does not load prints its one-line error instead.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

import meshprep as mp
from meshprep.errors import LoadError
from meshprep.render import render_views

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT = ("box_textured", "duck_glb", "milk_truck", "kenney_flag", "kenney_building",
           "monkey_glb", "engine_glb")
VARIANTS = ("quantize", "draco", "meshopt")
POSITION_BITS = 14


def _seconds(path: Path, repeats: int) -> float:
    mp.load(path, appearance=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mp.load(path, appearance=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _corners(mesh) -> np.ndarray:
    corners = mesh.faces.reshape(-1)
    uv = mesh.metadata["meshprep_appearance"].uv[corners]
    return np.column_stack([mesh.vertices[corners], uv])


def _error_in_steps(mesh, reference) -> float:
    step = float(np.ptp(reference.vertices, axis=0).max()) / (2**POSITION_BITS - 1)
    distance, _ = cKDTree(reference.vertices).query(mesh.vertices)
    return float(distance.max()) / step


def _colour(mesh, folder: Path, size: int) -> np.ndarray:
    result = render_views(mesh, folder, "scoring4", size=size, passes=("color",))
    files = sorted(Path(f) for f in result.files if str(f).endswith(".png"))
    return np.stack([np.asarray(Image.open(f).convert("RGB"), np.float64) for f in files])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _variant(tool: str, kind: str, source: Path, target: Path) -> None:
    subprocess.run([tool, kind, str(source), str(target)], check=True, capture_output=True)


def _row(asset: str, kind: str, path: Path, plain: Path, base: dict, work: Path,
         args: argparse.Namespace) -> str:
    try:
        mesh = mp.load(path, appearance=True)
    except LoadError as exc:
        return f"| {asset} | {kind} | {str(exc)[:90]} | | | | | |"
    seconds = _seconds(path, args.repeats)
    colour = _colour(mesh, work / f"{asset}_{kind}", args.size)
    same = "yes" if len(mesh.faces) == len(base["mesh"].faces) else \
        f"no ({len(mesh.faces)} vs {len(base['mesh'].faces)})"
    return (f"| {asset} | {kind} | {1e3 * seconds:.2f} | {1e3 * base['seconds']:.2f} | "
            f"{seconds / base['seconds']:.2f} | {same} | "
            f"{_error_in_steps(mesh, base['mesh']):.2f} | {_psnr(colour, base['colour']):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default=",".join(DEFAULT))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--gltf-transform", default=shutil.which("gltf-transform"))
    args = parser.parse_args()
    if not args.gltf_transform:
        raise SystemExit("gltf-transform not found: npm install @gltf-transform/cli")
    print("| asset | variant | load ms | uncompressed ms | ratio | same faces | "
          "pos err / step | colour PSNR dB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="bench_load_") as folder:
        work = Path(folder)
        for asset in args.assets.split(","):
            plain = work / f"{asset}.glb"
            # written once through glTF-Transform so the variants differ only in compression
            try:
                _variant(args.gltf_transform, "cp", CORPUS / f"{asset}.glb", plain)
            except subprocess.CalledProcessError as exc:  # e.g. an external texture not there
                print(f"| {asset} | (all) | gltf-transform cp failed: "
                      f"{exc.stderr.decode(errors='replace').strip()[:80]} | | | | | |")
                continue
            mesh = mp.load(plain, appearance=True)
            base = {"mesh": mesh, "seconds": _seconds(plain, args.repeats),
                    "colour": _colour(mesh, work / f"{asset}_plain", args.size)}
            for kind in VARIANTS:
                path = work / f"{asset}_{kind}.glb"
                _variant(args.gltf_transform, kind, plain, path)
                print(_row(asset, kind, path, plain, base, work, args), flush=True)


if __name__ == "__main__":
    main()
