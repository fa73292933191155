"""Texture names as real assets write them (issue 19, part 4): backslashes, another case, spaces,
URL escapes resolve inside the asset's folder; a missing or escaping one draws the factor."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meshprep.io import load
from meshprep.io._paths import MissingAssetWarning

RED = (200, 30, 30)
OBJ = """mtllib m.mtl
v 0 0 0
v 1 0 0
v 0 1 0
vt 0 0
vt 1 0
vt 0 1
usemtl red
f 1/1 2/2 3/3
"""


def _obj_asset(folder: Path, map_kd: str) -> Path:
    """A one-triangle OBJ whose material's texture is written ``map_kd``; the file on disk is
    ``Textures/My Red.png``."""
    (folder / "Textures").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), RED, np.uint8)).save(folder / "Textures" / "My Red.png")
    (folder / "m.mtl").write_text(f"newmtl red\nKd 0.5 0.5 0.5\nmap_Kd {map_kd}\n")
    (folder / "a.obj").write_text(OBJ)
    return folder / "a.obj"


def _texture(path: Path) -> np.ndarray | None:
    return load(path, appearance=True).metadata["meshprep_appearance"].materials[0].texture


@pytest.mark.parametrize("map_kd", [
    "Textures/My Red.png",        # as on disk
    "Textures\\My Red.png",       # written on Windows
    "textures/my red.PNG",        # written on a case-insensitive file system
    "TEXTURES\\MY%20RED.png",     # all of it, URL-escaped
    "Textures/My%20Red.png",      # URL escape only
])
def test_obj_texture_names_resolve(tmp_path: Path, map_kd: str) -> None:
    texture = _texture(_obj_asset(tmp_path / "asset", map_kd))
    assert texture is not None
    assert tuple(texture[0, 0, :3]) == RED


def test_missing_texture_warns_and_draws_factor(tmp_path: Path) -> None:
    path = _obj_asset(tmp_path / "asset", "Textures/Gone.png")
    with pytest.warns(MissingAssetWarning, match="Gone.png"):
        material = load(path, appearance=True).metadata["meshprep_appearance"].materials[0]
    assert material.texture is None
    np.testing.assert_allclose(material.factor[:3], 0.5, atol=1 / 255)


@pytest.mark.parametrize("map_kd", ["../outside.png", "..\\OUTSIDE.PNG", "/tmp/outside.png"])
def test_texture_outside_the_folder_is_never_read(tmp_path: Path, map_kd: str) -> None:
    Image.fromarray(np.full((4, 4, 3), RED, np.uint8)).save(tmp_path / "outside.png")
    assert _texture(_obj_asset(tmp_path / "asset", map_kd)) is None


def _gltf_with_image_uri(data_dir: Path, folder: Path, uri: str) -> Path:
    """box_textured.glb rewritten as a .gltf whose image is the file ``Tex/Box Color.png``
    referenced as ``uri``."""
    data = (data_dir / "box_textured.glb").read_bytes()
    json_length = struct.unpack_from("<I", data, 12)[0]
    tree = json.loads(data[20:20 + json_length])
    binary = data[20 + json_length + 8:]
    image = tree["images"][0]
    view = tree["bufferViews"][image.pop("bufferView")]
    start = view.get("byteOffset", 0)
    (folder / "Tex").mkdir(parents=True)
    (folder / "Tex" / "Box Color.png").write_bytes(binary[start:start + view["byteLength"]])
    image.pop("mimeType", None)
    image["uri"] = uri
    (folder / "box.bin").write_bytes(binary)
    tree["buffers"] = [{"uri": "box.bin", "byteLength": len(binary)}]
    (folder / "box.gltf").write_text(json.dumps(tree))
    return folder / "box.gltf"


@pytest.mark.parametrize("uri", ["Tex/Box%20Color.png", "tex%5Cbox%20color.PNG"])
def test_gltf_image_uri_resolves(data_dir: Path, tmp_path: Path, uri: str) -> None:
    reference = load(data_dir / "box_textured.glb", appearance=True)
    expected = reference.metadata["meshprep_appearance"].materials[0].texture
    texture = load(_gltf_with_image_uri(data_dir, tmp_path / "asset", uri),
                   appearance=True).metadata["meshprep_appearance"].materials[0].texture
    np.testing.assert_array_equal(texture, expected)
