"""The Blender worker: run by a Python that has ``bpy`` (``python blender_worker.py JOB.json``).

It imports only the standard library and ``bpy`` (never meshprep), so it can run in a separate
environment (bpy pins numpy < 2). One job per process; the parent enforces the time limit.

Safety: the scene starts from factory settings with no add-on enabled beyond the bundled
importers Blender registers itself; Python auto-execution is off before any file is read;
``.blend`` files are never opened as the main file: their objects are appended through
``bpy.data.libraries.load``, which runs no scripts and no drivers' expressions.

Job keys: ``action`` (``"export"`` or ``"render"``), ``input``, ``output`` (a ``.glb`` for
``export``, a folder for ``render``), ``result`` (JSON written at the end); for ``render``:
``to_world`` (4×4 applied to the imported objects), ``frames`` (``c2w`` Blender camera-to-world,
``fov`` horizontal radians, ``ortho_scale`` or null), ``size``, ``passes``, ``engine``
(``cycles``, ``eevee``, ``workbench``), ``samples``, ``depth_max``, ``position_scale`` (the
``position`` pass's ``1 / (2 * bound)``, default 0.5); optional for the ``color``
pass: ``lighting`` (one dict for every frame or a list of one per frame: ``kind``,
``world_color``, ``world_strength``, ``points`` of ``position``, ``color``, ``power_w``,
``radius``, ``areas`` of ``position``, ``direction``, ``size``, ``power_w``, ``color``, and
``envmap`` (an equirectangular map's absolute path: the world's colour) with
``envmap_rotation`` (radians about Z); replaces the white sky and the file's own lights),
``preset`` (``"trellis2"``: :func:`trellis2_settings`), ``view_transform`` and ``look``
(Blender's names).
"""

from __future__ import annotations

import json
import os
import sys
import time

# Python puts this script's folder first on sys.path; it also holds meshprep's own modules of
# the blender package (process.py, formats.py, render.py), which must not shadow anything bpy or
# its add-ons import by those names
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(__file__)]

import bpy  # noqa: E402

IMPORTERS = {
    ".glb": ("import_scene", "gltf"), ".gltf": ("import_scene", "gltf"),
    ".fbx": ("wm", "fbx_import"), ".obj": ("wm", "obj_import"), ".ply": ("wm", "ply_import"),
    ".stl": ("wm", "stl_import"), ".abc": ("wm", "alembic_import"),
    ".usd": ("wm", "usd_import"), ".usda": ("wm", "usd_import"), ".usdc": ("wm", "usd_import"),
    ".usdz": ("wm", "usd_import"),
}


