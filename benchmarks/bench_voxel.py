"""O-Voxel benchmark: meshprep's flexible dual grid against TRELLIS.2's converter, same meshes.

    python benchmarks/bench_voxel.py [--res 1024] [--assets duck_glb,beast ...]
        [--anchor-python PATH] [--anchor-script PATH]

The anchor is TRELLIS.2's own ``o_voxel`` converter (single-threaded C++). It installs only with
a CUDA build, so this script does not build it: point ``--anchor-python`` at a Python where its
CPU part is importable and ``--anchor-script`` at a script taking ``MESH.npz RES OUT.npz`` that
runs ``data_toolkit/dual_grid.py``'s conversion and prints ``cpp_seconds X`` (the C++ call) and
``end_to_end_seconds Y``; ``OUT.npz`` holds ``coords``, ``vertices`` (uint8) and
``intersected``. Without them only meshprep is timed.

Prints markdown tables:

1. Per corpus asset at ``--res``: voxels, meshprep seconds (median of 3 after a warm-up), the
   anchor's C++ seconds (one run, fresh process), the ratio, and the agreement: identical
   active-voxel sets, ``intersected`` equal, dual-vertex bytes within ±2.
2. One call for 256, 512 and 1024 against the 1024 one alone (ratio), on one asset.
3. ``.vxz``: meshprep's writer and o_voxel's on the same voxels (size, seconds).
4. PBR attributes against ``voxelize_pbr.py``'s conversion on the same dump
   (``--anchor-pbr-script``).
5. Peak RSS of one asset at 1024³ in a fresh process (shape + ``.vxz``).
6. TRELLIS's 64³ surface voxels against Open3D on every loadable corpus asset
   (``--open3d-python``).
7. The sparse SDF band: what it adds to the watertight step, signs and values against libigl
   (``_sparse_sdf_bench.py``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_ASSETS = ("duck_glb", "milk_truck", "beast", "fandisk", "engine_glb", "cycloidal",
                  "counter_stl", "bunny_ply", "chair", "monkey_glb", "boolean_glb",
                  "capsule_textured", "tray", "adis16480")


def corpus_assets(names: list[str]) -> list[tuple[str, Path]]:
    """(id, path) of the named corpus assets that exist."""
    rows = [line.split(",") for line in (CORPUS / "manifest.csv").read_text().splitlines()[1:]]
    files = {row[0]: CORPUS / row[1] for row in rows}
    return [(name, files[name]) for name in names if name in files]


def load_z_up(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import meshprep as mp
    from meshprep.export.trellis2 import z_up_vertices

    mesh = mp.load(path)
    return z_up_vertices(mesh.vertices), np.asarray(mesh.faces, np.int64)


def time_ours(vertices, faces, res: int, repeats: int = 3) -> tuple[float, object]:
    from meshprep.voxel import flexible_dual_grid

    grid = flexible_dual_grid(vertices, res, faces=faces)  # warm-up (compiled kernels are cached)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        grid = flexible_dual_grid(vertices, res, faces=faces)
        times.append(time.perf_counter() - start)
    return statistics.median(times), grid


def run_anchor(args, vertices, faces, res: int, folder: Path, script: str | None = None
               ) -> tuple[float, dict] | None:
    script = script or args.anchor_script
    if not (args.anchor_python and script):
        return None
    mesh, out = folder / "mesh.npz", folder / "anchor.npz"
    np.savez(mesh, vertices=vertices, faces=faces)
    done = subprocess.run([args.anchor_python, script, str(mesh), str(res),
                           str(out)], capture_output=True, text=True, check=True)
    seconds = {k: float(v) for k, v in (line.split() for line in done.stdout.splitlines()
                                        if line.endswith(tuple("0123456789")) and
                                        len(line.split()) == 2)}
    return seconds["cpp_seconds"], dict(np.load(out))


def agreement(grid, anchor: dict, res: int) -> tuple[bool, float, float]:
    """(same active set, share of equal intersected flags, share of dual vertices within ±2)."""
    def key(c):
        c = np.asarray(c, np.int64)
        return (c[:, 0] * res + c[:, 1]) * res + c[:, 2]

    ours, theirs = key(grid.coords), key(anchor["coords"])
    if len(ours) != len(theirs) or not np.array_equal(np.sort(ours), np.sort(theirs)):
        return False, float("nan"), float("nan")
    a, b = np.argsort(ours), np.argsort(theirs)
    flags = float(np.mean(grid.intersected_u8()[a, 0] == anchor["intersected"].reshape(-1)[b]))
    diff = np.abs(grid.vertices_u8()[a].astype(int) - anchor["vertices"][b].astype(int))
    return True, flags, float(np.mean((diff <= 2).all(axis=1)))


def table_per_asset(args) -> None:
    print(f"\n### O-Voxel shape at {args.res}³ (2 cores; anchor single-threaded C++)\n")
    print("| asset | faces | voxels | meshprep s | anchor s | speed-up | same set | "
          "intersected eq | vertex ±2 | vertex ±2 vs anchor in float64 |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    ratios = []
    for name, path in corpus_assets(args.assets):
        vertices, faces = load_z_up(path)
        ours, grid = time_ours(vertices, faces, args.res)
        with tempfile.TemporaryDirectory() as folder:
            anchor = run_anchor(args, vertices, faces, args.res, Path(folder))
            double = run_anchor(args, vertices, faces, args.res, Path(folder),
                                args.anchor64_script) if args.anchor64_script else None
        if anchor is None:
            print(f"| {name} | {len(faces)} | {len(grid)} | {ours:.3f} | – | – | – | – | – | – |")
            continue
        seconds, result = anchor
        same, flags, close = agreement(grid, result, args.res)
        close64 = f"{agreement(grid, double[1], args.res)[2]:.5f}" if double else "–"
        ratios.append(seconds / ours)
        print(f"| {name} | {len(faces)} | {len(grid)} | {ours:.3f} | {seconds:.3f} | "
              f"{seconds / ours:.1f}× | {same} | {flags:.5f} | {close:.4f} | {close64} |")
    if ratios:
        print(f"\nmedian speed-up {statistics.median(ratios):.1f}× over {len(ratios)} assets")


def table_multi(args) -> None:
    from meshprep.voxel import flexible_dual_grid, flexible_dual_grids

    name, path = corpus_assets(args.assets)[0]
    vertices, faces = load_z_up(path)
    flexible_dual_grids(vertices, [256, 512, 1024], faces=faces)
    alone, together = [], []
    for _ in range(3):
        start = time.perf_counter()
        flexible_dual_grid(vertices, 1024, faces=faces)
        alone.append(time.perf_counter() - start)
        start = time.perf_counter()
        flexible_dual_grids(vertices, [256, 512, 1024], faces=faces)
        together.append(time.perf_counter() - start)
    a, t = statistics.median(alone), statistics.median(together)
    print(f"\n### 256 + 512 + 1024 in one call ({name}, median of 3)\n")
    print("| 1024 alone s | 256+512+1024 s | ratio |\n|---:|---:|---:|")
    print(f"| {a:.3f} | {t:.3f} | {t / a:.2f} |")


def table_vxz(args) -> None:
    from meshprep.voxel import flexible_dual_grid, read_vxz, write_vxz

    name, path = corpus_assets(args.assets)[0]
    vertices, faces = load_z_up(path)
    grid = flexible_dual_grid(vertices, args.res, faces=faces)
    attrs = {"vertices": grid.vertices_u8(), "intersected": grid.intersected_u8()}
    print(f"\n### .vxz of {name} at {args.res}³ ({len(grid)} voxels, LZMA preset 9)\n")
    print("| writer | bytes | write s | read back identical |\n|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        ours = Path(folder) / "ours.vxz"
        start = time.perf_counter()
        write_vxz(ours, grid.coords, attrs)
        seconds = time.perf_counter() - start
        coords, back = read_vxz(ours)
        same = _same_voxels(grid.coords, attrs, coords, back, args.res)
        print(f"| meshprep | {ours.stat().st_size} | {seconds:.3f} | {same} |")
        if args.anchor_python and args.anchor_vxz_script:
            np.savez(Path(folder) / "voxels.npz", coords=grid.coords, **attrs)
            theirs = Path(folder) / "theirs.vxz"
            done = subprocess.run([args.anchor_python, args.anchor_vxz_script,
                                   str(Path(folder) / "voxels.npz"), str(theirs)],
                                  capture_output=True, text=True, check=True)
            coords, back = read_vxz(theirs)
            same = _same_voxels(grid.coords, attrs, coords, back, args.res)
            identical = theirs.read_bytes() == ours.read_bytes()
            print(f"| o_voxel | {theirs.stat().st_size} | {done.stdout.split()[-1]} | {same} "
                  f"(bytes identical to ours: {identical}) |")


def _same_voxels(coords, attrs, coords2, attrs2, res) -> bool:
    def order(c):
        c = np.asarray(c, np.int64)
        return np.argsort((c[:, 0] * res + c[:, 1]) * res + c[:, 2])

    a, b = order(coords), order(coords2)
    return bool(np.array_equal(np.asarray(coords)[a], np.asarray(coords2)[b]) and all(
        np.array_equal(attrs[k][a], attrs2[k][b]) for k in attrs))


def pbr_dump(mesh, look) -> dict:
    """The asset as TRELLIS.2's ``data_toolkit/blender_script/dump_pbr.py`` dumps it (materials
    with PNG-encoded texture channels, bottom row first; per object vertices, faces, per-corner
    UVs, material ids), so its converter sees exactly meshprep's geometry and materials."""
    import io

    from PIL import Image

    def png(pixels, mode):
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels[::-1]), mode).save(buffer, format="PNG")
        return {"image": buffer.getvalue(), "interpolation": "Linear", "extension": "REPEAT"}

    materials = []
    for m in look.materials:
        tex, mr = m.texture, m.metallic_roughness_texture
        materials.append({
            "baseColorFactor": [float(x) for x in m.factor[:3]], "alphaFactor": float(m.factor[3]),
            "metallicFactor": float(m.metallic_factor),
            "roughnessFactor": float(m.roughness_factor),
            "alphaMode": m.alpha_mode, "alphaCutoff": float(m.alpha_cutoff),
            "baseColorTexture": None if tex is None else png(tex[..., :3], "RGB"),
            "alphaTexture": None if tex is None or m.alpha_mode == "OPAQUE"
            else png(tex[..., 3], "L"),
            "metallicTexture": None if mr is None else png(mr[..., 2], "L"),
            "roughnessTexture": None if mr is None else png(mr[..., 1], "L"),
        })
    faces = np.asarray(mesh.faces, np.int32)
    obj = {"vertices": np.asarray(mesh.vertices, np.float32), "faces": faces,
           "normals": np.zeros((len(faces), 3, 3), np.float32),
           "uvs": np.asarray(look.uv, np.float32)[faces],
           "mat_ids": np.asarray(look.face_material, np.int32)}
    return {"materials": materials, "objects": [obj]}


