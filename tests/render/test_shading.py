"""PBR colour renders (meshprep.render.shading): BRDF terms, point light radiometry, shadows,
alpha cut-outs, anti-aliasing, the lighting record."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import trimesh
from PIL import Image

from meshprep.io.appearance import CLAMP_TO_EDGE, Appearance, Material, Sampler
from meshprep.render import Camera, CameraSet, look_at, render_views
from meshprep.render.lights import Lighting, PointLight, lighting_for_views
from meshprep.render.shading import ggx_d, prepare_scene, render_color, schlick_f, smith_v
from meshprep.render.views import _camera_arrays

SIZE = 96


def _look(n_vertices, n_faces, material, uv=None):
    uv = np.zeros((n_vertices, 2), np.float32) if uv is None else uv.astype(np.float32)
    return Appearance(uv, None, None, np.zeros(n_faces, np.int32), [material])


def _top_camera(scale=2.2):
    return CameraSet("top", (Camera(look_at((0, 0, 3.0), (0, 0, 0), (0, 1, 0)), 0.0, scale),))


def _render(mesh, look, lighting, cams, size=SIZE, ssaa=2):
    scene = prepare_scene(np.asarray(mesh.vertices), np.asarray(mesh.faces), look)
    w2c, intr, ortho, eyes, forwards = _camera_arrays(cams, size)
    return render_color(scene, w2c, intr, ortho, eyes, forwards, [lighting] * len(cams.cameras),
                        size, ssaa=ssaa, view_transform="standard")


def _linear(rgba):
    x = rgba[..., :3] / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _pixel_centres(size, scale):
    t = ((np.arange(size) + 0.5) / size - 0.5) * scale
    return t[None, :], -t[:, None]  # x right, y up (camera on +Z looking down, +Y up)


def test_brdf_terms_match_gltf_appendix_b():
    # D = a^2 / (pi (cos^2 (a^2 - 1) + 1)^2) with a = roughness^2 (here alpha given directly)
    assert ggx_d(1.0, 0.25) == pytest.approx(1.0 / (math.pi * 0.0625), rel=1e-9)
    assert ggx_d(0.8, 0.5) == pytest.approx(0.25 / (math.pi * (0.64 * -0.75 + 1.0) ** 2))
    # V = 0.5 / (nl sqrt(nv^2 (1 - a^2) + a^2) + nv sqrt(nl^2 (1 - a^2) + a^2))
    assert smith_v(0.5, 0.8, 0.5) == pytest.approx(
        0.5 / (0.5 * math.sqrt(0.73) + 0.8 * math.sqrt(0.4375)), rel=1e-9)
    assert smith_v(1.0, 1.0, 1.0) == pytest.approx(0.25)
    # F = F0 + (1 - F0) (1 - v.h)^5
    assert schlick_f(0.04, 0.5) == pytest.approx(0.07)
    assert schlick_f(0.04, 1.0) == pytest.approx(0.04)
    assert schlick_f(0.5, 0.0) == pytest.approx(1.0)


def _albedo(mu, alpha, f0, steps=96):
    """Directional albedo of the GGX lobe (glTF's D V F) by midpoint quadrature over the
    hemisphere: independent of the split-sum table the kernels use."""
    theta = (np.arange(steps) + 0.5) / steps * (math.pi / 2)
    phi = (np.arange(2 * steps) + 0.5) / (2 * steps) * 2 * math.pi
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    light = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1)
    view = np.array([math.sqrt(1 - mu * mu), 0.0, mu])
    half = light + view
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    nl, nh, vh = light[..., 2], half[..., 2], half @ view
    a2 = alpha * alpha
    d = a2 / (math.pi * (nh * nh * (a2 - 1) + 1) ** 2)
    v = 0.5 / (nl * math.sqrt(mu * mu * (1 - a2) + a2) + mu * np.sqrt(nl * nl * (1 - a2) + a2))
    f = f0 + (1 - f0) * (1 - vh) ** 5
    d_omega = np.sin(th) * (math.pi / 2 / steps) * (2 * math.pi / (2 * steps))
    return float((d * v * f * nl * d_omega).sum())


def test_sphere_under_a_point_light_matches_the_analytic_image():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    roughness, base = 0.7, 0.6
    material = Material(np.array([base, base, base, 1.0], np.float32), metallic_factor=0.0,
                        roughness_factor=roughness)
    direction = np.array([0.4, 0.3, 1.0]) / np.linalg.norm([0.4, 0.3, 1.0])
    light = PointLight(direction * 40.0, np.ones(3), 2.0e4, 0.001)
    lighting = Lighting("test", np.ones(3), 0.0, (light,))
    image = _render(sphere, _look(len(sphere.vertices), len(sphere.faces), material), lighting,
                    _top_camera(1.2))[0]
    x, y = _pixel_centres(SIZE, 1.2)
    r2 = x * x + y * y
    inside = r2 < 0.45**2
    z = np.sqrt(np.maximum(0.25 - r2, 0))
    n = np.stack(np.broadcast_arrays(x / 0.5, y / 0.5, z / 0.5), -1)
    p = n * 0.5
    to_light = light.position - p
    dist = np.linalg.norm(to_light, axis=-1)
    l_dir = to_light / dist[..., None]
    nl = (n * l_dir).sum(-1)
    view = np.array([0.0, 0.0, 1.0])
    nv = n[..., 2]
    half = l_dir + view
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    alpha = roughness**2
    d = alpha**2 / (np.pi * ((half * n).sum(-1) ** 2 * (alpha**2 - 1) + 1) ** 2)
    a2 = alpha**2
    vis = 0.5 / (nl * np.sqrt(nv**2 * (1 - a2) + a2) + nv * np.sqrt(nl**2 * (1 - a2) + a2))
    fres = 0.04 + 0.96 * (1 - (half @ view)) ** 5
    # Cycles' layering: the diffuse under the specular layer keeps 1 - its albedo; the lobe
    # scaled for multiple scattering by 1 + F0 (1 / E(F0 = 1) - 1)
    mus = np.linspace(0.05, 1.0, 20)
    e_dielectric = np.interp(nv, mus, [_albedo(m, alpha, 0.04) for m in mus])
    e_one = np.interp(nv, mus, [_albedo(m, alpha, 1.0) for m in mus])
    irradiance = light.power_w / (4 * np.pi) * np.maximum(nl, 0) / dist**2
    expected = irradiance * (base / np.pi * (1 - e_dielectric)
                             + d * vis * fres * (1 + 0.04 * (1 / e_one - 1)))
    lit = inside & (nl > 0.25) & (nv > 0.3)
    got = _linear(image)[..., 0]
    assert image[inside, 3].min() == 255
    np.testing.assert_allclose(got[lit], expected[lit], rtol=0.05, atol=0.01)
    assert np.median(np.abs(got[lit] / expected[lit] - 1)) < 0.02


def test_a_box_shadows_the_plane():
    plane = trimesh.creation.box(extents=(2.0, 2.0, 0.02))
    plane.apply_translation((0, 0, -0.01))
    box = trimesh.creation.box(extents=(0.3, 0.3, 0.3))
    box.apply_translation((0, 0, 0.15))
    scene_mesh = trimesh.util.concatenate([plane, box])
    material = Material(np.array([0.8, 0.8, 0.8, 1.0], np.float32), roughness_factor=1.0)
    # the light up and to +X at 45 degrees: the box's shadow falls on -X, 0.3 long
    light = PointLight(np.array([1.0, 0.0, 1.0]) / math.sqrt(2) * 50.0, np.ones(3), 5.0e4, 0.01)
    lighting = Lighting("test", np.ones(3), 0.0, (light,))
    image = _render(scene_mesh, _look(len(scene_mesh.vertices), len(scene_mesh.faces),
                                      material), lighting, _top_camera(2.2))[0]
    x, y = _pixel_centres(SIZE, 2.2)
    x, y = np.broadcast_arrays(x, y)
    shadow = (x > -0.42) & (x < -0.2) & (np.abs(y) < 0.1)
    lit = (x > 0.35) & (x < 0.8) & (np.abs(y) < 0.1)
    penumbra_free = (x > -0.13) & (x < 0.13) & (np.abs(y) < 0.1)  # the box's top, lit
    got = _linear(image)[..., 0]
    irradiance = light.power_w / (4 * np.pi) * (1 / math.sqrt(2)) / 50.0**2
    # Lambert under the specular layer (its albedo at roughness 1 is a few %), plus the lobe
    direct = 0.8 / np.pi * irradiance
    assert np.median(got[lit]) == pytest.approx(direct, rel=0.06)
    assert np.median(got[penumbra_free]) == pytest.approx(direct, rel=0.06)
    # the geometric shadow (behind the box from the light) keeps nothing of the light
    assert got[shadow].max() < 0.01 * direct


def _quad(z, half=0.8):
    v = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]], float)
    return trimesh.Trimesh(v, [[0, 1, 2], [0, 2, 3]], process=False)


def test_mask_cut_out_in_colour_and_mask(tmp_path):
    front, back = _quad(0.2), _quad(-0.2)
    mesh = trimesh.util.concatenate([front, back])
    texture = np.full((4, 4, 4), 255, np.uint8)
    texture[:, :2, 3] = 0  # left half transparent
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]] * 2, np.float32)
    cut = Material(np.array([1.0, 1.0, 1.0, 1.0], np.float32), texture, alpha_mode="MASK",
                   alpha_cutoff=0.5, texture_sampler=Sampler(CLAMP_TO_EDGE, CLAMP_TO_EDGE))
    blue = Material(np.array([0.0, 0.0, 1.0, 1.0], np.float32))
    look = Appearance(uv, None, None, np.array([0, 0, 1, 1], np.int32), [cut, blue])
    mesh.metadata["meshprep_appearance"] = look
    render_views(mesh, tmp_path, _top_camera(2.0), size=64, passes=("color", "mask"),
                 lighting="uniform", view_transform="standard", y_up=False)
    color = np.asarray(Image.open(tmp_path / "000.png"))
    mask = np.asarray(Image.open(tmp_path / "000_mask.png"))
    left, right = color[24:40, 16:26], color[24:40, 38:48]
    assert (right[..., :3] > 240).all()  # the white quad
    # the blue one behind (its sky partly hidden: occlusion maps ignore cut-outs)
    assert (left[..., 2] > 150).all() and (left[..., :2] < 40).all()  # + white sheen
    assert (left[..., 3] == 255).all() and (mask[24:40, 16:26] == 255).all()
    # only the front quad: the cut-out half is empty in colour and mask
    render_views(front, tmp_path / "front", _top_camera(2.0), size=64,
                 passes=("color", "mask"), lighting="uniform", view_transform="standard",
                 y_up=False, appearance=_look(4, 2, cut, uv[:4]))
    color = np.asarray(Image.open(tmp_path / "front" / "000.png"))
    mask = np.asarray(Image.open(tmp_path / "front" / "000_mask.png"))
    assert (color[24:40, 16:26, 3] == 0).all() and (mask[24:40, 16:26] == 0).all()
    assert (color[24:40, 38:48, 3] == 255).all() and (mask[24:40, 38:48] == 255).all()


def test_anti_aliasing_gives_fractional_alpha_on_a_tilted_edge():
    quad = _quad(0.0, 0.5)
    quad.apply_transform(trimesh.transformations.rotation_matrix(0.3, (0, 0, 1)))
    look = _look(4, 2, Material(np.array([0.8, 0.8, 0.8, 1.0], np.float32)))
    alpha = _render(quad, look, lighting_for_views("uniform", _top_camera())[0],
                    _top_camera(2.0), size=64)[0, ..., 3]
    partial = (alpha > 0) & (alpha < 255)
    assert partial.sum() > 40  # along the four edges
    assert set(np.unique(alpha[partial])) <= {64, 128, 191}  # 2x2 samples per pixel
    hard = _render(quad, look, lighting_for_views("uniform", _top_camera())[0],
                   _top_camera(2.0), size=64, ssaa=1)[0, ..., 3]
    assert set(np.unique(hard)) <= {0, 255}


def test_lighting_is_recorded_in_transforms_json(tmp_path):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    render_views(mesh, tmp_path, "cond:3", size=32, passes=("color",), seed=9,
                 lighting="trellis2", view_transform="standard")
    data = json.loads((tmp_path / "transforms.json").read_text())
    from meshprep.render import parse_cameras

    expected = lighting_for_views("trellis2", parse_cameras("cond:3", 9), 9)
    assert [f["lighting"] for f in data["frames"]] == [e.to_json() for e in expected]
    assert data["view_transform"] == "standard"
    assert Lighting.from_json(data["frames"][0]["lighting"]).kind == "trellis2"


def test_file_normals_and_tangents_follow_the_normalization():
    # a Y-up file turned Z-up (x, y, z) -> (x, -z, y), scaled: the file's normals must turn too
    turn = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]) * 0.3
    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])  # faces +Y
    look = _look(3, 1, Material(np.ones(4, np.float32)), uv=np.array([[0, 0], [1, 0], [0, 1]]))
    look.vertex_normal = np.tile([0.0, 1.0, 0.0], (3, 1))
    look.tangent = np.tile([1.0, 0.0, 0.0, 1.0], (3, 1))
    scene = prepare_scene(vertices @ turn.T, np.array([[0, 1, 2]]), look, turn)
    assert np.allclose(scene.corner_normals[0], [0.0, 0.0, 1.0], atol=1e-6)  # +Y became +Z
    assert np.allclose(scene.tangents[0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    assert np.allclose(scene.tangents[0, 1], [0.0, 1.0, 0.0], atol=1e-6)  # cross(n, t)
