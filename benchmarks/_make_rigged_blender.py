"""A rigged test asset made in Blender for the rig benchmarks: ``python _make_rigged_blender.py
OUT.glb [BONES] [RINGS]``.

A capsule-like tube (a cylinder of ``RINGS`` rings of 64 vertices, 2 units long) skinned to a
chain of ``BONES`` bones along it with Blender's automatic weights, the chain bent at its first
keyframe (each bone turned 10 degrees about X), exported as a skinned, animated GLB: one
skeleton root, as the trainers' extraction scripts expect.
"""

from __future__ import annotations

import math
import sys

import bpy


def tube_object(rings: int, around: int = 64, radius: float = 0.15) -> bpy.types.Object:
    """A closed tube from z = 0 to 2: ``rings`` rings of ``around`` vertices, capped."""
    verts = [(radius * math.cos(2 * math.pi * k / around),
              radius * math.sin(2 * math.pi * k / around), 2.0 * r / (rings - 1))
             for r in range(rings) for k in range(around)]
    faces = [(r * around + k, r * around + (k + 1) % around,
              (r + 1) * around + (k + 1) % around, (r + 1) * around + k)
             for r in range(rings - 1) for k in range(around)]
    faces += [tuple(reversed(range(around))), tuple((rings - 1) * around + k
                                                    for k in range(around))]
    mesh = bpy.data.meshes.new("tube")
    mesh.from_pydata(verts, [], faces)
    tube = bpy.data.objects.new("tube", mesh)
    bpy.context.scene.collection.objects.link(tube)
    return tube


def main(out: str, bones: int = 20, rings: int = 160) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    tube = tube_object(rings)
    bpy.ops.object.armature_add(location=(0, 0, 0))
    armature = bpy.context.active_object
    bpy.ops.object.mode_set(mode="EDIT")
    edit = armature.data.edit_bones
    first = edit[0]
    first.head, first.tail = (0, 0, 0), (0, 0, 2.0 / bones)
    parent = first
    for i in range(1, bones):
        bone = edit.new(f"Bone.{i:03d}")
        bone.head, bone.tail = parent.tail, (0, 0, 2.0 * (i + 1) / bones)
        bone.parent, bone.use_connect = parent, True
        parent = bone
    bpy.ops.object.mode_set(mode="OBJECT")
    tube.select_set(True)
    armature.select_set(True)
    bpy.context.view_layer.objects.active = armature
    bpy.ops.object.parent_set(type="ARMATURE_AUTO")
    bpy.ops.object.mode_set(mode="POSE")
    for bone in armature.pose.bones:
        bone.rotation_mode = "XYZ"
        bone.rotation_euler = (math.radians(10), 0, 0)
        bone.keyframe_insert("rotation_euler", frame=1)
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.ops.export_scene.gltf(filepath=out, export_format="GLB", export_skins=True,
                              export_animations=True, export_all_influences=True)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
