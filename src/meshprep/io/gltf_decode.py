"""Decode what trimesh reads wrong in a glTF into a plain float32 GLB, in memory.

trimesh reads every accessor as its raw component type: the normalized integer accessors of
``KHR_mesh_quantization`` (positions, normals, tangents, texture coordinates, colours) come out
as integers, 32767x too large, and ``KHR_texture_transform`` is ignored. Before trimesh sees such
a file, :func:`decoded_glb` rewrites those accessors as float32 ones (and bakes the base-colour
texture transform into the texture coordinates), all buffers packed into one GLB binary chunk.
``KHR_draco_mesh_compression`` primitives are decoded here too (with DracoPy) into plain
accessors, and ``EXT_meshopt_compression`` / ``KHR_meshopt_compression`` buffer views (with
:mod:`meshprep.io.meshopt`) into plain buffer views, so a transform or a normalized type applies
to them alike. With ``appearance``, ``KHR_texture_basisu`` textures that exist only as KTX2 are
decoded too (:mod:`meshprep.io.basisu`), or left out with a warning. Files that need none of
this are handed to trimesh untouched. :func:`decoded_gltf` is the one pass: it also densifies
sparse accessors, turns triangle strips and fans into indexed triangles and bakes frame-0 morph
weights, and the frame-0 poser (:mod:`meshprep.io.pose`) reads the same decoded data.

Specs matched: glTF 2.0 section 3.11 "Animations"/"Accessors" normalization table (signed
``max(c / (2^(b-1) - 1), -1)``, unsigned ``c / (2^b - 1)``), ``KHR_mesh_quantization`` README
(allowed attribute types) and ``KHR_texture_transform`` README (``T * R * S`` on ``[u, v, 1]``);
glTF 2.0 3.6.2.3 (sparse accessors), 3.7.2.1 (strip and fan triangle order), 3.7.2.2 (morph
targets) and the ``KHR_draco_mesh_compression`` README (accessor types of decoded attributes).
"""

from __future__ import annotations

import base64
import json
import math
import pickle
import struct
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from meshprep.errors import CorruptFileError, InvalidGeometryError, LoadError
from meshprep.io._paths import resolve_inside
from meshprep.io.gltf_textures import needs_texture_pass, texture_pass

_COMPONENTS = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
#: divisor of each normalized integer type (glTF 2.0, "Accessor Data Types")
_NORMALIZE = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_TRANSFORM = "KHR_texture_transform"
_DRACO = "KHR_draco_mesh_compression"
_MESHOPT = ("EXT_meshopt_compression", "KHR_meshopt_compression")
_INSTANCING = "EXT_mesh_gpu_instancing"
_VISIBILITY = "KHR_node_visibility"
#: Draco's DataType values DT_INT8 .. DT_UINT64 (draco/core/draco_types.h)
_DRACO_INTEGER_TYPES = range(1, 9)
_STRIP_OR_FAN = (5, 6)  # TRIANGLE_STRIP, TRIANGLE_FAN (glTF 2.0, 3.7.2.1)
_GLB_HEADER = struct.Struct("<4sII")
_CHUNK = struct.Struct("<II")


class TextureTransformWarning(UserWarning):
    """A texture transform meshprep cannot represent with one set of UVs was left out."""


class MissingPositionWarning(UserWarning):
    """A primitive without POSITION was skipped, as glTF 2.0 (3.7.2.1) says clients should."""


class DecodedGltf:
    """A glTF's tree and its buffers packed into one, every accessor plain and dense.

    What :func:`decoded_gltf` makes: trimesh reads it as a GLB (:meth:`glb`) and the frame-0
    poser reads its accessors (:meth:`floats`, :meth:`integers`), so both see the same data.

    Attributes
    ----------
    tree : dict
        The rewritten JSON tree (a copy: the caller's is never changed).
    rewritten : bool
        Whether trimesh would read the original file differently (False: hand it the file).
    """

    def __init__(self, writer: _Writer, rewritten: bool) -> None:
        self._writer = writer
        self.tree = writer.tree
        self.rewritten = rewritten

    def floats(self, index: int, where: str) -> np.ndarray:
        """Accessor ``index`` as (count, width) float64, normalization applied."""
        return self._writer.floats(_accessor_index(self.tree, index, where)).astype(np.float64)

    def integers(self, index: int, where: str) -> np.ndarray:
        """Accessor ``index`` (indices, joints) as (count, width) int64, exact."""
        return self._writer.raw(_accessor_index(self.tree, index, where)).astype(np.int64)

    def glb(self) -> bytes:
        """The tree and the packed buffer as GLB bytes."""
        return self._writer.glb()


def decoded_gltf(path: Path, tree: dict[str, Any], jail: Path | None = None,
                 appearance: bool = True, always: bool = False) -> DecodedGltf | None:
    """Decode everything in a glTF that trimesh or the poser would read wrong or not at all.

    One pass, in this order: meshopt buffer views, KTX2 textures (with ``appearance``), Draco
    primitives, sparse accessors (densified), normalized integer accessors (to float32),
    triangle strips and fans (to indexed triangles), morph targets at their frame-0 weights
    (baked into the attributes) and base-colour texture transforms (baked into the UVs).

    Parameters
    ----------
    path : Path
        The ``.gltf`` / ``.glb`` file (its folder is the base of relative buffer URIs).
    tree : dict
        Its JSON, already checked by :func:`meshprep.io.gltf.validate_gltf`.
    jail : Path, optional
        Folder buffer files must stay inside; defaults to the file's folder.
    appearance : bool, optional
        Whether textures will be read: KTX2-only textures are decoded then (or dropped with a
        :class:`~meshprep.io.basisu.KTX2TextureWarning`), and left alone otherwise.
    always : bool, optional
        Return the packed data even when nothing needs decoding (for the poser).

    Returns
    -------
    DecodedGltf or None
        None when nothing needs decoding and ``always`` is False.

    Raises
    ------
    InvalidGeometryError
        An accessor reads past its buffer view, or an index is out of range.
    CorruptFileError
        A buffer, Draco or meshopt stream cannot be read, or a primitive has no POSITION.
    """
    rewritten = _needs_decoding(tree, appearance)
    if not rewritten and not always:
        return None
    meshopt = _meshopt_views(tree)
    tree = _copied(tree)  # the caller's tree stays as it was checked
    placeholders = _placeholder_buffers(path, tree, meshopt)
    writer = _Writer(tree, _read_buffers(path, tree, jail, placeholders))
    if rewritten:
        _decode_all(writer, path, jail, placeholders, meshopt, appearance)
    return DecodedGltf(writer, rewritten)


