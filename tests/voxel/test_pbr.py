"""TRELLIS.2's O-Voxel PBR attributes (meshprep.voxel.pbr)."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

import meshprep
from meshprep.errors import InvalidGeometryError
from meshprep.io.appearance import Appearance, Material
from meshprep.voxel.dual_grid import flexible_dual_grid
from meshprep.voxel.pbr import PBR_ATTRIBUTES, pbr_voxels, pbr_voxels_multi


def _quad() -> trimesh.Trimesh:
    """The square [-1, 1]^2 in z = 0, UVs (0, 0) at the bottom-left to (1, 1)."""
    vertices = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float64)
    return trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]], process=False)


def _look(mesh: trimesh.Trimesh, material: Material, uv=None, vertex_color=None,
          face_color=None) -> Appearance:
    if uv is None:
        uv = (mesh.vertices[:, :2] - mesh.vertices[:, :2].min(0)) / np.ptp(mesh.vertices[:, :2], 0)
    return Appearance(np.asarray(uv, np.float32), vertex_color, face_color,
                      np.zeros(len(mesh.faces), np.int32), [material])


def _box() -> trimesh.Trimesh:
    return trimesh.creation.box((1.0, 0.7, 0.4))


def _check_shapes(coords, attrs, res):
    assert coords.dtype == np.int32 and coords.ndim == 2 and coords.shape[1] == 3
    assert coords.min() >= 0 and coords.max() < res
    keys = (coords[:, 0].astype(np.int64) * res + coords[:, 1]) * res + coords[:, 2]
    assert np.all(np.diff(keys) > 0)  # sorted, unique
    assert set(attrs) == set(PBR_ATTRIBUTES)
    for name, channels in PBR_ATTRIBUTES.items():
        assert attrs[name].dtype == np.uint8 and attrs[name].shape == (len(coords), channels)


def test_constant_factors_give_constant_attributes():
    mesh = _box()
    material = Material(np.array([0.5, 0.25, 1.0, 1.0], np.float32), metallic_factor=0.3,
                        roughness_factor=0.6)
    coords, attrs = pbr_voxels(mesh, 32, appearance=_look(mesh, material))
    _check_shapes(coords, attrs, 32)
    assert len(coords) > 100
    expected = {"base_color": [127, 63, 255], "metallic": [76], "roughness": [153],
                "alpha": [255]}
    for name, value in expected.items():
        assert np.abs(attrs[name].astype(int) - value).max() <= 1, name


def test_voxel_set_is_the_dual_grid_active_set():
    mesh = trimesh.creation.icosphere(2)
    coords, _ = pbr_voxels(mesh, 32)
    grid = flexible_dual_grid(mesh.vertices, 32, faces=mesh.faces)
    ours = {tuple(c) for c in coords.tolist()}
    assert ours == {tuple(c) for c in np.asarray(grid.coords).tolist()}


def test_texture_quadrants():
    mesh = _quad()
    colors = np.array([[[255, 0, 0], [0, 255, 0]],       # top row: red, green
                       [[0, 0, 255], [255, 255, 255]]],  # bottom row: blue, white
                      np.uint8)
    texture = np.concatenate([colors, np.full((2, 2, 1), 255, np.uint8)], axis=2)
    material = Material(np.ones(4, np.float32), texture)
    res = 8
    coords, attrs = pbr_voxels(mesh, res, appearance=_look(mesh, material))
    centre = (coords + 0.5) / res - 0.5
    top, right = centre[:, 1] > 0, centre[:, 0] > 0
    quadrant = np.where(top, np.where(right, 1, 0), np.where(right, 3, 2))
    palette = colors.reshape(4, 3).astype(int)
    nearest = np.argmin(np.abs(attrs["base_color"][:, None, :].astype(int) - palette).sum(2), 1)
    np.testing.assert_array_equal(nearest, quadrant)
    # one voxel against an independent bilinear (REPEAT) evaluation: centre x = y = -0.1875
    # is u = v = 0.3125 / 0.99999 * ... ~ 0.3125: 2 texels, x = 0.625 -> 87.5 % / 12.5 % blend
    i = np.flatnonzero((coords[:, 0] == 2) & (coords[:, 1] == 2))[0]
    u = 0.5 + (-0.1875) / 0.99999
    w = u * 2 - 0.5  # weight of texel 1 along each axis
    v_rows = [colors[1], colors[0]]  # bottom-left origin: v < 0.5 is the bottom row
    low = (1 - w) * v_rows[0][0] + w * v_rows[0][1]
    high = (1 - w) * v_rows[1][0] + w * v_rows[1][1]
    expected = (1 - w) * low + w * high
    assert np.abs(attrs["base_color"][i].astype(float) - expected).max() <= 1.5


def test_vertex_and_face_colours():
    mesh = _box()
    linear = np.float32(((123 / 255 + 0.055) / 1.055) ** 2.4)  # sRGB 123 as linear
    vertex_color = np.tile(np.array([linear, 1.0, 1.0, 1.0], np.float32), (len(mesh.vertices), 1))
    face_color = np.tile(np.array([1.0, 1.0, linear, 1.0], np.float32), (len(mesh.faces), 1))
    material = Material(np.array([1.0, 0.5, 1.0, 1.0], np.float32))
    look = _look(mesh, material, np.zeros((len(mesh.vertices), 2)), vertex_color, face_color)
    _, attrs = pbr_voxels(mesh, 16, appearance=look)
    assert np.abs(attrs["base_color"].astype(int) - [123, 127, 123]).max() <= 1
    _, plain = pbr_voxels(mesh, 16, appearance=look, vertex_colors=False)
    assert np.abs(plain["base_color"].astype(int) - [255, 127, 255]).max() <= 1


def test_metallic_roughness_texture_channels():
    mesh = _box()
    mr = np.zeros((4, 4, 4), np.uint8)
    mr[..., 0], mr[..., 1], mr[..., 2], mr[..., 3] = 17, 64, 200, 255  # R unused, G, B
    material = Material(np.ones(4, np.float32), metallic_factor=0.5, roughness_factor=1.0,
                        metallic_roughness_texture=mr)
    look = _look(mesh, material, np.zeros((len(mesh.vertices), 2)))
    _, attrs = pbr_voxels(mesh, 16, appearance=look)
    assert np.abs(attrs["metallic"].astype(int) - 100).max() <= 1  # B * 0.5
    assert np.abs(attrs["roughness"].astype(int) - 64).max() <= 1  # G
    assert np.all(attrs["base_color"] == 255)


def test_no_material_gets_the_default():
    mesh = _box()  # no appearance in its metadata
    _, attrs = pbr_voxels(mesh, 16)
    # 0.8 grey (the float32 weighted mean (0.8 w) / w truncates to 203 at times, as upstream)
    assert np.all((attrs["base_color"] == 204) | (attrs["base_color"] == 203))
    assert np.all(attrs["metallic"] == 0)
    assert np.all(attrs["roughness"] == 127)  # 0.5
    assert np.all(attrs["alpha"] == 255)


@pytest.mark.parametrize(("mode", "cutoff", "expected"),
                         [("OPAQUE", 0.5, 255), ("BLEND", 0.5, 64), ("MASK", 0.6, 0),
                          ("MASK", 0.4, 255)])
def test_alpha_modes(mode, cutoff, expected):
    mesh = _box()
    texture = np.full((2, 2, 4), 255, np.uint8)
    texture[..., 3] = 128
    material = Material(np.array([1.0, 1.0, 1.0, 0.5], np.float32), texture,
                        alpha_mode=mode, alpha_cutoff=cutoff)
    # BLEND: 128 / 255 * 0.5 (0.251); MASK (factor 1) compares 128 / 255 with the cutoff
    if mode == "MASK":
        material.factor[3] = 1.0
    look = _look(mesh, material, np.zeros((len(mesh.vertices), 2)))
    _, attrs = pbr_voxels(mesh, 16, appearance=look)
    assert np.abs(attrs["alpha"].astype(int) - expected).max() <= 1


def test_multi_resolution_matches_single_calls():
    mesh = trimesh.creation.icosphere(2)
    texture = (np.random.default_rng(0).random((8, 8, 4)) * 255).astype(np.uint8)
    uv = mesh.vertices[:, :2] * 0.5 + 0.5
    look = _look(mesh, Material(np.ones(4, np.float32), texture), uv)
    both = pbr_voxels_multi(mesh, [16, 32], appearance=look)
    for res in (16, 32):
        coords, attrs = pbr_voxels(mesh, res, appearance=look)
        np.testing.assert_array_equal(both[res][0], coords)
        for name in PBR_ATTRIBUTES:
            np.testing.assert_array_equal(both[res][1][name], attrs[name])


def test_unnormalized_input_must_fit_the_box():
    with pytest.raises(InvalidGeometryError):
        pbr_voxels(_box().apply_scale(3.0), 8, normalize=False)


def test_gltf_round_trip(tmp_path):
    mesh = _box()
    rng = np.random.default_rng(1)
    base = Image.fromarray(np.full((4, 4, 4), [200, 100, 50, 255], np.uint8), "RGBA")
    mr = np.zeros((4, 4, 3), np.uint8)
    mr[..., 1], mr[..., 2] = 128, 255
    material = trimesh.visual.material.PBRMaterial(
        baseColorFactor=[255, 255, 255, 255], baseColorTexture=base, metallicFactor=0.25,
        roughnessFactor=0.75, metallicRoughnessTexture=Image.fromarray(mr, "RGB"),
        alphaMode="MASK", alphaCutoff=0.3)
    mesh.visual = trimesh.visual.TextureVisuals(uv=rng.random((len(mesh.vertices), 2)),
                                                material=material)
    path = tmp_path / "pbr.glb"
    mesh.export(path)
    loaded = meshprep.load(path, appearance=True)
    look = loaded.metadata["meshprep_appearance"]
    (got,) = look.materials
    assert got.metallic_factor == pytest.approx(0.25)
    assert got.roughness_factor == pytest.approx(0.75)
    assert got.alpha_mode == "MASK"
    assert got.alpha_cutoff == pytest.approx(0.3)
    assert got.metallic_roughness_texture is not None
    assert got.metallic_roughness_texture.shape == (4, 4, 4)
    assert np.all(got.metallic_roughness_texture[..., 1] == 128)
    assert np.all(got.metallic_roughness_texture[..., 2] == 255)
    _, attrs = pbr_voxels(loaded, 16)  # the appearance from the mesh's metadata
    assert np.abs(attrs["base_color"].astype(int) - [200, 100, 50]).max() <= 1
    assert np.abs(attrs["metallic"].astype(int) - 63).max() <= 1  # 255 * 0.25
    assert np.abs(attrs["roughness"].astype(int) - 96).max() <= 1  # 128 * 0.75
    assert np.all(attrs["alpha"] == 255)  # 1 >= cutoff


def test_gltf_defaults_without_metallic_roughness(tmp_path):
    mesh = _box()
    mesh.visual = trimesh.visual.TextureVisuals(
        uv=np.zeros((len(mesh.vertices), 2)),
        material=trimesh.visual.material.PBRMaterial(baseColorFactor=[255, 0, 0, 255]))
    path = tmp_path / "plain.glb"
    mesh.export(path)
    (got,) = meshprep.load(path, appearance=True).metadata["meshprep_appearance"].materials
    # glTF's defaults: metallic 1, roughness 1, OPAQUE
    assert (got.metallic_factor, got.roughness_factor, got.alpha_mode) == (1.0, 1.0, "OPAQUE")
    assert got.metallic_roughness_texture is None
