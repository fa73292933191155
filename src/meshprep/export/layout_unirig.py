"""``unirig``: UniRig's ``raw_data.npz`` items and the item lists its dataset config opens.

Matched against VAST-AI-Research/UniRig:

- ``src/data/raw_data.py`` (``RawData``, ``RawData.load``, ``RawData.save``): the file is
  ``np.savez`` of every field of the dataclass, read back with ``np.load(allow_pickle=True)``
  and ``data[name][()]`` per key into ``RawData(**d)`` (so no other key may be present):
  ``vertices``, ``vertex_normals``, ``faces``, ``face_normals``, ``joints``, ``skin``,
  ``parents``, ``names``, ``matrix_local``, ``tails``, ``no_skin``, ``path``, ``cls``;
  ``load`` replaces ``path`` and ``no_skin`` (joints without weight) itself;
- ``src/data/extract.py`` (``get_arranged_bones``, ``process_mesh``, ``process_armature``,
  ``save_raw_data``): Blender world coordinates (Z up) of the rest pose: undeformed vertices
  and the armature's rest bones; bones in depth-first pre-order from the root of the first
  bone (``parents[0]`` None, ``parents[k] < k``, :meth:`RawData.check`); ``joints`` the heads,
  ``tails`` the edit bones' tails, both float32; ``matrix_local`` float32 ``(J, 4, 4)``: the
  bone's rest matrix after every roll was set to 0, its translation the world head;
  ``skin`` float32 ``(N, J)``; the mesh through ``trimesh.Trimesh(vertices, faces)`` (merged
  vertices) with float32 vertices and normals, int64 faces, the skin rows taken from the
  nearest original vertex (``KDTree``); no normalization in the file (the loader's
  ``AugmentAffine`` scales vertices and joints into ``normalize_into``);
- ``src/data/datapath.py`` (``Datapath``) with ``configs/data/rignet.yaml``: each list line is
  a folder under ``input_dataset_dir`` holding ``raw_data.npz`` (``dataset.py``'s
  ``data_name``).

What differs: the vertices are the store's canonical mesh taken back to the bind pose (the
cube's scale, not the source's; the loader normalizes anyway), not decimated to the script's
50k faces (``fast_simplification``); tails follow Blender's importer heuristic
(:func:`~meshprep.export._rig_frames.bone_tails`), which the training transform replaces by
the only child's head wherever a bone has one child (``connect_tail_to_unique_son``);
``matrix_local``'s rotation is the world one (``process_armature`` leaves the armature object's
rotation out of it and divides it by the object's scale: the same where the skeleton's non-joint
ancestors carry no rotation or scale); the bone-shape icosphere Blender's importer adds, which
``process_mesh`` takes as one more mesh, is not written; assets with several skeleton roots are
skipped (the script keeps only the first bone's tree).

``benchmarks/bench_rig_layouts.py`` runs ``extract.py`` under Blender and both files through
``RawData.load``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from meshprep.errors import MeshprepError

from ._rig_frames import BindRig, read_store_rig
from .layouts import (
    Key,
    Layout,
    item_splits,
    plain_id,
    register,
    save_npz,
    write_text,
)

NAME = "unirig"
LOADER = "VAST-AI-Research/UniRig:src/data/raw_data.py"
#: ``UniRigDataset``'s ``data_name``
DATA_NAME = "raw_data.npz"
#: the lists ``datapath_config.data_path`` names (``input_dataset_dir`` = the export folder)
LISTS = {"train": "datalist/meshprep_train.txt", "test": "datalist/meshprep_test.txt"}
#: every field of ``RawData``, in its declaration order (``RawData(**d)`` takes exactly these)
FIELDS = ("vertices", "vertex_normals", "faces", "face_normals", "joints", "skin", "parents",
          "names", "matrix_local", "tails", "no_skin", "path", "cls")


def raw_data_arrays(bind: BindRig) -> dict[str, np.ndarray]:
    """The arrays ``save_raw_data`` saves, from the bind-pose rig (Blender axes)."""
    mesh = trimesh.Trimesh(bind.vertices.astype(np.float32), bind.faces)  # merges, as upstream
    vertices = np.asarray(mesh.vertices, np.float32)
    _, nearest = cKDTree(bind.vertices.astype(np.float32)).query(vertices)
    return {
        "vertices": vertices,
        "vertex_normals": np.asarray(mesh.vertex_normals, np.float32),
        "faces": np.asarray(mesh.faces, np.int64),
        "face_normals": np.asarray(mesh.face_normals, np.float32),
        "joints": bind.joints.astype(np.float32),
        "skin": bind.weights[nearest].astype(np.float32),
        "parents": _object_array([None if p < 0 else int(p) for p in bind.parents]),
        "names": np.asarray(bind.names, dtype=str),
        "matrix_local": matrix_local(bind),
        "tails": bind.tails.astype(np.float32),
        "no_skin": np.asarray(None, dtype=object),
        "path": np.asarray(None, dtype=object),
        "cls": np.asarray(None, dtype=object),
    }


def matrix_local(bind: BindRig) -> np.ndarray:
    """float32 ``(J, 4, 4)``: roll-0 rest rotation, world head as translation."""
    out = np.zeros((len(bind.joints), 4, 4), np.float32)
    out[:, :3, :3] = bind.rotations
    out[:, :3, 3] = bind.joints
    out[:, 3, 3] = 1.0
    return out


def _object_array(items: list) -> np.ndarray:
    """A 1-D object array of Python values (what ``np.savez`` makes of a list with None)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def item_folder(out: Path, asset_id: str) -> Path:
    """``out/<id>``: a list line joined to ``input_dataset_dir``."""
    return Path(out) / plain_id(asset_id)