def reset_scene() -> bpy.types.Scene:
    """An empty scene from factory settings, with Python auto-execution off."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.filepaths.use_scripts_auto_execute = False
    return bpy.context.scene


def import_file(path: str, preset: str | None = None) -> None:
    """Import a model file into the current scene (a .blend's objects are appended);
    ``preset="trellis2"`` imports glTF as TRELLIS.2's ``render_cond.py`` does
    (``merge_vertices=True, import_shading='NORMALS'``)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".blend":
        _append_blend(path)
        return
    if ext not in IMPORTERS:
        raise ValueError(f"Blender worker: no importer for {ext}")
    module, name = IMPORTERS[ext]
    operator = getattr(getattr(bpy.ops, module), name)
    options = {"as_background_job": False} if name == "alembic_import" else {}
    if preset == "trellis2" and name == "gltf":
        options.update(merge_vertices=True, import_shading="NORMALS")
    result = operator(filepath=path, **options)
    if "FINISHED" not in result:
        raise RuntimeError(f"Blender's {name} did not finish: {sorted(result)}")


def _append_blend(path: str) -> None:
    with bpy.data.libraries.load(path, link=False) as (source, target):
        target.objects = list(source.objects)
    scene = bpy.context.scene
    for obj in target.objects:
        if obj is not None and obj.type in {"MESH", "ARMATURE", "EMPTY", "CURVE", "SURFACE",
                                            "META", "FONT"}:
            scene.collection.objects.link(obj)


def pose_at_first_frame(scene: bpy.types.Scene) -> None:
    """Animated and rigged assets are evaluated at the first keyframe of their animations (the
    glTF importer puts time 0 at frame 0, before the scene's default start, frame 1)."""
    starts = [action.frame_range[0] for action in bpy.data.actions]
    frame = min(starts) if starts else scene.frame_start
    scene.frame_set(int(frame), subframe=float(frame - int(frame)))


def export_glb(output: str, skins: bool = False) -> dict:
    """Everything in the scene as one GLB (modifiers and the first-frame pose applied).

    ``skins=True`` keeps the armatures: skinned meshes in their bind pose with their joints and
    weights, the joints posed at the current (first) frame (``export_rest_position_armature``
    off), so skinning the file gives the same frame-0 surface as applying the armature."""
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    if not meshes:
        raise ValueError("no mesh objects in the file")
    # every influence of a vertex (the exporter keeps 4 by default and renormalizes them)
    options = {"export_rest_position_armature": False, "export_all_influences": True} \
        if skins else {}
    bpy.ops.export_scene.gltf(filepath=output, export_format="GLB", export_apply=True,
                              export_animations=False, export_skins=skins,
                              export_morph=False, export_yup=True, export_cameras=False,
                              export_lights=False, **options)
    return {"objects": len(meshes)}


def save_skin_weights(output: str) -> dict:
    """Every armature-deformed mesh's vertices as posed now (world, glTF's Y-up axes) and their
    vertex-group weights per bone, as stored (the glTF exporter drops influences of at most
    1e-4 and renormalizes; the loader takes the weights from here instead).

    Keys: ``positions`` (V, 3) float64, ``weights`` (V, B) float32 (columns: ``bones``),
    ``bones`` (B,) unicode.
    """
    import numpy as np

    depsgraph = bpy.context.evaluated_depsgraph_get()
    bones = sorted({b.name for o in bpy.context.scene.objects if o.type == "ARMATURE"
                    for b in o.data.bones})
    column = {name: j for j, name in enumerate(bones)}
    positions, weights = [], []
    for obj in bpy.context.scene.objects:
        if obj.type != "MESH" or not any(m.type == "ARMATURE" for m in obj.modifiers):
            continue
        evaluated = obj.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        if len(mesh.vertices) != len(obj.data.vertices):  # a topology-changing modifier
            evaluated.to_mesh_clear()
            continue
        world = np.array(obj.matrix_world)
        co = np.array([v.co for v in mesh.vertices], np.float64).reshape(-1, 3)
        evaluated.to_mesh_clear()
        posed = co @ world[:3, :3].T + world[:3, 3]
        positions.append(posed @ np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]).T)
        rows = np.zeros((len(obj.data.vertices), len(bones)), np.float32)
        groups = {g.index: g.name for g in obj.vertex_groups}
        for v in obj.data.vertices:
            for g in v.groups:
                if groups.get(g.group) in column:
                    rows[v.index, column[groups[g.group]]] = g.weight
        weights.append(rows)
    if not positions:
        return {"skin_weights": 0}
    np.savez(output, positions=np.concatenate(positions), weights=np.concatenate(weights),
             bones=np.array(bones, dtype=str))
    return {"skin_weights": int(sum(len(p) for p in positions))}


def _mesh_objects(scene):
    return [o for o in scene.objects if o.type == "MESH"]


def place_objects(scene, to_world) -> None:
    """Parent every root object to an empty that carries ``to_world``."""
    from mathutils import Matrix

    holder = bpy.data.objects.new("meshprep_world", None)
    scene.collection.objects.link(holder)
    holder.matrix_world = Matrix(to_world)
    for obj in list(scene.objects):
        if obj is not holder and obj.parent is None:
            obj.parent = holder
            obj.matrix_parent_inverse.identity()


def flat_shading(scene) -> None:
    """Face normals everywhere, as the built-in renderer draws them by default."""
    for obj in _mesh_objects(scene):
        mesh = obj.data
        if "custom_normal" in mesh.attributes:
            mesh.attributes.remove(mesh.attributes["custom_normal"])
        for polygon in mesh.polygons:
            polygon.use_smooth = False
        mesh.update()


def _base_color_socket(material):
    """What feeds the Principled BSDF's base colour (a linked socket or None) and its value."""
    if material is None or not material.use_nodes:
        color = tuple(material.diffuse_color) if material is not None else (0.8, 0.8, 0.8, 1)
        return None, color
    for node in material.node_tree.nodes:
        if node.type == "BSDF_PRINCIPLED":
            socket = node.inputs["Base Color"]
            if socket.is_linked:
                return socket.links[0].from_socket, None
            return None, tuple(socket.default_value)
    return None, (0.8, 0.8, 0.8, 1.0)


#: the Principled BSDF's defaults where a material has none (Blender's own)
_BSDF_DEFAULTS = {"Metallic": 0.0, "Roughness": 0.5}


