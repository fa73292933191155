"""``puppeteer``: Puppeteer's mesh (``.obj``) and rig (``.txt``, RigNet's format) per asset and
the dataset ``.npz`` its skeleton loader opens.

Matched against Seed3D/Puppeteer:

- ``skeleton/data_utils/read_rig_mesh_from_glb.py`` (``get_joint_dict``, ``record_info``,
  ``record_obj``): Blender's rest pose (``bone.head_local``, ``mesh.data.vertices[i].co``),
  Blender axes (Z up), no normalization. ``meshes/<name>.obj``: ``v`` per vertex, ``vn`` the
  vertex normals, ``f a//a b//b c//c`` (1-based). ``rigs/<name>.txt``: ``joints <name> x y z``
  (``%.8f``) in depth-first pre-order from the root of the armature's first bone, ``root
  <name>``, ``skin <vertex> <bone> <weight> ...`` for every vertex (``%.4f``; nothing after the
  index for a vertex without weights), ``hier <parent> <child>`` in the same order; names with
  every run of non-word characters replaced by ``_``.
- ``skeleton/data_utils/save_npz.py`` (``read_obj_file``, ``read_rig_file``,
  ``process_single_file``, ``process_files``): per item a dict of ``vertices`` (centred on the
  box, scaled so the largest coordinate is 0.5) with ``normals`` (unit), ``faces``, ``joints``
  (the same transform), ``bones`` ``[parent, child]``, ``root_index``, ``uuid`` (the name up to
  its first dot), ``pc_w_norm`` (8192 surface points and normals, float16, centred and scaled
  so the largest coordinate is 0.9995), ``joint_names`` and the sparse skin
  (``scipy.sparse.coo_matrix`` data, rows, columns, shape); all of them in
  ``np.savez_compressed(file, data_list, allow_pickle=True)``: keys ``arr_0`` (an object array
  of the dicts) and ``allow_pickle`` (the keyword becomes an array).
- ``skeleton/utils/skeleton_data_loader.py`` (``SkeletonData.load``, ``__getitem__``): opens
  that ``.npz`` (``args.dataset_path``) and reads ``joints``, ``vertices``, ``pc_w_norm``,
  ``bones``, ``faces``, ``uuid``, ``root_index``.
- ``skinning/utils/save_h5.py`` (``process_sample``) reads the skin as
  ``skinning_weights_row`` / ``_col`` (and ``read_npz.py`` too) where ``save_npz.py`` writes
  ``_rows`` / ``_cols``: each item holds both spellings.

What differs: ``pc_w_norm`` samples the bind-pose mesh itself (area-weighted, face normals,
seeded by the asset id), not ``export_to_watertight``'s marching-cubes remesh of ``mesh2sdf``
(not a meshprep dependency); the vertices are the store's canonical mesh back in the bind
pose (the cube's scale; ``process_single_file`` rescales anyway), joints and vertices both in
world axes (the script writes armature-space heads and object-space vertices: the same where
the armature and mesh objects carry no transform); the skinning stage's
``.h5`` (``save_h5.py``: graph distances, topology edges) is left to Puppeteer's own script,
which reads the dataset ``.npz`` written here; assets with several skeleton roots are skipped.

``benchmarks/bench_rig_layouts.py`` runs ``read_rig_mesh_from_glb.py`` under Blender and reads
both outputs with ``save_npz.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from meshprep.errors import MeshprepError

from ._rig_frames import BindRig, read_store_rig
from .layouts import Key, Layout, item_splits, plain_id, register, write_text

NAME = "puppeteer"
LOADER = "Seed3D/Puppeteer:skeleton/utils/skeleton_data_loader.py"
MESHES, RIGS, ITEMS = "meshes", "rigs", "items"
#: the dataset files (``args.dataset_path``): every item, and the first ``VAL_ITEMS``
DATASETS = {"train": "meshprep_train.npz", "test": "meshprep_test.npz"}
#: ``process_mesh_to_pc``'s sample count and ``normalize_to_unit_cube``'s scale factors
PC_POINTS, PC_SCALE, MESH_SCALE = 8192, 0.9995, 0.5


def txt_names(names: list[str]) -> list[str]:
    """``replace_special_characters`` (``re.sub(r'\\W+', '_', name)``), kept unique with
    ``_1``, ``_2`` ... (the loader maps names to joints)."""
    out: list[str] = []
    for name in names:
        base = re.sub(r"\W+", "_", name) or "_"
        unique, n = base, 0
        while unique in out:
            n += 1
            unique = f"{base}_{n}"
        out.append(unique)
    return out


def obj_text(vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray) -> str:
    """``record_obj``'s lines: ``v`` and ``vn`` at full precision (``repr`` of the float64
    values), ``f a//a b//b c//c`` (1-based), each line ending in a newline and a blank line
    after the ``v`` and the ``vn`` blocks."""
    v = distinct_text(vertices, repr)
    vn = distinct_text(normals, repr)
    f = _corner_text(np.asarray(faces, np.int64).reshape(-1, 3) + 1)
    return (("v %s %s %s\n" * (len(v) // 3)) % tuple(v) + "\n"
            + ("vn %s %s %s\n" * (len(vn) // 3)) % tuple(vn) + "\n"
            + ("f %s %s %s\n" * (len(f) // 3)) % tuple(f))


def _corner_text(indices: np.ndarray) -> list[str]:
    """``a//a`` of every index (flattened), each distinct index formatted once."""
    if not indices.size:
        return []
    low = int(indices.min())
    text = np.empty(int(indices.max()) - low + 1, dtype=object)
    text[:] = list(map("{0}//{0}".format, range(low, low + len(text))))
    return text[indices.reshape(-1) - low].tolist()