def decoded_glb(path: Path, tree: dict[str, Any], jail: Path | None = None,
                appearance: bool = True, decoded: DecodedGltf | None = None) -> bytes | None:
    """Rewrite a glTF whose accessors trimesh would misread as a float32 GLB.

    Parameters
    ----------
    path, tree, jail, appearance
        As :func:`decoded_gltf` takes them.
    decoded : DecodedGltf, optional
        The file already decoded (then nothing is decoded again).

    Returns
    -------
    bytes or None
        A GLB to hand to trimesh instead of the file (image URIs kept as written, so they are
        resolved next to the original), or None when trimesh reads the file correctly as is.
    """
    if decoded is None:
        decoded = decoded_gltf(path, tree, jail, appearance)
    return decoded.glb() if decoded is not None and decoded.rewritten else None


def _decode_all(writer: _Writer, path: Path, jail: Path | None, placeholders: set[int],
                meshopt: list[int], appearance: bool) -> None:
    """Every decoding step of :func:`decoded_gltf`, on the packed copy."""
    tree = writer.tree
    _skip_positionless(writer)
    _decode_meshopt(writer, placeholders, meshopt)
    if appearance and needs_texture_pass(tree):
        _decode_basisu(writer, path, jail)
    for primitive in _draco_primitives(tree):
        _decode_draco(writer, primitive)
    _drop_extension(tree, _DRACO)
    zeros = set(_zero_accessors(tree))
    for index, accessor in enumerate(tree.get("accessors") or []):
        if _empty_accessor(accessor):
            # trimesh computes a negative length for a strided accessor of count 0
            writer.replace(index, np.zeros((0, _WIDTH[accessor["type"]])),
                           accessor["componentType"], bool(accessor.get("normalized")))
        elif isinstance(accessor.get("sparse"), dict) or index in zeros:
            writer.replace(index, writer.raw(index), accessor["componentType"],
                           normalized=bool(accessor.get("normalized")))
    for index in sorted(_normalized_accessors(tree)):
        writer.replace(index, writer.floats(index))
    _triangulate_strips_and_fans(writer)
    _bake_morph_targets(writer)
    _normalize_scene(writer)
    for primitive, (tex_coord, matrix) in _primitive_transforms(tree):
        _bake_transform(writer, primitive, tex_coord, matrix)


def _needs_decoding(tree: dict[str, Any], appearance: bool) -> bool:
    """Whether trimesh would misread the file (checked on the JSON alone: small files load
    without a copy)."""
    found = _check_primitives(tree)
    return bool(found or _normalized_accessors(tree) or _primitive_transforms(tree)
                or _meshopt_views(tree) or _sparse_accessors(tree) or _needs_scene_pass(tree)
                or (appearance and needs_texture_pass(tree)))


def _check_primitives(tree: dict[str, Any]) -> bool:
    """Whether any primitive is Draco-compressed, a strip or fan, morphed by a weight or
    without POSITION (trimesh fails on the file then)."""
    found = False
    morphed = _has_morph_weights(tree)
    for mesh in tree.get("meshes") or []:
        for primitive in mesh.get("primitives") or []:
            attributes = primitive.get("attributes") or {}
            found = found or not isinstance(attributes.get("POSITION"), int) \
                or primitive.get("mode", 4) in _STRIP_OR_FAN \
                or isinstance((primitive.get("extensions") or {}).get(_DRACO), dict) \
                or _ragged(tree, primitive) or _no_vertices(tree, primitive) \
                or (morphed and bool(primitive.get("targets")))
    return found


def _has_morph_weights(tree: dict[str, Any]) -> bool:
    """Whether a mesh or node declares a non-zero morph weight, or an animation sets one."""
    declared = [*(tree.get("meshes") or []), *(tree.get("nodes") or [])]
    if any(any(w != 0 for w in (entry.get("weights") or [])) for entry in declared):
        return True
    return any(channel.get("target", {}).get("path") == "weights"
               for animation in tree.get("animations") or []
               for channel in animation.get("channels") or [])


def _needs_scene_pass(tree: dict[str, Any]) -> bool:
    """Whether trimesh would draw the node graph wrong: a camera node (trimesh drops its mesh
    and cuts its children off the scene), ``EXT_mesh_gpu_instancing`` (ignored) or no
    ``scenes`` (nothing drawn)."""
    nodes = [n for n in tree.get("nodes") or [] if isinstance(n, dict)]
    return ("scenes" not in tree and bool(tree.get("meshes"))) or any(
        "camera" in node or isinstance(_instancing(node), dict) or _hidden(node)
        for node in nodes)


def _hidden(node: dict[str, Any]) -> bool:
    """Whether ``KHR_node_visibility`` hides a node (and so its whole subtree)."""
    visibility = (node.get("extensions") or {}).get(_VISIBILITY)
    return isinstance(visibility, dict) and visibility.get("visible", True) is False


def _hide_subtrees(nodes: list[dict[str, Any]]) -> None:
    """Drop the meshes of hidden nodes and their descendants (``KHR_node_visibility``)."""
    stack = [n for n, node in enumerate(nodes) if _hidden(node)]
    while stack:
        node = nodes[stack.pop()]
        node.pop("mesh", None)
        stack.extend(node.get("children") or [])


def _instancing(node: dict[str, Any]) -> Any:
    return (node.get("extensions") or {}).get(_INSTANCING)


