"""Read one FBX file with ufbx, in a process of its own: ``python fbx_worker.py IN.fbx OUT.npz``.

Run by :func:`meshprep.io.fbx.read_fbx` with ``python -P`` (this folder's modules must not
shadow anything numpy or ufbx imports; the worker needs only the standard library, numpy and
ufbx). The ufbx Python bindings (0.0.x) are early: a scene element
reached twice is handed out without a new reference, and freeing a scene (``with``,
``Scene.free``) or an animation stack's ``anim`` frees it a second time. Here every wrapper
reached is kept referenced until the process ends with :func:`os._exit`, so nothing of the scene
is ever freed; a crash all the same costs this process only.

The scene is read in meshprep's convention for FBX (the one the Blender route gives: Blender
imports the file's axes and units, its glTF exporter writes Y-up metres): right-handed, +Y up,
+Z front, metres. Animated files are evaluated at the start of their active animation, skinning
applied. Each mesh instance is written as ``v{i}`` (vertex positions ``(N, 3)``), ``f{i}``
(triangles ``(M, 3)``), ``t{i}`` (4x4 to world; identity when the positions are already posed
in world space), ``c{i}`` (per-triangle RGBA base colour) and ``n{i}`` (the node's name);
``meta`` is a JSON string (FBX version, ASCII or binary, creator).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

#: every ufbx wrapper reached, referenced until the process exits (see the module docstring)
_KEEP: list[Any] = []


def _held(obj: Any) -> Any:
    """Keep ``obj`` referenced for the life of the process and return it."""
    _KEEP.append(obj)
    return obj


def read(path: str) -> dict[str, np.ndarray]:
    """Read ``path`` into the arrays the worker writes (see the module docstring)."""
    import ufbx

    scene = _held(ufbx.load_file(path, target_axes=ufbx.axes_right_handed_y_up,
                                 target_unit_meters=1.0, load_external_files=False,
                                 ignore_embedded=True))
    meta = _held(scene.metadata)
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(
        {"version": int(meta.version), "ascii": bool(meta.ascii), "creator": str(meta.creator)}))}
    posed = _first_frame(scene)
    index = 0
    for mesh in _held(posed.meshes):
        part = _mesh_arrays(_held(mesh))
        for node in _held(mesh.instances) if part is not None else ():
            arrays.update(_instance(part, _held(node), mesh, index))
            index += 1
    return arrays


def _first_frame(scene: Any) -> Any:
    """The scene posed at the start of its active animation (the scene itself without one)."""
    if not len(_held(scene.anim_stacks)):
        return scene
    anim = _held(scene.anim)
    return _held(scene.evaluate(anim, float(anim.time_begin), evaluate_skinning=True))


def _mesh_arrays(mesh: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(positions, triangles, colours)`` of a mesh, None for one without polygons."""
    position = _held(mesh.skinned_position)
    values = np.array(position.values, dtype=np.float64).reshape(-1, 3)
    corners = np.array(position.indices, dtype=np.int64)
    faces = np.array(mesh.faces, dtype=np.int64).reshape(-1, 2)
    triangles, owner = _fan(faces)
    if len(triangles) == 0:
        return None
    return values, corners[triangles], _face_colors(mesh, owner)


def _fan(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fan-triangulate polygons given as ``(first corner, corner count)`` rows.

    Returns the triangles' corner indices ``(T, 3)`` and the polygon each came from. Polygons
    with fewer than 3 corners (points, lines) give none.
    """
    counts = np.maximum(faces[:, 1] - 2, 0)
    owner = np.repeat(np.arange(len(faces)), counts)
    first = np.cumsum(counts) - counts
    k = np.arange(len(owner)) - first[owner] + 1
    start = faces[owner, 0]
    return np.stack([start, start + k, start + k + 1], axis=1), owner


def _face_colors(mesh: Any, owner: np.ndarray) -> np.ndarray:
    """Per-triangle RGBA base colour (white where a face has no material)."""
    palette = [_base_color(_held(material)) for material in _held(mesh.materials)]
    if not palette:
        return np.ones((len(owner), 4), np.float32)
    face_material = np.array(mesh.face_material, dtype=np.int64)
    table = np.vstack([np.ones((1, 4), np.float32), np.array(palette, np.float32)])
    slot = np.where(face_material < len(palette), face_material + 1, 0)
    return table[slot[owner]]


def _base_color(material: Any) -> list[float]:
    """A material's base colour times its base factor, RGBA in [0, 1]."""
    pbr = _held(material.pbr)
    color = _held(pbr.base_color)
    factor = _held(pbr.base_factor)
    rgba = list(color.value_vec4) if color.has_value else [1.0, 1.0, 1.0, 1.0]
    if factor.has_value:
        rgba[:3] = [c * float(factor.value_vec4[0]) for c in rgba[:3]]
    return [min(max(float(c), 0.0), 1.0) for c in rgba]


def _instance(part: tuple[np.ndarray, np.ndarray, np.ndarray], node: Any, mesh: Any,
              index: int) -> dict[str, np.ndarray]:
    """The arrays of one instance of a mesh under ``node``."""
    positions, triangles, colors = part
    if mesh.skinned_is_local:
        to_world = np.eye(4)
        to_world[:3, :] = np.array(node.geometry_to_world, dtype=np.float64).reshape(4, 3).T
    else:
        to_world = np.eye(4)  # skinned: the posed positions are in world space already
    return {f"v{index}": positions, f"f{index}": triangles, f"t{index}": to_world,
            f"c{index}": colors, f"n{index}": np.array(str(node.name) or f"mesh{index}")}


def main(argv: list[str]) -> int:
    """Read ``argv[1]``, write ``argv[2]`` (npz); on failure one line on stderr, status 1."""
    try:
        arrays = read(argv[1])
        with open(argv[2], "wb") as f:
            np.savez(f, **arrays)
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        sys.stderr.write(f"{type(exc).__name__}: {text}\n")
        return 1
    return 0


if __name__ == "__main__":
    status = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # never free the scene (see the module docstring)
