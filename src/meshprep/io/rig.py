"""A glTF's skeleton and skin weights at frame 0, aligned with the loaded mesh's vertices.

:func:`meshprep.load` with ``rig=True`` puts a :class:`Rig` (or None) in
``mesh.metadata["meshprep_rig"]``. The joints are posed by the frame-0 poser's own node
matrices (:mod:`meshprep.io.pose`: the first animation at its first keyframe), the frame the
mesh is posed in, so joints and vertices agree.

Decisions (glTF 2.0, 3.7.3 "Skins"):

* **one joint list over all skins** the drawn meshes use: skins in index order, each skin's
  joints in its own order, a node listed by two skins once (the first skin's inverse bind
  matrix is kept for it);
* **parents** are the nearest ancestor node that is itself a joint of the list, -1 for roots
  (what an armature built from the file holds: Blender's importer does the same);
* **names** are the nodes' names, ``Node_<index>`` for an unnamed node (as Blender's importer
  names its bone; duplicate names are kept, not suffixed);
* **weights are compact**: per vertex the joint indices (into the list) and weights of every
  ``JOINTS_n`` / ``WEIGHTS_n`` pair, ``(V, 4·n)``, normalized to sum 1; :meth:`Rig.dense`
  gives the ``(V, J)`` matrix. Vertices of unskinned primitives (and skinned vertices whose
  weights sum to 0) have weight 0 and ``skinned`` False;
* a file whose drawn meshes have no skin gives None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import trimesh

from .gltf_decode import DecodedGltf
from .pose import Pose, _frame0, _globals, _influences, _scene_nodes


@dataclass(frozen=True)
class Rig:
    """Skeleton at frame 0 and per-vertex skin weights of one loaded mesh.

    Attributes
    ----------
    names : list of str
        Joint names, ``J`` of them.
    parents : (J,) int64 array
        Index of each joint's parent joint, -1 for a root.
    joints : (J, 3) float64 array
        Joint positions (world) at frame 0, in the mesh's coordinates.
    world : (J, 4, 4) float64 array
        Joint world matrices at frame 0 (``joints`` is their translation column).
    inverse_bind : (J, 4, 4) float64 array
        The file's inverse bind matrices (identity where a skin gives none).
    nodes : (J,) int64 array
        The glTF node index of each joint.
    indices : (V, K) int32 array
        Per vertex, the joints influencing it (indices into ``names``; 0 in unused slots).
    weights : (V, K) float32 array
        Their weights, summing to 1 per skinned vertex, 0 elsewhere.
    skinned : (V,) bool array
        Whether a vertex is skinned (its weights sum to 1).
    totals : (V,) float32 array
        The file's weight sum per vertex before normalization (curation flags rigs whose
        weights do not sum to 1; 0 for unskinned vertices).
    """

    names: list[str]
    parents: np.ndarray
    joints: np.ndarray
    world: np.ndarray
    inverse_bind: np.ndarray
    nodes: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    skinned: np.ndarray
    totals: np.ndarray

    def dense(self) -> np.ndarray:
        """The ``(V, J)`` float32 weight matrix (a joint listed twice for a vertex adds up)."""
        out = np.zeros((len(self.weights), len(self.names)), np.float32)
        rows = np.broadcast_to(np.arange(len(self.weights))[:, None], self.indices.shape)
        np.add.at(out, (rows, self.indices), self.weights)
        return out

    def transformed(self, transform: np.ndarray) -> Rig:
        """The rig moved by a 4x4 transform applied to the mesh's vertices.

        Joints and world matrices go where the vertices go (``T @ world``); the bind pose moves
        with them (``inverse_bind @ inv(T)``), so the skinning matrices skin the transformed
        bind-pose vertices into the transformed frame. Weights are unchanged.

        Parameters
        ----------
        transform : (4, 4) array
            What moved the vertices, e.g. the one :func:`meshprep.normalize` returns.

        Returns
        -------
        Rig
            A new rig; this one is unchanged.
        """
        transform = np.asarray(transform, np.float64)
        world = transform @ self.world
        return replace(self, joints=world[:, :3, 3].copy(), world=world,
                       inverse_bind=self.inverse_bind @ np.linalg.inv(transform))


def read_rig(data: DecodedGltf | None, pose: Pose | None,
             kept: np.ndarray | None = None) -> Rig | None:
    """The rig of a posed glTF, aligned with the loaded mesh's vertices.

    Parameters
    ----------
    data : DecodedGltf or None
        The decoded file the poser read (None for a file that is not glTF).
    pose : Pose or None
        What :func:`meshprep.io.pose.posed_at_frame0` returned for it.
    kept : (N,) bool array, optional
        Which posed vertices the loader kept (None: all of them).

    Returns
    -------
    Rig or None
        None when no drawn mesh is skinned.
    """
    if data is None or pose is None or not pose.skinned:
        return None
    tree = data.tree
    skins = _used_skins(tree)
    nodes, inverse_bind, remaps = _joint_list(data, skins)
    posed = _globals(tree, _frame0(data))  # the poser's frame-0 node matrices
    world = np.stack([posed[n] for n in nodes])
    indices, weights = _vertex_weights(data, pose, remaps)
    total = weights.sum(axis=1, dtype=np.float64)
    skinned = total > 0
    weights[skinned] = (weights[skinned] / total[skinned, None]).astype(np.float32)
    if kept is not None:
        indices, weights, skinned, total = indices[kept], weights[kept], skinned[kept], total[kept]
    names = [str(tree["nodes"][n].get("name") or f"Node_{n}") for n in nodes]
    return Rig(names, _parents(tree, nodes), world[:, :3, 3].copy(), world, inverse_bind,
               np.asarray(nodes, np.int64), indices, weights, skinned, total.astype(np.float32))


def _used_skins(tree: dict[str, Any]) -> list[int]:
    """Skins of the drawn mesh nodes, in index order."""
    nodes = tree.get("nodes") or []
    used = {nodes[n]["skin"] for n in _scene_nodes(tree)
            if "mesh" in nodes[n] and isinstance(nodes[n].get("skin"), int)}
    return sorted(used)


def _joint_list(data: DecodedGltf, skins: list[int]
                ) -> tuple[list[int], np.ndarray, dict[int, np.ndarray]]:
    """Joint nodes over all skins, their inverse bind matrices, and per skin the map from its
    joint indices to the list's."""
    position: dict[int, int] = {}
    binds: list[np.ndarray] = []
    remaps: dict[int, np.ndarray] = {}
    for s in skins:
        skin = data.tree["skins"][s]
        ibm = _inverse_binds(data, skin, f"skins[{s}]")
        for k, node in enumerate(skin["joints"]):
            if node not in position:
                position[node] = len(position)
                binds.append(ibm[k])
        remaps[s] = np.asarray([position[n] for n in skin["joints"]], np.int64)
    return list(position), np.stack(binds), remaps


