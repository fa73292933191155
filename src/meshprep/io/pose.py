"""glTF at frame 0: node animations sampled at their first keyframe, skins applied.

trimesh reads a glTF in its rest pose and ignores skins; an animated model's first frame can
differ a lot (a rig posed away from its bind pose, parts animated into place). This module reads
the accessors of the file as :func:`meshprep.io.gltf_decode.decoded_gltf` decoded them (Draco,
meshopt, quantization, sparse accessors, strips and fans, morph weights: the same data trimesh is
given) and returns the triangles as the first frame shows them, plus how far that pose is from
the rest pose (``pose_bbox_ratio``: diagonal of the frame-0 box over the rest box), which curation
uses to flag broken animations. :func:`posed_appearance` gives the posed triangles the look
trimesh read for each primitive, so textures survive posing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from meshprep.errors import CorruptFileError, InvalidGeometryError

from .appearance import Appearance, combine, part_appearance
from .gltf_decode import DecodedGltf, decoded_gltf

_TRS = ("translation", "rotation", "scale")


@dataclass
class PosedPart:
    """One primitive instance of the posed mesh, in the order of its vertices and faces."""

    mesh: int
    primitive: int
    vertices: int
    faces: int
    #: linear part of what posed it: the node's (3, 3) world matrix, or per vertex (V, 3, 3)
    #: the blended skinning matrix (the file's normals and tangents follow it)
    linear: np.ndarray | None = None


@dataclass
class Pose:
    """Triangles at frame 0 and what they were compared with."""

    vertices: np.ndarray
    faces: np.ndarray
    animated: bool
    skinned: bool
    bbox_ratio: float
    parts: list[PosedPart] = field(default_factory=list)


def _quat_matrix(q) -> np.ndarray:
    x, y, z, w = q / (np.linalg.norm(q) or 1.0)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _local(node: dict, override: dict[str, np.ndarray]) -> np.ndarray:
    """A node's local matrix: ``matrix``, or T * R * S (glTF 2.0, 3.5.3)."""
    if "matrix" in node and not override:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T
    t = override.get("translation", np.asarray(node.get("translation", [0, 0, 0]), float))
    r = override.get("rotation", np.asarray(node.get("rotation", [0, 0, 0, 1]), float))
    s = override.get("scale", np.asarray(node.get("scale", [1, 1, 1]), float))
    m = np.eye(4)
    m[:3, :3] = _quat_matrix(r) * s
    m[:3, 3] = t
    return m


def _frame0(data: DecodedGltf) -> dict[int, dict[str, np.ndarray]]:
    """node -> {path: value} of the first animation at its first keyframe (morph weights are
    baked by the decoder already)."""
    animations = data.tree.get("animations") or []
    if not animations:
        return {}
    out: dict[int, dict[str, np.ndarray]] = {}
    samplers = animations[0].get("samplers") or []
    for c, channel in enumerate(animations[0].get("channels") or []):
        target = channel.get("target") or {}
        if not isinstance(target.get("node"), int) or target.get("path") not in _TRS:
            continue
        where = f"animations[0].channels[{c}]"
        index = channel.get("sampler")
        if not isinstance(index, int) or not 0 <= index < len(samplers):
            raise CorruptFileError(f"{where}: sampler {index!r} does not exist")
        sampler = samplers[index]
        values = data.floats(sampler.get("output"), f"{where} output")
        if len(values) == 0:
            continue
        # a cubic spline keyframe is in-tangent, value, out-tangent (glTF 2.0, 3.11)
        cubic = sampler.get("interpolation") == "CUBICSPLINE"
        out.setdefault(target["node"], {})[target["path"]] = values[1 if cubic else 0]
    return out


def _animates_weights(tree: dict) -> bool:
    """Whether the first animation sets morph weights (baked at frame 0 by the decoder)."""
    animations = tree.get("animations") or [{}]
    return any((channel.get("target") or {}).get("path") == "weights"
               for channel in animations[0].get("channels") or [])


def _scene_nodes(tree: dict) -> list[int]:
    """The nodes the default scene draws (scene 0 when ``scene`` is absent, glTF 2.0 3.5.1),
    parents before children."""
    nodes = tree.get("nodes") or []
    scenes = tree.get("scenes") or [{"nodes": _roots(nodes)}]
    stack = list(scenes[tree.get("scene", 0)].get("nodes", []))[::-1]
    out = []
    while stack:
        index = stack.pop()
        out.append(index)
        stack.extend(nodes[index].get("children", [])[::-1])
    return out