def _bsdf_scalar(material, name: str):
    """What feeds the Principled BSDF's scalar input ``name`` (``Metallic``, ``Roughness``): a
    linked socket (a glTF import's Separate Color channel of the metallic-roughness texture,
    through its factor's Multiply when the factor is not 1) and None, or None and the value."""
    if material is not None and material.use_nodes:
        for node in material.node_tree.nodes:
            if node.type == "BSDF_PRINCIPLED":
                socket = node.inputs[name]
                if socket.is_linked:
                    return socket.links[0].from_socket, None
                return None, float(socket.default_value)
    if material is not None and not material.use_nodes:
        return None, float(getattr(material, name.lower(), _BSDF_DEFAULTS[name]))
    return None, _BSDF_DEFAULTS[name]


def override_materials(scene, kind: str, depth_max: float, position_scale: float = 0.5) -> None:
    """Replace every material's output by an emission of one quantity, unlit.

    ``albedo``: the base colour (whatever feeds the Principled BSDF, textures and factors and
    vertex colours included); ``normal``: the world-space shading normal as ``(n + 1) / 2``;
    ``depth``: the z-depth along the camera axis divided by ``depth_max``; ``mr``: ``(1,
    roughness, metallic)`` from whatever feeds the Principled BSDF's inputs (texture channels
    and factors included); ``normal_camera``: the camera-space normal as ``(n + 1) / 2`` in
    OpenGL axes (+X right, +Y up, +Z toward the camera; Cycles' camera space has +Z forward);
    ``position``: the render-world position as ``p * position_scale + 0.5``.
    """
    white = bpy.data.materials.new("meshprep_default")  # Blender's default 0.8 grey
    _replace_missing_images()
    for obj in _mesh_objects(scene):
        fallback = _vertex_color_material(obj.data) or white
        if not obj.material_slots:
            obj.data.materials.append(fallback)
        for slot in obj.material_slots:
            if slot.material is None:
                slot.material = fallback
            slot.material = _emission_copy(slot.material, kind, depth_max, position_scale)


