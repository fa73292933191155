"""Which scene geometry each face of a loaded mesh came from (``load(path, parts=True)``).

:func:`meshprep.io.load.load` flattens a scene into one mesh. With ``parts=True`` it keeps, per
face, the index of the part the face belongs to and the parts' names, as a :class:`Parts` in
``mesh.metadata["meshprep_parts"]``:

* glTF: one part per triangle primitive of each node that draws a mesh (a mesh drawn by two
  nodes, or by one node through ``EXT_mesh_gpu_instancing``, gives one part per instance); the
  name is the node's, else its mesh's, else ``node_<index>``;
* OBJ: one part per ``o`` object / ``g`` group (the file is read split by object and group, so
  its vertices may come in another order than with ``parts=False``; with ``appearance=True`` a
  group of several materials is split by material too);
* COLLADA, 3MF, FBX: one part per geometry instance of trimesh's scene graph, named after its
  node;
* PLY, STL, OFF: one part.

Names are made unique (a repeated name gets ``.1``, ``.2``...). Parts follow the faces in the
order the loader concatenates them: for a static file the order of trimesh's scene graph, for
an animated or skinned glTF the order of the frame-0 poser (:mod:`meshprep.io.pose`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from trimesh.util import unique_name

from .pose import Pose, _scene_nodes, triangle_primitives

#: trimesh loader options that split a file into its parts (merged into the geometry-only ones)
PARSE_OPTIONS: dict[str, dict[str, Any]] = {
    ".obj": {"split_objects": True, "split_groups": True},
}


@dataclass
class Parts:
    """Per-face part ids of a mesh and the parts' names.

    Attributes
    ----------
    face_part : numpy.ndarray
        int32 ``(M,)``: the part of each face, an index into ``names``.
    names : list of str
        One unique name per part.
    geometry : list of str
        Per part, the geometry it instances (glTF: ``mesh<m>/primitive<p>``; other formats:
        trimesh's geometry name): parts that share one are instances of one mesh, as a mesh
        used by two nodes or ``EXT_mesh_gpu_instancing`` gives them. Empty when unknown.
    """

    face_part: np.ndarray
    names: list[str]
    geometry: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def face_counts(self) -> np.ndarray:
        """Number of faces of each part, int64 ``(len(names),)``."""
        return np.bincount(self.face_part, minlength=len(self.names))

    def subset(self, keep: np.ndarray) -> Parts:
        """The parts of the faces kept by a boolean mask or an index array (names unchanged).

        Parameters
        ----------
        keep : numpy.ndarray
            Boolean ``(M,)`` mask or integer indices of the faces kept, as applied to the faces.

        Returns
        -------
        Parts
            The kept faces' part ids; parts left without faces keep their index and name.
        """
        return Parts(self.face_part[keep].astype(np.int32), list(self.names),
                     list(self.geometry))


def parse_options(ext: str) -> dict[str, Any]:
    """trimesh loader options that keep a format's parts apart (empty when none are needed).

    Parameters
    ----------
    ext : str
        Lower-case extension with its dot.

    Returns
    -------
    dict
        Keyword arguments for ``trimesh.load_scene``.
    """
    return dict(PARSE_OPTIONS.get(ext, {}))


def read_parts(scene: trimesh.Scene | None, pose: Pose | None, tree: dict[str, Any] | None,
               face_count: int) -> Parts:
    """The parts of a loaded mesh, in the order the loader concatenated its faces.

    Parameters
    ----------
    scene : trimesh.Scene or None
        What trimesh read (flattened when the pose has no faces).
    pose : Pose or None
        The frame-0 pose of an animated or skinned glTF (used when it has faces).
    tree : dict or None
        The glTF JSON trimesh and the poser read (the decoded one where the file was decoded);
        None for other formats.
    face_count : int
        Number of faces of the loaded mesh, checked against the parts.

    Returns
    -------
    Parts
        Per-face part ids and unique names.

    Raises
    ------
    ValueError
        When the parts do not cover the mesh's faces exactly (a loader bug, never the file's).
    """
    if pose is not None and len(pose.faces) and tree is not None:
        named = _posed_parts(pose, tree)
    else:
        named = _scene_parts(scene, tree)
    counts = [count for _, count, _ in named]
    if sum(counts) != face_count:
        raise ValueError(f"parts cover {sum(counts)} faces, the mesh has {face_count}")
    ids = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    return Parts(ids, unique_names(name for name, _, _ in named),
                 [source for _, _, source in named])


def unique_names(names: Iterable[str], digits: int = 0) -> list[str]:
    """Names with repeats numbered: ``a, a, b`` gives ``a, a.1, b``.

    Parameters
    ----------
    names : iterable of str
        Part names in order.
    digits : int
        Zero-padded width of the number (3: ``a.001``, as Blender numbers repeated names).

    Returns
    -------
    list of str
        The same names, each repeat suffixed with the next free ``.<n>``.
    """
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate in seen:
            n += 1
            candidate = f"{name}.{n:0{digits}d}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _scene_parts(scene: trimesh.Scene | None, tree: dict[str, Any] | None
                 ) -> list[tuple[str, int, str]]:
    """(name, face count, geometry) of each triangle-geometry instance, as the loader
    flattens them."""
    if scene is None:
        return []
    owner = _gltf_node_owner(scene, tree) if tree is not None else {}
    sources = _gltf_sources(scene, tree) if tree is not None else {}
    out = []
    for node in scene.graph.nodes_geometry:
        _, geometry_name = scene.graph[node]
        geometry = scene.geometry.get(geometry_name)
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            continue  # the loader skips these too (load._flatten)
        index = owner.get(node)
        name = _gltf_name(tree, index) if tree is not None and index is not None else str(node)
        out.append((name, len(geometry.faces), sources.get(geometry_name, str(geometry_name))))
    return out


def _gltf_node_owner(scene: trimesh.Scene, tree: dict[str, Any]) -> dict[str, int]:
    """Map each of trimesh's graph nodes to the glTF node it was made from.

    trimesh names a glTF node ``name`` (or its index) made unique with
    :func:`trimesh.util.unique_name` in node order, and hangs the primitives of a
    multi-primitive mesh under it as children: a graph node not named so belongs to its
    nearest named ancestor.
    """
    by_name: dict[str, int] = {}
    counts: dict[str, int] = {}
    for i, node in enumerate(tree.get("nodes") or []):
        by_name[unique_name(str(node.get("name", str(i))), by_name, counts=counts)] = i
    parents = scene.graph.transforms.parents
    owner = {}
    for frame in scene.graph.nodes_geometry:
        current = frame
        while current is not None and current not in by_name:
            current = parents.get(current)
        if current is not None:
            owner[frame] = by_name[current]
    return owner


def _gltf_sources(scene: trimesh.Scene, tree: dict[str, Any]) -> dict[str, str]:
    """trimesh's geometry name -> ``mesh<m>/primitive<p>`` (trimesh makes one geometry per
    triangle primitive, in file order; empty when the counts differ)."""
    names = [name for name, g in scene.geometry.items() if isinstance(g, trimesh.Trimesh)]
    keys = triangle_primitives(tree)
    if len(names) != len(keys):
        return {}
    return {name: f"mesh{m}/primitive{p}" for name, (m, p) in zip(names, keys, strict=True)}


def _gltf_name(tree: dict[str, Any], index: int) -> str:
    """A glTF node's part name: its own, else its mesh's, else ``node_<index>``."""
    node = tree["nodes"][index]
    if isinstance(node.get("name"), str) and node["name"]:
        return node["name"]
    meshes: Sequence[dict[str, Any]] = tree.get("meshes") or []
    mesh = node.get("mesh")
    if isinstance(mesh, int) and 0 <= mesh < len(meshes):
        name = meshes[mesh].get("name")
        if isinstance(name, str) and name:
            return name
    return f"node_{index}"


def _posed_parts(pose: Pose, tree: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(name, face count, geometry) of each posed primitive instance, walking the nodes as the poser
    does (:func:`meshprep.io.pose.posed_at_frame0`)."""
    owners = []
    for index in _scene_nodes(tree):
        node = tree["nodes"][index]
        if "mesh" not in node:
            continue
        primitives = tree["meshes"][node["mesh"]].get("primitives") or []
        owners += [(index, node["mesh"], p) for p, primitive in enumerate(primitives)
                   if primitive.get("mode", 4) == 4]
    keys = [(owner[1], owner[2]) for owner in owners]
    if keys != [(part.mesh, part.primitive) for part in pose.parts]:
        raise ValueError("posed primitives do not match the scene's nodes")
    return [(_gltf_name(tree, owner[0]), part.faces, f"mesh{part.mesh}/primitive{part.primitive}")
            for owner, part in zip(owners, pose.parts, strict=True)]


