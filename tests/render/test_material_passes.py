"""Passes for texture and material models (issue 28, part 5): ``mr``, ``normal_camera``,
``position`` and ``emission`` on a quad of known material values, seen head-on.

Expected values come from the declared numbers: metallic / roughness bytes, the camera-facing
plane's OpenGL camera normal (0, 0, 1), the plane point under each pixel centre from the
written OpenCV K and w2c, and sRGB-encoded emission.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from meshprep.io.appearance import Appearance, Material
from meshprep.render import render_views
from meshprep.render.cameras import Camera, CameraSet, look_at
from meshprep.render.views import PASS_SUFFIX, PASSES

SIZE = 48
#: a 2 x 2 quad in the XZ plane facing -Y (its winding), UV u along +X and v along +Z
QUAD = trimesh.Trimesh([[-1, 0, -1], [1, 0, -1], [1, 0, 1], [-1, 0, 1]], [[0, 1, 2], [0, 2, 3]],
                       process=False)
UV = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)


def _camera() -> CameraSet:
    return CameraSet("t", (Camera(look_at((0, -6, 0)), math.radians(30.0)),), bound=1.0)


def _look(**fields) -> Appearance:
    material = Material(np.ones(4, np.float32), **fields)
    return Appearance(UV, None, None, np.zeros(2, np.int32), [material])


def _render(tmp_path: Path, look: Appearance, passes: tuple[str, ...]) -> dict[str, np.ndarray]:
    render_views(QUAD, tmp_path, _camera(), size=SIZE, passes=passes, y_up=False,
                 appearance=look)
    return {p: np.asarray(Image.open(tmp_path / f"000{PASS_SUFFIX[p]}.png")) for p in passes}


def _png16(path: Path) -> np.ndarray:
    """A 16-bit RGBA PNG as written here (filter 0 on every row; Pillow reads it as 8-bit)."""
    data = path.read_bytes()[8:]
    width = height = 0
    idat = b""
    while data:
        length = int.from_bytes(data[:4], "big")
        kind, body = data[4:8], data[8:8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            assert body[8:10] == bytes([16, 6])  # 16-bit RGBA
        elif kind == b"IDAT":
            idat += body
        data = data[12 + length:]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width * 8 + 1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].copy().view(">u2").reshape(height, width, 4).astype(np.uint16)


def _srgb_byte(linear: float) -> int:
    encoded = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055
    return round(encoded * 255)


def test_passes_are_listed_with_their_files() -> None:
    for name, suffix in (("mr", "_mr"), ("normal_camera", "_normal_cam"), ("position", "_pos"),
                         ("emission", "_emission")):
        assert name in PASSES and PASS_SUFFIX[name] == suffix


def test_mr_holds_the_material_factors(tmp_path: Path) -> None:
    image = _render(tmp_path, _look(metallic_factor=0.3, roughness_factor=0.7), ("mr",))["mr"]
    centre = image[SIZE // 2, SIZE // 2]
    assert centre[0] == 255 and centre[3] == 255
    assert abs(int(centre[1]) - round(0.7 * 255)) <= 1  # G: roughness
    assert abs(int(centre[2]) - round(0.3 * 255)) <= 1  # B: metallic
    assert (image[0, 0] == 0).all()  # background


def test_mr_texture_multiplies_the_factors(tmp_path: Path) -> None:
    texture = np.full((4, 4, 4), (0, 128, 255, 255), np.uint8)
    look = _look(metallic_factor=0.3, roughness_factor=0.7, metallic_roughness_texture=texture)
    centre = _render(tmp_path, look, ("mr",))["mr"][SIZE // 2, SIZE // 2]
    assert abs(int(centre[1]) - round(0.7 * 128)) <= 1
    assert abs(int(centre[2]) - round(0.3 * 255)) <= 1


def test_camera_normal_of_a_plane_facing_the_camera(tmp_path: Path) -> None:
    image = _render(tmp_path, _look(), ("normal_camera",))["normal_camera"]
    covered = image[..., 3] == 255
    assert covered.sum() > 100
    normals = image[covered][:, :3] / 255.0 * 2.0 - 1.0
    np.testing.assert_allclose(normals, np.tile([0, 0, 1], (len(normals), 1)), atol=0.01)


def test_position_is_the_plane_point_at_pixel_centres(tmp_path: Path) -> None:
    render_views(QUAD, tmp_path, _camera(), size=SIZE, passes=("position",), y_up=False,
                 appearance=_look())
    image = _png16(tmp_path / "000_pos.png")
    frame = json.loads((tmp_path / "transforms.json").read_text())["frames"][0]
    k, w2c = np.array(frame["opencv"]["K"]), np.array(frame["opencv"]["w2c"])
    rows, cols = np.nonzero(image[..., 3] == 65535)
    pixels = np.stack([cols + 0.5, rows + 0.5, np.ones(len(rows))], axis=1)
    rays = pixels @ np.linalg.inv(k).T @ w2c[:3, :3]  # world directions (w2c rotation's rows)
    eye = -w2c[:3, :3].T @ w2c[:3, 3]
    points = eye + rays * (-eye[1] / rays[:, 1:2])  # on the plane y = 0
    expected = points / 2.0 + 0.5  # p / (2 * bound) + 0.5
    np.testing.assert_allclose(image[rows, cols, :3] / 65535.0, expected, atol=3e-4)


def test_emission_factor_strength_and_texture(tmp_path: Path) -> None:
    look = _look(emissive_factor=np.array([0.2, 0.4, 0.1], np.float32), emissive_strength=2.0)
    centre = _render(tmp_path, look, ("emission",))["emission"][SIZE // 2, SIZE // 2]
    assert [int(c) for c in centre[:3]] == [_srgb_byte(v) for v in (0.4, 0.8, 0.2)]
    texture = np.full((2, 2, 4), (188, 188, 0, 255), np.uint8)  # sRGB 188: linear 0.5029
    look = _look(emissive_factor=np.ones(3, np.float32), emissive_texture=texture)
    centre = _render(tmp_path / "t", look, ("emission",))["emission"][SIZE // 2, SIZE // 2]
    assert abs(int(centre[0]) - 188) <= 1 and centre[2] == 0


def test_emission_is_black_without_emissive_material(tmp_path: Path) -> None:
    image = _render(tmp_path, _look(), ("emission", "mask"))
    assert (image["emission"][..., :3] == 0).all()
    assert (image["emission"][..., 3] == image["mask"]).all()


def test_normal_map_perturbs_both_normal_passes(tmp_path: Path) -> None:
    # tangent-space (0.71, 0, 0.71): halfway between the tangent (+X) and the normal (-Y)
    texture = np.full((2, 2, 4), (218, 128, 218, 255), np.uint8)
    images = _render(tmp_path, _look(normal_texture=texture), ("normal", "normal_camera"))
    world = images["normal"][SIZE // 2, SIZE // 2, :3] / 255.0 * 2.0 - 1.0
    camera = images["normal_camera"][SIZE // 2, SIZE // 2, :3] / 255.0 * 2.0 - 1.0
    half = math.sqrt(0.5)
    np.testing.assert_allclose(world, [half, -half, 0], atol=0.02)
    np.testing.assert_allclose(camera, [half, 0, half], atol=0.02)  # OpenGL: +X right, +Z back


def test_flat_normal_map_changes_nothing(tmp_path: Path) -> None:
    texture = np.full((2, 2, 4), (128, 128, 255, 255), np.uint8)
    images = _render(tmp_path, _look(normal_texture=texture), ("normal", "normal_camera"))
    centre = images["normal"][SIZE // 2, SIZE // 2, :3] / 255.0 * 2.0 - 1.0
    np.testing.assert_allclose(centre, [0, -1, 0], atol=0.01)