def _normalize_scene(writer: _Writer) -> None:
    """Rewrite the node graph so that trimesh draws what glTF 2.0 declares.

    Cameras are dropped (meshprep reads geometry), so are the meshes of nodes that
    ``KHR_node_visibility`` hides with their subtrees; ``EXT_mesh_gpu_instancing`` nodes get one
    child node per instance (:func:`_expand_instances`), and a file without ``scenes`` gets
    one holding every root node, or, without nodes, one node per mesh (glTF 2.0, 3.5.1: such
    a file is a library of its meshes).
    """
    tree = writer.tree
    nodes = tree.get("nodes") or []
    _hide_subtrees(nodes)
    for n, node in enumerate(list(nodes)):
        node.pop("camera", None)
        if isinstance(_instancing(node), dict) and isinstance(node.get("mesh"), int):
            _expand_instances(writer, n)
    _drop_extension(tree, _INSTANCING)
    if "scenes" in tree:
        return
    if not nodes:
        tree["nodes"] = nodes = [{"mesh": m} for m in range(len(tree.get("meshes") or []))]
    children = {c for node in nodes for c in node.get("children") or []}
    tree["scenes"] = [{"nodes": [n for n in range(len(nodes)) if n not in children]}]
    tree["scene"] = 0


def _expand_instances(writer: _Writer, n: int) -> None:
    """Move node ``n``'s mesh onto one child per ``EXT_mesh_gpu_instancing`` instance.

    The extension's README: instance ``i`` is drawn at the node's world transform times the
    instance's ``T * R * S`` (absent attributes: identity); every attribute has one value per
    instance.
    """
    tree = writer.tree
    node = tree["nodes"][n]
    attributes = _instancing(node).get("attributes") or {}
    where = f"nodes[{n}].extensions.{_INSTANCING}"
    values = {name: writer.floats(_accessor_index(tree, attributes[name], f"{where}.{name}"))
              for name in ("TRANSLATION", "ROTATION", "SCALE") if name in attributes}
    counts = {len(v) for v in values.values()}
    if len(counts) != 1:
        raise CorruptFileError(f"{where}: attributes hold {sorted(counts)} instances "
                               "(one count needed)")
    count = counts.pop()
    translation = values.get("TRANSLATION", np.zeros((count, 3)))
    rotation = values.get("ROTATION", np.tile([0.0, 0.0, 0.0, 1.0], (count, 1)))
    scale = values.get("SCALE", np.ones((count, 3)))
    mesh = node.pop("mesh")
    node["extensions"].pop(_INSTANCING)
    first = len(tree["nodes"])
    tree["nodes"].extend({"mesh": mesh, "translation": translation[i, :3].tolist(),
                          "rotation": rotation[i, :4].tolist(), "scale": scale[i, :3].tolist()}
                         for i in range(count))
    node["children"] = [*(node.get("children") or []), *range(first, first + count)]


def _sparse_accessors(tree: dict[str, Any]) -> bool:
    return any(isinstance(accessor.get("sparse"), dict)
               or _empty_accessor(accessor)
               for accessor in tree.get("accessors") or []) or bool(_zero_accessors(tree))


def _zero_accessors(tree: dict[str, Any]) -> list[int]:
    """Accessors a plain primitive reads that have no ``bufferView`` (all zeros, glTF 2.0,
    3.6.2.3), which trimesh cannot read: they are written out like sparse ones."""
    accessors = tree.get("accessors") or []
    found = set()
    for mesh in tree.get("meshes") or []:
        for primitive in (mesh.get("primitives") or []) if isinstance(mesh, dict) else []:
            if not isinstance(primitive, dict) or _DRACO in (primitive.get("extensions") or {}):
                continue
            maps = [primitive.get("attributes"), *(primitive.get("targets") or [])]
            refs = [i for m in maps if isinstance(m, dict) for i in m.values()]
            refs.append(primitive.get("indices"))
            found.update(i for i in refs if isinstance(i, int) and 0 <= i < len(accessors)
                         and "bufferView" not in accessors[i] and _readable(accessors[i]))
    return sorted(found)


def _empty_accessor(accessor: Any) -> bool:
    return _readable(accessor) and accessor["count"] == 0 and "bufferView" in accessor


def _readable(accessor: Any) -> bool:
    return isinstance(accessor, dict) and accessor.get("componentType") in _COMPONENTS \
        and accessor.get("type") in _WIDTH and isinstance(accessor.get("count"), int)


def _accessor_index(tree: dict[str, Any], index: Any, where: str) -> int:
    """``index`` when it names an accessor this module reads; a named error otherwise."""
    accessors = tree.get("accessors") or []
    if not isinstance(index, int) or not 0 <= index < len(accessors):
        raise CorruptFileError(f"{where}: accessor {index!r} does not exist")
    accessor = accessors[index]
    if accessor.get("componentType") not in _COMPONENTS or accessor.get("type") not in _WIDTH:
        raise CorruptFileError(f"{where}: accessors[{index}] has componentType "
                               f"{accessor.get('componentType')!r} / type "
                               f"{accessor.get('type')!r}, not a glTF 2.0 one")
    return index