def table_pbr(args) -> None:
    import pickle

    import meshprep as mp
    from meshprep.voxel import pbr_voxels_multi

    print(f"\n### O-Voxel PBR attributes at {args.res}³\n")
    print("| asset | voxels | meshprep s | anchor s | speed-up | same set | every attribute "
          "exact |\n|---|---:|---:|---:|---:|---|---:|")
    for name, path in corpus_assets(args.pbr_assets):
        mesh = mp.load(path, appearance=True)
        look = mesh.metadata["meshprep_appearance"]
        pbr_voxels_multi(mesh, [args.res], appearance=look)
        start = time.perf_counter()
        coords, attrs = pbr_voxels_multi(mesh, [args.res], appearance=look)[args.res]
        ours = time.perf_counter() - start
        if not (args.anchor_python and args.anchor_pbr_script):
            print(f"| {name} | {len(coords)} | {ours:.3f} | – | – | – | – |")
            continue
        with tempfile.TemporaryDirectory() as folder:
            dump, out = Path(folder) / "dump.pickle", Path(folder) / "out.npz"
            dump.write_bytes(pickle.dumps(pbr_dump(mesh, look)))
            subprocess.run([args.anchor_python, args.anchor_pbr_script, str(dump),
                            str(args.res), str(out)], check=True, capture_output=True)
            ref = dict(np.load(out))
        key = lambda c: (np.asarray(c, np.int64)[:, 0] * args.res  # noqa: E731
                         + np.asarray(c, np.int64)[:, 1]) * args.res + np.asarray(c, np.int64)[:, 2]
        a, b = np.argsort(key(coords)), np.argsort(key(ref[f"coords_{args.res}"]))
        same = bool(np.array_equal(key(coords)[a], key(ref[f"coords_{args.res}"])[b]))
        exact = same and all(np.array_equal(attrs[k][a], ref[f"{k}_{args.res}"][b])
                             for k in ("base_color", "metallic", "roughness", "alpha"))
        theirs = float(ref[f"seconds_{args.res}"])
        print(f"| {name} | {len(coords)} | {ours:.3f} | {theirs:.3f} | {theirs / ours:.1f}× | "
              f"{same} | {exact} |")


