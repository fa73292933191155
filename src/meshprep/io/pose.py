"""glTF at frame 0: node animations sampled at their first keyframe, skins applied.

trimesh reads a glTF in its rest pose and ignores skins; an animated model's first frame can
differ a lot (a rig posed away from its bind pose, parts animated into place). This module reads
the accessors itself (positions, indices, joints, weights, inverse bind matrices, animation
samplers) and returns the triangles as the first frame shows them, plus how far that pose is
from the rest pose (``pose_bbox_ratio``: diagonal of the frame-0 box over the rest box), which
curation uses to flag broken animations.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meshprep.errors import (
    CorruptFileError,
    InvalidGeometryError,
    MissingCompanionError,
    UnsupportedFormatError,
)

from ._paths import resolve_inside
from .gltf_decode import decoded_meshopt

_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16,
               5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_NORMALIZE = {np.int8: 127.0, np.uint8: 255.0, np.int16: 32767.0, np.uint16: 65535.0}


@dataclass
class Pose:
    """Triangles at frame 0 and what they were compared with."""

    vertices: np.ndarray
    faces: np.ndarray
    animated: bool
    skinned: bool
    bbox_ratio: float


def _buffers(path: Path, tree: dict, jail: Path) -> list[bytes]:
    out = []
    glb_bin = _glb_bin(path) if path.suffix.lower() == ".glb" else None
    for index, buffer in enumerate(tree.get("buffers", [])):
        uri = buffer.get("uri")
        if uri is None:
            if glb_bin is None or index != 0:
                raise CorruptFileError(f"{path.name}: buffer {index} has no data")
            out.append(glb_bin)
        elif uri.startswith("data:"):
            out.append(base64.b64decode(uri.split(",", 1)[1]))
        else:
            target = resolve_inside(path.parent, uri, jail)
            if not target.is_file():
                raise MissingCompanionError(f"{path.name}: buffer '{uri}' is missing")
            out.append(target.read_bytes())
    return out


def _glb_bin(path: Path) -> bytes | None:
    data = path.read_bytes()
    offset = 12
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from("<II", data, offset)
        if kind == 0x004E4942:  # "BIN\0"
            return data[offset + 8: offset + 8 + length]
        offset += 8 + length
    return None


def _accessor(tree: dict, buffers: list[bytes], index: int, name: str) -> np.ndarray:
    """An accessor as a float64 (count, width) array (integers kept exact)."""
    acc = tree["accessors"][index]
    if "sparse" in acc or "bufferView" not in acc:
        raise UnsupportedFormatError(f"{name}: sparse or empty accessors are not posed")
    dtype = np.dtype(_COMPONENTS[acc["componentType"]]).newbyteorder("<")
    width, count = _WIDTH[acc["type"]], int(acc["count"])
    view = tree["bufferViews"][acc["bufferView"]]
    data = buffers[view["buffer"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    stride = view.get("byteStride") or dtype.itemsize * width
    end = start + stride * (count - 1) + dtype.itemsize * width if count else start
    if end > view.get("byteOffset", 0) + view["byteLength"] or end > len(data):
        raise InvalidGeometryError(f"{name}: accessor {index} reads past its buffer")
    raw = np.lib.stride_tricks.as_strided(
        np.frombuffer(data, dtype=dtype, count=(end - start) // dtype.itemsize, offset=start)
        if count else np.zeros(0, dtype), shape=(count, width),
        strides=(stride, dtype.itemsize))
    out = raw.astype(np.float64)
    if acc.get("normalized") and dtype.type in _NORMALIZE:
        out = np.maximum(out / _NORMALIZE[dtype.type], -1.0)
    return out


def _quat_matrix(q) -> np.ndarray:
    x, y, z, w = q / (np.linalg.norm(q) or 1.0)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _local(node: dict, override: dict[str, np.ndarray]) -> np.ndarray:
    if "matrix" in node and not override:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T
    t = override.get("translation", np.asarray(node.get("translation", [0, 0, 0]), float))
    r = override.get("rotation", np.asarray(node.get("rotation", [0, 0, 0, 1]), float))
    s = override.get("scale", np.asarray(node.get("scale", [1, 1, 1]), float))
    m = np.eye(4)
    m[:3, :3] = _quat_matrix(r) * s
    m[:3, 3] = t
    return m


def _frame0(tree: dict, buffers: list[bytes], name: str) -> dict[int, dict[str, np.ndarray]]:
    """node -> {path: value} of the first animation at its first keyframe."""
    animations = tree.get("animations") or []
    if not animations:
        return {}
    out: dict[int, dict[str, np.ndarray]] = {}
    anim = animations[0]
    for channel in anim.get("channels", []):
        target = channel.get("target", {})
        if "node" not in target or target.get("path") not in ("translation", "rotation",
                                                              "scale"):
            continue
        sampler = anim["samplers"][channel["sampler"]]
        values = _accessor(tree, buffers, sampler["output"], name)
        if len(values) == 0:
            continue
        cubic = sampler.get("interpolation") == "CUBICSPLINE"
        out.setdefault(target["node"], {})[target["path"]] = values[1 if cubic else 0]
    return out


def _globals(tree: dict, overrides: dict) -> dict[int, np.ndarray]:
    nodes = tree.get("nodes", [])
    scenes = tree.get("scenes") or [{"nodes": list(range(len(nodes)))}]
    roots = scenes[tree.get("scene", 0)].get("nodes", [])
    out: dict[int, np.ndarray] = {}
    stack = [(r, np.eye(4)) for r in roots]
    while stack:
        index, parent = stack.pop()
        world = parent @ _local(nodes[index], overrides.get(index, {}))
        out[index] = world
        stack.extend((c, world) for c in nodes[index].get("children", []))
    return out


def _primitives(tree, buffers, node: dict, name: str):
    for prim in tree["meshes"][node["mesh"]].get("primitives", []):
        if prim.get("mode", 4) != 4 or "POSITION" not in prim.get("attributes", {}):
            continue
        positions = _accessor(tree, buffers, prim["attributes"]["POSITION"], name)
        if "indices" in prim:
            faces = _accessor(tree, buffers, prim["indices"], name).astype(np.int64)
            faces = faces.reshape(-1, 3)
        else:
            faces = np.arange(len(positions) - len(positions) % 3).reshape(-1, 3)
        if len(faces) and (faces.min() < 0 or faces.max() >= len(positions)):
            raise InvalidGeometryError(f"{name}: face index out of range")
        yield prim, positions, faces


def _skinned(tree, buffers, prim, positions, skin, world, name) -> np.ndarray:
    joints = _accessor(tree, buffers, prim["attributes"]["JOINTS_0"], name).astype(np.int64)
    weights = _accessor(tree, buffers, prim["attributes"]["WEIGHTS_0"], name)
    joint_nodes = skin["joints"]
    if "inverseBindMatrices" in skin:
        ibm = _accessor(tree, buffers, skin["inverseBindMatrices"], name).reshape(-1, 4, 4)
        ibm = ibm.transpose(0, 2, 1)  # column-major in the file
    else:
        ibm = np.repeat(np.eye(4)[None], len(joint_nodes), axis=0)
    if joints.max(initial=0) >= len(joint_nodes):
        raise InvalidGeometryError(f"{name}: joint index out of range")
    mats = np.stack([world[j] @ ibm[k] for k, j in enumerate(joint_nodes)])
    homogeneous = np.c_[positions, np.ones(len(positions))]
    out = np.zeros((len(positions), 3))
    for k in range(joints.shape[1]):
        m = mats[joints[:, k]]
        out += weights[:, k:k + 1] * np.einsum("nij,nj->ni", m, homogeneous)[:, :3]
    return out


def posed_at_frame0(path: Path, tree: dict[str, Any], jail: Path) -> Pose:
    """The triangles of a glTF as its first animation frame shows them (skins applied).

    Raises
    ------
    UnsupportedFormatError
        Sparse accessors (the caller falls back to the rest pose).
    """
    name = path.name
    decoded = decoded_meshopt(path, tree, jail)  # meshopt views (animation data too) decoded
    tree, buffers = decoded if decoded is not None else (tree, _buffers(path, tree, jail))
    overrides = _frame0(tree, buffers, name)
    rest, posed = _globals(tree, {}), _globals(tree, overrides)
    v_rest, v_pose, faces, offset = [], [], [], 0
    skinned = False
    for index, world in posed.items():
        node = tree["nodes"][index]
        if "mesh" not in node:
            continue
        for prim, positions, f in _primitives(tree, buffers, node, name):
            attributes = prim["attributes"]
            if "skin" in node and "JOINTS_0" in attributes and "WEIGHTS_0" in attributes:
                skin = tree["skins"][node["skin"]]
                skinned = True
                # a skinned mesh ignores its own node transform (glTF 2.0, 3.7.3)
                v_rest.append(_skinned(tree, buffers, prim, positions, skin, rest, name))
                v_pose.append(_skinned(tree, buffers, prim, positions, skin, posed, name))
            else:
                h = np.c_[positions, np.ones(len(positions))]
                v_rest.append((h @ rest[index].T)[:, :3])
                v_pose.append((h @ world.T)[:, :3])
            faces.append(f + offset)
            offset += len(positions)
    if not faces:
        return Pose(np.zeros((0, 3)), np.zeros((0, 3), np.int64), bool(overrides), skinned, 1.0)
    rest_v, pose_v = np.concatenate(v_rest), np.concatenate(v_pose)
    diagonal = lambda v: float(np.linalg.norm(np.ptp(v, axis=0))) if len(v) else 0.0  # noqa: E731
    ratio = diagonal(pose_v) / diagonal(rest_v) if diagonal(rest_v) > 0 else 1.0
    return Pose(pose_v, np.concatenate(faces), bool(overrides), skinned, ratio)