def _copied(tree: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON tree (pickle: a third of a JSON round trip's time, which counts on
    small files)."""
    return pickle.loads(pickle.dumps(tree, pickle.HIGHEST_PROTOCOL))


def _normalized_accessors(tree: dict[str, Any]) -> set[int]:
    """Accessors with ``normalized: true`` and an integer type, read by a mesh attribute."""
    accessors = tree.get("accessors", []) or []
    used = set()
    for mesh in tree.get("meshes", []) or []:
        for primitive in mesh.get("primitives", []) or []:
            targets = primitive.get("targets", []) or []
            for attributes in [primitive.get("attributes", {}) or {}, *targets]:
                used.update(v for v in attributes.values() if isinstance(v, int))
    return {i for i in used if 0 <= i < len(accessors) and _is_normalized(accessors[i])}


def _is_normalized(accessor: dict[str, Any]) -> bool:
    return bool(accessor.get("normalized")) and accessor.get("componentType") in _NORMALIZE \
        and "bufferView" in accessor


def _primitive_transforms(tree: dict[str, Any]) -> list[tuple[dict, tuple[int, np.ndarray]]]:
    """Primitives whose material's base-colour texture carries a texture transform."""
    materials = tree.get("materials", []) or []
    found = []
    for mesh in tree.get("meshes", []) or []:
        for primitive in mesh.get("primitives", []) or []:
            material = primitive.get("material")
            if not isinstance(material, int) or not 0 <= material < len(materials):
                continue
            transform = _material_transform(materials[material])
            if transform is not None:
                found.append((primitive, transform))
    return found


def _material_transform(material: dict[str, Any]) -> tuple[int, np.ndarray] | None:
    """The UV set and 3x3 matrix of a material's base-colour texture transform (None: none).

    meshprep keeps one UV set per vertex, so the base-colour texture's transform is baked into
    it; a metallic-roughness texture with a different transform is drawn with the base
    colour's UVs, and a :class:`TextureTransformWarning` says so.
    """
    pbr = material.get("pbrMetallicRoughness", {}) or {}
    base = pbr.get("baseColorTexture")
    if not isinstance(base, dict):
        return None
    mine = _info_transform(base)
    other = pbr.get("metallicRoughnessTexture")
    if isinstance(other, dict) and _info_transform(other) != mine:
        warnings.warn(f"material {material.get('name', '')!r}: the metallic-roughness texture's "
                      "UV transform differs from the base colour's; the base colour's is used",
                      TextureTransformWarning, stacklevel=4)
    if mine is None:
        return None
    tex_coord, offset, rotation, scale = mine
    matrix = uv_matrix(offset, rotation, scale)
    if tex_coord == 0 and np.allclose(matrix, np.eye(3)):
        return None  # an identity transform (glTF-Transform writes them): nothing to bake
    return tex_coord, matrix


def _info_transform(info: dict[str, Any]) -> tuple[int, tuple, float, tuple] | None:
    extension = (info.get("extensions", {}) or {}).get(_TRANSFORM)
    if not isinstance(extension, dict):
        # a texture read from another UV set than TEXCOORD_0 (the one trimesh reads) is an
        # identity transform from that set
        return None if info.get("texCoord", 0) == 0 else (int(info["texCoord"]), (0.0, 0.0),
                                                           0.0, (1.0, 1.0))
    tex_coord = extension.get("texCoord", info.get("texCoord", 0))
    return (int(tex_coord), tuple(extension.get("offset", (0.0, 0.0))),
            float(extension.get("rotation", 0.0)), tuple(extension.get("scale", (1.0, 1.0))))


def uv_matrix(offset, rotation: float, scale) -> np.ndarray:
    """The ``KHR_texture_transform`` matrix ``T(offset) * R(rotation) * S(scale)``.

    Parameters
    ----------
    offset : (2,) float
        UV offset.
    rotation : float
        Rotation in radians (counter-clockwise in UV space, as the extension defines).
    scale : (2,) float
        UV scale.

    Returns
    -------
    (3, 3) float64
        Applied to ``[u, v, 1]`` column vectors in glTF's UV convention (origin top-left).
    """
    c, s = math.cos(rotation), math.sin(rotation)
    translation = np.array([[1, 0, offset[0]], [0, 1, offset[1]], [0, 0, 1]], np.float64)
    rotate = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]], np.float64)
    resize = np.diag([scale[0], scale[1], 1.0])
    return translation @ rotate @ resize


def _bake_transform(writer: _Writer, primitive: dict, tex_coord: int, matrix: np.ndarray) -> None:
    """Point the primitive's TEXCOORD_0 (the set trimesh reads) at transformed UVs."""
    attributes = primitive.get("attributes", {}) or {}
    source = attributes.get(f"TEXCOORD_{tex_coord}")
    if not isinstance(source, int):
        return
    uv = writer.floats(source)
    if uv.shape[1] != 2:
        return
    moved = uv.astype(np.float64) @ matrix[:2, :2].T + matrix[:2, 2]
    attributes["TEXCOORD_0"] = writer.append(moved.astype(np.float32), "VEC2")


def _skip_positionless(writer: _Writer) -> None:
    """Turn primitives without POSITION into empty point sets, with a warning.

    glTF 2.0 section 3.7.2.1: "When positions are not specified, client implementations SHOULD
    skip primitive's rendering"; trimesh would fail on the whole file instead.
    """
    for m, mesh in enumerate(writer.tree.get("meshes") or []):
        for p, primitive in enumerate(mesh.get("primitives") or []):
            if _no_vertices(writer.tree, primitive):
                # zero vertices (and so zero-length attributes, which trimesh fails on)
                primitive.clear()
                primitive.update(attributes={"POSITION": writer.append(
                    np.zeros((0, 3), np.float32), "VEC3")}, mode=0)
            if isinstance((primitive.get("attributes") or {}).get("POSITION"), int):
                continue
            warnings.warn(f"meshes[{m}].primitives[{p}] has no POSITION attribute: skipped "
                          "(glTF 2.0, 3.7.2.1)", MissingPositionWarning, stacklevel=5)
            empty = writer.append(np.zeros((0, 3), np.float32), "VEC3")
            primitive.clear()
            primitive.update(attributes={"POSITION": empty}, mode=0)


def strip_or_fan_triangles(mode: int, count: int) -> np.ndarray:
    """Which of ``count`` strip or fan vertices each triangle uses, in glTF's winding.

    glTF 2.0 section 3.7.2.1: a strip's triangle ``i`` is ``{v_i, v_{i+(1+i%2)},
    v_{i+(2-i%2)}}`` and a fan's ``{v_{i+1}, v_{i+2}, v_0}``, for ``0 <= i < count - 2``.

    Parameters
    ----------
    mode : int
        5 (TRIANGLE_STRIP) or 6 (TRIANGLE_FAN).
    count : int
        Number of vertices (or indices) the primitive draws.

    Returns
    -------
    (max(count - 2, 0), 3) int64
        Positions into the primitive's vertex (or index) sequence.
    """
    i = np.arange(max(count - 2, 0), dtype=np.int64)
    if mode == 5:
        return np.stack([i, i + 1 + i % 2, i + 2 - i % 2], axis=1)
    return np.stack([i + 1, i + 2, np.zeros_like(i)], axis=1)


def _no_vertices(tree: dict[str, Any], primitive: dict[str, Any]) -> bool:
    """Whether a primitive's POSITION accessor holds no vertex (it draws nothing)."""
    key = (primitive.get("attributes") or {}).get("POSITION")
    accessors = tree.get("accessors") or []
    return isinstance(key, int) and 0 <= key < len(accessors) \
        and isinstance(accessors[key], dict) and accessors[key].get("count") == 0


