"""Blender side of bench_rigs.py: import each glTF or FBX, go to its first frame, save its rig.

Run by Blender's Python (``python _rigs_blender.py OUT FILE...``), never imported by meshprep.
Per file, ``OUT/<stem>.npz`` holds Blender's own reading in glTF's Y-up axes (x, z, -y):
``names`` (bones), ``heads`` (posed bone heads, world), ``vertices`` (the evaluated, posed
mesh vertices, world, every mesh object in turn) and ``weights`` (their vertex-group weights
per bone, ``(V, J)``, as stored).
"""

from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np

# Blender's Z-up world -> glTF's Y-up: (x, y, z) -> (x, z, -y)
TO_GLTF = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])


def first_frame() -> None:
    """Go to the first keyframe of any imported action (the file's frame 0)."""
    starts = [action.frame_range[0] for action in bpy.data.actions]
    bpy.context.scene.frame_set(int(min(starts)) if starts else bpy.context.scene.frame_current)


def bones() -> tuple[list[str], np.ndarray]:
    """Posed heads of every armature's bones, world."""
    names, heads = [], []
    for obj in bpy.context.scene.objects:
        if obj.type != "ARMATURE":
            continue
        for bone in obj.pose.bones:
            names.append(bone.name)
            heads.append(np.array(obj.matrix_world @ bone.head))
    return names, np.array(heads).reshape(-1, 3)


def skinned_meshes(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Posed world vertices of every mesh object and their weights per bone."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    column = {name: j for j, name in enumerate(names)}
    shapes = {bone.custom_shape for obj in bpy.context.scene.objects if obj.type == "ARMATURE"
              for bone in obj.pose.bones}
    vertices, weights = [], []
    for obj in bpy.context.scene.objects:
        if obj.type != "MESH" or obj in shapes:
            continue  # the importer's bone display shapes are not the file's meshes
        evaluated = obj.evaluated_get(depsgraph).to_mesh()
        world = np.array(obj.matrix_world)
        co = np.array([v.co for v in evaluated.vertices]).reshape(-1, 3)
        vertices.append(co @ world[:3, :3].T + world[:3, 3])
        obj.evaluated_get(depsgraph).to_mesh_clear()
        rows = np.zeros((len(obj.data.vertices), len(names)))
        groups = {g.index: g.name for g in obj.vertex_groups}
        for v in obj.data.vertices:
            for g in v.groups:
                if groups.get(g.group) in column:
                    rows[v.index, column[groups[g.group]]] = g.weight
        weights.append(rows)
    return np.concatenate(vertices), np.concatenate(weights)


def main(out: Path, files: list[str]) -> None:
    for file in files:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        if file.lower().endswith(".fbx"):
            bpy.ops.wm.fbx_import(filepath=file)  # the importer meshprep's Blender backend uses
        else:
            bpy.ops.import_scene.gltf(filepath=file)
        first_frame()
        names, heads = bones()
        vertices, weights = skinned_meshes(names)
        np.savez(out / f"{Path(file).stem}.npz", names=np.array(names, dtype=str),
                 heads=heads @ TO_GLTF.T, vertices=vertices @ TO_GLTF.T, weights=weights)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
