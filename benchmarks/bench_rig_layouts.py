"""The ``unirig`` and ``puppeteer`` layouts against the trainers' own extraction and loading code.

Usage (from the repository root)::

    MESHPREP_BLENDER_PYTHON=/path/to/bpy-venv/bin/python \\
        python benchmarks/bench_rig_layouts.py [FILE ...] [--out DIR]

The files: the given glTFs, or the rigged glTFs of ``../shared/corpus``, Khronos
``SimpleSkin.gltf`` of tests/data and the two-bone file of tests/io/test_rig.py. The upstream
code is the mirror snapshots (``MESHPREP_UNIRIG_GIT`` / ``MESHPREP_PUPPETEER_GIT``: bare git
directories, default ``../.mirror/<owner>+<repo>/repo``) exported with ``git archive`` and
imported unchanged:

- UniRig: Blender's Python runs ``src/data/extract.py`` up to ``save_raw_data``
  (``_rig_layouts_blender.py``); here ``save_raw_data`` writes its ``raw_data.npz`` and
  ``RawData.load`` (``src/data/raw_data.py``) opens it and ours, then ``RawData.check``;
- Puppeteer: Blender's Python runs ``skeleton/data_utils/read_rig_mesh_from_glb.py``'s
  ``process_glb``; here ``save_npz.py``'s ``read_obj_file`` / ``read_rig_file`` read its files
  and ours and ``normalize_to_unit_cube`` normalizes both (``process_single_file``).

Modules those files import but this path never calls (bpy outside Blender, decimation,
watertight remeshing, configs) are stand-ins that raise if called. Without
``MESHPREP_BLENDER_PYTHON`` only our side runs through the upstream loaders. Comparisons are in
our frame (the upstream world mapped by the store's normalization and the axis change); vertices
are matched by position (Blender's importer adds a bone-shape icosphere that UniRig's
``process_mesh`` takes as a mesh: unmatched upstream vertices are counted, not compared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.io.test_rig import _two_bones  # noqa: E402

import meshprep as mp  # noqa: E402
from meshprep.export._rig_frames import BLENDER_FROM_GLTF  # noqa: E402
from meshprep.export.layouts import LayoutSkip, get_layout  # noqa: E402
from meshprep.io.rig import RIG_FILE, save_rig  # noqa: E402

MIRRORS = {"unirig": "VAST-AI-Research+UniRig", "puppeteer": "Seed3D+Puppeteer"}
#: a matched vertex is within this of ours (canonical units)
MATCH = 1e-4


def _stand_in(name: str, *attributes: str) -> None:
    """A module an upstream file imports at the top but this path never calls."""
    try:
        __import__(name)
        return
    except ImportError:
        pass

    def refuse(*args, **kwargs):
        raise RuntimeError(f"{name} is a stand-in here")

    module = types.ModuleType(name)
    for attribute in attributes:
        setattr(module, attribute, refuse)
    sys.modules[name] = module


def upstream_trees(out: Path) -> dict[str, Path]:
    """``git archive`` of each mirror's ``HEAD`` (UniRig's ``src``, Puppeteer's ``skeleton``)."""
    trees = {}
    for key, folder in (("unirig", "src"), ("puppeteer", "skeleton")):
        git = os.environ.get(f"MESHPREP_{key.upper()}_GIT",
                             str(ROOT.parent / ".mirror" / MIRRORS[key] / "repo"))
        target = out / key
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", f"--git-dir={git}", "archive", "HEAD", folder],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        trees[key] = target
    return trees


def upstream_modules(trees: dict[str, Path]) -> dict[str, types.ModuleType]:
    """UniRig's ``extract`` and ``raw_data``, Puppeteer's ``save_npz``, imported unchanged."""
    for name, attributes in (("bpy", ()), ("fast_simplification", ("simplify",)),
                             ("box", ("Box",)), ("tqdm", ("tqdm",)), ("skimage", ()),
                             ("skimage.measure", ("marching_cubes",)), ("mesh2sdf", ()),
                             ("mesh2sdf.core", ("compute",))):
        _stand_in(name, *attributes)
    sys.path.insert(0, str(trees["unirig"]))
    sys.path.insert(0, str(trees["puppeteer"] / "skeleton" / "data_utils"))
    import save_npz  # Puppeteer's
    from src.data import extract, raw_data  # UniRig's

    return {"extract": extract, "raw_data": raw_data, "save_npz": save_npz}


