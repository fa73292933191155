"""Cycles' radiometric constants, for matching the built-in renderer's lights (issue 28).

Run by a Python with ``bpy`` (not meshprep's)::

    $MESHPREP_BLENDER_PYTHON benchmarks/_cycles_calibration.py [OUT_DIR]

Renders a small square (white Principled BSDF: base colour 1.0, roughness 1, metallic 0; and a
pure Diffuse BSDF, colour 1.0) seen straight on by an orthographic camera, with the
``Standard`` view transform and look ``None`` into 32-bit EXR, so the pixel is Cycles' linear
radiance: (a) a point light of power P watts (radius 0) at distance d, on the normal and 60°
off it, world black; (b) no lights, a uniform world of strength 1. Prints the centre pixel of
each and the ratios to the textbook values: P cos(theta) / (4 pi d^2) / pi for (a) and 1 for (b).
"""

from __future__ import annotations

import math
import os
import sys

import bpy


def _scene(material: str):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1024
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.render.resolution_x = scene.render.resolution_y = 8
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    bpy.ops.mesh.primitive_plane_add(size=0.2, location=(0, 0, 0))
    plane = bpy.context.active_object
    mat = bpy.data.materials.new("white")
    mat.use_nodes = True
    tree = mat.node_tree
    if material == "diffuse":
        tree.nodes.clear()
        bsdf = tree.nodes.new("ShaderNodeBsdfDiffuse")
        bsdf.inputs["Color"].default_value = (1, 1, 1, 1)
        bsdf.inputs["Roughness"].default_value = 0.0
        out = tree.nodes.new("ShaderNodeOutputMaterial")
        tree.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    else:
        bsdf = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
        bsdf.inputs["Base Color"].default_value = (1, 1, 1, 1)
        bsdf.inputs["Roughness"].default_value = 1.0
        bsdf.inputs["Metallic"].default_value = 0.0
    plane.data.materials.append(mat)
    camera = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = 0.05
    camera.location = (0, 0, 1.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.world = bpy.data.worlds.new("world")
    scene.world.use_nodes = True
    background = next(n for n in scene.world.node_tree.nodes if n.type == "BACKGROUND")
    return scene, background


def _centre(scene, path: str) -> tuple[float, float, float]:
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(path)
    w, h = image.size
    px = list(image.pixels)
    i = ((h // 2) * w + w // 2) * 4
    return tuple(round(v, 5) for v in px[i:i + 3])


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    power, distance = 1000.0, 2.0
    textbook = power / (4 * math.pi * distance**2) / math.pi
    for material in ("principled", "diffuse"):
        scene, background = _scene(material)
        background.inputs["Strength"].default_value = 0.0
        light = bpy.data.lights.new("point", type="POINT")
        light.energy, light.shadow_soft_size = power, 0.0
        obj = bpy.data.objects.new("point", light)
        scene.collection.objects.link(obj)
        for degrees in (0, 60):
            angle = math.radians(degrees)
            obj.location = (distance * math.sin(angle), 0, distance * math.cos(angle))
            value = _centre(scene, os.path.join(out, f"{material}_point{degrees}.exr"))
            expected = textbook * math.cos(angle)
            print(f"{material}: point light {power:g} W at {distance:g} m, {degrees} deg off the "
                  f"normal, radius 0: {value}; P cos / (4 pi d^2) / pi = {expected:.5f}; "
                  f"ratio {value[0] / expected:.5f}")
        scene, background = _scene(material)
        background.inputs["Color"].default_value = (1, 1, 1, 1)
        background.inputs["Strength"].default_value = 1.0
        value = _centre(scene, os.path.join(out, f"{material}_world.exr"))
        print(f"{material}: uniform world, strength 1, no lights: {value}")
    print(f"Blender {bpy.app.version_string}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/meshprep_cycles_calibration")
