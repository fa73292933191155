"""Environment-map lighting (``envmap``): reading HDR / EXR maps, prefiltering, shading, the
per-asset draws and the record."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh

from meshprep.io.appearance import Appearance, Material
from meshprep.render import Camera, CameraSet, look_at, parse_cameras, render_views
from meshprep.render.cameras import asset_seed
from meshprep.render.envmap import (
    EnvmapError,
    list_envmaps,
    prefiltered,
    read_envmap,
    texel_directions,
    write_exr,
    write_hdr,
)
from meshprep.render.lights import (
    Lighting,
    envmap_lighting,
    lighting_for_views,
    uniform_lighting,
)
from meshprep.render.shading import prepare_scene, render_color
from meshprep.render.views import _camera_arrays

SIZE = 64


def _map(rows: int = 16) -> np.ndarray:
    """A map with distinct values per texel (linear, 0.05 to 20)."""
    rng = np.random.default_rng(3)
    return np.exp(rng.uniform(np.log(0.05), np.log(20.0), (rows, 2 * rows, 3)))


def test_hdr_round_trips_known_values(tmp_path: Path) -> None:
    image = _map()
    back = read_envmap(write_hdr(tmp_path / "m.hdr", image))
    assert back.shape == image.shape and back.dtype == np.float32
    # RGBE keeps 8 bits of mantissa under the texel's largest channel
    assert np.all(np.abs(back - image) <= image.max(axis=-1, keepdims=True) / 128)
    exact = np.zeros((2, 8, 3))
    exact[0, :] = [1.0, 0.5, 0.25]
    exact[1, :] = [4.0, 2.0, 0.0]
    back = read_envmap(write_hdr(tmp_path / "e.hdr", exact))
    # Radiance decodes a mantissa m at exponent e as (m + 0.5) 2^(e - 136)
    assert back[0, 0] == pytest.approx([128.5 / 128, 64.5 / 128, 32.5 / 128])
    assert back[1, 0, 2] == 0.5 / 32  # a zero mantissa under exponent 131 (4.0's), as Blender


def test_hdr_run_length_scanlines_decode(tmp_path: Path) -> None:
    # a new-style RLE scanline of width 8: per channel one run of 8 (0x88) and its byte
    header = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 8\n"
    line = b"\x02\x02\x00\x08" + b"\x88\x80" + b"\x88\x40" + b"\x08" + bytes(range(8)) + \
        b"\x88\x81"
    (tmp_path / "r.hdr").write_bytes(header + line)
    image = read_envmap(tmp_path / "r.hdr")
    assert image[0, :, 0] == pytest.approx(np.full(8, 128.5 / 128))
    assert image[0, :, 1] == pytest.approx(np.full(8, 64.5 / 128))
    assert image[0, :, 2] == pytest.approx((np.arange(8) + 0.5) / 128)


def test_exr_round_trips_and_other_formats_are_refused(tmp_path: Path) -> None:
    pytest.importorskip("OpenEXR")
    image = _map().astype(np.float32)
    assert np.array_equal(read_envmap(write_exr(tmp_path / "m.exr", image)), image)
    (tmp_path / "m.png").write_bytes(b"\x89PNG")
    with pytest.raises(EnvmapError, match=r"\.hdr .*\.exr"):
        read_envmap(tmp_path / "m.png")
    (tmp_path / "bad.hdr").write_bytes(b"P6\n")
    with pytest.raises(EnvmapError, match="Radiance"):
        read_envmap(tmp_path / "bad.hdr")
    with pytest.raises(EnvmapError, match="must be a folder"):
        list_envmaps(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EnvmapError, match="no .hdr"):
        list_envmaps(tmp_path / "empty")


def test_prefiltered_tables_keep_a_uniform_map_and_its_energy(tmp_path: Path) -> None:
    colour = np.array([0.2, 0.5, 1.5])
    tables = prefiltered(write_hdr(tmp_path / "u.hdr", np.broadcast_to(colour, (8, 16, 3))))
    decoded = read_envmap(tmp_path / "u.hdr")[0, 0]
    assert tables.shape[0] == 7
    assert np.allclose(tables, decoded, rtol=1e-5)
    # one bright half (z > 0): irradiance / pi is 1 toward +Z, 0 toward -Z, 1/2 sideways
    dirs, _ = texel_directions(32)
    half = np.where(dirs[:, 2:3] > 0, 1.0, 0.0) * np.ones(3)
    tables = prefiltered(write_hdr(tmp_path / "h.hdr", half.reshape(32, 64, 3)))
    assert tables[0, 0, :, 0].mean() == pytest.approx(1.0, abs=0.02)
    assert tables[0, -1, :, 0].mean() == pytest.approx(0.0, abs=0.02)
    assert tables[0, 31:33, :, 0].mean() == pytest.approx(0.5, abs=0.05)


def _sphere_render(lighting: Lighting, size: int = SIZE) -> np.ndarray:
    """Linear RGB of a grey sphere seen from +Y (standard view), Z up in the image."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    look = Appearance(np.zeros((len(sphere.vertices), 2), np.float32), None, None,
                      np.zeros(len(sphere.faces), np.int32),
                      [Material(np.array([0.6, 0.6, 0.6, 1.0], np.float32),
                                metallic_factor=0.0, roughness_factor=0.6)])
    cams = CameraSet("side", (Camera(look_at((0, 3.0, 0), (0, 0, 0), (0, 0, 1)), 0.0, 1.2),))
    scene = prepare_scene(np.asarray(sphere.vertices), np.asarray(sphere.faces), look)
    w2c, intr, ortho, eyes, forwards = _camera_arrays(cams, size)
    rgba = render_color(scene, w2c, intr, ortho, eyes, forwards, [lighting], size, ssaa=1,
                        view_transform="standard")[0]
    x = rgba[..., :3] / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def test_a_uniform_map_renders_as_the_uniform_world(tmp_path: Path) -> None:
    folder = tmp_path / "maps"
    folder.mkdir()
    write_hdr(folder / "white.hdr", np.ones((8, 16, 3)))
    lighting = lighting_for_views("envmap", parse_cameras("cond:1", 0), 0, folder)[0]
    a = _sphere_render(uniform_lighting(128.5 / 128))  # the RGBE value of 1.0
    b = _sphere_render(lighting)
    assert np.abs(a - b).max() < 2e-2 and np.abs(a - b).mean() < 2e-3