def export_unirig_asset(store_folder: Path, out: Path, asset_id: str) -> list[Path]:
    """``out/<id>/raw_data.npz`` from the asset's ``rig.npz`` (``Layout.from_asset``).

    Raises
    ------
    LayoutSkip
        No ``rig.npz`` (no skin), several skeleton roots, or a singular bind matrix.
    """
    arrays = raw_data_arrays(read_store_rig(store_folder))
    return [save_npz(item_folder(out, asset_id) / DATA_NAME, arrays)]


def write_lists(folder: Path, asset_ids: list[str]) -> list[Path]:
    """``datalist/meshprep_train.txt`` (every id) and ``meshprep_test.txt`` (the first
    ``VAL_ITEMS``): one folder per line, as ``datalist/rignet_test.txt``."""
    splits = item_splits(asset_ids, tuple(LISTS))
    return [write_text(Path(folder) / LISTS[split], "".join(f"{i}\n" for i in ids))
            for split, ids in splits.items()]


def read(folder: Path, asset_id: str) -> dict[str, np.ndarray]:
    """One item as ``RawData.load`` reads it: ``data[name][()]`` per key, ``no_skin`` the
    joints without weight, ``path`` the file (float16 arrays would become float32)."""
    path = item_folder(folder, asset_id) / DATA_NAME
    with np.load(path, allow_pickle=True) as data:
        d = {name: data[name][()] for name in data}
    d["path"] = str(path)
    skin = d.get("skin")
    d["no_skin"] = None if skin is None else ~np.any(skin > 0, axis=0)
    return {k: v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype == np.float16
            else v for k, v in d.items()}


def _write_unused(samples, watertight, folder: Path, asset_id: str) -> list[Path]:
    raise MeshprepError(f"layout {NAME!r} is written from the asset's rig.npz "
                        "(export_unirig_asset), not from the samples")


_F = DATA_NAME
register(Layout(
    name=NAME,
    trainer="UniRig (UniRigDataset, RawData)",
    loader=LOADER,
    keys=(
        Key(f"<id>/{_F}", "vertices", "(N, 3)", "float32",
            "bind-pose vertices, Blender world (Z up), merged by trimesh"),
        Key(f"<id>/{_F}", "vertex_normals", "(N, 3)", "float32", "trimesh vertex normals"),
        Key(f"<id>/{_F}", "faces", "(F, 3)", "int64", "triangles, from 0"),
        Key(f"<id>/{_F}", "face_normals", "(F, 3)", "float32", "trimesh face normals"),
        Key(f"<id>/{_F}", "joints", "(J, 3)", "float32",
            "bone heads (bind pose), depth-first pre-order from the root"),
        Key(f"<id>/{_F}", "tails", "(J, 3)", "float32",
            "bone tails: local +Y of the bind pose, length to the nearest child (Blender's "
            "importer heuristic)"),
        Key(f"<id>/{_F}", "skin", "(N, J)", "float32",
            "weights per vertex and bone, rows sum to 1 (0 for unskinned vertices)"),
        Key(f"<id>/{_F}", "parents", "(J,)", "object",
            "parent index (Python int), None for the root at index 0; parents[k] < k"),
        Key(f"<id>/{_F}", "names", "(J,)", "<U",
            "bone names (Blender's: duplicates suffixed .001)"),
        Key(f"<id>/{_F}", "matrix_local", "(J, 4, 4)", "float32",
            "rest matrix with roll 0 (Blender's vec_roll_to_mat3 of head to tail), "
            "translation the world head"),
        Key(f"<id>/{_F}", "no_skin, path, cls", "()", "object",
            "None (RawData.load sets no_skin and path itself)"),
    ),
    sign="no labels (skeleton and skin weights)",
    coords="Blender world (Z up): glTF (x, y, z) -> (x, -z, y); the canonical cube's scale "
           "in the bind pose (the loader's AugmentAffine normalizes into [-1, 1])",
    write=_write_unused,
    read=read,
    notes="bind pose recovered from the store's frame-0 mesh by inverting each vertex's "
          "blended skinning matrix; not decimated to the extract script's 50k faces; tails by "
          "Blender's importer heuristic in world lengths (the transform's "
          "connect_tail_to_unique_son replaces those with one child); matrix_local's rotation "
          "in world axes (extract.py's is armature-local, divided by the armature's scale); "
          "no bone-shape icosphere (Blender's importer adds one that process_mesh takes as "
          "geometry); assets without a skin or with several skeleton roots are skipped",
    lists=f"{LISTS['train']}: every exported id; {LISTS['test']}: the first ids "
          "(data_path lists; input_dataset_dir = this folder)",
    write_lists=write_lists,
    from_asset=export_unirig_asset,
    store_needs=("rig",),
))