def run_blender(files: list[Path], trees: dict[str, Path], out: Path) -> bool:
    """The extraction scripts under Blender's Python; False when it is not configured."""
    python = os.environ.get("MESHPREP_BLENDER_PYTHON")
    if not python:
        return False
    subprocess.run([python, str(Path(__file__).with_name("_rig_layouts_blender.py")),
                    str(trees["unirig"]), str(trees["puppeteer"]), str(out / "blender"),
                    *map(str, files)], check=True, capture_output=True)
    return True


def blender_start() -> float:
    """Median seconds of a Blender Python that imports bpy and exits (3 runs)."""
    python = os.environ["MESHPREP_BLENDER_PYTHON"]
    times = []
    for _ in range(3):
        begin = time.perf_counter()
        subprocess.run([python, "-c", "import bpy"], check=True, capture_output=True)
        times.append(time.perf_counter() - begin)
    return float(np.median(times))


def our_export(path: Path, out: Path) -> tuple[Path, np.ndarray]:
    """The file through load(rig=True), normalize and both layouts; the normalization."""
    mesh = mp.load(path, rig=True)
    normalized, transform = mp.normalize(mesh)
    store = out / "store" / path.stem
    store.mkdir(parents=True, exist_ok=True)
    save_rig(store / RIG_FILE, normalized.vertices, normalized.faces,
             mesh.metadata["meshprep_rig"].transformed(transform))
    for layout in ("unirig", "puppeteer"):
        get_layout(layout).from_asset(store, out / layout, path.stem)
    return store, transform