def _vertex_color_material(mesh):
    """A surface showing the mesh's colour attribute, for a mesh without materials (PLY, OBJ
    vertex colours), as the built-in renderer draws it; None without colours."""
    if not mesh.color_attributes:
        return None
    material = bpy.data.materials.new("meshprep_vertex_colors")
    material.use_nodes = True
    tree = material.node_tree
    attribute = tree.nodes.new("ShaderNodeVertexColor")
    attribute.layer_name = mesh.color_attributes[0].name
    bsdf = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
    tree.links.new(attribute.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def _replace_missing_images() -> None:
    """A texture whose file is missing draws white (its factor alone), as the built-in
    renderer draws it, instead of Blender's magenta."""
    blank = None
    for image in list(bpy.data.images):
        # reading the size loads the pixels: 0 x 0 when the file is missing or unreadable
        if image.source != "FILE" or image.size[0] > 0:
            continue
        if blank is None:
            blank = bpy.data.images.new("meshprep_blank", 1, 1, alpha=True)
            blank.pixels = [1.0, 1.0, 1.0, 1.0]
        image.user_remap(blank)


def _emission_copy(material, kind: str, depth_max: float, position_scale: float = 0.5):
    copy = material.copy()
    scalars = {name: _bsdf_scalar(copy, name) for name in _BSDF_DEFAULTS}
    copy.use_nodes = True
    tree = copy.node_tree
    source, constant = _base_color_socket(copy)
    for node in list(tree.nodes):
        if node.type == "OUTPUT_MATERIAL":
            tree.nodes.remove(node)
    output = tree.nodes.new("ShaderNodeOutputMaterial")
    emission = tree.nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    if kind == "albedo":
        if source is not None:
            tree.links.new(source, emission.inputs["Color"])
        else:
            emission.inputs["Color"].default_value = constant
    elif kind == "normal":
        geometry = tree.nodes.new("ShaderNodeNewGeometry")
        scale = tree.nodes.new("ShaderNodeVectorMath")
        scale.operation = "MULTIPLY_ADD"
        scale.inputs[1].default_value = (0.5, 0.5, 0.5)
        scale.inputs[2].default_value = (0.5, 0.5, 0.5)
        tree.links.new(geometry.outputs["Normal"], scale.inputs[0])
        tree.links.new(scale.outputs["Vector"], emission.inputs["Color"])
    elif kind == "normal_camera":
        geometry = tree.nodes.new("ShaderNodeNewGeometry")
        transform = tree.nodes.new("ShaderNodeVectorTransform")
        transform.vector_type = "NORMAL"
        transform.convert_from, transform.convert_to = "WORLD", "CAMERA"
        scale = tree.nodes.new("ShaderNodeVectorMath")
        scale.operation = "MULTIPLY_ADD"
        # Cycles' camera space: +X right, +Y up, +Z forward (into the view): z flipped
        scale.inputs[1].default_value = (0.5, 0.5, -0.5)
        scale.inputs[2].default_value = (0.5, 0.5, 0.5)
        tree.links.new(geometry.outputs["Normal"], transform.inputs["Vector"])
        tree.links.new(transform.outputs["Vector"], scale.inputs[0])
        tree.links.new(scale.outputs["Vector"], emission.inputs["Color"])
    elif kind == "position":
        geometry = tree.nodes.new("ShaderNodeNewGeometry")
        scale = tree.nodes.new("ShaderNodeVectorMath")
        scale.operation = "MULTIPLY_ADD"
        scale.inputs[1].default_value = (position_scale,) * 3
        scale.inputs[2].default_value = (0.5, 0.5, 0.5)
        tree.links.new(geometry.outputs["Position"], scale.inputs[0])
        tree.links.new(scale.outputs["Vector"], emission.inputs["Color"])
    elif kind == "mr":  # glTF's layout: R 1, G roughness, B metallic (linear)
        combine = tree.nodes.new("ShaderNodeCombineColor")
        combine.inputs["Red"].default_value = 1.0
        for name, channel in (("Roughness", "Green"), ("Metallic", "Blue")):
            linked, value = scalars[name]
            if linked is not None:
                tree.links.new(linked, combine.inputs[channel])
            else:
                combine.inputs[channel].default_value = value
        tree.links.new(combine.outputs["Color"], emission.inputs["Color"])
    else:  # depth
        camera = tree.nodes.new("ShaderNodeCameraData")
        divide = tree.nodes.new("ShaderNodeMath")
        divide.operation = "DIVIDE"
        divide.inputs[1].default_value = depth_max
        tree.links.new(camera.outputs["View Z Depth"], divide.inputs[0])
        tree.links.new(divide.outputs["Value"], emission.inputs["Color"])
    return copy


def setup_render(scene, engine: str, size: int, samples: int, exact: bool) -> None:
    """Resolution, engine and film; ``exact`` samples each pixel once at its centre."""
    scene.render.engine = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE",
                           "workbench": "BLENDER_WORKBENCH"}[engine]
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    if engine == "cycles":
        scene.cycles.device = "GPU" if _cuda_devices() else "CPU"
        scene.cycles.samples = 1 if exact else samples
        scene.cycles.use_denoising = False
        scene.cycles.use_adaptive_sampling = not exact
        if exact:
            scene.cycles.filter_width = 0.01
            scene.cycles.max_bounces = 0
    if exact:
        scene.render.dither_intensity = 0.0  # the 8-bit data passes quantized, not dithered
    if scene.world is None:
        scene.world = bpy.data.worlds.new("meshprep_world")
    if not exact:
        _uniform_sky(scene.world)


def _uniform_sky(world) -> None:
    """A uniform white sky of strength 1: a diffuse surface shows about its base colour."""
    world.use_nodes = True
    nodes = world.node_tree.nodes
    background = next((n for n in nodes if n.type == "BACKGROUND"), None)
    if background is None:
        background = nodes.new("ShaderNodeBackground")
        output = next((n for n in nodes if n.type == "OUTPUT_WORLD"), None) or \
            nodes.new("ShaderNodeOutputWorld")
        world.node_tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    background.inputs["Strength"].default_value = 1.0


def trellis2_settings(scene) -> None:
    """TRELLIS.2's Cycles settings (``init_render`` of its ``data_toolkit/blender_script/
    render_cond.py``): 32 samples, a box pixel filter 1 px wide, one diffuse and one glossy
    bounce, 3 transparent and 3 transmission bounces, denoised (OpenImageDenoise on the CPU),
    transparent film; Blender 3.x's default view transform, Filmic with no look. TRELLIS.2
    writes ``cycles.filter_type``, which Blender 5.0.1 does not have (AttributeError): the box
    filter is set through ``pixel_filter_type``, the property of that name."""
    cycles = scene.cycles
    cycles.samples = 32
    cycles.pixel_filter_type = "BOX"
    cycles.filter_width = 1.0
    cycles.diffuse_bounces = 1
    cycles.glossy_bounces = 1
    cycles.transparent_max_bounces = 3
    cycles.transmission_bounces = 3
    cycles.use_denoising = True
    cycles.denoiser = "OPENIMAGEDENOISE"
    cycles.denoising_use_gpu = False
    scene.render.film_transparent = True
    scene.view_settings.view_transform = "Filmic"
    scene.view_settings.look = "None"


