# ruff: noqa: I001 (bmesh is importable only once bpy is)
"""Blender side of bench_conformance.py: build scenes, export glTF variants, save expectations.

Run by Blender's Python (``python _conformance_blender.py OUT``), never imported by meshprep.
Each expectation is Blender's own evaluated, triangulated world-space mesh at the exported frame,
in glTF's Y-up axes (x, z, -y), saved as ``<scene>.<pose>.npz`` (``vertices``, ``faces``);
``manifest.json`` lists every exported file with its scene, expectation and tolerance.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import bpy
import bmesh
import numpy as np

OUT = Path(sys.argv[-1])


def reset() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, 20


def mesh_object(name: str, builder, **kwargs) -> bpy.types.Object:
    """A new object whose mesh ``builder(bm, **kwargs)`` fills."""
    me = bpy.data.meshes.new(name)
    bm = bmesh.new()
    builder(bm, **kwargs)
    bm.to_mesh(me)
    bm.free()
    obj = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def cube(bm, size=1.0):
    bmesh.ops.create_cube(bm, size=size)


def cylinder(bm, segments=12, depth=2.0, cuts=6):
    bmesh.ops.create_cone(bm, cap_ends=True, segments=segments, radius1=0.4, radius2=0.4,
                          depth=depth)
    edges = [e for e in bm.edges if abs(e.verts[0].co.z - e.verts[1].co.z) > 1e-6]
    bmesh.ops.subdivide_edges(bm, edges=edges, cuts=cuts)


def sphere(bm):
    bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=1.0)


def textured_material(extension: str) -> bpy.types.Material:
    """A base-colour image texture with a wrap mode and a scaled mapping."""
    image = bpy.data.images.new("checker", 8, 8)
    pixels = np.indices((8, 8)).sum(axis=0) % 2
    rgba = np.repeat(pixels.reshape(-1, 1), 4, axis=1).astype(np.float32)
    rgba[:, 3] = 1
    image.pixels = rgba.ravel().tolist()
    image.pack()
    mat = bpy.data.materials.new("textured")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    tex = nodes.new("ShaderNodeTexImage")
    tex.image, tex.extension = image, extension
    links.new(tex.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    return mat


def static_scene() -> None:
    """Parents, mirroring scales, modifiers, linked duplicates, colours, custom normals."""
    reset()
    root = bpy.data.objects.new("root", None)
    bpy.context.scene.collection.objects.link(root)
    root.location, root.rotation_euler = (1, 2, 0.5), (0.3, 0, 0.7)
    a = mesh_object("subdivided", cube)
    a.parent, a.location = root, (0, 0, 1)
    a.modifiers.new("subsurf", "SUBSURF").levels = 1
    a.data.materials.append(textured_material("EXTEND"))
    colors = a.data.color_attributes.new("Col", "BYTE_COLOR", "CORNER")
    colors.data.foreach_set("color", np.random.default_rng(0).random(
        4 * len(colors.data)).astype(np.float32))
    a.data.uv_layers.new(name="UVMap")
    b = mesh_object("mirrored", cylinder)
    b.parent, b.location, b.scale = a, (2, 0, 0), (-1, 1, 1.5)
    b.data.normals_split_custom_set_from_vertices(
        [(0.0, 0.0, 1.0)] * len(b.data.vertices))
    c = mesh_object("arrayed", cube, size=0.5)
    c.location, c.scale = (-3, 0, 0), (1, -2, 1)
    array = c.modifiers.new("array", "ARRAY")
    array.count, array.relative_offset_displace = 3, (1.2, 0, 0)
    mirror = c.modifiers.new("mirror", "MIRROR")
    mirror.use_axis = (False, True, False)
    mirror.mirror_offset_v = 0
    c.modifiers[-1].use_mirror_merge = False
    shared = mesh_object("linked", cube, size=0.3)
    for i in range(3):  # linked duplicates: one glTF mesh used by three nodes
        dup = shared if i == 0 else shared.copy()
        if i:
            bpy.context.scene.collection.objects.link(dup)
        dup.location = (0, -3, i * 0.8)
        dup.rotation_euler = (0, 0, i * 0.4)


def morph_scene() -> None:
    """Shape keys at non-zero values under a non-uniformly scaled parent."""
    reset()
    obj = mesh_object("morphed", sphere)
    parent = bpy.data.objects.new("parent", None)
    bpy.context.scene.collection.objects.link(parent)
    parent.scale, parent.location = (1, 2, 0.5), (0, 0, 1)
    obj.parent = parent
    obj.shape_key_add(name="Basis")
    for name, value, axis in (("stretch", 0.7, 2), ("bulge", 0.3, 0)):
        key = obj.shape_key_add(name=name)
        co = np.array([v.co[:] for v in key.data])
        co[:, axis] *= 1.8
        co[:, 1] += 0.2 * (axis == 0)
        key.data.foreach_set("co", co.ravel())
        key.value = value


def skin_scene() -> None:
    """A two-bone armature (non-uniformly scaled) posed at frame 1 by an action."""
    reset()
    arm_data = bpy.data.armatures.new("rig")
    arm = bpy.data.objects.new("rig", arm_data)
    bpy.context.scene.collection.objects.link(arm)
    arm.scale, arm.location = (1.0, 1.5, 1.0), (0.5, 0, 0)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    lower = arm_data.edit_bones.new("lower")
    lower.head, lower.tail = (0, 0, -1), (0, 0, 0)
    upper = arm_data.edit_bones.new("upper")
    upper.head, upper.tail, upper.parent = (0, 0, 0), (0, 0, 1), lower
    bpy.ops.object.mode_set(mode="OBJECT")
    body = mesh_object("body", cylinder)
    body.parent = arm
    mod = body.modifiers.new("rig", "ARMATURE")
    mod.object = arm
    for name in ("lower", "upper"):
        group = body.vertex_groups.new(name=name)
        for v in body.data.vertices:
            weight = min(max((v.co.z + 0.5) if name == "upper" else (0.5 - v.co.z), 0), 1)
            if weight > 0:
                group.add([v.index], weight, "REPLACE")
    bone = arm.pose.bones["upper"]
    bone.rotation_mode = "XYZ"
    for frame, angle in ((1, 0.8), (10, -0.5)):
        bone.rotation_euler = (angle, 0, 0.3 * angle)
        bone.keyframe_insert("rotation_euler", frame=frame)
    arm.pose.bones["lower"].location = (0.2, 0, 0)
    arm.pose.bones["lower"].keyframe_insert("location", frame=1)


def object_animation_scene() -> None:
    """A keyframed transform (a child follows it) plus a still object."""
    reset()
    mover = mesh_object("mover", cube)
    for frame, loc, rot in ((1, (2, 0, 0), (0, 0, 0.6)), (10, (5, 1, 0), (0.4, 0, 0))):
        mover.location, mover.rotation_euler = loc, rot
        mover.keyframe_insert("location", frame=frame)
        mover.keyframe_insert("rotation_euler", frame=frame)
    child = mesh_object("rider", cube, size=0.4)
    child.parent, child.location, child.scale = mover, (0, 0, 1.2), (1, 1, -1)
    mesh_object("still", sphere).location = (-3, 0, 0)


def expected(name: str, rest: bool = False, keys_off: bool = False) -> str:
    """Save the evaluated world-space triangles of every mesh object (Y-up); the file name."""
    scene = bpy.context.scene
    scene.frame_set(1)
    armatures = [o for o in scene.objects if o.type == "ARMATURE"]
    for arm in armatures:
        arm.data.pose_position = "REST" if rest else "POSE"
    saved = {}
    if keys_off:
        for o in scene.objects:
            if o.type == "MESH" and o.data.shape_keys:
                for k in o.data.shape_keys.key_blocks:
                    saved[(o.name, k.name)] = k.value
                    k.value = 0
    bpy.context.view_layer.update()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    vertices, faces, offset = [], [], 0
    for obj in scene.objects:
        if obj.type != "MESH":
            continue
        evaluated = obj.evaluated_get(depsgraph)
        me = evaluated.to_mesh()
        me.calc_loop_triangles()
        co = np.array([evaluated.matrix_world @ v.co for v in me.vertices], np.float64)
        tris = np.array([t.vertices[:] for t in me.loop_triangles], np.int64).reshape(-1, 3)
        if np.linalg.det(np.array(evaluated.matrix_world)[:3, :3]) < 0:
            tris = tris[:, ::-1]
        vertices.append(co)
        faces.append(tris + offset)
        offset += len(co)
        evaluated.to_mesh_clear()
    for arm in armatures:
        arm.data.pose_position = "POSE"
    for (obj, key), value in saved.items():
        scene.objects[obj].data.shape_keys.key_blocks[key].value = value
    v = np.concatenate(vertices)
    file = f"{name}.{'rest' if rest else 'frame1'}{'.nokeys' if keys_off else ''}.npz"
    np.savez(OUT / file, vertices=np.c_[v[:, 0], v[:, 2], -v[:, 1]], faces=np.concatenate(faces))
    return file


def export(manifest: list, scene: str, variant: str, expectation: str, tolerance: float,
           **options) -> None:
    fmt = options.pop("export_format", "GLB")
    suffix = ".glb" if fmt == "GLB" else ".gltf"
    folder = OUT / "blender" / f"{scene}__{variant}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{scene}{suffix}"
    try:
        bpy.ops.export_scene.gltf(filepath=str(path), export_format=fmt, **options)
    except Exception as exc:  # an option this Blender lacks: recorded, not fatal
        print(f"export {scene}/{variant} failed: {exc}", file=sys.stderr)
        return
    manifest.append({"file": str(path.relative_to(OUT)), "scene": scene, "variant": variant,
                     "expected": expectation, "tolerance": tolerance, "source": "blender"})


_DRACO_VARIANTS = {"draco": {"export_draco_mesh_compression_level": 6},
                   "draco_l10_q11": {"export_draco_mesh_compression_level": 10,
                                     "export_draco_position_quantization": 11},
                   "draco_q20": {"export_draco_position_quantization": 20}}


def export_variants(manifest: list, scene: str, expectation: str, **options) -> None:
    """Every container and Draco setting of one scene with the same export options."""
    prefs = bpy.context.preferences.addons["io_scene_gltf2"].preferences
    if hasattr(prefs, "allow_embedded_format"):
        prefs.allow_embedded_format = True
    tag = options.pop("tag", "")
    for fmt, name in (("GLB", "glb"), ("GLTF_SEPARATE", "gltf_separate"),
                      ("GLTF_EMBEDDED", "gltf_embedded")):
        export(manifest, scene, f"{name}{tag}", expectation, 1e-5, export_format=fmt,
               **options)
    for name, draco in _DRACO_VARIANTS.items():
        bits = draco.get("export_draco_position_quantization", 14)
        export(manifest, scene, f"{name}{tag}", expectation, 2.0 ** -bits * 4,
               export_draco_mesh_compression_enable=True, **draco, **options)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest: list = []
    static_scene()
    export_variants(manifest, "static", expected("static"), export_apply=True)
    morph_scene()
    export_variants(manifest, "morph", expected("morph"), export_morph=True)
    export_variants(manifest, "morph", expected("morph", keys_off=True), export_morph=False,
                    tag="_nomorph")
    skin_scene()
    export_variants(manifest, "skin", expected("skin"), export_animations=True)
    rest = expected("skin", rest=True)
    export_variants(manifest, "skin", rest, export_animations=False, tag="_noanim")
    export_variants(manifest, "skin", rest, export_animations=False, export_skins=False,
                    tag="_noskin")
    object_animation_scene()
    frame1 = expected("objanim")
    export_variants(manifest, "objanim", frame1, export_animations=True)
    export_variants(manifest, "objanim", frame1, export_animations=False, tag="_noanim")
    (OUT / "manifest_blender.json").write_text(json.dumps(manifest, indent=1))
    print(f"exported {len(manifest)} files; pi={math.pi:.3f}")


main()