def distinct_text(values: np.ndarray, fmt: Callable[[float], str]) -> list[str]:
    """``fmt`` of every value (as a Python float, flattened in C order), each distinct value
    formatted once (:func:`_distinct`)."""
    text, inverse = _distinct(values, fmt)
    return text[inverse].tolist()


def _distinct(values: np.ndarray, fmt: Callable[[float], str]) -> tuple[np.ndarray, np.ndarray]:
    """``fmt`` of each distinct value (an object array) and, per value, its index there:
    distinct by float64 bit pattern, so ``-0.0`` and ``0.0`` keep their own text."""
    flat = np.ascontiguousarray(values, np.float64).reshape(-1)
    bits, inverse = np.unique(flat.view(np.uint64), return_inverse=True)
    text = np.empty(len(bits), dtype=object)
    text[:] = list(map(fmt, bits.view(np.float64).tolist()))
    return text, inverse.reshape(-1)


def rig_text(bind: BindRig, names: list[str], entries: tuple | None = None) -> str:
    """``record_info``'s lines: joints, root, one skin line per vertex, hier (``entries``:
    :func:`skin_entries` of the weights, computed when not given)."""
    lines = [f"joints {n} {x:.8f} {y:.8f} {z:.8f}"
             for n, (x, y, z) in zip(names, bind.joints.tolist(), strict=True)]
    lines.append(f"root {names[0]}")
    rows, cols, text, _ = entries if entries is not None else skin_entries(bind.weights)
    if len(bind.weights):  # no skin line at all without vertices
        lines.append(skin_lines(len(bind.weights), rows, cols, text, names))
    lines += [f"hier {names[p]} {names[j]}" for j, p in enumerate(bind.parents.tolist()) if p >= 0]
    return "\n".join(lines) + "\n"


def skin_lines(count: int, rows: np.ndarray, cols: np.ndarray, text: np.ndarray,
               names: list[str]) -> str:
    """``skin <v> <name> <weight> ...`` for vertices ``0 .. count - 1`` (``rows`` sorted), the
    lines joined by newlines; ``record_info`` writes ``"skin <v> "`` and then the pairs, so a
    vertex without weights keeps the space. One ``%`` over a template of every line."""
    if count == 0:
        return ""
    starts = np.searchsorted(rows, np.arange(count + 1))
    pairs = np.diff(starts)
    shapes = np.empty(int(pairs.max()) + 1, dtype=object)
    shapes[:] = ["\nskin %s" + " %s %s" * n for n in range(len(shapes))]
    shapes[0] = "\nskin %s "
    template = "".join(shapes[pairs].tolist())[1:]
    args = np.empty(count + 2 * len(rows), dtype=object)
    heads = 2 * starts[:-1] + np.arange(count)  # each vertex index before its pairs
    args[heads] = range(count)
    named = np.ones(len(args), bool)
    named[heads] = False
    labels = np.empty(len(names), dtype=object)
    labels[:] = names
    args[named] = np.stack([labels[cols], text], axis=1).reshape(-1)
    return template % tuple(args.tolist())