def apply_lighting(scene, lighting: dict) -> None:
    """Replace every light and the world by ``lighting``: the world's background is
    ``world_color`` × ``world_strength``; each point is a POINT light (``energy`` =
    ``power_w`` watts, ``shadow_soft_size`` = ``radius``, ``color``, ``location`` =
    ``position`` in the render world)."""
    for obj in [o for o in scene.objects if o.type == "LIGHT"]:
        bpy.data.objects.remove(obj, do_unlink=True)
    world = scene.world
    world.use_nodes = True
    tree = world.node_tree
    tree.nodes.clear()
    background = tree.nodes.new("ShaderNodeBackground")
    output = tree.nodes.new("ShaderNodeOutputWorld")
    tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    background.inputs["Color"].default_value = (*map(float, lighting["world_color"]), 1.0)
    background.inputs["Strength"].default_value = float(lighting["world_strength"])
    if lighting.get("envmap"):
        _environment_texture(tree, background, lighting)
    for index, point in enumerate(lighting.get("points", ())):
        light = bpy.data.lights.new(f"meshprep_light_{index}", type="POINT")
        light.energy = float(point["power_w"])
        light.shadow_soft_size = float(point["radius"])
        light.color = tuple(float(c) for c in point["color"])
        obj = bpy.data.objects.new(f"meshprep_light_{index}", light)
        obj.location = tuple(float(c) for c in point["position"])
        scene.collection.objects.link(obj)
    for index, area in enumerate(lighting.get("areas", ())):
        _area_light(scene, index, area)


def _environment_texture(tree, background, lighting: dict) -> None:
    """The world's colour from an equirectangular map (``envmap``, linear), turned about Z by
    ``envmap_rotation`` radians (Generated coordinates → Mapping → Environment Texture), tinted
    by ``world_color`` (a vector multiply; white passes the map as it is)."""
    coords = tree.nodes.new("ShaderNodeTexCoord")
    mapping = tree.nodes.new("ShaderNodeMapping")
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, float(lighting["envmap_rotation"]))
    texture = tree.nodes.new("ShaderNodeTexEnvironment")
    texture.image = bpy.data.images.load(lighting["envmap"], check_existing=True)
    texture.projection = "EQUIRECTANGULAR"
    texture.interpolation = "Linear"
    tree.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    tree.links.new(mapping.outputs["Vector"], texture.inputs["Vector"])
    color = [float(v) for v in lighting["world_color"]]
    if color == [1.0, 1.0, 1.0]:
        tree.links.new(texture.outputs["Color"], background.inputs["Color"])
        return
    tint = tree.nodes.new("ShaderNodeVectorMath")
    tint.operation = "MULTIPLY"
    tint.inputs[1].default_value = color
    tree.links.new(texture.outputs["Color"], tint.inputs[0])
    tree.links.new(tint.outputs["Vector"], background.inputs["Color"])


def _area_light(scene, index: int, area: dict) -> None:
    """A square AREA light of side ``size`` emitting toward ``direction`` (its local -Z)."""
    from mathutils import Vector

    light = bpy.data.lights.new(f"meshprep_area_{index}", type="AREA")
    light.shape = "SQUARE"
    light.size = float(area["size"])
    light.energy = float(area["power_w"])
    light.color = tuple(float(c) for c in area.get("color", (1.0, 1.0, 1.0)))
    obj = bpy.data.objects.new(f"meshprep_area_{index}", light)
    obj.location = tuple(float(c) for c in area["position"])
    obj.rotation_mode = "QUATERNION"
    obj.rotation_quaternion = Vector([float(c) for c in area["direction"]]).to_track_quat(
        "-Z", "Y")
    scene.collection.objects.link(obj)


def _cuda_devices() -> bool:
    try:
        prefs = bpy.context.preferences.addons["cycles"].preferences
        prefs.get_devices()
        for device_type in ("OPTIX", "CUDA"):
            if any(d.type == device_type for d in prefs.devices):
                prefs.compute_device_type = device_type
                for device in prefs.devices:
                    device.use = device.type == device_type
                return True
    except Exception:
        return False
    return False


