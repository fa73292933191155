"""Validate a glTF 2.0 file's JSON before trimesh reads it.

trimesh follows buffer URIs, walks the node graph recursively and fills undecodable Draco data
with zeros. Each of those is a way for one hostile or broken asset to read files outside its
folder, hang a worker, or yield silent garbage. This module reads only the JSON (the ``.gltf``
text or the JSON chunk of a ``.glb``) and refuses such files with a typed error; nothing the JSON
references is opened here.

Missing *images* are tolerated on purpose: meshprep keeps geometry only and loads glTF with
``skip_materials=True``, so a texture is never read. Their URIs are still checked for safety, so a
hostile image URI refuses the file like a hostile buffer URI does.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import urllib.parse
from pathlib import Path
from typing import Any

from meshprep.errors import (
    CorruptFileError,
    MissingCompanionError,
    SceneGraphError,
    UnsafePathError,
    UnsupportedFormatError,
)
from meshprep.io._paths import resolve_inside

_GLB_MAGIC = b"glTF"
_CHUNK_JSON = 0x4E4F534A
_DRACO = "KHR_draco_mesh_compression"
#: extensions a file may list in ``extensionsRequired`` and still load: the ones meshprep (or
#: trimesh under it) implements, and two whose content nothing meshprep reads depends on (file
#: lights; material variants, where the default material is the spec's answer). The glTF spec
#: says a loader must not load a file requiring anything else: its data would be read wrong.
HONOURED_REQUIRED: frozenset[str] = frozenset({
    _DRACO,                                # DracoPy (meshprep.io.gltf_decode)
    "EXT_meshopt_compression",             # meshprep.io.meshopt
    "KHR_meshopt_compression",
    "KHR_mesh_quantization",               # normalized integer accessors (gltf_decode)
    "KHR_texture_basisu",                  # meshprep.io.gltf_textures (KTX2)
    "GOOGLE_texture_basis",                # gltf_textures: warned, the factor drawn
    "EXT_texture_webp",                    # trimesh
    "KHR_texture_transform",               # meshprep.io.appearance
    "KHR_materials_pbrSpecularGlossiness",  # trimesh, converted to metallic-roughness
    "KHR_materials_emissive_strength",     # meshprep.io.appearance
    "EXT_mesh_gpu_instancing",             # meshprep.io.gltf_decode
    "KHR_node_visibility",                 # meshprep.io.gltf_decode
    "KHR_lights_punctual",                 # ignored: renders light the scene themselves
    "KHR_materials_variants",              # ignored: the default materials are used
})


def read_gltf_json(path: Path) -> dict[str, Any]:
    """Read the JSON document of a ``.gltf`` or ``.glb`` file.

    Parameters
    ----------
    path : Path
        The glTF file.

    Returns
    -------
    dict
        The parsed JSON tree.

    Raises
    ------
    CorruptFileError
        If the GLB header or chunk lengths do not match the file, or the JSON does not parse.
    UnsupportedFormatError
        If the GLB container is not version 2.
    """
    if path.suffix.lower() == ".glb":
        raw = _glb_json_bytes(path)
    else:
        raw = path.read_bytes()
    try:
        tree = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path.name}: glTF JSON does not parse: {exc}") from exc
    if not isinstance(tree, dict):
        raise CorruptFileError(f"{path.name}: glTF JSON is not an object")
    return tree


def _glb_json_bytes(path: Path) -> bytes:
    """Return the JSON chunk of a GLB after checking the container header against the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(20)
        if len(head) < 20:
            raise CorruptFileError(f"{path.name}: truncated GLB header ({len(head)} bytes)")
        magic, version, length, chunk_length, chunk_type = struct.unpack("<4sIIII", head)
        if magic != _GLB_MAGIC:
            raise CorruptFileError(f"{path.name}: not a GLB file (bad magic {magic!r})")
        if version != 2:
            raise UnsupportedFormatError(f"{path.name}: GLB version {version} (only 2 is read)")
        # a file cut short is the common corruption: the header still states the full length
        if size < length:
            raise CorruptFileError(
                f"{path.name}: truncated GLB: header declares {length} bytes, file has {size}"
            )
        if chunk_type != _CHUNK_JSON or 20 + chunk_length > length:
            raise CorruptFileError(f"{path.name}: GLB has no valid JSON chunk")
        return f.read(chunk_length)


def validate_gltf(path: Path, tree: dict[str, Any], jail: Path | None = None) -> None:
    """Refuse a glTF whose references or node graph are unsafe or broken.

    Parameters
    ----------
    path : Path
        The glTF file (its folder is the base for relative URIs).
    tree : dict
        Its JSON, from :func:`read_gltf_json`.
    jail : Path, optional
        Folder references must stay inside; defaults to the file's folder.

    Raises
    ------
    UnsafePathError
        A buffer or image URI is a URL, absolute, or leaves the folder.
    MissingCompanionError
        A buffer file is not there.
    SceneGraphError
        The node graph has a cycle, a node with two parents, or an index out of range.
    UnsupportedFormatError
        The geometry is compressed with an extension this build cannot decode.
    CorruptFileError
        A top-level array has the wrong type.
    """
    base = path.parent
    for i, buffer in enumerate(_array(tree, "buffers", path)):
        target = _checked_uri(buffer, base, jail, f"buffers[{i}]", path)
        if target is not None and not target.is_file():
            uri = urllib.parse.unquote(buffer["uri"])
            raise MissingCompanionError(f"{path.name}: buffer file '{uri}' not found")
    for i, image in enumerate(_array(tree, "images", path)):
        # a missing texture is fine (geometry only), an unsafe one is not
        _checked_uri(image, base, jail, f"images[{i}]", path)
    check_node_graph(tree, path.name)
    _check_extensions(tree, path.name)