def _inverse_binds(data: DecodedGltf, skin: dict[str, Any], where: str) -> np.ndarray:
    """A skin's (J, 4, 4) inverse bind matrices (column-major in the file), identity if none."""
    count = len(skin["joints"])
    if "inverseBindMatrices" not in skin:
        return np.repeat(np.eye(4)[None], count, axis=0)
    ibm = data.floats(skin["inverseBindMatrices"], f"{where}.inverseBindMatrices")
    return ibm.reshape(-1, 4, 4).transpose(0, 2, 1)[:count]


def _vertex_weights(data: DecodedGltf, pose: Pose, remaps: dict[int, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(V, K) joint indices and raw weights of every posed vertex, in the pose's order."""
    blocks = list(_primitive_weights(data, pose, remaps))
    width = max(i.shape[1] for i, _ in blocks)
    pad = lambda a, dtype: np.pad(a, ((0, 0), (0, width - a.shape[1]))).astype(dtype)  # noqa: E731
    return (np.concatenate([pad(i, np.int32) for i, _ in blocks]),
            np.concatenate([pad(w, np.float32) for _, w in blocks]))


def _primitive_weights(data: DecodedGltf, pose: Pose, remaps: dict[int, np.ndarray]):
    """Per posed primitive instance (the poser's order), its joint indices and weights."""
    tree = data.tree
    drawn = [(n, p) for n in _scene_nodes(tree) if "mesh" in tree["nodes"][n]
             for p, prim in enumerate(tree["meshes"][tree["nodes"][n]["mesh"]]["primitives"])
             if prim.get("mode", 4) == 4]
    for (n, p), part in zip(drawn, pose.parts, strict=True):
        node = tree["nodes"][n]
        attributes = tree["meshes"][part.mesh]["primitives"][p]["attributes"]
        if "skin" not in node or "JOINTS_0" not in attributes or "WEIGHTS_0" not in attributes:
            yield np.zeros((part.vertices, 1), np.int64), np.zeros((part.vertices, 1))
            continue
        joints, weights = _influences(data, attributes, f"meshes[{part.mesh}].primitives[{p}]")
        yield remaps[node["skin"]][joints], weights


def _parents(tree: dict[str, Any], nodes: list[int]) -> np.ndarray:
    """Each joint's nearest ancestor that is a joint (its index in ``nodes``), or -1."""
    parent_of = {c: n for n, node in enumerate(tree.get("nodes") or [])
                 for c in node.get("children", [])}
    position = {n: j for j, n in enumerate(nodes)}
    out = np.full(len(nodes), -1, np.int64)
    for j, node in enumerate(nodes):
        up = parent_of.get(node)
        while up is not None and up not in position:
            up = parent_of.get(up)
        out[j] = -1 if up is None else position[up]
    return out


#: the asset store's file of the canonical mesh with its rig (``meshprep run``'s write step)
RIG_FILE = "rig.npz"
#: zlib level of ``rig.npz``: 1 writes it about 3x faster than ``savez_compressed``'s default (6)
#: for about 16% more bytes (a 10k-vertex, 20-bone rig: 245 kB instead of 210 kB)
RIG_LEVEL = 1
_RIG_ARRAYS = ("parents", "joints", "world", "inverse_bind", "nodes", "indices", "weights",
               "skinned", "totals")


def save_rig(path: str | os.PathLike[str], vertices: np.ndarray, faces: np.ndarray,
             rig: Rig) -> Path:
    """The mesh with its rig as a compressed ``.npz`` (zlib level :data:`RIG_LEVEL`),
    atomically.

    Keys: ``vertices`` float32 ``(V, 3)``, ``faces`` int32 ``(M, 3)``, ``names`` unicode
    ``(J,)`` and every array of :class:`Rig` (matrices and joints float64, weights float32;
    :func:`read_rig_file` reads it). The rig must be in the mesh's frame
    (:meth:`Rig.transformed` by the transform that moved the vertices).

    Parameters
    ----------
    path : path-like
        Target file.
    vertices, faces : numpy.ndarray
        The mesh the rig skins (the store keeps it in the canonical cube).
    rig : Rig

    Returns
    -------
    Path
    """
    from .write import atomic_write

    if len(rig.weights) != len(vertices):
        raise ValueError(f"{len(rig.weights)} weight rows for {len(vertices)} vertices")
    arrays = {"vertices": np.asarray(vertices, np.float32),
              "faces": np.asarray(faces, np.int32).reshape(-1, 3),
              "names": np.asarray(rig.names, dtype=str).reshape(-1),
              **{name: np.asarray(getattr(rig, name)) for name in _RIG_ARRAYS}}
    path = Path(path)
    with atomic_write(path) as tmp, open(tmp, "wb") as stream:
        _savez_deflated(stream, arrays, RIG_LEVEL)
    return path


def _savez_deflated(stream: BinaryIO, arrays: dict[str, np.ndarray], level: int) -> None:
    """What ``np.savez_compressed`` writes (one ``<key>.npy`` per array in a deflated zip,
    zip64 forced, no pickles), at the given zlib level."""
    import zipfile

    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def read_rig_file(path: str | os.PathLike[str]) -> tuple[trimesh.Trimesh, Rig]:
    """The mesh and the rig :func:`save_rig` wrote.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    (trimesh.Trimesh, Rig)
        The mesh (``process=False``, vertex order kept) and its rig.
    """
    with np.load(path, allow_pickle=False) as data:
        mesh = trimesh.Trimesh(data["vertices"].astype(np.float64), data["faces"].astype(np.int64),
                               process=False)
        rig = Rig([str(n) for n in data["names"]], **{name: data[name] for name in _RIG_ARRAYS})
    return mesh, rig


def with_blender_weights(rig: Rig, vertices: np.ndarray, path: str | os.PathLike[str],
                         tolerance: float = 1e-6) -> Rig:
    """The rig with each vertex's weights as Blender stores them (its vertex groups), for a
    file Blender exported (the glTF exporter drops influences of at most 1e-4).

    Parameters
    ----------
    rig : Rig
        What the exported glTF gave (joint names are Blender's bone names).
    vertices : (V, 3) array
        The loaded (frame-0) vertices the rig's rows belong to.
    path : path-like
        The worker's ``.weights.npz`` (Blender's posed vertices and vertex-group weights).
    tolerance : float
        Largest vertex distance, relative to the mesh's extent, that counts as the same vertex;
        rows without such a match keep the exported weights.

    Returns
    -------
    Rig
        Weights (and ``totals``: Blender's sums before normalization) replaced where matched.
    """
    from scipy.spatial import cKDTree

    with np.load(path, allow_pickle=False) as data:
        positions, groups = data["positions"], data["weights"].astype(np.float64)
        bones = [str(b) for b in data["bones"]]
    joint = {name: j for j, name in enumerate(rig.names)}
    columns = [k for k, name in enumerate(bones) if name in joint]
    if not len(positions) or not columns:
        return rig
    extent = float(np.ptp(vertices, axis=0).max()) or 1.0
    distance, match = cKDTree(positions).query(vertices)
    found = distance <= tolerance * extent
    dense = np.zeros((len(vertices), len(rig.names)))
    dense[:, [joint[bones[k]] for k in columns]] = groups[match][:, columns]
    total = dense.sum(axis=1)
    use = found & (total > 0)
    width = max(int((dense[use] > 0).sum(axis=1).max()) if use.any() else 1, rig.indices.shape[1])
    indices = np.zeros((len(vertices), width), np.int32)
    weights = np.zeros((len(vertices), width), np.float32)
    indices[:, :rig.indices.shape[1]], weights[:, :rig.weights.shape[1]] = rig.indices, rig.weights
    order = np.argsort(-dense[use], axis=1)[:, :width]
    picked = np.take_along_axis(dense[use], order, axis=1)
    indices[use] = np.where(picked > 0, order, 0)
    weights[use] = (picked / total[use, None]).astype(np.float32)
    totals = rig.totals.copy()
    totals[use] = total[use]
    skinned = rig.skinned | use
    return replace(rig, indices=indices, weights=weights, totals=totals.astype(np.float32),
                   skinned=skinned)