def test_a_map_bright_on_one_side_lights_that_side(tmp_path: Path) -> None:
    dirs, _ = texel_directions(32)
    # bright toward +X only (the camera on +Y sees +X on the image's left: right-handed, Z up)
    image = np.where(dirs[:, :1] > 0.3, 3.0, 0.02) * np.ones(3)
    path = write_hdr(tmp_path / "side.hdr", image.reshape(32, 64, 3))
    lit = _sphere_render(envmap_lighting(path))
    rows = slice(SIZE // 2 - 4, SIZE // 2 + 4)
    left, right = lit[rows, 8:24].mean(), lit[rows, SIZE - 24:SIZE - 8].mean()
    assert left > 5 * right
    # turned by pi about Z, the light comes from -X: the other side
    turned = _sphere_render(envmap_lighting(path, math.pi))
    assert turned[rows, SIZE - 24:SIZE - 8].mean() > 5 * turned[rows, 8:24].mean()


def test_draws_are_seeded_by_the_asset_and_recorded(tmp_path: Path) -> None:
    folder = tmp_path / "maps"
    folder.mkdir()
    for name in ("a.hdr", "b.hdr", "c.hdr"):
        write_hdr(folder / name, np.ones((4, 8, 3)))
    cams = parse_cameras("cond:6", 0)
    first = lighting_for_views("envmap", cams, asset_seed("asset-1"), folder)
    again = lighting_for_views("envmap", cams, asset_seed("asset-1"), folder)
    other = lighting_for_views("envmap", cams, asset_seed("asset-2"), folder)
    record = [lt.to_json() for lt in first]
    assert record == [lt.to_json() for lt in again]
    assert record != [lt.to_json() for lt in other]
    assert len({r["envmap"] for r in record}) > 1  # one map drawn per view
    assert all(0.0 <= r["envmap_rotation"] < 2 * math.pi and r["kind"] == "envmap"
               for r in record)
    assert Lighting.from_json(record[0]).to_json() == record[0]
    with pytest.raises(ValueError, match="envmaps"):
        lighting_for_views("envmap", cams, 0)
    mesh = trimesh.creation.icosphere(subdivisions=1)
    render_views(mesh, tmp_path / "out", cams, size=16, passes=("color",), lighting="envmap",
                 seed=asset_seed("asset-1"), envmaps=folder, view_transform="standard")
    frames = json.loads((tmp_path / "out" / "transforms.json").read_text())["frames"]
    assert [f["lighting"] for f in frames] == record


def test_one_map_file_lights_every_view_unturned(tmp_path: Path) -> None:
    """A script that sets one world map (Step1X-3D's ``set_env_map``): ``envmaps`` a file."""
    path = write_hdr(tmp_path / "env.hdr", np.ones((4, 8, 3)))
    cams = parse_cameras("cond:4", 0)
    lights = lighting_for_views("envmap", cams, asset_seed("any"), path)
    assert [lt.to_json() for lt in lights] == [envmap_lighting(path).to_json()] * 4
    assert lights[0].envmap_rotation == 0.0 and lights[0].world_strength == 1.0


def test_step1x3d_texture_lights_with_the_scripts_own_map() -> None:
    """The shipped ``env.exr`` is Step1X-3D's (its size and byte hash as in the repository) and
    reads as an HDR map with the sun well above the mean."""
    import hashlib

    from meshprep.export.layout_step1x3d_texture import ENV_MAP

    data = ENV_MAP.read_bytes()
    assert len(data) == 1352916  # git ls-tree -l of data/ig2mv/render/env.exr at 20b5de2
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == \
        "b93e1320baa21acd6bbef2c6d4b98bfffff4c3aa"  # its git blob id
    pytest.importorskip("OpenEXR")
    image = read_envmap(ENV_MAP)
    assert image.shape == (512, 1024, 3) and image.max() > 50 * image.mean()


def test_cli_renders_with_an_envmap_folder(tmp_path: Path) -> None:
    from meshprep.cli import main

    folder = tmp_path / "maps"
    folder.mkdir()
    write_hdr(folder / "grey.hdr", np.full((4, 8, 3), 0.5))
    mesh = tmp_path / "ball.glb"
    trimesh.creation.icosphere(subdivisions=1).export(mesh)
    args = ["render", str(mesh), "-o", str(tmp_path / "out"), "--cameras", "cond:1", "--size",
            "16", "--passes", "color", "--lighting", "envmap", "--view-transform", "standard"]
    assert main(args) == 2  # --envmaps missing
    assert main([*args, "--envmaps", str(folder)]) == 0
    frames = json.loads((tmp_path / "out" / "transforms.json").read_text())["frames"]
    assert Path(frames[0]["lighting"]["envmap"]).name == "grey.hdr"
