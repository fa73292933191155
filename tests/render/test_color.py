"""The ``color`` / ``albedo`` passes: materials, textures and vertex colours as loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from PIL import Image

from meshprep.io import load
from meshprep.io.appearance import Appearance, Material
from meshprep.render import render_views

# ortho6 order: front, back, left, right, top, bottom
TOP = 4

# a 2x2 texture, rows top to bottom as the image file stores them
TEXELS = np.array([[[255, 0, 0, 255], [0, 255, 0, 255]],
                   [[0, 0, 255, 255], [255, 255, 0, 255]]], np.uint8)


def _read(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _sheet(vertex_offset=(0.0, 0.0), half=1.0) -> trimesh.Trimesh:
    """A square in the XY plane (normal +Z), corners counter-clockwise from (-h, -h)."""
    x, y = vertex_offset
    v = np.array([[x - half, y - half, 0], [x + half, y - half, 0], [x + half, y + half, 0],
                  [x - half, y + half, 0]], float)
    return trimesh.Trimesh(v, [[0, 1, 2], [0, 2, 3]], process=False)


def _red_box_glb(tmp_path):
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    material = trimesh.visual.material.PBRMaterial(baseColorFactor=[255, 0, 0, 255])
    box.visual = trimesh.visual.TextureVisuals(uv=np.zeros((len(box.vertices), 2)),
                                               material=material)
    path = tmp_path / "red.glb"
    box.export(path)
    return path


def _textured_quad() -> trimesh.Trimesh:
    quad = _sheet()
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)  # uv = ((x + 1) / 2, (y + 1) / 2)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(TEXELS),
                                                   baseColorFactor=[255, 255, 255, 255])
    quad.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return quad


def test_base_color_factor(tmp_path):
    mesh = load(_red_box_glb(tmp_path), appearance=True)
    look = mesh.metadata["meshprep_appearance"]
    assert isinstance(look, Appearance) and len(look.face_material) == len(mesh.faces)
    assert np.allclose(look.materials[0].factor, (1, 0, 0, 1))

    out = tmp_path / "views"
    render_views(mesh, out, "ortho6", size=32, passes=("mask", "albedo", "color"), y_up=False)
    for i in range(6):
        mask = _read(out / f"{i:03d}_mask.png") > 0
        albedo = _read(out / f"{i:03d}_albedo.png")
        color = _read(out / f"{i:03d}.png")
        assert mask.sum() > 0.1 * mask.size
        assert np.array_equal(albedo[..., 3] > 0, mask)
        assert np.array_equal(color[..., 3] > 0, mask)
        assert set(np.unique(albedo[..., 3])) <= {0, 255}
        assert np.all(albedo[mask][:, :3] == (255, 0, 0))
        assert np.all(albedo[~mask] == 0)
        lit = color[mask][:, :3].astype(int)
        assert np.all(lit[:, 0] <= 255) and np.all(lit[:, 0] > 0)  # darker or equal
        assert np.all(lit[:, 1:] == 0)  # hue kept
        assert np.all(lit[:, 0] >= 100)  # at least the ambient term lights it


def test_color_is_lit_by_a_headlight(tmp_path):
    mesh = load(_red_box_glb(tmp_path), appearance=True)
    # the box turned 45 degrees about Z: the front camera sees two faces at 45 degrees
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 4, (0, 0, 1)))
    out = tmp_path / "views"
    render_views(mesh, out, "ortho6", size=32, passes=("color",), y_up=False)
    color = _read(out / "000.png")
    lit = color[color[..., 3] > 0][:, 0].astype(float)
    expected = 0.35 + 0.65 * np.cos(np.pi / 4)  # linear light of a unit red
    encoded = 1.055 * expected ** (1 / 2.4) - 0.055
    assert np.all(np.abs(lit - encoded * 255) <= 1.5)


def test_texture_quadrants(tmp_path):
    path = tmp_path / "quad.glb"
    _textured_quad().export(path)
    mesh = load(path, appearance=True)
    look = mesh.metadata["meshprep_appearance"]
    assert look.textured
    assert np.array_equal(look.materials[0].texture, TEXELS)  # trimesh kept the image

    # size 34: pixel centres 8 and 25 fall on u, v = 0.25 and 0.75, the texel centres
    size = 34
    out = tmp_path / "views"
    render_views(mesh, out, "ortho6", size=size, passes=("albedo", "color", "mask"), y_up=False)
    albedo = _read(out / f"{TOP:03d}_albedo.png")
    color = _read(out / f"{TOP:03d}.png")
    assert (_read(out / f"{TOP:03d}_mask.png") > 0).all()  # the quad fills the top view
    # the top camera: image right = +X, image up = +Y, so the image shows the texture upright
    # (uv origin at the texture's bottom-left, image rows top to bottom)
    for row, col, texel in ((8, 8, (0, 0)), (8, 25, (0, 1)), (25, 8, (1, 0)),
                            (25, 25, (1, 1))):
        expected = TEXELS[texel][:3].astype(int)
        assert np.abs(albedo[row, col, :3].astype(int) - expected).max() <= 1, (row, col)
        # facing the headlight: lit = unlit
        assert np.abs(color[row, col, :3].astype(int) - expected).max() <= 1, (row, col)
    # around each quadrant's centre, its own texel is the nearest of the four (a 2x2 texture
    # blends bilinearly everywhere but at the texel centres)
    palette = TEXELS.reshape(4, 4)[:, :3].astype(int)
    for row0, col0, texel in ((8, 8, 0), (8, 25, 1), (25, 8, 2), (25, 25, 3)):
        block = albedo[row0 - 3:row0 + 4, col0 - 3:col0 + 4, :3].astype(int).reshape(-1, 1, 3)
        nearest = np.abs(block - palette[None]).sum(axis=-1).argmin(axis=-1)
        assert (nearest == texel).all(), (row0, col0)


def test_texture_through_a_cameras_file(tmp_path):
    path = tmp_path / "quad.glb"
    _textured_quad().export(path)
    mesh = load(path, appearance=True)
    # one orthographic camera above, looking down, rolled so that image right = -Y, up = +X
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = (0, -1, 0), (1, 0, 0), (0, 0, 1), (0, 0, 3)
    cameras = tmp_path / "cams.json"
    cameras.write_text(json.dumps({"frames": [{"transform_matrix": c2w.tolist(),
                                               "camera_angle_x": 0.0, "ortho_scale": 2.0}]}))
    out = tmp_path / "views"
    render_views(mesh, out, str(cameras), size=34, passes=("albedo",), y_up=False)
    albedo = _read(out / "000_albedo.png")
    # image (row, col) -> world x = 1 - (row + 0.5) / 17, y = 1 - (col + 0.5) / 17
    # top-left pixel: x > 0, y > 0 -> uv (0.75, 0.75) -> texel row 0, column 1 (green)
    for row, col, texel in ((8, 8, (0, 1)), (8, 25, (1, 1)), (25, 8, (0, 0)),
                            (25, 25, (1, 0))):
        expected = TEXELS[texel][:3].astype(int)
        assert np.abs(albedo[row, col, :3].astype(int) - expected).max() <= 1, (row, col)


def test_vertex_colors_from_ply(tmp_path):
    # two separate squares, each with one colour on all its vertices
    left, right = _sheet((-1.0, 0.0), 0.9), _sheet((1.0, 0.0), 0.9)
    mesh = trimesh.util.concatenate([left, right])
    colors = np.array([[200, 100, 50, 255]] * 4 + [[30, 160, 220, 255]] * 4, np.uint8)
    mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_colors=colors, process=False)
    path = tmp_path / "colored.ply"
    mesh.export(path)

    loaded = load(path, appearance=True)
    look = loaded.metadata["meshprep_appearance"]
    assert look.vertex_color is not None and look.vertex_color.shape == (8, 4)
    assert look.vertex_color.dtype == np.float32
    assert np.all(look.vertex_color[:, :3] <= colors[:, :3] / 255.0 + 1e-6)  # linear < sRGB

    out = tmp_path / "views"
    render_views(loaded, out, "ortho6", size=32, passes=("albedo",), y_up=False)
    albedo = _read(out / f"{TOP:03d}_albedo.png").astype(int)
    covered = albedo[..., 3] > 0
    assert covered.sum() > 0.3 * covered.size
    # the mesh is 3.8 wide, scaled into [-1, 1]: the left square covers the left half
    half = 16
    for cols, color in ((slice(0, half - 1), colors[0]), (slice(half + 1, 32), colors[4])):
        pixels = albedo[:, cols][covered[:, cols]][:, :3]
        assert len(pixels) > 50
        assert np.abs(pixels - color[:3].astype(int)).max() <= 2


def test_missing_texture_loads_and_draws_white(tmp_path):
    files = _textured_quad().export(file_type="gltf")
    tree = json.loads(files.pop("model.gltf"))
    # the image is an external file that is not there
    tree["images"] = [{"uri": "missing.png", "mimeType": "image/png"}]
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "model.gltf"
    path.write_text(json.dumps(tree))
    assert not (tmp_path / "missing.png").exists()

    mesh = load(path, appearance=True)
    assert len(mesh.faces) == 2
    look = mesh.metadata["meshprep_appearance"]
    assert not look.textured
    out = tmp_path / "views"
    render_views(mesh, out, "ortho6", size=16, passes=("albedo",), y_up=False)
    albedo = _read(out / f"{TOP:03d}_albedo.png")
    assert (albedo == 255).all()


#: 0.8 linear (Blender's default surface) written sRGB
DEFAULT_GREY = 231


def _white(albedo: np.ndarray, value: int = DEFAULT_GREY) -> bool:
    """All covered pixels grey ``value`` (the default surface unless told)."""
    covered = albedo[..., 3] > 0
    return bool(covered.any() and (albedo[covered][:, :3] == value).all())


def test_mesh_without_appearance_is_white(tmp_path):
    path = _red_box_glb(tmp_path)
    mesh = load(path)  # geometry only
    assert "meshprep_appearance" not in mesh.metadata
    out = tmp_path / "plain"
    render_views(mesh, out, "ortho6", size=16, passes=("albedo", "color"), y_up=False)
    assert all(_white(_read(out / f"{i:03d}_albedo.png")) for i in range(6))
    # lit grey facing the camera: the headlight's full strength is the base colour
    assert _white(_read(out / "000.png"))

    # also a bare trimesh never loaded through meshprep
    out = tmp_path / "bare"
    render_views(trimesh.creation.icosphere(subdivisions=1), out, "ortho6", size=16,
                 passes=("albedo",), y_up=False)
    assert _white(_read(out / "000_albedo.png"))


@pytest.mark.parametrize("where", ["metadata", "argument"])
def test_mismatched_appearance_falls_back_to_white(tmp_path, where):
    red = load(_red_box_glb(tmp_path), appearance=True).metadata["meshprep_appearance"]
    assert len(red.face_material) == 12
    sphere = trimesh.creation.icosphere(subdivisions=1)  # 80 faces, 42 vertices
    out = tmp_path / "views"
    if where == "metadata":
        sphere.metadata["meshprep_appearance"] = red
        render_views(sphere, out, "ortho6", size=16, passes=("albedo",), y_up=False)
    else:
        render_views(sphere, out, "ortho6", size=16, passes=("albedo",), y_up=False,
                     appearance=red)
    assert _white(_read(out / "000_albedo.png"))


def test_mismatched_face_count_alone_falls_back(tmp_path):
    # same vertex count, different face count: still not this mesh's look
    mesh = load(_red_box_glb(tmp_path), appearance=True)
    red = mesh.metadata["meshprep_appearance"]
    fewer = trimesh.Trimesh(mesh.vertices, mesh.faces[:10], process=False)
    assert len(red.uv) == len(fewer.vertices)
    out = tmp_path / "views"
    render_views(fewer, out, "ortho6", size=16, passes=("albedo",), y_up=False,
                 appearance=red)
    assert _white(_read(out / "000_albedo.png"))


def test_explicit_appearance_argument(tmp_path):
    # an Appearance passed in wins over the (absent) metadata
    mesh = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    look = Appearance(np.zeros((len(mesh.vertices), 2), np.float32), None, None,
                      np.zeros(len(mesh.faces), np.int32),
                      [Material(np.array([0.0, 0.0, 1.0, 1.0], np.float32))])
    out = tmp_path / "views"
    render_views(mesh, out, "ortho6", size=16, passes=("albedo",), y_up=False,
                 appearance=look)
    albedo = _read(out / "000_albedo.png")
    covered = albedo[..., 3] > 0
    assert covered.any() and (albedo[covered][:, :3] == (0, 0, 255)).all()