_OPEN3D_SIDE = """
import sys, time, statistics, numpy as np, open3d as o3d
z = np.load(sys.argv[1])
mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.clip(z['v'].astype(np.float64),
    -0.5 + 1e-6, 0.5 - 1e-6)), o3d.utility.Vector3iVector(z['f'].astype(np.int32)))
times = []
for _ in range(5):
    t = time.perf_counter()
    grid = o3d.geometry.VoxelGrid.create_from_triangle_mesh_within_bounds(
        mesh, voxel_size=1 / 64, min_bound=(-0.5, -0.5, -0.5), max_bound=(0.5, 0.5, 0.5))
    times.append(time.perf_counter() - t)
idx = np.array([v.grid_index for v in grid.get_voxels()]).reshape(-1, 3)
np.save(sys.argv[2], idx)
print(statistics.median(times))
"""


def table_surface(args) -> None:
    """TRELLIS's 64³ voxels against Open3D (as its voxelize.py calls it) on every corpus asset
    that loads: identical sets, median seconds of 5."""
    import meshprep as mp
    from meshprep.voxel import normalize_for_trellis, surface_voxels

    print("\n### TRELLIS 64³ surface voxels against Open3D (median of 5 per asset)\n")
    rows = [line.split(",") for line in (CORPUS / "manifest.csv").read_text().splitlines()[1:]]
    ours_t, theirs_t, same, total = [], [], 0, 0
    for row in rows:
        try:
            mesh = mp.load(CORPUS / row[1])
        except mp.MeshprepError:
            continue
        v = normalize_for_trellis(mesh.vertices)
        surface_voxels(v, faces=mesh.faces, normalize=False)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            ours = surface_voxels(v, faces=mesh.faces, normalize=False)
            times.append(time.perf_counter() - start)
        ours_t.append(statistics.median(times))
        total += 1
        if not args.open3d_python:
            continue
        with tempfile.TemporaryDirectory() as folder:
            np.savez(Path(folder) / "m.npz", v=v, f=np.asarray(mesh.faces))
            done = subprocess.run([args.open3d_python, "-c", _OPEN3D_SIDE,
                                   str(Path(folder) / "m.npz"), str(Path(folder) / "o.npy")],
                                  capture_output=True, text=True, check=True)
            theirs = np.load(Path(folder) / "o.npy")
        theirs_t.append(float(done.stdout.split()[-1]))
        same += {tuple(c) for c in ours.tolist()} == {tuple(c) for c in theirs.tolist()}
    print("| assets | identical sets | meshprep median ms | Open3D median ms | ratio |")
    print("|---:|---:|---:|---:|---:|")
    o = statistics.median(ours_t) * 1e3
    if theirs_t:
        t = statistics.median(theirs_t) * 1e3
        print(f"| {total} | {same} | {o:.2f} | {t:.2f} | {t / o:.1f}× |")
    else:
        print(f"| {total} | – | {o:.2f} | – | – |")