def _ragged(tree: dict[str, Any], primitive: dict[str, Any]) -> bool:
    """Whether a TRIANGLES primitive draws a count that is not a multiple of 3 (invalid; the
    incomplete last triangle is not drawn, which trimesh failed to reshape)."""
    if primitive.get("mode", 4) != 4:
        return False
    key = primitive.get("indices", (primitive.get("attributes") or {}).get("POSITION"))
    accessors = tree.get("accessors") or []
    if not isinstance(key, int) or not 0 <= key < len(accessors) \
            or not isinstance(accessors[key], dict):
        return False
    count = accessors[key].get("count")
    return isinstance(count, int) and count % 3 != 0


def _triangulate_strips_and_fans(writer: _Writer) -> None:
    """Give every strip and fan primitive the indexed triangles it draws (mode 4), and a
    TRIANGLES one with a count not a multiple of 3 its whole triangles."""
    for m, mesh in enumerate(writer.tree.get("meshes") or []):
        for p, primitive in enumerate(mesh.get("primitives") or []):
            mode = primitive.get("mode", 4)
            if mode not in _STRIP_OR_FAN and not _ragged(writer.tree, primitive):
                continue
            where = f"meshes[{m}].primitives[{p}]"
            if "indices" in primitive:
                _accessor_index(writer.tree, primitive["indices"], f"{where}.indices")
                sequence = writer.raw(primitive["indices"]).reshape(-1).astype(np.uint32)
            else:
                position = _accessor_index(writer.tree, primitive["attributes"]["POSITION"],
                                           f"{where}.POSITION")
                sequence = np.arange(int(writer.tree["accessors"][position]["count"]),
                                     dtype=np.uint32)
            faces = (sequence[:len(sequence) // 3 * 3] if mode == 4
                     else sequence[strip_or_fan_triangles(mode, len(sequence))])
            primitive["indices"] = writer.append(faces.reshape(-1, 1), "SCALAR", 5125)
            primitive["mode"] = 4


def _bake_morph_targets(writer: _Writer) -> None:
    """Add each node's frame-0 morph weights times its mesh's targets to the attributes.

    glTF 2.0 section 3.7.2.2: a morphed attribute is ``base + sum(w_i * target_i)``; the
    weights are the node's ``weights``, else the mesh's, else 0; the first animation's first
    keyframe overrides them (section 3.11). Nodes sharing a mesh with different weights get
    copies of the mesh.
    """
    tree = writer.tree
    meshes = tree.get("meshes") or []
    animated = _frame0_weights(writer)
    morphed = {m for m, mesh in enumerate(meshes)
               if any(p.get("targets") for p in mesh.get("primitives") or [])}
    pristine: dict[int, dict[str, Any]] = {}
    baked: dict[tuple[int, tuple[float, ...]], int] = {}
    for n, node in enumerate(tree.get("nodes") or []):
        m = node.get("mesh")
        if m not in morphed:
            continue
        weights = animated.get(n, node.get("weights", meshes[m].get("weights")))
        key = (m, tuple(float(w) for w in weights or ()))
        if key not in baked:
            baked[key] = _baked_mesh(writer, m, pristine, key[1])
        node["mesh"] = baked[key]
        node.pop("weights", None)


def _baked_mesh(writer: _Writer, m: int, pristine: dict[int, dict[str, Any]],
                weights: tuple[float, ...]) -> int:
    """The index of mesh ``m`` with ``weights`` baked: ``m`` itself the first time, then a
    copy of the mesh as the file wrote it."""
    meshes = writer.tree["meshes"]
    first = m not in pristine
    if first:
        pristine[m] = _copied(meshes[m])
    mesh = meshes[m] if first else _copied(pristine[m])
    for p, primitive in enumerate(mesh.get("primitives") or []):
        _bake_primitive(writer, primitive, weights, f"meshes[{m}].primitives[{p}]")
    mesh.pop("weights", None)
    if first:
        return m
    meshes.append(mesh)
    return len(meshes) - 1


def _bake_primitive(writer: _Writer, primitive: dict[str, Any], weights: tuple[float, ...],
                    where: str) -> None:
    """Point each morphed attribute of a primitive at ``base + sum(w_i * target_i)``."""
    targets = primitive.pop("targets", None) or []
    attributes = primitive.get("attributes") or {}
    for name, base in list(attributes.items()):
        # weights past the targets (or targets past the weights, weight 0) do nothing
        pairs = enumerate(zip(weights, targets, strict=False))
        moves = [(w, target[name], i) for i, (w, target) in pairs if w != 0 and name in target]
        if not moves:
            continue
        values = writer.floats(_accessor_index(writer.tree, base, f"{where}.{name}"))
        values = values.astype(np.float64)
        for weight, index, i in moves:
            label = f"{where}.targets[{i}].{name}"
            delta = writer.floats(_accessor_index(writer.tree, index, label))
            if len(delta) != len(values):
                raise InvalidGeometryError(f"{label} has {len(delta)} values for "
                                           f"{len(values)} vertices")
            width = min(values.shape[1], delta.shape[1])  # a TANGENT target has no w
            values[:, :width] += weight * delta[:, :width]
        if name == "NORMAL":
            values /= np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)
        attributes[name] = writer.append(values.astype(np.float32),
                                         writer.tree["accessors"][base]["type"])


