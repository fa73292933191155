import json
import math

import numpy as np
import pytest
import trimesh
from PIL import Image

from meshprep.render import look_at, parse_cameras, render_views
from meshprep.render.cameras import Camera, CameraSet, hammersley_directions


def _box(extent=1.0) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(extent, extent, extent))


def test_look_at_uses_blender_axes():
    c2w = look_at((0, -3, 0))
    assert np.allclose(c2w[:3, 3], (0, -3, 0))
    assert np.allclose(-c2w[:3, 2], (0, 1, 0))  # looks along its -Z, at the origin
    assert np.allclose(c2w[:3, 1], (0, 0, 1))  # +Y is world up
    assert np.allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3))


@pytest.mark.parametrize("spec, count", [("hammersley:150", 150), ("cond:24", 24),
                                         ("ortho6", 6), ("orbit:8@30", 8), ("scoring4", 4)])
def test_camera_sets(spec, count):
    cams = parse_cameras(spec, seed=3)
    assert len(cams.cameras) == count
    for cam in cams.cameras:  # every camera looks at the origin
        forward = -cam.c2w[:3, 2]
        eye = cam.c2w[:3, 3]
        assert np.allclose(np.cross(forward, -eye / np.linalg.norm(eye)), 0, atol=1e-9)
    again = parse_cameras(spec, seed=3)
    assert all(np.array_equal(a.c2w, b.c2w) for a, b in zip(cams.cameras, again.cameras,
                                                              strict=True))


def test_hammersley_covers_the_sphere():
    yaw_pitch = hammersley_directions(150)
    z = np.sin(yaw_pitch[:, 1])
    # TRELLIS's warp: a quarter below the equator, z uniform within each hemisphere
    # (tests/render/test_cameras.py checks the recipe in full)
    assert abs((z < 0).mean() - 0.25) < 0.01
    assert abs(z[z > 0].mean() - 0.5) < 0.02 and abs(z[z < 0].mean() + 0.5) < 0.05


def test_depth_mask_and_normals_of_a_box(tmp_path):
    # a camera 6 units from the centre of a 2-unit cube: its face is 5 away
    cams = CameraSet("test", (Camera(look_at((0, -6, 0)), math.radians(40.0)),), bound=1.0)
    render_views(_box(2.0), tmp_path, cams, size=64, passes=("normal", "depth", "mask"),
                 y_up=False)
    meta = json.loads((tmp_path / "transforms.json").read_text())
    depth = np.asarray(Image.open(tmp_path / "000_depth.png"), dtype=np.float64)
    depth = depth / 65535 * meta["depth_max"]
    assert abs(depth[32, 32] - 5.0) < 1e-3
    mask = np.asarray(Image.open(tmp_path / "000_mask.png")) > 0
    focal = 0.5 * 64 / math.tan(math.radians(20.0))
    assert abs(mask[32].sum() - 2 * focal * 1.0 / 5.0) <= 2  # the face is 2 units wide

    normal = np.asarray(Image.open(tmp_path / "000_normal.png"), dtype=np.float64)
    assert np.allclose(normal[32, 32, :3] / 255 * 2 - 1, (0, -1, 0), atol=0.01)
    assert normal[0, 0, 3] == 0 and normal[32, 32, 3] == 255
    frame = meta["frames"][0]
    k = np.array(frame["opencv"]["K"])
    w2c = np.array(frame["opencv"]["w2c"])
    # the OpenCV matrices project the face centre to the image centre
    p = w2c @ np.array([0, -1, 0, 1.0])
    assert p[2] == pytest.approx(5.0) and np.allclose((k @ p[:3])[:2] / p[2], (32, 32))


def test_back_faces_are_turned_to_the_camera(tmp_path):
    # a single quad seen from behind: its normal map still points at the camera
    quad = trimesh.Trimesh([[-1, 0, -1], [1, 0, -1], [1, 0, 1], [-1, 0, 1]],
                           [[0, 1, 2], [0, 2, 3]])  # normal -Y... seen from +Y
    cams = CameraSet("t", (Camera(look_at((0, 3, 0)), math.radians(40.0)),))
    render_views(quad, tmp_path, cams, size=32, passes=("normal",), y_up=False)
    normal = np.asarray(Image.open(tmp_path / "000_normal.png"), dtype=np.float64)
    assert np.allclose(normal[16, 16, :3] / 255 * 2 - 1, (0, 1, 0), atol=0.01)