def _roots(nodes: list[dict]) -> list[int]:
    """Nodes that are no node's child."""
    children = {c for node in nodes for c in node.get("children", [])}
    return [n for n in range(len(nodes)) if n not in children]


def _globals(tree: dict, overrides: dict) -> dict[int, np.ndarray]:
    """World matrix of every node (a skin's joints need not be in the drawn scene)."""
    nodes = tree.get("nodes", [])
    roots = _roots(nodes)
    out: dict[int, np.ndarray] = {}
    stack = [(r, np.eye(4)) for r in roots]
    while stack:
        index, parent = stack.pop()
        world = parent @ _local(nodes[index], overrides.get(index, {}))
        out[index] = world
        stack.extend((c, world) for c in nodes[index].get("children", []))
    return out


def triangle_primitives(tree: dict[str, Any]) -> list[tuple[int, int]]:
    """(mesh, primitive) of every triangle primitive of a decoded tree, in file order (the
    order trimesh makes one geometry of each)."""
    return [(m, p) for m, mesh in enumerate(tree.get("meshes") or [])
            for p, primitive in enumerate(mesh.get("primitives") or [])
            if primitive.get("mode", 4) == 4]


def _primitives(data: DecodedGltf, mesh_index: int):
    """(index, primitive, positions, faces) of a mesh's triangle primitives."""
    mesh = data.tree["meshes"][mesh_index]
    for p, prim in enumerate(mesh.get("primitives", [])):
        if prim.get("mode", 4) != 4:
            continue  # points and lines (strips and fans are triangles by now)
        where = f"meshes[{mesh_index}].primitives[{p}]"
        positions = data.floats(prim["attributes"]["POSITION"], f"{where}.POSITION")
        if "indices" in prim:
            faces = data.integers(prim["indices"], f"{where}.indices").reshape(-1)
        else:
            faces = np.arange(len(positions), dtype=np.int64)
        faces = faces[:len(faces) - len(faces) % 3].reshape(-1, 3)
        if len(faces) and (faces.min() < 0 or faces.max() >= len(positions)):
            raise InvalidGeometryError(f"{where}: face index out of range [{faces.min()}, "
                                       f"{faces.max()}] for {len(positions)} vertices")
        yield p, prim, positions, faces


def _skinned(data: DecodedGltf, prim, positions, skin, world, where
             ) -> tuple[np.ndarray, np.ndarray]:
    """Linear blend skinning (glTF 2.0, 3.7.3): sum of weight x joint world x inverse bind.
    Returns the positions and, per vertex, the blended matrix's linear part (V, 3, 3)."""
    joints, weights = _influences(data, prim["attributes"], where)
    joint_nodes = skin["joints"]
    if "inverseBindMatrices" in skin:
        ibm = data.floats(skin["inverseBindMatrices"], f"{where} inverseBindMatrices")
        ibm = ibm.reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major in the file
    else:
        ibm = np.repeat(np.eye(4)[None], len(joint_nodes), axis=0)
    if joints.max(initial=0) >= len(joint_nodes) or len(ibm) < len(joint_nodes):
        raise InvalidGeometryError(f"{where}: joint index out of range")
    mats = np.stack([world[j] @ ibm[k] for k, j in enumerate(joint_nodes)])
    homogeneous = np.c_[positions, np.ones(len(positions))]
    out = np.zeros((len(positions), 3))
    linear = np.zeros((len(positions), 3, 3))
    m, term = np.empty((len(positions), 4, 4)), np.empty((len(positions), 3, 3))
    for k in range(joints.shape[1]):  # in place: the same products and sums, no temporaries
        np.take(mats, joints[:, k], axis=0, out=m)
        out += weights[:, k:k + 1] * np.einsum("nij,nj->ni", m, homogeneous)[:, :3]
        np.multiply(weights[:, k, None, None], m[:, :3, :3], out=term)
        linear += term
    return out, linear