def _frame0_weights(writer: _Writer) -> dict[int, list[float]]:
    """node -> the morph weights the first animation's first keyframe sets (glTF 2.0, 3.11:
    a ``weights`` output holds one value per target per keyframe; a cubic spline keyframe is
    in-tangents, values, out-tangents)."""
    tree = writer.tree
    animations = tree.get("animations") or []
    nodes, meshes = tree.get("nodes") or [], tree.get("meshes") or []
    out: dict[int, list[float]] = {}
    samplers = animations[0].get("samplers") or [] if animations else []
    for c, channel in enumerate(animations[0].get("channels") or [] if animations else []):
        target = channel.get("target") or {}
        node = target.get("node")
        if target.get("path") != "weights" or not isinstance(node, int) \
                or not 0 <= node < len(nodes) or not isinstance(nodes[node].get("mesh"), int):
            continue
        primitives = meshes[nodes[node]["mesh"]].get("primitives") or [{}]
        count = len(primitives[0].get("targets") or [])
        where = f"animations[0].channels[{c}]"
        if not isinstance(channel.get("sampler"), int) \
                or not 0 <= channel["sampler"] < len(samplers):
            raise CorruptFileError(f"{where}: sampler {channel.get('sampler')!r} does not exist")
        sampler = samplers[channel["sampler"]]
        values = writer.floats(_accessor_index(tree, sampler.get("output"), where)).reshape(-1)
        start = count if sampler.get("interpolation") == "CUBICSPLINE" else 0
        if count and len(values) >= start + count:
            out[node] = values[start:start + count].tolist()
    return out