def set_camera(scene, frame: dict) -> None:
    """Put the scene's camera where the frame says (Blender camera-to-world, fov along x)."""
    from mathutils import Matrix

    camera = scene.camera
    if camera is None:
        camera = bpy.data.objects.new("meshprep_camera", bpy.data.cameras.new("meshprep_camera"))
        scene.collection.objects.link(camera)
        scene.camera = camera
    camera.matrix_world = Matrix(frame["c2w"])
    data = camera.data
    data.sensor_fit = "HORIZONTAL"
    data.clip_start, data.clip_end = 1e-3, 1e3
    if frame.get("ortho_scale"):
        data.type = "ORTHO"
        data.ortho_scale = frame["ortho_scale"]
    else:
        data.type = "PERSP"
        data.angle_x = frame["fov"]


def render_frames(scene, job: dict, kind: str, suffix: str, raw: bool) -> list[float]:
    """Render every frame of the job to ``NNN<suffix>.png``; seconds per frame."""
    settings = scene.render.image_settings
    color = kind == "color"
    if raw:
        scene.view_settings.view_transform = "Raw"
    elif not color or job.get("preset") != "trellis2":
        scene.view_settings.view_transform = "Standard"
    if color and job.get("view_transform"):
        scene.view_settings.view_transform = job["view_transform"]
    if color and job.get("look"):
        scene.view_settings.look = job["look"]
    settings.color_depth = "16" if kind in ("depth", "position") else "8"
    settings.color_mode = "BW" if kind == "depth" else "RGBA"
    lighting = job.get("lighting") if color else None
    seconds = []
    for index, frame in enumerate(job["frames"]):
        set_camera(scene, frame)
        if lighting:
            apply_lighting(scene, lighting[index] if isinstance(lighting, list) else lighting)
        scene.render.filepath = os.path.join(job["output"], f"{index:03d}{suffix}.png")
        start = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        seconds.append(time.perf_counter() - start)
    return seconds


PASS_FILES = {"normal": "_normal", "depth": "_depth", "albedo": "_albedo", "color": "",
              "mask": "_mask", "mr": "_mr", "normal_camera": "_normal_cam", "position": "_pos"}
#: passes written as linear data (Blender's Raw view transform), not sRGB
RAW_PASSES = ("normal", "depth", "mr", "normal_camera", "position")


def render_job(job: dict) -> dict:
    """Render the job's passes; data passes (normal, depth, albedo, mr, normal_camera,
    position) are unlit material overrides sampled once at each pixel's centre; ``color`` uses
    the real materials."""
    timings = {}
    for kind in job["passes"]:
        if kind == "mask":
            continue  # the alpha of every RGBA pass
        scene = reset_scene()
        import_file(job["input"], job.get("preset") if kind == "color" else None)
        pose_at_first_frame(scene)
        place_objects(scene, job["to_world"])
        exact = kind != "color"
        if kind in ("normal", "normal_camera"):
            flat_shading(scene)
        if exact:
            override_materials(scene, kind, job.get("depth_max", 1.0),
                               job.get("position_scale", 0.5))
        else:
            _replace_missing_images()
        setup_render(scene, job["engine"], job["size"], job.get("samples") or 64, exact)
        if not exact and job.get("preset") == "trellis2":
            trellis2_settings(scene)
            if job.get("samples"):
                scene.cycles.samples = int(job["samples"])
        raw = kind in RAW_PASSES
        timings[kind] = render_frames(scene, job, kind, PASS_FILES[kind], raw)
    return {"seconds": timings}


def main(job_path: str) -> int:
    with open(job_path, encoding="utf-8") as stream:
        job = json.load(stream)
    result: dict = {"ok": False}
    try:
        if job["action"] == "export":
            reset_scene()
            import_file(job["input"])
            pose_at_first_frame(bpy.context.scene)
            result.update(export_glb(job["output"], skins=bool(job.get("skins"))))
            if job.get("skins"):
                result.update(save_skin_weights(job["output"] + ".weights.npz"))
        elif job["action"] == "render":
            result.update(render_job(job))
        else:
            raise ValueError(f"unknown action {job['action']!r}")
        result["ok"] = True
    except Exception as exc:  # reported to the parent, which raises a typed error
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["blender"] = bpy.app.version_string
    with open(job["result"], "w", encoding="utf-8") as stream:
        json.dump(result, stream)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