def table_memory(args) -> None:
    name, path = corpus_assets(args.assets)[0]
    here = str(Path(__file__).parent)
    code = ("import resource, sys, tempfile; from meshprep.voxel import flexible_dual_grid, "
            "write_vxz;"
            f"sys.path.insert(0, {here!r}); from bench_voxel import load_z_up;"
            f"v, f = load_z_up({str(path)!r}); g = flexible_dual_grid(v, 1024, faces=f);"
            "write_vxz(tempfile.mkdtemp() + '/a.vxz', g.coords, {'vertices': g.vertices_u8(),"
            " 'intersected': g.intersected_u8()}, num_threads=1, durable=False);"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    print(f"\n### Peak RSS at 1024³ ({name}, fresh process)\n")
    print(f"| peak RSS MB |\n|---:|\n| {float(done.stdout.split()[-1]):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, default=1024)
    parser.add_argument("--assets", type=lambda s: s.split(","), default=list(DEFAULT_ASSETS))
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--anchor-script", default=None)
    parser.add_argument("--anchor64-script", default=None,
                        help="the anchor's converter with its QEF in float64 (same CLI as "
                             "--anchor-script): shows where the float32 noise comes from")
    parser.add_argument("--anchor-vxz-script", default=None,
                        help="script taking VOXELS.npz OUT.vxz that writes with o_voxel's "
                             "write_vxz and prints its seconds last")
    parser.add_argument("--anchor-pbr-script", default=None,
                        help="script taking DUMP.pickle RES OUT.npz that runs voxelize_pbr.py's "
                             "conversion (coords_<res>, <attr>_<res>, seconds_<res>)")
    parser.add_argument("--pbr-assets", type=lambda s: s.split(","),
                        default=["duck_glb", "milk_truck", "box_textured", "capsule_textured"])
    parser.add_argument("--open3d-python", default=None,
                        help="a Python with open3d, for the TRELLIS 64³ comparison")
    parser.add_argument("--sdf-res", type=int, default=1024)
    parser.add_argument("--sdf-assets", type=lambda s: s.split(","),
                        default=["fandisk", "bunny_ply", "beast"])
    parser.add_argument("--truncation", type=float, default=4.0)
    parser.add_argument("--sdf-samples", type=int, default=100_000)
    parser.add_argument("--sdf-device", default="cpu",
                        help="cpu (numba) or cuda (Warp: the watertight step and the distances)")
    parser.add_argument("--tables", default="asset,multi,vxz,pbr,memory,surface,sdf")
    args = parser.parse_args()
    tables = args.tables.split(",")
    if "asset" in tables:
        table_per_asset(args)
    if "multi" in tables:
        table_multi(args)
    if "vxz" in tables:
        table_vxz(args)
    if "pbr" in tables:
        table_pbr(args)
    if "memory" in tables:
        table_memory(args)
    if "surface" in tables:
        table_surface(args)
    if "sdf" in tables:
        from _sparse_sdf_bench import table_sparse_sdf

        table_sparse_sdf(args)


if __name__ == "__main__":
    main()
