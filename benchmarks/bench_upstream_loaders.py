"""The upstream texture loaders, unchanged, on meshprep's export (issue 29).

    python benchmarks/bench_upstream_loaders.py [--assets duck_glb,box_textured,milk_truck]
        [--venv DIR] [--work DIR] [--draws 4] [--workers 2] [--mirrors DIR]
        [--envmaps sky|none|DIR]

1. Makes (or reuses) a separate virtual environment (``--venv``, default
   ``<tempdir>/meshprep-upstream-loaders-venv``) with what the upstream dataset modules import:
   CPU torch, OpenCV (upstream's pin 4.10.0.84: later wheels are built without OpenEXR and
   ``cv2.imread`` of a depth EXR returns None), Pillow, NumPy, pytorch-lightning and OmegaConf
   (both loaders' data modules subclass ``pl.LightningDataModule``), and Step1X-3D's
   ``step1x3d_texture.utils`` imports (jaxtyping, typeguard, imageio, matplotlib, trimesh). No
   stub module: every import is the real package. torch never enters meshprep's environment.
2. Runs ``meshprep run`` on textured corpus assets (``REPO.parent / "shared" / "corpus"``) with
   ``[run] steps = ["load", "normalize", "write"]`` and ``[write] layouts = ["hunyuan3d-paint",
   "step1x3d-texture"]`` (the depth EXR needs ``meshprep[exr]``) and ``[render] envmaps`` (by
   default a synthetic sky written here, so that Hunyuan's ``NNN_light_ENVMAP.png`` is
   written and its loader keeps its default lighting pool), then ``meshprep export
   --layout hunyuan3d-paint`` and ``--layout step1x3d-texture`` into two folders.
3. Extracts the upstream files from the git mirrors (``--mirrors``, default ``REPO.parent /
   ".mirror"``: ``Tencent-Hunyuan+Hunyuan3D-2.1`` and ``stepfun-ai+Step1X-3D``, each a bare
   ``repo`` or a clone) into the work folder at run time, and runs ``_upstream_loaders_venv.py``
   in the separate environment: it builds the dataset classes as upstream's train scripts do
   (``hy3dpaint/train.py`` with ``cfgs/hunyuan-paint-pbr.yaml``; ``train_ig2mv.py`` with
   ``configs/train-texture-ig2mv/step1x3d_ig2mv_sdxl.yaml``) and iterates every item, first on
   upstream's own shipped example (the control), then on our export with the settings a user
   passes (printed).
4. Prints two markdown tables: per loader and data, every key the loader yields (shape, dtype,
   min, max) and any error; and the file inventory (names with digits as N, image mode and
   size, JSON keys) of our item against upstream's shipped one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
MIRRORS = REPO.parent / ".mirror"
DRIVER = Path(__file__).resolve().parent / "_upstream_loaders_venv.py"
DEFAULT_ASSETS = ("duck_glb", "box_textured", "milk_truck")
LAYOUTS = ("hunyuan3d-paint", "step1x3d-texture")
#: the separate environment: what the upstream dataset modules import (step 1 above)
REQUIREMENTS = ("torch==2.13.0", "numpy", "pillow", "opencv-python-headless==4.10.0.84",
                "pytorch-lightning", "omegaconf", "jaxtyping", "typeguard", "imageio",
                "matplotlib", "trimesh")
HUNYUAN = {"mirror": "Tencent-Hunyuan+Hunyuan3D-2.1", "repo": "Tencent-Hunyuan/Hunyuan3D-2.1",
           "file": "hy3dpaint/src/data/dataloader/objaverse_loader_forTexturePBR.py",
           "paths": ("hy3dpaint/src/", "hy3dpaint/cfgs/hunyuan-paint-pbr.yaml",
                     "hy3dpaint/train_examples/")}
STEP1X = {"mirror": "stepfun-ai+Step1X-3D", "repo": "stepfun-ai/Step1X-3D",
          "file": "step1x3d_texture/data/multiview.py",
          "paths": ("step1x3d_texture/data/", "step1x3d_texture/utils/",
                    "configs/train-texture-ig2mv/step1x3d_ig2mv_sdxl.yaml",
                    "data/ig2mv/obajverse/")}
#: the JSON keys each loader reads (Hunyuan's TextureDataset opens no JSON but its list)
LOADER_READS = {"meta.json": ["locations", "locations[].index", "locations[].transform_matrix",
                              "locations[].ortho_scale"]}
#: why a file of upstream's example is not in ours
MISSING_NOTES = {"render_cond/NNN_light_ENVMAP.png": "not written yet: lighting_suffix_pool "
                 "without it"}
#: what a user sets to train Hunyuan's Paint on our export (in their copy of the config)
HUNYUAN_POOL = ["light_PL", "light_AL"]
#: the six views our render (as Step1X-3D's render script) writes
STEP1X_VIEWS = ["0000", "0001", "0002", "0003", "0004", "0005"]
#: the shipped config draws its reference among five of its target views; ours likewise
STEP1X_REFERENCE = ["0000", "0001", "0002", "0003", "0004"]


# ---------------------------------------------------------------------------------------------
# 1. the separate environment


def ensure_venv(folder: Path, requirements: tuple[str, ...] | list[str] = REQUIREMENTS) -> Path:
    """The environment's Python, made and filled with ``requirements`` unless ``folder``
    already holds them (its ``meshprep-requirements.txt`` records what was installed)."""
    python = folder / "bin" / "python"
    record = folder / "meshprep-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and record.is_file() and record.read_text() == wanted:
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(folder)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *requirements], check=True)
    record.write_text(wanted)
    return python


def versions(python: Path) -> str:
    """The installed versions of the packages that matter, one line."""
    code = ("import importlib.metadata as m; print(', '.join(f'{n} {m.version(n)}' for n in "
            "('torch', 'opencv-python-headless', 'pytorch-lightning', 'omegaconf', 'numpy', "
            "'pillow')))")
    return subprocess.run([str(python), "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


# ---------------------------------------------------------------------------------------------
# 2. our export


def meshprep_cli() -> list[str]:
    """The ``meshprep`` command of this environment."""
    script = Path(sys.executable).parent / "meshprep"
    return [str(script)] if script.exists() else [shutil.which("meshprep") or "meshprep"]


def build_export(work: Path, assets: list[str], workers: int, envmaps: Path | None
                 ) -> dict[str, Path]:
    """``meshprep run`` on ``assets`` naming both layouts (and ``[render] envmaps``, for
    Hunyuan's ``NNN_light_ENVMAP.png``), then ``meshprep export`` of each layout into
    ``work/export-<layout>``. Returns the export folder per layout."""
    raw = work / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in assets:
        source = _corpus_file(name)
        target = raw / source.name
        if not target.exists():
            target.symlink_to(source)
    config = work / "meshprep.toml"
    render = f"\n[render]\nenvmaps = {json.dumps(str(envmaps))}\n" if envmaps else ""
    config.write_text('[run]\nsteps = ["load", "normalize", "write"]\n\n[write]\n'
                      f"layouts = {json.dumps(list(LAYOUTS))}\n{render}")
    store = work / "store"
    _run([*meshprep_cli(), "run", str(raw), "-o", str(store), "--config", str(config),
          "-j", str(workers), "-q"])
    exports = {}
    for layout in LAYOUTS:
        exports[layout] = work / f"export-{layout}"
        _run([*meshprep_cli(), "export", str(store), "--layout", layout, "-o",
              str(exports[layout]), "--no-progress"])
    return exports


def _corpus_file(name: str) -> Path:
    """The corpus file of asset id ``name`` (``manifest.csv``'s ``file`` column)."""
    import csv

    with open(CORPUS / "manifest.csv", newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            if row["id"] == name:
                return CORPUS / row["file"]
    raise SystemExit(f"{name}: not in {CORPUS / 'manifest.csv'}")


def _envmaps(choice: str, work: Path) -> Path | None:
    """The ``[render] envmaps`` folder of ``--envmaps``, or None."""
    if choice == "none":
        return None
    if choice == "sky":
        from bench_render import write_sky  # benchmarks/ is this script's folder

        return write_sky(work / "envmaps").parent
    return Path(choice).resolve()


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """``command``, its output on stderr (stdout is the report's)."""
    print("$", " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(command, check=True, stdout=sys.stderr, **kwargs)


# ---------------------------------------------------------------------------------------------
# 3. the upstream files


def git_dir(mirrors: Path, name: str) -> Path:
    """The git directory of mirror ``name``: a bare ``repo`` inside it, or a clone."""
    for candidate in (mirrors / name / "repo", mirrors / name / ".git", mirrors / name):
        if (candidate / "HEAD").is_file():
            return candidate
    raise SystemExit(f"no git mirror {name} under {mirrors} (--mirrors)")


def extract(git: Path, paths: tuple[str, ...], out: Path) -> str:
    """Write the files of ``HEAD`` under ``paths`` into ``out``; returns the commit."""
    commit = _git(git, "rev-parse", "HEAD").strip()
    names = _git(git, "ls-tree", "-r", "--name-only", "HEAD", "--", *paths).split("\n")
    for name in filter(None, names):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run(["git", f"--git-dir={git}", "cat-file", "blob",
                                           f"HEAD:{name}"], check=True,
                                          capture_output=True).stdout)
    return commit


def _git(git: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git}", *args], check=True, capture_output=True,
                          text=True).stdout


# ---------------------------------------------------------------------------------------------
# the jobs for the separate environment


def hunyuan_jobs(root: Path, export: Path, work: Path, draws: int, envmaps: bool
                 ) -> list[dict]:
    """The shipped example under the shipped config (its ``examples.json`` names the folder
    relative to the repository root: listed here absolute), and our export with the user's
    settings: the list, and without envmaps the lighting pool without ``light_ENVMAP``."""
    example = work / "hunyuan-example.json"
    example.write_text(json.dumps([str(root / "hy3dpaint" / "train_examples" / "001")]))
    ours: dict[str, Any] = {"json_path": str(export / "examples.json")}
    if not envmaps:
        ours["lighting_suffix_pool"] = HUNYUAN_POOL
    common = {"loader": "hunyuan", "root": str(root), "workdir": str(work), "seed": 0,
              "draws": draws}
    return [{**common, "label": "upstream example 001",
             "settings": {"json_path": str(example)}},
            {**common, "label": "meshprep export", "settings": ours}]


def step1x_jobs(root: Path, export: Path, draws: int) -> list[dict]:
    """The shipped items under the shipped config, and our export with the user's command-line
    overrides (``train_ig2mv.py --config ... data.x=y``). Both drop ``train_indices: [0,1]``
    (the config trains on its first item) so that every item is read, and load in the main
    process (``num_workers=0``)."""
    every = ["data.train_indices=null", "data.num_workers=0"]
    names = ",".join(f'"{n}"' for n in STEP1X_VIEWS)
    refs = ",".join(f'"{n}"' for n in STEP1X_REFERENCE)
    ours = [f"data.root_dir={export}", f"data.scene_list={export / 'filter_obj.json'}",
            f"data.prompt_db_path={export / 'objaverse_short_captions.json'}",
            f"data.reference_root_dir=[{export}]",
            f"data.reference_scene_list=[{export / 'filter_obj.json'}]",
            f"data.image_names=[{names}]", f"data.reference_image_names=[{refs}]"]
    common = {"loader": "step1x", "root": str(root), "cwd": str(root), "draws": draws}
    return [{**common, "label": "upstream obajverse items", "cli_args": every},
            {**common, "label": "meshprep export", "cli_args": every + ours}]


def run_upstream(python: Path, jobs: list[dict], work: Path) -> list[dict]:
    """Each job through ``_upstream_loaders_venv.py`` in the separate environment, one process
    each (the upstream modules register OmegaConf resolvers at import)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    results = []
    for i, job in enumerate(jobs):
        spec, out = work / f"job{i}.json", work / f"result{i}.json"
        spec.write_text(json.dumps(job, indent=1))
        _run([str(python), str(DRIVER), str(spec), str(out)], env=env)
        results.append(json.loads(out.read_text()))
    return results


# ---------------------------------------------------------------------------------------------
# 4. the tables


def loader_table(results: list[dict], commits: dict[str, str]) -> list[str]:
    """One row per (loader, data, key)."""
    rows = ["| layout | upstream file @ commit | data | items (yielded) | key | shape | dtype "
            "| min | max | error |", "|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        layout, info = _layout(result)
        where = f"`{info['file']}` @ {commits[info['repo']][:7]}"
        count = f"{result['items']} ({result['yielded']})"
        errors = "; ".join(result["errors"]) or "none"
        stats = result["stats"] or {"-": {"shapes": [], "dtypes": [], "min": None, "max": None,
                                          "example": None}}
        for key, entry in stats.items():
            shape = " ".join(str(tuple(s)) for s in entry["shapes"]) or _short(entry["example"])
            rows.append(f"| {layout} | {where} | {result['label']} | {count} | `{key}` | "
                        f"{shape.replace('|', '/')} | {', '.join(entry['dtypes'])} | "
                        f"{_num(entry['min'])} | {_num(entry['max'])} | {errors} |")
    return rows


def _layout(result: dict) -> tuple[str, dict]:
    return ("hunyuan3d-paint", HUNYUAN) if result["loader"] == "hunyuan" \
        else ("step1x3d-texture", STEP1X)


def _short(text: str | None, width: int = 32) -> str:
    text = text or ""
    return text if len(text) <= width else text[:width - 1] + "…"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def inventory_table(results: list[dict]) -> list[str]:
    """Our first item's files against upstream's shipped item's: name pattern, count, format
    (JSON: keys), and whether they match."""
    rows = ["| layout | file (digits as N) | upstream item | ours | match |",
            "|---|---|---|---|---|"]
    for loader in ("hunyuan", "step1x"):
        theirs, ours = (next(r["inventory"] for r in results
                             if r["loader"] == loader and r["label"] == label)
                        for label in _labels(loader))
        layout = _layout({"loader": loader})[0]
        for name in sorted(set(theirs) | set(ours)):
            rows.append(f"| {layout} | `{name}` | {_cell(theirs.get(name))} | "
                        f"{_cell(ours.get(name))} | "
                        f"{_match(name, theirs.get(name), ours.get(name))} |")
    return rows


def _labels(loader: str) -> tuple[str, str]:
    return ("upstream example 001" if loader == "hunyuan" else "upstream obajverse items",
            "meshprep export")


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "-"
    if entry["codec"] == "JSON":
        return f"{entry['count']} × JSON ({len(entry['keys'])} keys)"
    return f"{entry['count']} × " + " ".join(entry.get(k) or "" for k in ("codec", "mode", "size"))


def _match(name: str, theirs: dict | None, ours: dict | None) -> str:
    """Whether our file is one the loader reads as it reads upstream's, and what differs."""
    if theirs is None:
        return "extra (ours only)"
    if ours is None:
        return "**missing**" + (f" ({MISSING_NOTES[name]})" if name in MISSING_NOTES else "")
    notes = [f"count {theirs['count']} vs {ours['count']}"] \
        if theirs["count"] != ours["count"] else []
    if theirs["codec"] == "JSON":
        return _match_json(name, theirs["keys"], ours["keys"], notes)
    if theirs.get("mode") != ours.get("mode"):
        return f"**mode differs** ({theirs.get('mode')} vs {ours.get('mode')})"
    notes += [f"{k} {theirs.get(k)} vs {ours.get(k)}" for k in ("codec", "size")
              if theirs.get(k) != ours.get(k)]
    return "yes" + (f" ({'; '.join(notes)})" if notes else "")


def _match_json(name: str, theirs: list[str], ours: list[str], notes: list[str]) -> str:
    """yes when ours has every key the loader reads; the keys either side lacks noted."""
    read = LOADER_READS.get(name, [])
    lost = [k for k in read if k not in ours]
    if lost:
        return f"**keys missing**: {', '.join(lost)}"
    notes += [f"{who} only: {', '.join(keys)}" for who, keys in
              (("upstream", [k for k in theirs if k not in ours]),
               ("ours", [k for k in ours if k not in theirs])) if keys]
    notes.append("loader reads " + (", ".join(read) if read else "none of it"))
    return "yes (" + "; ".join(notes) + ")"


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", default=",".join(DEFAULT_ASSETS),
                        help="corpus asset ids (textured ones: the layouts skip the others)")
    parser.add_argument("--venv", type=Path,
                        default=Path(tempfile.gettempdir()) / "meshprep-upstream-loaders-venv")
    parser.add_argument("--work", type=Path, default=None, help="default: a fresh temp folder")
    parser.add_argument("--draws", type=int, default=4,
                        help="passes over the items (the loaders draw views at random)")
    parser.add_argument("--workers", type=int, default=2, help="meshprep run -j")
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    parser.add_argument("--envmaps", default="sky",
                        help="[render] envmaps: 'sky' (a synthetic sky written here, as "
                             "bench_render's), a folder of .hdr/.exr maps, or 'none' (no "
                             "light_ENVMAP: Hunyuan then trains with lighting_suffix_pool "
                             "['light_PL', 'light_AL'])")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="meshprep-upstream-loaders-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    python = ensure_venv(args.venv)
    envmaps = _envmaps(args.envmaps, work)
    exports = build_export(work, args.assets.split(","), args.workers, envmaps)
    commits, roots = {}, {}
    for spec in (HUNYUAN, STEP1X):
        roots[spec["repo"]] = work / "upstream" / spec["mirror"]
        commits[spec["repo"]] = extract(git_dir(args.mirrors, spec["mirror"]), spec["paths"],
                                        roots[spec["repo"]])
    jobs = (hunyuan_jobs(roots[HUNYUAN["repo"]], exports["hunyuan3d-paint"], work, args.draws,
                         envmaps is not None)
            + step1x_jobs(roots[STEP1X["repo"]], exports["step1x3d-texture"], args.draws))
    results = run_upstream(python, jobs, work)
    _report(results, commits, python, args, work, time.perf_counter() - start)
    return 1 if any(r["errors"] for r in results) else 0


def _report(results: list[dict], commits: dict[str, str], python: Path, args: argparse.Namespace,
            work: Path, seconds: float) -> None:
    """Print the settings, both tables and the notes."""
    print(f"separate environment: {args.venv} ({versions(python)}); no stub modules")
    print(f"assets: {args.assets}; [render] envmaps: {args.envmaps}; work folder: {work}; "
          f"{seconds:.0f} s")
    for repo, commit in commits.items():
        print(f"upstream {repo} @ {commit}")
    for result in results:
        if result["label"] != "meshprep export":
            continue
        settings = result.get("settings") or {"cli_args": result.get("cli_args")}
        if result["loader"] == "hunyuan":
            print("hunyuan3d-paint, set in a copy of cfgs/hunyuan-paint-pbr.yaml "
                  "(data.params.train[*] and validation[*].params): "
                  + ", ".join(f"{k}={v}" for k, v in settings.items()))
        else:
            print("step1x3d-texture, train_ig2mv.py --config configs/train-texture-ig2mv/"
                  "step1x3d_ig2mv_sdxl.yaml " + " ".join(f"'{a}'" for a in result["cli_args"]))
    print()
    print("\n".join(loader_table(results, commits)))
    print()
    print("\n".join(inventory_table(results)))


if __name__ == "__main__":
    raise SystemExit(main())
