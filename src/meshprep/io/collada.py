"""COLLADA geometry that trimesh's reader drops: skinned meshes and instances with broken
material bindings.

trimesh walks ``<instance_geometry>`` only, and pycollada drops an instance whose
``<bind_material>`` names a material that is not in the library. This module walks the visual
scene itself and places, by the node's world transform:

* every ``<instance_geometry>``'s triangles, whatever its material bindings say;
* every ``<instance_controller>``: a ``<skin>``'s source geometry in its **bind pose** (the
  skin's ``bind_shape_matrix``, then the node's transform; joints are not evaluated, so an
  animation's first frame is not posed), a ``<morph>``'s base geometry.

:func:`completed` decides cheaply whether trimesh's scene can have missed anything and only
then parses the file again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

_EYE = np.eye(4)
# nodes nested deeper than this are hostile (instance_node cycles)
_MAX_DEPTH = 256


def completed(path: Path, scene: trimesh.Scene) -> trimesh.Scene:
    """trimesh's scene of a COLLADA file, or this module's when trimesh's misses instances.

    Parameters
    ----------
    path : Path
        The ``.dae`` file (its prolog already checked for entities).
    scene : trimesh.Scene
        What trimesh read from it.

    Returns
    -------
    trimesh.Scene
        ``scene`` when it places as many geometry instances as the file has
        ``<instance_geometry>`` elements and the file has no ``<instance_controller>``;
        otherwise this module's scene when it holds more triangles (geometry only: the
        look of its parts is plain).
    """
    data = path.read_bytes()
    expected = data.count(b"<instance_geometry")
    placed = len(scene.graph.nodes_geometry)
    if b"<instance_controller" not in data and placed >= expected:
        return scene
    ours = read_collada(path)
    return ours if _triangles(ours) > _triangles(scene) else scene


def _triangles(scene: trimesh.Scene) -> int:
    """Triangles a scene places (each instance counted)."""
    total = 0
    for node in scene.graph.nodes_geometry:
        geometry = scene.geometry.get(scene.graph[node][1])
        if isinstance(geometry, trimesh.Trimesh):
            total += len(geometry.faces)
    return total


def read_collada(path: Path) -> trimesh.Scene:
    """Every geometry and controller instance of a COLLADA file's scene, geometry only.

    Parameters
    ----------
    path : Path
        The ``.dae`` file.

    Returns
    -------
    trimesh.Scene
        One geometry per instance, with its node's world transform (for a skin, times its
        ``bind_shape_matrix``).
    """
    import collada

    ignored = [collada.common.DaeError, collada.common.DaeIncompleteError,
               collada.common.DaeMalformedError, collada.common.DaeBrokenRefError,
               collada.common.DaeUnsupportedError]
    with open(path, "rb") as f:
        document = collada.Collada(f, ignore=ignored)
    scene = trimesh.Scene()
    if document.scene is not None:
        for node in document.scene.nodes:
            _walk(document, node, _EYE, scene, 0)
    return scene


def _walk(document, node, parent: np.ndarray, scene: trimesh.Scene, depth: int) -> None:
    """Place the instances of one pycollada node and its child nodes."""
    import collada

    if depth > _MAX_DEPTH or not isinstance(node, collada.scene.Node):
        return
    world = parent @ np.asarray(node.matrix, dtype=np.float64)
    # an <instance_node> (NodeNode) shares the referenced node's XML
    element = node.node.xmlnode if isinstance(node, collada.scene.NodeNode) else node.xmlnode
    for child in element:
        tag = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
        if tag in ("instance_geometry", "instance_controller"):
            _place(document, tag, child.get("url") or "", world, scene)
    for child in node.children:
        _walk(document, child, world, scene, depth + 1)


def _place(document, tag: str, url: str, world: np.ndarray, scene: trimesh.Scene) -> None:
    """Add the geometry an instance element references, if it resolves."""
    import collada

    key = url[1:] if url.startswith("#") else url
    if tag == "instance_geometry":
        geometry, matrix = document.geometries.get(key), world
    else:
        controller = document.controllers.get(key)
        if isinstance(controller, collada.controller.Skin):
            bind = np.asarray(controller.bind_shape_matrix, dtype=np.float64).reshape(4, 4)
            geometry, matrix = controller.geometry, world @ bind
        elif isinstance(controller, collada.controller.Morph):
            geometry, matrix = controller.source_geometry, world
        else:
            return
    if geometry is None:
        return
    mesh = _mesh(geometry)
    if mesh is not None:
        scene.add_geometry(mesh, geom_name=geometry.id or key, transform=matrix)


def _mesh(geometry) -> trimesh.Trimesh | None:
    """The triangles of a pycollada geometry (polylists and polygons as fans), one mesh."""
    import collada

    vertices: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    offset = 0
    for primitive in geometry.primitives:
        if isinstance(primitive, collada.polylist.Polylist):
            primitive = primitive.triangleset()
        if not isinstance(primitive, collada.triangleset.TriangleSet):
            continue  # lines
        if primitive.vertex is None or len(primitive.vertex_index) == 0:
            continue
        v = np.asarray(primitive.vertex, dtype=np.float64).reshape(-1, 3)
        f = np.asarray(primitive.vertex_index, dtype=np.int64).reshape(-1, 3)
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    if not faces:
        return None
    return trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False,
                           validate=False)