#: the asset store's file of the canonical mesh with its parts (``meshprep run``'s write step)
PARTS_FILE = "parts.npz"


def save_parts(path: str | os.PathLike[str], vertices: np.ndarray, faces: np.ndarray,
               parts: Parts, iou_list: Sequence[float] | None = None) -> Path:
    """The mesh with its parts as a compressed ``.npz``, atomically.

    Keys: ``vertices`` float32 ``(N, 3)``, ``faces`` int32 ``(M, 3)``, ``face_part`` int32
    ``(M,)``, ``names`` and ``geometry`` unicode ``(P,)`` (:func:`read_parts_file` reads it);
    ``iou_list`` float64 when given: the parts' pairwise voxel IoU the curate step measured
    (:func:`meshprep.curate.part_metrics.part_metrics`), so layouts need not measure it again.

    Parameters
    ----------
    path : path-like
        Target file.
    vertices, faces : numpy.ndarray
        The mesh the parts belong to (the store keeps it in the canonical cube).
    parts : Parts
        One part id per face.

    Returns
    -------
    Path
    """
    from .write import atomic_write

    if len(parts.face_part) != len(faces):
        raise ValueError(f"{len(parts.face_part)} part ids for {len(faces)} faces")
    path = Path(path)
    arrays = {"vertices": np.asarray(vertices, np.float32),
              "faces": np.asarray(faces, np.int32).reshape(-1, 3),
              "face_part": np.asarray(parts.face_part, np.int32),
              "names": np.asarray(parts.names, dtype=str).reshape(-1),
              "geometry": np.asarray(parts.geometry or [""] * len(parts), dtype=str).reshape(-1)}
    if iou_list is not None:
        arrays["iou_list"] = np.asarray(iou_list, np.float64).reshape(-1)
    with atomic_write(path) as tmp, open(tmp, "wb") as stream:
        np.savez_compressed(stream, **arrays)
    return path


def read_parts_file(path: str | os.PathLike[str]) -> trimesh.Trimesh:
    """The mesh :func:`save_parts` wrote, its :class:`Parts` in ``metadata["meshprep_parts"]``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    trimesh.Trimesh
        Vertices and faces as stored (``process=False``); ``metadata["meshprep_part_iou"]``
        holds the stored ``iou_list`` (None when the file has none).
    """
    with np.load(path, allow_pickle=False) as data:
        mesh = trimesh.Trimesh(data["vertices"].astype(np.float64), data["faces"].astype(np.int64),
                               process=False)
        geometry = [str(g) for g in data["geometry"]]
        mesh.metadata["meshprep_parts"] = Parts(
            data["face_part"].astype(np.int32), [str(n) for n in data["names"]],
            geometry if any(geometry) else [])
        mesh.metadata["meshprep_part_iou"] = data["iou_list"] if "iou_list" in data else None
    return mesh