def _draco_primitives(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """Primitives compressed with ``KHR_draco_mesh_compression``."""
    return [primitive for mesh in tree.get("meshes", []) or []
            for primitive in mesh.get("primitives", []) or []
            if isinstance((primitive.get("extensions") or {}).get(_DRACO), dict)]


def _decode_draco(writer: _Writer, primitive: dict[str, Any]) -> None:
    """Replace a Draco primitive's placeholder accessors with its decoded data.

    The extension maps glTF attribute names to Draco attribute ids and keeps the primitive's
    accessors (without ``bufferView``) for their types (``KHR_draco_mesh_compression`` README).
    """
    import DracoPy  # a base dependency, imported only when a file needs it

    extension = primitive["extensions"].pop(_DRACO)
    view = writer.tree["bufferViews"][extension["bufferView"]]
    start = view["byteOffset"]
    try:
        decoded = DracoPy.decode(bytes(writer.blob[start:start + view["byteLength"]]))
    except Exception as exc:  # DracoPy raises its own types on a broken stream
        raise CorruptFileError(f"Draco stream does not decode: {exc}") from exc
    by_id = {a["unique_id"]: a for a in decoded.attributes}
    attributes = primitive.get("attributes", {}) or {}
    for name, ident in (extension.get("attributes") or {}).items():
        if name in attributes and ident in by_id:
            accessor = writer.tree["accessors"][attributes[name]]
            values, component = _draco_values(by_id[ident], accessor)
            writer.replace(attributes[name], values, component)
    # a point-cloud stream (a POINTS primitive) decodes without faces
    faces = np.asarray(getattr(decoded, "faces", ()), dtype=np.uint32).reshape(-1, 1)
    if "indices" in primitive:
        writer.replace(primitive["indices"], faces, component=5125)
    elif len(faces):  # Draco reorders the points: only its faces draw them right
        primitive["indices"] = writer.append(faces, "SCALAR", 5125)


def _draco_values(attribute: dict[str, Any], accessor: dict[str, Any]) -> tuple[np.ndarray, int]:
    """A decoded Draco attribute as the accessor declares it, and the component type written.

    DracoPy returns every attribute as float32 holding the stored values; an integer Draco
    attribute read by a normalized accessor is a quantized one (``KHR_draco_mesh_compression``
    README: the accessor's ``componentType`` and ``normalized`` describe the decoded data), so
    it is normalized here (glTF 2.0, 3.6.2.2). An integer accessor that is not normalized
    (joints, ``KHR_mesh_quantization`` positions dequantized by the node transform) keeps its
    type.
    """
    data = np.asarray(attribute["data"])
    values = data.astype(np.float64).reshape(len(data), -1)
    component = accessor.get("componentType")
    integer_stream = attribute.get("data_type") in _DRACO_INTEGER_TYPES \
        or data.dtype.kind in "iu"
    if accessor.get("normalized") and component in _NORMALIZE:
        if integer_stream:
            values = np.maximum(values / _NORMALIZE[component], -1.0)
        return values.astype(np.float32), 5126
    if component in _COMPONENTS and component != 5126:
        return np.rint(values).astype(_COMPONENTS[component]), component
    return values.astype(np.float32), 5126


def _meshopt_views(tree: dict[str, Any]) -> list[int]:
    """Indices of the buffer views compressed with EXT_/KHR_meshopt_compression."""
    return [i for i, view in enumerate(tree.get("bufferViews", []) or [])
            if isinstance(view, dict) and _meshopt_extension(view) is not None]


def _meshopt_extension(entry: dict[str, Any]) -> dict[str, Any] | None:
    extensions = entry.get("extensions") or {}
    found = [extensions[name] for name in _MESHOPT if isinstance(extensions.get(name), dict)]
    return found[0] if found else None


def _placeholder_buffers(path: Path, tree: dict[str, Any], views: list[int]) -> set[int]:
    """Buffers that only stand in for meshopt-compressed views, never read.

    Those tagged ``fallback: true``, and those with no URI that are not the GLB binary chunk
    (``KHR_meshopt_compression`` README, "Fallback buffers"). Every view into one must be
    compressed, or a :class:`CorruptFileError` is raised.
    """
    compressed = set(views)  # the compressed buffer views (:func:`_meshopt_views`)
    if not compressed:
        return set()
    glb = path.suffix.lower() == ".glb"
    found = set()
    for i, buffer in enumerate(tree.get("buffers", []) or []):
        tagged = bool((_meshopt_extension(buffer) or {}).get("fallback"))
        if tagged or (buffer.get("uri") is None and not (glb and i == 0)):
            found.add(i)
    for i, view in enumerate(tree.get("bufferViews", []) or []):
        if view.get("buffer") in found and i not in compressed:
            raise CorruptFileError(f"{path.name}: bufferViews[{i}] reads the meshopt fallback "
                                   f"buffer {view['buffer']} but is not compressed")
    return found


def _decode_meshopt(writer: _Writer, placeholders: set[int], views: list[int]) -> None:
    """Replace every meshopt-compressed buffer view with its decoded bytes.

    Raises
    ------
    CorruptFileError
        A stream does not decode, or reads outside its buffer or from a placeholder buffer.
    """
    from meshprep.io.meshopt import decode_view

    tree = writer.tree
    for i in views:
        view = tree["bufferViews"][i]
        extension = _meshopt_extension(view)
        data = writer.source(extension, placeholders, f"bufferViews[{i}]")
        try:
            decoded = decode_view(data, extension.get("count"), extension.get("byteStride"),
                                  extension.get("mode"), extension.get("filter", "NONE"))
        except CorruptFileError as exc:
            raise CorruptFileError(f"bufferViews[{i}]: {exc}") from exc
        writer.put(i, decoded)
        view.pop("extensions")
    for name in _MESHOPT:
        _drop_extension(tree, name)


def _decode_basisu(writer: _Writer, path: Path, jail: Path | None) -> None:
    """The texture pass (:mod:`meshprep.io.gltf_textures`): KTX2 / Basis textures decoded or
    dropped with a warning (their factor is used then), spec-gloss materials converted to
    metallic-roughness, texture samplers carried in the material names."""
    texture_pass(writer.tree, path.name, lambda image: _image_bytes(writer, path, image, jail),
                 writer.image)


def _image_bytes(writer: _Writer, path: Path, image: dict[str, Any],
                 jail: Path | None) -> bytes | None:
    """An image's bytes (its buffer view, data URI or file), or None when unreadable."""
    try:
        if isinstance(image.get("bufferView"), int):
            view = writer.tree["bufferViews"][image["bufferView"]]
            start, length = view["byteOffset"], view["byteLength"]
            return bytes(writer.blob[start:start + length]) \
                if start + length <= len(writer.blob) else None
        uri = image.get("uri")
        if not isinstance(uri, str):
            return None
        if uri.startswith("data:"):
            return base64.b64decode(uri.split(";base64,", 1)[1])
        return resolve_inside(path.parent, urllib.parse.unquote(uri), jail).read_bytes()
    except (LoadError, OSError, ValueError, IndexError, KeyError):
        return None


def _drop_extension(tree: dict[str, Any], name: str) -> None:
    """Remove a decoded extension from ``extensionsUsed`` / ``extensionsRequired``."""
    for key in ("extensionsUsed", "extensionsRequired"):
        if isinstance(tree.get(key), list):
            tree[key] = [e for e in tree[key] if e != name]


def _read_buffers(path: Path, tree: dict[str, Any], jail: Path | None,
                  placeholders: set[int] = frozenset()) -> list[bytes]:
    """The bytes of every buffer: the GLB binary chunk, a data URI or a file in the folder.

    A placeholder (meshopt fallback) buffer is not read: it stands as zero bytes.
    """
    chunk = _glb_binary(path) if path.suffix.lower() == ".glb" else None
    out = []
    for i, buffer in enumerate(tree.get("buffers", []) or []):
        uri = buffer.get("uri")
        if i in placeholders:
            out.append(b"")
        elif uri is None:
            if chunk is None:
                raise CorruptFileError(f"{path.name}: buffers[{i}] has no uri and no GLB chunk")
            out.append(chunk)
        elif uri.startswith("data:"):
            out.append(base64.b64decode(uri.split(";base64,", 1)[1]))
        else:
            out.append(resolve_inside(path.parent, urllib.parse.unquote(uri), jail).read_bytes())
    return out


def _glb_binary(path: Path) -> bytes | None:
    """The BIN chunk of a GLB (None when it has none)."""
    data = path.read_bytes()
    offset = _GLB_HEADER.size
    while offset + _CHUNK.size <= len(data):
        length, kind = _CHUNK.unpack_from(data, offset)
        if kind == 0x004E4942:  # "BIN\0"
            return data[offset + 8: offset + 8 + length]
        offset += _CHUNK.size + length
    return None


class _Writer:
    """Appends float32 accessors to a copy of the buffers and writes the result as one GLB."""

    def __init__(self, tree: dict[str, Any], buffers: list[bytes]) -> None:
        self.tree = tree
        self.blob = bytearray()
        starts = []
        for data in buffers:
            self.blob += b"\0" * (-len(self.blob) % 4)
            starts.append(len(self.blob))
            self.blob += data
        for view in tree.get("bufferViews", []) or []:
            view["byteOffset"] = starts[view["buffer"]] + view.get("byteOffset", 0)
            view["buffer"] = 0
        self.buffers = buffers
        self.starts = starts

    def source(self, extension: dict[str, Any], placeholders: set[int], where: str) -> bytes:
        """The compressed bytes a meshopt extension object names (buffer, offset, length)."""
        buffer, offset = extension.get("buffer"), extension.get("byteOffset", 0)
        length = extension.get("byteLength")
        if not isinstance(buffer, int) or not 0 <= buffer < len(self.buffers) \
                or buffer in placeholders:
            raise CorruptFileError(f"{where}: meshopt data in buffer {buffer!r}, which has none")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 \
                or length < 0 or offset + length > len(self.buffers[buffer]):
            raise CorruptFileError(f"{where}: meshopt data reads past buffer {buffer}")
        start = self.starts[buffer] + offset
        return bytes(self.blob[start:start + length])

    def put(self, view_index: int, data: bytes) -> None:
        """Point buffer view ``view_index`` at ``data``, appended to the packed buffer."""
        self.blob += b"\0" * (-len(self.blob) % 4)
        view = self.tree["bufferViews"][view_index]
        view.update(byteOffset=len(self.blob), byteLength=len(data))
        self.blob += data

    def floats(self, index: int) -> np.ndarray:
        """Accessor ``index`` as a (count, width) float32 array, normalization applied."""
        accessor = self.tree["accessors"][index]
        component = accessor["componentType"]
        values = self._read(index).astype(np.float32)
        if accessor.get("normalized") and component in _NORMALIZE:
            values = np.maximum(values / np.float32(_NORMALIZE[component]), -1.0)
        return values

    def raw(self, index: int) -> np.ndarray:
        """Accessor ``index`` as a (count, width) array of its own component type, sparse
        substitutions applied (glTF 2.0, 3.6.2.3: no ``bufferView`` reads as zeros)."""
        return np.array(self._read(index))  # a copy: the packed buffer may grow after

    def _read(self, index: int) -> np.ndarray:
        """:meth:`raw`, possibly a view of the packed buffer."""
        accessor = self.tree["accessors"][index]
        dtype = np.dtype(_COMPONENTS[accessor["componentType"]])
        width, count = _WIDTH[accessor["type"]], int(accessor["count"])
        if "bufferView" in accessor:
            values = self._strided(index, accessor, dtype, width, count)
        else:
            values = np.zeros((count, width), dtype)
        if isinstance(accessor.get("sparse"), dict):
            values = values.copy()
            _apply_sparse(values, accessor, self, f"accessors[{index}].sparse")
        return values

    def _strided(self, index: int, accessor: dict[str, Any], dtype: np.dtype, width: int,
                 count: int) -> np.ndarray:
        """The rows an accessor reads from its buffer view (a view where possible)."""
        view = self.tree["bufferViews"][accessor["bufferView"]]
        start = view["byteOffset"] + accessor.get("byteOffset", 0)
        stride = view.get("byteStride") or dtype.itemsize * width
        end = start + stride * (count - 1) + dtype.itemsize * width if count else start
        if end > view["byteOffset"] + view["byteLength"] or end > len(self.blob):
            raise InvalidGeometryError(f"accessor {index} reads past its buffer view")
        size = dtype.itemsize
        if stride % size == 0 and start + stride * count <= len(self.blob):
            # whole rows of the stride readable (the common case): a view, then the columns
            return np.frombuffer(self.blob, dtype=dtype, count=count * (stride // size),
                                 offset=start).reshape(count, stride // size)[:, :width]
        return np.ascontiguousarray(np.lib.stride_tricks.as_strided(
            np.frombuffer(self.blob, dtype=np.uint8, count=end - start, offset=start),
            shape=(count, width * size), strides=(stride, 1))).view(dtype).reshape(count, width)

    def bytes_of(self, view_index: int, offset: int, dtype: np.dtype, count: int) -> np.ndarray:
        """``count`` tightly packed values of ``dtype`` from a buffer view (sparse data)."""
        view = self.tree["bufferViews"][view_index]
        start = view["byteOffset"] + offset
        if start + dtype.itemsize * count > min(view["byteOffset"] + view["byteLength"],
                                                len(self.blob)):
            raise InvalidGeometryError(f"sparse data reads past bufferViews[{view_index}]")
        return np.frombuffer(self.blob, dtype=dtype, count=count, offset=start).copy()

    def replace(self, index: int, values: np.ndarray, component: int = 5126,
                normalized: bool = False) -> None:
        """Turn accessor ``index`` into a tightly packed one (float32 unless told) of ``values``."""
        accessor = self.tree["accessors"][index]
        accessor.update(self._view(values, _COMPONENTS[component]), componentType=component,
                        normalized=normalized, byteOffset=0, count=len(values))
        accessor.pop("sparse", None)
        if "min" in accessor:
            # per column over a transposed copy: numpy's axis-0 reduction of an (N, 3) float32
            # array is ~15x slower, which shows on small files
            columns = np.ascontiguousarray(values.T)
            accessor["min"] = columns.min(axis=1).tolist()
            accessor["max"] = columns.max(axis=1).tolist()

    def image(self, data: bytes) -> int:
        """Add an image stored in a new buffer view (trimesh reads it with PIL); its index."""
        self.blob += b"\0" * (-len(self.blob) % 4)
        views = self.tree.setdefault("bufferViews", [])
        views.append({"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)})
        self.blob += data
        images = self.tree.setdefault("images", [])
        images.append({"bufferView": len(views) - 1, "mimeType": "image/x-tga"})
        return len(images) - 1

    def append(self, values: np.ndarray, kind: str, component: int = 5126) -> int:
        """Add a new accessor (float32 unless told) and return its index."""
        accessor = {"componentType": component, "count": len(values), "type": kind,
                    **self._view(values, _COMPONENTS[component])}
        self.tree.setdefault("accessors", []).append(accessor)
        return len(self.tree["accessors"]) - 1

    def _view(self, values: np.ndarray, dtype: str = "<f4") -> dict[str, int]:
        self.blob += b"\0" * (-len(self.blob) % 4)
        data = np.ascontiguousarray(values, dtype=dtype).tobytes()
        views = self.tree.setdefault("bufferViews", [])
        views.append({"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)})
        self.blob += data
        return {"bufferView": len(views) - 1}

    def glb(self) -> bytes:
        """The tree and the packed buffer as GLB bytes."""
        self.blob += b"\0" * (-len(self.blob) % 4)
        self.tree["buffers"] = [{"byteLength": len(self.blob)}]
        text = json.dumps(self.tree, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 4)
        total = _GLB_HEADER.size + 2 * _CHUNK.size + len(text) + len(self.blob)
        return b"".join([_GLB_HEADER.pack(b"glTF", 2, total), _CHUNK.pack(len(text), 0x4E4F534A),
                         text, _CHUNK.pack(len(self.blob), 0x004E4942), bytes(self.blob)])


def _apply_sparse(values: np.ndarray, accessor: dict[str, Any], writer: _Writer,
                  where: str) -> None:
    """Overwrite the rows a sparse accessor substitutes (glTF 2.0, 3.6.2.3 "Sparse Accessors":
    ``count`` indices, strictly increasing, and as many values of the accessor's type)."""
    sparse = accessor["sparse"]
    try:
        count = int(sparse["count"])
        indices, substitutes = sparse["indices"], sparse["values"]
        rows = writer.bytes_of(indices["bufferView"], indices.get("byteOffset", 0),
                               np.dtype(_COMPONENTS[indices["componentType"]]), count)
        new = writer.bytes_of(substitutes["bufferView"], substitutes.get("byteOffset", 0),
                              values.dtype, count * values.shape[1])
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise CorruptFileError(f"{where} cannot be read: {type(exc).__name__} {exc}") from exc
    rows = rows.astype(np.int64)
    if count and (rows.min() < 0 or rows.max() >= len(values)):
        raise InvalidGeometryError(f"{where}: index out of range [{rows.min()}, {rows.max()}] "
                                   f"for {len(values)} elements")
    values[rows] = new.reshape(count, values.shape[1])