def _array(tree: dict[str, Any], key: str, path: Path) -> list[Any]:
    """Return ``tree[key]`` as a list of objects (empty when absent)."""
    value = tree.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise CorruptFileError(f"{path.name}: glTF '{key}' is not an array of objects")
    return value


def _checked_uri(
    entry: dict[str, Any], base: Path, jail: Path | None, where: str, path: Path
) -> Path | None:
    """Return the confined file path a ``uri`` names, or None for embedded / GLB-chunk data."""
    uri = entry.get("uri")
    if uri is None:
        # no uri: the data lives in the GLB binary chunk or a bufferView
        return None
    if not isinstance(uri, str):
        raise CorruptFileError(f"{path.name}: {where}.uri is not a string")
    if uri.startswith("data:"):
        # trimesh decodes only base64 data URIs and would hand anything else to the resolver
        if ";base64," not in uri[:200]:
            raise CorruptFileError(f"{path.name}: {where} has a data URI that is not base64")
        return None
    try:
        return resolve_inside(base, urllib.parse.unquote(uri), jail)
    except UnsafePathError as exc:
        # name the file and the field so the one-line message is actionable
        raise UnsafePathError(f"{path.name}: {where}: {exc}") from exc


def check_node_graph(tree: dict[str, Any], name: str = "glTF") -> None:
    """Check that ``nodes[].children`` forms a forest and every index is in range.

    Parameters
    ----------
    tree : dict
        The glTF JSON.
    name : str
        File name for messages.

    Raises
    ------
    SceneGraphError
        On a child index out of range, a node with two parents, a node cycle, or a scene / mesh
        index out of range.
    """
    nodes = tree.get("nodes", [])
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        raise SceneGraphError(f"{name}: 'nodes' is not an array of objects")
    parent = _parents(nodes, name)
    _find_cycle(parent, name)
    _check_node_meshes(nodes, tree, name)
    _check_scene_roots(tree, len(nodes), name)


def _is_index(value: Any, count: int) -> bool:
    """True when ``value`` is an int (not a bool) in ``range(count)``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count


def _parents(nodes: list[dict[str, Any]], name: str) -> list[int]:
    """Map each node to its parent (-1 for roots), refusing bad or shared children."""
    parent = [-1] * len(nodes)
    for i, node in enumerate(nodes):
        children = node.get("children", [])
        if not isinstance(children, list):
            raise SceneGraphError(f"{name}: node {i} children is not an array")
        for child in children:
            if not _is_index(child, len(nodes)):
                raise SceneGraphError(
                    f"{name}: node {i} has child {child!r} out of range ({len(nodes)} nodes)"
                )
            if child == i:
                raise SceneGraphError(f"{name}: node cycle: node {i} is its own child")
            if parent[child] != -1:
                raise SceneGraphError(
                    f"{name}: node {child} has two parents ({parent[child]} and {i})"
                )
            parent[child] = i
    return parent


def _find_cycle(parent: list[int], name: str) -> None:
    """Raise on a cycle; with one parent per node a cycle is a parent chain that loops."""
    # 0: unvisited, 1: on the chain being walked, 2: known to reach a root
    state = [0] * len(parent)
    for start in range(len(parent)):
        chain = []
        node = start
        while node != -1 and state[node] == 0:
            state[node] = 1
            chain.append(node)
            node = parent[node]
        if node != -1 and state[node] == 1:
            loop = chain[chain.index(node) :][::-1]
            text = " -> ".join(str(n) for n in [*loop, loop[0]])
            raise SceneGraphError(f"{name}: node cycle {text}")
        for visited in chain:
            state[visited] = 2


def _check_node_meshes(nodes: list[dict[str, Any]], tree: dict[str, Any], name: str) -> None:
    """Refuse a node that references a mesh index that does not exist."""
    meshes = tree.get("meshes", [])
    count = len(meshes) if isinstance(meshes, list) else 0
    for i, node in enumerate(nodes):
        if "mesh" in node and not _is_index(node["mesh"], count):
            raise SceneGraphError(f"{name}: node {i} references missing mesh {node['mesh']!r}")


def _check_scene_roots(tree: dict[str, Any], count: int, name: str) -> None:
    """Refuse scenes whose root node indices (or the default scene index) are out of range."""
    scenes = tree.get("scenes", [])
    if not isinstance(scenes, list):
        raise SceneGraphError(f"{name}: 'scenes' is not an array")
    for s, scene in enumerate(scenes):
        roots = scene.get("nodes", []) if isinstance(scene, dict) else None
        if not isinstance(roots, list) or not all(_is_index(r, count) for r in roots):
            raise SceneGraphError(f"{name}: scene {s} has a root node index out of range")
    if "scene" in tree and not _is_index(tree["scene"], len(scenes)):
        raise SceneGraphError(f"{name}: default scene {tree['scene']!r} does not exist")


def _check_extensions(tree: dict[str, Any], name: str) -> None:
    """Refuse a file that requires an extension meshprep does not implement, or Draco
    geometry without DracoPy (trimesh would silently read zeros)."""
    required = tree.get("extensionsRequired", []) or []
    required = required if isinstance(required, list) else [required]
    missing = sorted({str(ext) for ext in required} - HONOURED_REQUIRED)
    if missing:
        raise UnsupportedFormatError(
            f"{name}: glTF requires {', '.join(missing)}, which meshprep does not implement "
            "(the glTF spec forbids loading a file without its required extensions)")
    used = set(tree.get("extensionsUsed", []) or []) | set(required)
    if _DRACO in used and importlib.util.find_spec("DracoPy") is None:
        raise UnsupportedFormatError(
            f"{name}: glTF uses {_DRACO}, which needs DracoPy (not installed)"
        )
