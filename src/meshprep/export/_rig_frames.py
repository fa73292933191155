"""What the rig layouts (``unirig``, ``puppeteer``) share: the store's ``rig.npz`` put back in
its bind pose, in Blender's axes, with one skeleton tree in Blender's bone order and names.

Both trainers' extraction scripts import the asset into Blender and read the armature's rest
pose (``bone.matrix_local`` / ``bone.head_local``) and the meshes' undeformed vertices
(``mesh.data.vertices[i].co``). Blender's glTF importer builds that rest pose from the inverse
bind matrices (its default ``guess_original_bind_pose``) and turns glTF's Y-up into Blender's
Z-up: ``(x, y, z) -> (x, -z, y)``. The store keeps the mesh posed at frame 0 with its rig
(:mod:`meshprep.io.rig`), so the writers undo the skinning: each skinned vertex goes back through
the inverse of its blended skinning matrix, each joint to the translation of its inverse bind
matrix's inverse (both already in the canonical frame, :meth:`Rig.transformed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meshprep.io.rig import RIG_FILE, Rig, read_rig_file

from .layouts import LayoutSkip

#: glTF (Y up) to Blender (Z up), as Blender's glTF importer converts: (x, y, z) -> (x, -z, y)
BLENDER_FROM_GLTF = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: a blended skinning matrix with a smaller determinant is not inverted (the vertex stays posed)
_SINGULAR = 1e-12


@dataclass(frozen=True)
class BindRig:
    """One skinned asset in its bind pose, Blender axes, joints in depth-first order.

    Attributes
    ----------
    vertices : (V, 3) float64
        Bind-pose vertices (unskinned ones as the store has them).
    faces : (M, 3) int64
    names : list of str
        Blender's bone names (duplicates suffixed ``.001``, ``.002`` ...).
    parents : (J,) int64
        Parent of each joint in this order, -1 for the root (index 0); ``parents[k] < k``.
    joints : (J, 3) float64
        Bone heads (bind pose).
    tails : (J, 3) float64
        Bone tails as Blender's glTF importer places them (:func:`bone_tails`).
    rotations : (J, 3, 3) float64
        Each bone's rest rotation with roll 0 (:func:`roll_zero_rotation` of head to tail).
    weights : (V, J) float32
        Skin weights (rows sum to 1 for skinned vertices, 0 elsewhere).
    """

    vertices: np.ndarray
    faces: np.ndarray
    names: list[str]
    parents: np.ndarray
    joints: np.ndarray
    tails: np.ndarray
    rotations: np.ndarray
    weights: np.ndarray


def read_store_rig(store_folder: Path) -> BindRig:
    """The asset's ``rig.npz`` as :class:`BindRig`.

    Raises
    ------
    LayoutSkip
        No ``rig.npz`` (the asset has no skin), several skeleton roots, or a singular inverse
        bind matrix.
    """
    path = Path(store_folder) / RIG_FILE
    if not path.is_file():
        raise LayoutSkip(f"no {RIG_FILE}: the asset has no skin")
    mesh, rig = read_rig_file(path)
    return bind_rig(np.asarray(mesh.vertices), np.asarray(mesh.faces), rig)


def bind_rig(vertices: np.ndarray, faces: np.ndarray, rig: Rig) -> BindRig:
    """The mesh and rig (canonical frame, posed at frame 0) in the bind pose, Blender axes."""
    order = depth_first(rig.parents)
    try:
        bind_world = np.linalg.inv(rig.inverse_bind)[order]
    except np.linalg.LinAlgError as exc:
        raise LayoutSkip("a singular inverse bind matrix") from exc
    heads = bind_world[:, :3, 3]
    parents = _reindexed_parents(rig.parents, order)
    tails = bone_tails(heads, bind_world[:, :3, 1], parents, vertices)
    axes = BLENDER_FROM_GLTF
    joints, tails = heads @ axes.T, tails @ axes.T
    return BindRig(
        vertices=bind_vertices(vertices, rig) @ axes.T, faces=np.asarray(faces, np.int64),
        names=blender_names([rig.names[j] for j in order]), parents=parents,
        joints=joints, tails=tails,
        rotations=np.stack([roll_zero_rotation(t - h) for h, t in zip(joints, tails, strict=True)]),
        weights=rig.dense()[:, order])


def bind_vertices(vertices: np.ndarray, rig: Rig) -> np.ndarray:
    """Posed vertices back in the bind pose: ``inv(sum_j w_j world_j inverse_bind_j) @ v``."""
    vertices = np.asarray(vertices, np.float64)
    skinning = rig.world @ rig.inverse_bind
    blend, term = np.zeros((len(vertices), 4, 4)), np.empty((len(vertices), 4, 4))
    weights = rig.weights.astype(np.float64)
    for k in range(rig.indices.shape[1]):  # in place: the same products and sums, no temporaries
        np.take(skinning, rig.indices[:, k], axis=0, out=term)
        term *= weights[:, k, None, None]
        blend += term
    ok = rig.skinned & (np.abs(np.linalg.det(blend[:, :3, :3])) > _SINGULAR)
    out = vertices.copy()
    if ok.any():
        homogeneous = np.c_[vertices[ok], np.ones(int(ok.sum()))][..., None]
        out[ok] = np.linalg.solve(blend[ok], homogeneous)[:, :3, 0]
    return out


def depth_first(parents: np.ndarray) -> list[int]:
    """Joint indices in depth-first pre-order from the single root, children in index order
    (the order of both trainers' armature walks).

    Raises
    ------
    LayoutSkip
        Several roots: both scripts keep only the tree of the armature's first bone.
    """
    parents = np.asarray(parents)
    roots = np.flatnonzero(parents < 0)
    if len(roots) != 1:
        raise LayoutSkip(f"{len(roots)} skeleton roots: the trainer's extraction keeps one tree")
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents.tolist()):
        children.setdefault(p, []).append(j)
    order, stack = [], [int(roots[0])]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children.get(j, [])))
    return order


def _reindexed_parents(parents: np.ndarray, order: list[int]) -> np.ndarray:
    position = {j: i for i, j in enumerate(order)}
    return np.array([-1 if parents[j] < 0 else position[int(parents[j])] for j in order],
                    np.int64)


def blender_names(names: list[str]) -> list[str]:
    """Bone names as Blender makes them unique in an armature: a repeat gets the first free
    ``.001``, ``.002`` ... suffix."""
    from meshprep.io.parts import unique_names

    return unique_names(names, digits=3)


def bone_tails(heads: np.ndarray, y_axes: np.ndarray, parents: np.ndarray,
               vertices: np.ndarray) -> np.ndarray:
    """Tails near where Blender's glTF importer places them (its default ``BLENDER`` bone
    heuristic: along the joint's bind-pose local +Y, as long as the shortest child offset; a
    leaf takes its parent's length), here in world distances; a lone root takes 5% of the
    vertices' box diagonal.

    The importer (``io_scene_gltf2`` ``blender/imp/vnode.py`` ``pick_bone_length``,
    ``node.py``) measures the child offset in the parent's bind frame without its scale and
    divides the bone's length by the armature object's scale (the skeleton's non-joint
    ancestors); a lone root takes its own offset or 1. Those agree with world distances where
    the skeleton and its ancestors carry no scale; the store's canonical rig no longer knows the
    source's scale, so scaled skeletons get world-length tails here.

    Parameters
    ----------
    heads : (J, 3) array
        Bind-pose joint positions (glTF axes), parents before children.
    y_axes : (J, 3) array
        The bind-pose world matrices' second columns (local +Y).
    parents : (J,) int array
        Parent per joint (-1 root), ``parents[k] < k``.
    vertices : (V, 3) array
        The mesh (for a lone root's length).
    """
    count = len(heads)
    nearest = np.full(count, np.inf)
    for j, p in enumerate(parents.tolist()):
        if p >= 0:
            distance = float(np.linalg.norm(heads[j] - heads[p]))
            if distance > 1e-9:
                nearest[p] = min(nearest[p], distance)
    box = np.ptp(np.asarray(vertices, np.float64), axis=0) if len(vertices) else np.ones(3)
    lengths = np.empty(count)
    for j, p in enumerate(parents.tolist()):
        fallback = lengths[p] if p >= 0 else 0.05 * float(np.linalg.norm(box))
        lengths[j] = nearest[j] if np.isfinite(nearest[j]) else fallback
    norms = np.linalg.norm(y_axes, axis=1, keepdims=True)
    direction = np.where(norms > 0, y_axes / np.where(norms > 0, norms, 1), [0.0, 1.0, 0.0])
    return heads + direction * lengths[:, None]


def roll_zero_rotation(vector: np.ndarray) -> np.ndarray:
    """The rest rotation of a bone pointing along ``vector`` with roll 0 (Blender's
    ``vec_roll_to_mat3``: the shortest turn of +Y onto the bone, row-major here)."""
    length = float(np.linalg.norm(vector))
    if length == 0.0:
        return np.eye(3)
    x, y, z = np.asarray(vector, np.float64) / length
    theta, theta_alt = 1.0 + y, x * x + z * z
    if theta <= 6.1e-3 and theta_alt <= 2.5e-4 ** 2:  # pointing down -Y
        return np.diag([-1.0, -1.0, 1.0])
    if theta <= 6.1e-3:
        theta = 0.5 * theta_alt + 0.125 * theta_alt * theta_alt
    return np.array([[1 - x * x / theta, x, -x * z / theta],
                     [-x, y, -z],
                     [-x * z / theta, z, 1 - z * z / theta]])