def to_ours(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Upstream Blender world -> our canonical frame in Blender's axes."""
    axes = BLENDER_FROM_GLTF
    linear = axes @ transform[:3, :3] @ axes.T
    return np.asarray(points, np.float64) @ linear.T + axes @ transform[:3, 3]


def _max(values) -> float:
    values = np.asarray(values, np.float64)
    return float(np.abs(values).max()) if values.size else 0.0


def compare_unirig(mods, ours_path: Path, blender: Path, transform: np.ndarray,
                   scratch: Path) -> dict:
    """Our raw_data.npz and UniRig's (``save_raw_data`` of its extraction), both through
    ``RawData.load``."""
    raw_data = mods["raw_data"].RawData
    ours = raw_data.load(str(ours_path))
    ours.check()
    row = {"J": ours.J, "N": ours.N, "load+check": "ok"}
    if not (blender / "unirig_blender.npz").is_file():
        return row
    b = np.load(blender / "unirig_blender.npz")
    parents = [None if p < 0 else int(p) for p in b["parents"]]
    upstream_path = scratch / "upstream_raw_data.npz"
    mods["extract"].save_raw_data(
        path=str(upstream_path), vertices=b["vertices"], faces=b["faces"] - 1, skin=b["skin"],
        joints=b["joints"], tails=b["tails"], parents=parents, names=list(b["names"]),
        matrix_local=b["matrix_local"], target_count=10**9)
    up = raw_data.load(str(upstream_path))
    keys = set(np.load(upstream_path, allow_pickle=True).files)
    same_keys = keys == set(np.load(ours_path, allow_pickle=True).files)
    up_vertices = to_ours(up.vertices, transform)
    distance, match = cKDTree(ours.vertices).query(up_vertices)
    matched = distance < MATCH
    children = np.bincount([p for p in parents if p is not None], minlength=up.J)
    one = children == 1
    rotation = up.matrix_local[:, :3, :3].astype(np.float64)
    rotation = rotation / np.linalg.norm(rotation, axis=1, keepdims=True)  # scale_inv undone
    row.update({
        "keys": "same" if same_keys else "differ",
        "names": "same" if list(up.names) == list(ours.names) else "differ",
        "parents": "same" if list(up.parents) == list(ours.parents) else "differ",
        "joints": _max(to_ours(up.joints, transform) - ours.joints),
        "tails(1 child)": _max((to_ours(up.tails, transform) - ours.tails)[one]),
        "tails(other)": _max((to_ours(up.tails, transform) - ours.tails)[~one]),
        "rot": _max(rotation - ours.matrix_local[:, :3, :3]),
        "verts matched": f"{int(matched.sum())}/{len(matched)} (ours {ours.N})",
        "skin": _max(up.skin[matched] - ours.skin[match[matched]]),
        "skin (extraction)": _extraction_skin_gap(b, ours, transform),
    })
    return row


def _extraction_skin_gap(b, ours, transform: np.ndarray) -> float:
    """Largest skin difference against the extraction's own weights (``process_mesh``, before
    ``save_raw_data``): save_raw_data builds its KD-tree on the merged vertices and indexes the
    unmerged skin with it, so its rows drift wherever trimesh merges vertices (a glTF's UV or
    normal seams); ours takes each merged vertex's row from its nearest unmerged vertex."""
    distance, match = cKDTree(ours.vertices).query(to_ours(b["vertices"], transform))
    matched = distance < MATCH
    return _max(b["skin"][matched] - ours.skin[match[matched]])


def compare_puppeteer(mods, ours: Path, blender: Path, stem: str) -> dict:
    """Our obj/txt and Puppeteer's, read and normalized by ``save_npz.py``."""
    save_npz = mods["save_npz"]
    mine = _puppeteer_item(save_npz, ours / "meshes" / f"{stem}.obj", ours / "rigs" / f"{stem}.txt")
    row = {"J": len(mine["names"]), "V": len(mine["vertices"])}
    theirs_obj, theirs_txt = blender / "meshes" / f"{stem}.obj", blender / "rigs" / f"{stem}.txt"
    if not theirs_txt.is_file():
        return row
    theirs = _puppeteer_item(save_npz, theirs_obj, theirs_txt)
    distance, match = cKDTree(mine["vertices"]).query(theirs["vertices"])
    matched = distance < 1e-4
    row.update({
        "names": "same" if theirs["names"] == mine["names"] else "differ",
        "bones": "same" if np.array_equal(theirs["bones"], mine["bones"]) else "differ",
        "root": "same" if theirs["root"] == mine["root"] else "differ",
        "joints": _max(theirs["joints"] - mine["joints"]) if len(theirs["joints"]) == len(
            mine["joints"]) else "count differs",
        "verts matched": f"{int(matched.sum())}/{len(matched)}",
        "skin": _max(theirs["skin"][matched] - mine["skin"][match[matched]]),
    })
    return row


def _puppeteer_item(save_npz, obj: Path, txt: Path) -> dict:
    vertices, faces, normals = save_npz.read_obj_file(str(obj))
    joints, bones, root, names, skinning = save_npz.read_rig_file(str(txt))
    vertices, normals, center, scale = save_npz.normalize_to_unit_cube(vertices, normals, 0.5)
    joints = (joints - center) * scale
    skin = np.zeros((len(vertices), len(joints)))
    for v, pairs in skinning.items():
        for j, w in pairs:
            skin[v, j] = w
    return {"vertices": vertices, "joints": joints, "bones": bones, "root": root,
            "names": names, "skin": skin}


def default_files(out: Path) -> list[Path]:
    from benchmarks.bench_rigs import declares_skin

    corpus = ROOT.parent / "shared" / "corpus"
    found = sorted(p for p in corpus.glob("*.gl*") if p.suffix.lower() in (".glb", ".gltf")
                   and declares_skin(p)) if corpus.is_dir() else []
    extra = []
    fbx = corpus / "anim_skeleton_fbx.fbx"
    if fbx.is_file() and os.environ.get("MESHPREP_BLENDER_PYTHON"):
        # a real rig (16 bones, 2439 vertices) as a skinned GLB both sides read: the corpus's
        # FBX through meshprep's Blender export (the upstream scripts' old FBX importer fails
        # on its light under Blender 5)
        from meshprep.blender import export_glb

        extra.append(out / "anim_skeleton.glb")
        export_glb(fbx, extra[-1], skins=True)
    if os.environ.get("MESHPREP_BLENDER_PYTHON"):  # a 20-bone chain skinning a 10k-vertex tube
        extra.append(out / "chain.glb")
        subprocess.run([os.environ["MESHPREP_BLENDER_PYTHON"],
                        str(Path(__file__).with_name("_make_rigged_blender.py")),
                        str(extra[-1])], check=True, capture_output=True)
    return found + extra + [ROOT / "tests/data/gltf_conformance/SimpleSkin.gltf",
                            _two_bones(out / "two_bones.glb")]


def table(rows: list[dict], title: str) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cell = lambda v: f"{v:.2e}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [f"### {title}", "| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


#: what ``_puppeteer_loader_venv.py`` imports (Puppeteer's loader and save_npz.py's imports)
LOADER_REQUIREMENTS = ["torch==2.13.0", "numpy", "scipy", "trimesh", "scikit-image"]


def puppeteer_loader(trees: dict[str, Path], out: Path, ids: list[str], venv: Path) -> str:
    """Puppeteer's ``SkeletonData`` on our dataset npz, in a separate environment; one line."""
    from benchmarks.bench_upstream_loaders import ensure_venv

    get_layout("puppeteer").write_lists(out / "puppeteer", ids)
    python = ensure_venv(venv, LOADER_REQUIREMENTS)
    report = out / "puppeteer_loader.json"
    subprocess.run([str(python), str(Path(__file__).with_name("_puppeteer_loader_venv.py")),
                    str(trees["puppeteer"]), str(out / "puppeteer" / "meshprep_train.npz"),
                    str(report)], check=True, capture_output=True)
    data = json.loads(report.read_text())
    keys = ("joints", "bones", "pc_normal")
    shapes = sorted({", ".join(f"{k} {item[k][0]}" for k in keys if isinstance(item.get(k), list))
                     for item in data["items"]})
    return (f"Puppeteer's SkeletonData on our meshprep_train.npz: {data['length']} items, "
            f"{len(data['items'])} read, {len(data['errors'])} errors; e.g. {shapes[:2]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--loaders", action="store_true",
                        help="also run Puppeteer's SkeletonData on the export (a separate venv "
                             "with torch CPU, made once under --venv)")
    parser.add_argument("--venv", type=Path,
                        default=Path(tempfile.gettempdir()) / "meshprep-rig-loaders-venv")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="meshprep-rig-layouts-"))
    out.mkdir(parents=True, exist_ok=True)
    files = args.files or default_files(out)
    trees = upstream_trees(out / "upstream")
    mods = upstream_modules(trees)
    ran = run_blender(files, trees, out)
    unirig, puppeteer = [], []
    cost, launch = [], blender_start() if ran else 0.0
    for path in files:
        try:
            seconds = []
            for _ in range(3):  # warm, as the upstream scripts run in a warm Blender process
                start = time.perf_counter()
                _, transform = our_export(path, out)
                seconds.append(time.perf_counter() - start)
            ours = float(np.median(seconds))
        except LayoutSkip as exc:
            unirig.append({"file": path.name, "load+check": f"skipped: {exc}"})
            puppeteer.append({"file": path.name, "names": f"skipped: {exc}"})
            continue
        blender = out / "blender" / path.stem
        errors = json.loads((blender / "errors.json").read_text()) if ran else {}
        unirig.append({"file": path.name, **compare_unirig(
            mods, out / "unirig" / path.stem / "raw_data.npz", blender, transform, out),
            **({"upstream error": errors["unirig"].splitlines()[-1]} if "unirig" in errors
               else {})})
        puppeteer.append({"file": path.name, **compare_puppeteer(
            mods, out / "puppeteer", blender, path.stem)})
        if ran:
            theirs = json.loads((blender / "seconds.json").read_text())
            both = theirs["unirig"] + theirs["puppeteer"]
            cost.append({"file": path.name, "UniRig extract s": theirs["unirig"],
                         "Puppeteer process_glb s": theirs["puppeteer"],
                         "meshprep s (load, normalize, rig.npz, both layouts; median of 3)": ours,
                         "ratio (in one process)": both / max(ours, 1e-9),
                         "ratio (one asset at a time)": (both + 2 * launch) / max(ours, 1e-9)})
    print(f"Blender extraction: {'ran' if ran else 'not run (set MESHPREP_BLENDER_PYTHON)'}")
    print(table(unirig, "unirig: ours vs UniRig extract.py + save_raw_data, via RawData.load"))
    print()
    print(table(puppeteer, "puppeteer: ours vs read_rig_mesh_from_glb.py, via save_npz.py"))
    exported = [p.stem for p in files if (out / "puppeteer" / "items" / f"{p.stem}.npy").is_file()]
    if args.loaders and exported:
        print()
        print(puppeteer_loader(trees, out, exported, args.venv))
    if cost:
        print()
        print(table(cost, "cost per asset: the upstream scripts in one Blender process; one "
                          f"asset at a time adds Blender's start ({launch:.2f} s, median of 3) "
                          "to each script"))


if __name__ == "__main__":
    main()