def skin_entries(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero weights in row order: rows, columns, each weight as ``%.4f`` text (an
    object array of str: what ``record_info`` writes) and that text parsed back (float64: what
    ``read_rig_file`` reads)."""
    rows, cols = np.nonzero(weights)
    text, inverse = _distinct(weights[rows, cols], "{:.4f}".format)
    parsed = np.array([float(t) for t in text], np.float64)
    return rows, cols, text[inverse], parsed[inverse]


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit area-weighted vertex normals (Blender's ``vertex.normal``; +Z where undefined),
    float64."""
    vertices = np.asarray(vertices, np.float64)
    corners = vertices[faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    corner = np.asarray(faces).T.reshape(-1)  # corner 0 of every face, then 1, then 2
    out = np.stack([np.bincount(corner, np.tile(cross[:, d], 3), len(vertices))
                    for d in range(3)], axis=1)  # sums in np.add.at's order
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norms > 0, out / np.where(norms > 0, norms, 1), [0.0, 0.0, 1.0])


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``read_obj_file``: ``v``, ``vn`` and ``f`` (the index before ``//``, made 0-based)."""
    vertices, normals, faces = [], [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()[1:]
        if line.startswith("v "):
            vertices.append([float(p) for p in parts[:3]])
        elif line.startswith("vn "):
            normals.append([float(p) for p in parts[:3]])
        elif line.startswith("f "):
            faces.append([int(p.split("//")[0]) - 1 for p in parts])
    return np.array(vertices), np.array(faces), np.array(normals)


def read_rig_txt(path: Path) -> dict[str, Any]:
    """``read_rig_file``: joints, bones ``[parent, child]``, root index, names and per vertex
    its ``(joint, weight)`` pairs."""
    joints, bones, names, skin = [], [], [], {}
    index: dict[str, int] = {}
    root = -1
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if line.startswith("joints"):
            index[parts[1]] = len(joints)
            joints.append([float(p) for p in parts[2:5]])
            names.append(parts[1])
        elif line.startswith("hier"):
            bones.append([index[parts[1]], index[parts[2]]])
        elif line.startswith("root"):
            root = index[parts[1]]
        elif line.startswith("skin"):
            pairs = skin.setdefault(int(parts[1]), [])
            pairs += [(index[parts[i]], float(parts[i + 1]))
                      for i in range(2, len(parts) - 1, 2) if parts[i] in index]
    return {"joints": np.array(joints), "bones": np.array(bones), "root": root,
            "names": names, "skin": skin}


def unit_cube(points: np.ndarray, scale_factor: float) -> tuple[np.ndarray, np.ndarray, float]:
    """``normalize_to_unit_cube``: centre on the box, the largest coordinate ``scale_factor``."""
    center = (points.min(axis=0) + points.max(axis=0)) / 2.0
    moved = points - center
    scale = 1.0 / np.abs(moved).max() * scale_factor
    return moved * scale, center, scale


def item_from_files(obj: Path, txt: Path, pc_w_norm: np.ndarray) -> dict[str, Any]:
    """``process_single_file`` of written files (``pc_w_norm`` given): the reader's side."""
    vertices, faces, normals = read_obj(obj)
    rig = read_rig_txt(txt)
    vertices, center, scale = unit_cube(vertices, MESH_SCALE)
    normals = normals / (np.linalg.norm(normals, axis=1, keepdims=True) + 1e-8)
    entries = [(v, j, w) for v, pairs in rig["skin"].items() for j, w in pairs]
    rows, cols, data = (np.array(c) for c in zip(*entries, strict=True)) if entries else \
        (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    skin = sp.coo_matrix((data, (rows, cols)), shape=(len(vertices), len(rig["joints"])))
    return {"vertices": vertices, "faces": faces, "normals": normals,
            "joints": (rig["joints"] - center) * scale, "bones": rig["bones"],
            "root_index": rig["root"], "uuid": obj.name.split(".")[0], "pc_w_norm": pc_w_norm,
            "joint_names": rig["names"], "skinning_weights_value": skin.data,
            "skinning_weights_rows": skin.row, "skinning_weights_cols": skin.col,
            "skinning_weights_row": skin.row, "skinning_weights_col": skin.col,
            "skinning_weights_shape": skin.shape}


def dataset_item(uid: str, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray,
                 bind: BindRig, names: list[str], pc_w_norm: np.ndarray,
                 entries: tuple | None = None) -> dict[str, Any]:
    """``process_single_file``'s entry, as it reads the files :func:`obj_text` and
    :func:`rig_text` write, made from the same arrays and the same formatted numbers (``v`` /
    ``vn`` at full precision parse back exactly; joints ``%.8f`` and weights ``%.4f`` are parsed
    from their text): :func:`read_obj` and :func:`read_rig_txt` read the files themselves."""
    vertices, center, scale = unit_cube(np.asarray(vertices, np.float64), MESH_SCALE)
    normals = np.asarray(normals, np.float64)
    normals = normals / (np.linalg.norm(normals, axis=1, keepdims=True) + 1e-8)
    joints = np.char.mod("%.8f", np.asarray(bind.joints, np.float64)).astype(np.float64)
    bones = np.array([[p, j] for j, p in enumerate(bind.parents.tolist()) if p >= 0])
    rows, cols, _, values = entries if entries is not None else skin_entries(bind.weights)
    skin = sp.coo_matrix((values, (rows, cols)), shape=(len(vertices), len(names)))
    return {"vertices": vertices, "faces": np.asarray(faces, np.int64), "normals": normals,
            "joints": (joints - center) * scale, "bones": bones, "root_index": 0, "uuid": uid,
            "pc_w_norm": pc_w_norm, "joint_names": list(names),
            "skinning_weights_value": skin.data,
            "skinning_weights_rows": skin.row, "skinning_weights_cols": skin.col,
            "skinning_weights_row": skin.row, "skinning_weights_col": skin.col,
            "skinning_weights_shape": skin.shape}


def surface_points(vertices: np.ndarray, faces: np.ndarray, asset_id: str) -> np.ndarray:
    """``(8192, 6)`` float16 points and face normals on the mesh, normalized as
    ``process_mesh_to_pc`` does (largest coordinate 0.9995)."""
    from meshprep.render.cameras import asset_seed
    from meshprep.sample import sample_surface

    points, normals = sample_surface((vertices, faces), PC_POINTS, seed=asset_seed(asset_id))
    points, _, _ = unit_cube(points.astype(np.float64), PC_SCALE)
    return np.concatenate([points, normals], axis=-1, dtype=np.float16)


def export_puppeteer_asset(store_folder: Path, out: Path, asset_id: str) -> list[Path]:
    """``meshes/<id>.obj``, ``rigs/<id>.txt`` and ``items/<id>.npy`` (the dataset entry,
    gathered into the dataset files by :func:`write_lists`) from the asset's ``rig.npz``.

    Raises
    ------
    LayoutSkip
        No ``rig.npz`` (no skin), several skeleton roots, or a singular bind matrix.
    """
    uid, out = plain_id(asset_id), Path(out)
    bind = read_store_rig(store_folder)
    normals = vertex_normals(bind.vertices, bind.faces)
    names = txt_names(bind.names)
    obj = write_text(out / MESHES / f"{uid}.obj", obj_text(bind.vertices, normals, bind.faces))
    entries = skin_entries(bind.weights)
    txt = write_text(out / RIGS / f"{uid}.txt", rig_text(bind, names, entries))
    entry = dataset_item(uid.split(".")[0], bind.vertices, normals, bind.faces, bind, names,
                         surface_points(bind.vertices, bind.faces, uid), entries)
    return [obj, txt, _save_entry(out / ITEMS / f"{uid}.npy", entry)]


def _save_entry(path: Path, entry: dict[str, Any]) -> Path:
    """One dataset entry as ``np.save`` of the dict (a pickled 0-d object array)."""
    from meshprep.io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "wb") as stream:
        np.save(stream, entry, allow_pickle=True)
    return path


def _entries(folder: Path, ids: list[str]) -> np.ndarray:
    out = np.empty(len(ids), dtype=object)
    for k, uid in enumerate(ids):
        out[k] = np.load(Path(folder) / ITEMS / f"{uid}.npy", allow_pickle=True)[()]
    return out


def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``meshprep_train.npz`` (every item) and ``meshprep_test.npz`` (the first
    ``VAL_ITEMS``): ``arr_0`` the entries, ``allow_pickle`` True, as ``process_files``."""
    splits = item_splits(asset_ids, tuple(DATASETS))
    return [_savez_compressed(Path(folder) / DATASETS[split],
                              {"arr_0": _entries(folder, ids), "allow_pickle": np.array(True)})
            for split, ids in splits.items()]


def _savez_compressed(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez_compressed`` under numpy 1.26 (Puppeteer's pin), where ``allow_pickle`` is
    a key like any other (numpy 2 takes it as a parameter): one ``<key>.npy`` per array in a
    deflated zip, atomically."""
    import zipfile

    from meshprep.io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, np.asanyarray(array), allow_pickle=True)
    return path


def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
    """One item as ``process_single_file`` reads its ``.obj`` and ``.txt`` (``pc_w_norm`` from
    the item's entry), with the dense skin as ``read_npz.py`` rebuilds it (``skin``)."""
    uid = plain_id(asset_id)
    pc = np.load(Path(folder) / ITEMS / f"{uid}.npy", allow_pickle=True)[()]["pc_w_norm"]
    entry = item_from_files(Path(folder) / MESHES / f"{uid}.obj",
                            Path(folder) / RIGS / f"{uid}.txt", pc)
    skin = sp.coo_matrix((entry["skinning_weights_value"], (entry["skinning_weights_row"],
                                                            entry["skinning_weights_col"])),
                         shape=entry["skinning_weights_shape"]).toarray()
    return {**entry, "skin": skin}


def _write_unused(samples, watertight, folder: Path, asset_id: str) -> list[Path]:
    raise MeshprepError(f"layout {NAME!r} is written from the asset's rig.npz "
                        "(export_puppeteer_asset), not from the samples")


_ITEM = "arr_0[i]"
register(Layout(
    name=NAME,
    trainer="Puppeteer (SkeletonData; skinning save_h5.py)",
    loader=LOADER,
    keys=(
        Key(f"{MESHES}/<id>.obj", "v, vn, f", "(V, 3), (V, 3), (F, 3)", "text",
            "bind-pose vertices (Blender axes, Z up), unit vertex normals, triangles a//a"),
        Key(f"{RIGS}/<id>.txt", "joints, root, skin, hier", "J, 1, V, J - 1 lines", "text",
            "RigNet format: joint heads %.8f (depth-first), root, per-vertex weights %.4f, "
            "parent-child pairs"),
        Key(f"{DATASETS['train']}", "arr_0", "(items,)", "object",
            "one dict per item (below); also allow_pickle = True as process_files saves it"),
        Key(_ITEM, "vertices, normals", "(V, 3)", "float64",
            "centred on the box, largest coordinate 0.5; unit normals"),
        Key(_ITEM, "faces", "(F, 3)", "int64", "0-based"),
        Key(_ITEM, "joints", "(J, 3)", "float64", "the vertices' transform"),
        Key(_ITEM, "bones", "(J - 1, 2)", "int64", "[parent, child] joint indices"),
        Key(_ITEM, "root_index, uuid, joint_names", "", "int, str, list",
            "root joint (0), the id up to its first dot, sanitized names"),
        Key(_ITEM, "pc_w_norm", "(8192, 6)", "float16",
            "surface points (largest coordinate 0.9995) and face normals"),
        Key(_ITEM, "skinning_weights_value, _rows/_row, _cols/_col, _shape", "(nnz,), (V, J)",
            "float64, int32", "coo_matrix of the %.4f weights (both key spellings)"),
    ),
    sign="no labels (skeleton and skin weights)",
    coords="Blender axes (Z up): glTF (x, y, z) -> (x, -z, y), bind pose; the dataset entries "
           "centred, largest vertex coordinate 0.5",
    write=_write_unused,
    read=read,
    notes="pc_w_norm samples the bind-pose mesh itself, not save_npz.py's mesh2sdf "
          "marching-cubes remesh (mesh2sdf is not a meshprep dependency); the skinning stage's "
          ".h5 is left to Puppeteer's save_h5.py run on the dataset npz; joints and vertices "
          "in world axes (the script's are armature- and object-local); bind pose recovered "
          "from the store's frame-0 mesh; assets without a skin or with several skeleton roots "
          "are skipped",
    lists=f"{DATASETS['train']}: every exported item (args.dataset_path); "
          f"{DATASETS['test']}: the first items",
    write_lists=write_lists,
    from_asset=export_puppeteer_asset,
    store_needs=("rig",),
))