def test_ortho_top_view_and_transforms(tmp_path):
    result = render_views(_box(), tmp_path, "ortho6", size=32, passes=("mask", "shaded"))
    assert result.frames == 6 and len(result.files) == 13
    top = np.asarray(Image.open(tmp_path / "004_mask.png")) > 0
    assert top.all()  # the box fills [-1, 1]^2 seen from above
    meta = json.loads((tmp_path / "transforms.json").read_text())
    assert meta["frames"][4]["ortho_scale"] == 2.0 and meta["frames"][0]["file_path"] == "000"
    assert np.allclose(np.array(meta["normalization"])[3], (0, 0, 0, 1))


def test_degenerate_and_tiny_meshes_render(tmp_path):
    tiny = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]],
                           [[0, 1, 2], [0, 3, 0]], process=False)  # one zero-area face
    result = render_views(tiny, tmp_path, "scoring4", size=16, passes=("mask",))
    masks = [np.asarray(Image.open(p)) for p in result.files if p.suffix == ".png"]
    assert any(m.any() for m in masks)


def _dome(n: int) -> trimesh.Trimesh:
    """A height field of 2 * (n - 1)^2 triangles over [-1, 1]^2 (a smooth bump)."""
    t = np.linspace(-1.0, 1.0, n)
    x, y = np.meshgrid(t, t, indexing="ij")
    vertices = np.stack([x, y, 0.5 * np.exp(-2.0 * (x * x + y * y))], axis=-1).reshape(-1, 3)
    ids = np.arange(n * n).reshape(n, n)
    a, b, c, d = ids[:-1, :-1], ids[1:, :-1], ids[1:, 1:], ids[:-1, 1:]
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3),
                            np.stack([a, c, d], -1).reshape(-1, 3)])
    return trimesh.Trimesh(vertices, faces, process=False)


def test_five_million_faces_render_like_a_coarse_copy(tmp_path):
    fine, coarse = _dome(1583), _dome(101)
    assert len(fine.faces) > 5_000_000
    for name, mesh in (("fine", fine), ("coarse", coarse)):
        render_views(mesh, tmp_path / name, "scoring4", size=96, passes=("mask", "normal"),
                     y_up=False)
    for view in range(4):
        a = np.asarray(Image.open(tmp_path / "fine" / f"{view:03d}_mask.png")) > 0
        b = np.asarray(Image.open(tmp_path / "coarse" / f"{view:03d}_mask.png")) > 0
        assert a.sum() > 500 and (a & b).sum() / (a | b).sum() > 0.98


def test_many_parts_keep_their_own_colours(tmp_path):
    from meshprep.io import load

    scene = trimesh.Scene()
    colours = {}
    for i in range(10):
        for j in range(10):
            box = trimesh.creation.box(extents=(0.8, 0.8, 0.8))
            rgba = [25 * i, 25 * j, 200, 255]
            box.visual = trimesh.visual.TextureVisuals(
                uv=np.zeros((len(box.vertices), 2)),
                material=trimesh.visual.material.PBRMaterial(baseColorFactor=rgba))
            box.apply_translation((i - 4.5, j - 4.5, 0.0))
            scene.add_geometry(box, geom_name=f"box_{i}_{j}")
            colours[i, j] = rgba
    path = tmp_path / "parts.glb"
    scene.export(path)
    mesh = load(path, appearance=True)
    assert len(mesh.metadata["meshprep_appearance"].materials) == 100
    render_views(mesh, tmp_path / "out", "ortho6", size=100, passes=("albedo",), y_up=False)
    top = np.asarray(Image.open(tmp_path / "out" / "004_albedo.png")).astype(int)
    # the top view (ortho6 frame 4) sees each box at the centre of its cell; the factors are
    # linear light, written sRGB: compare after decoding
    decoded = np.where(top[..., :3] / 255 <= 0.04045, top[..., :3] / 255 / 12.92,
                       ((top[..., :3] / 255 + 0.055) / 1.055) ** 2.4) * 255
    expected = np.array([v[:3] for v in colours.values()], np.float64)
    matched = set()
    for r in range(5, 100, 10):
        for c in range(5, 100, 10):
            distance = np.linalg.norm(expected - decoded[r, c], axis=1)
            assert distance.min() < 2.0
            matched.add(int(distance.argmin()))
    assert len(matched) == 100  # every box seen once, in its own colour


def test_bad_pass_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown passes"):
        render_views(_box(), tmp_path, "scoring4", passes=("specular",))


@pytest.mark.parametrize("shape, dtype", [((7, 5), np.uint8), ((7, 5), np.uint16),
                                          ((4, 6, 3), np.uint8), ((9, 3, 4), np.uint8)])
def test_png_writer_round_trips(tmp_path, shape, dtype):
    import io

    from meshprep.render.png import encode_png

    rng = np.random.default_rng(0)
    image = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(image)))), image)