def _influences(data: DecodedGltf, attributes: dict, where: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """Every ``JOINTS_n`` / ``WEIGHTS_n`` pair side by side (glTF 2.0, 3.7.3.1: more than four
    influences per vertex come in further sets)."""
    joints, weights = [], []
    n = 0
    while f"JOINTS_{n}" in attributes and f"WEIGHTS_{n}" in attributes:
        joints.append(data.integers(attributes[f"JOINTS_{n}"], f"{where}.JOINTS_{n}"))
        weights.append(data.floats(attributes[f"WEIGHTS_{n}"], f"{where}.WEIGHTS_{n}"))
        n += 1
    return np.concatenate(joints, axis=1), np.concatenate(weights, axis=1)


def _moved(positions: np.ndarray, faces: np.ndarray, world: np.ndarray):
    """Positions under a node's world matrix; a mirroring one reverses the winding."""
    moved = (np.c_[positions, np.ones(len(positions))] @ world.T)[:, :3]
    return moved, (faces[:, ::-1] if np.linalg.det(world[:3, :3]) < 0 else faces)


def posed_at_frame0(path: Path, tree: dict[str, Any], jail: Path,
                    decoded: DecodedGltf | None = None) -> Pose:
    """The triangles of a glTF as its first animation frame shows them (skins applied).

    Parameters
    ----------
    path : Path
        The ``.gltf`` / ``.glb`` file.
    tree : dict
        Its JSON, already checked by :func:`meshprep.io.gltf.validate_gltf`.
    jail : Path
        Folder buffer files must stay inside.
    decoded : DecodedGltf, optional
        The file as :func:`~meshprep.io.gltf_decode.decoded_gltf` returned it (with
        ``always=True``); decoded here when not given.

    Returns
    -------
    Pose
        The posed triangles and, per primitive instance, where they came from.
    """
    data = decoded or decoded_gltf(path, tree, jail, appearance=False, always=True)
    tree = data.tree
    overrides = _frame0(data)
    animated = bool(overrides) or _animates_weights(tree)
    rest, posed = _globals(tree, {}), _globals(tree, overrides)
    v_rest, v_pose, faces, parts = [], [], [], []
    offset, skinned = 0, False
    for index in _scene_nodes(tree):
        world, node = posed[index], tree["nodes"][index]
        if "mesh" not in node:
            continue
        for p, prim, positions, f in _primitives(data, node["mesh"]):
            attributes = prim["attributes"]
            posed_faces, linear = f, world[:3, :3]
            if "skin" in node and "JOINTS_0" in attributes and "WEIGHTS_0" in attributes:
                skin = tree["skins"][node["skin"]]
                skinned = True
                where = f"meshes[{node['mesh']}].primitives[{p}]"
                # a skinned mesh ignores its own node transform (glTF 2.0, 3.7.3)
                v_rest.append(_skinned(data, prim, positions, skin, rest, where)[0])
                moved, linear = _skinned(data, prim, positions, skin, posed, where)
                v_pose.append(moved)
            else:
                v_rest.append(_moved(positions, f, rest[index])[0])
                moved, posed_faces = _moved(positions, f, world)
                v_pose.append(moved)
            faces.append(posed_faces + offset)
            parts.append(PosedPart(node["mesh"], p, len(positions), len(f), linear))
            offset += len(positions)
    if not faces:
        return Pose(np.zeros((0, 3)), np.zeros((0, 3), np.int64), animated, skinned, 1.0)
    rest_v, pose_v = np.concatenate(v_rest), np.concatenate(v_pose)
    diagonal = lambda v: float(np.linalg.norm(np.ptp(v, axis=0))) if len(v) else 0.0  # noqa: E731
    ratio = diagonal(pose_v) / diagonal(rest_v) if diagonal(rest_v) > 0 else 1.0
    return Pose(pose_v, np.concatenate(faces), animated, skinned, ratio, parts)


def posed_appearance(scene: trimesh.Scene, tree: dict[str, Any], pose: Pose
                     ) -> Appearance | None:
    """The look trimesh read for each primitive, in the posed mesh's order.

    trimesh makes one geometry per triangle primitive, in file order, from the same decoded
    data the poser read; each is checked against the primitive (vertex and face counts) before
    its look is used.

    Parameters
    ----------
    scene : trimesh.Scene
        What trimesh read from the decoded file (with materials).
    tree : dict
        The decoded tree (:attr:`DecodedGltf.tree`) both read.
    pose : Pose
        The posed mesh.

    Returns
    -------
    Appearance or None
        None when trimesh's geometries do not match the primitives one to one.
    """
    geometries = [g for g in scene.geometry.values() if isinstance(g, trimesh.Trimesh)]
    keys = triangle_primitives(tree)
    if len(geometries) != len(keys):
        return None
    by_key = dict(zip(keys, geometries, strict=True))
    looks = []
    for part in pose.parts:
        geometry = by_key[(part.mesh, part.primitive)]
        if len(geometry.vertices) != part.vertices or len(geometry.faces) != part.faces:
            return None
        looks.append(part_appearance(geometry, part.linear))
    return combine(looks, [part.faces for part in pose.parts])
