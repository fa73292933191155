"""glTF materials load exactly (issue 27, defects 7-9): spec-gloss converted to metal-rough, KTX2
through a plain texture source and GOOGLE_texture_basis, sampler wrap modes and filters.

The glTF files are built here (one textured quad); each expected value is computed from the
declared numbers by the specs' rules, independently of meshprep's code.
"""

from __future__ import annotations

import base64
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from meshprep.io import load
from meshprep.io.appearance import Material, Sampler
from meshprep.io.basisu import BasisTextureWarning, KTX2TextureWarning

SPEC_GLOSS = "KHR_materials_pbrSpecularGlossiness"
CLAMP, MIRROR, REPEAT = 33071, 33648, 10497
PIXELS = np.array([[[250, 10, 10, 255], [10, 200, 30, 128]],
                   [[20, 40, 220, 64], [180, 180, 180, 255]]], np.uint8)


def _png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    image = Image.fromarray(np.asarray(pixels, np.uint8))
    stream = io.BytesIO()
    (image.convert(mode) if mode else image).save(stream, "PNG")
    return stream.getvalue()


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def quad_gltf(material: dict[str, Any], textures: list[dict], images: list[dict],
              samplers: list[dict] | None = None, uv_scale: float = 1.0) -> dict[str, Any]:
    """A unit quad (two triangles, UVs ``[0, uv_scale]``) drawn with one material."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], np.float32) * uv_scale
    indices = np.array([0, 1, 2, 0, 2, 3], np.uint16)
    blob = positions.tobytes() + uv.tobytes() + indices.tobytes()
    tree = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": len(blob),
                     "uri": _data_uri(blob, "application/octet-stream")}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 48},
                        {"buffer": 0, "byteOffset": 48, "byteLength": 32},
                        {"buffer": 0, "byteOffset": 80, "byteLength": 12}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3",
             "min": [0, 0, 0], "max": [1, 1, 0]},
            {"bufferView": 1, "componentType": 5126, "count": 4, "type": "VEC2"},
            {"bufferView": 2, "componentType": 5123, "count": 6, "type": "SCALAR"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1},
                                    "indices": 2, "material": 0}]}],
        "nodes": [{"mesh": 0}], "scenes": [{"nodes": [0]}], "scene": 0,
        "materials": [material], "textures": textures, "images": images,
    }
    if samplers:
        tree["samplers"] = samplers
    return tree


def _material(path: Path, tree: dict[str, Any]) -> Material:
    path.write_text(json.dumps(tree))
    return load(path, appearance=True).metadata["meshprep_appearance"].materials[0]


# --- the spec's numbers, written out independently ------------------------------------------

def _to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _to_srgb(c: float) -> float:
    c = min(max(c, 0.0), 1.0)
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def _reference_metal_rough(diffuse, specular):
    """KHR_materials_pbrSpecularGlossiness, examples/convert-between-workflows
    (ConvertToMetallicRoughness), for one colour: (base colour, metallic)."""
    def brightness(c):
        return math.sqrt(0.299 * c[0] ** 2 + 0.587 * c[1] ** 2 + 0.114 * c[2] ** 2)

    one_minus = 1 - max(specular)
    bd, bs = brightness(diffuse), brightness(specular)
    if bs < 0.04:
        metallic = 0.0
    else:
        b = bd * one_minus / 0.96 + bs - 0.08
        c = 0.04 - bs
        metallic = min(max((-b + math.sqrt(b * b - 0.16 * c)) / 0.08, 0.0), 1.0)
    from_diffuse = [d * one_minus / 0.96 / max(1 - metallic, 1e-6) for d in diffuse]
    from_specular = [(s - 0.04 * (1 - metallic)) / max(metallic, 1e-6) for s in specular]
    t = metallic * metallic
    pairs = zip(from_diffuse, from_specular, strict=True)
    base = [min(max(a + (b - a) * t, 0.0), 1.0) for a, b in pairs]
    return base, metallic


# --- defect 7: KHR_materials_pbrSpecularGlossiness ------------------------------------------

def test_spec_gloss_factors_convert(tmp_path: Path) -> None:
    """The extension README's gold: a metal whose base colour is its specular colour."""
    specular, diffuse = [1.0, 0.766, 0.336], [0.0, 0.0, 0.0, 0.6]
    tree = quad_gltf({"alphaMode": "BLEND", "extensions": {SPEC_GLOSS: {
        "diffuseFactor": diffuse, "specularFactor": specular, "glossinessFactor": 0.9}}}, [], [])
    tree["extensionsRequired"] = tree["extensionsUsed"] = [SPEC_GLOSS]
    material = _material(tmp_path / "gold.gltf", tree)
    base, metallic = _reference_metal_rough(diffuse[:3], specular)
    # trimesh keeps a base colour factor as bytes: within half a step
    np.testing.assert_allclose(material.factor, [*base, 0.6], atol=0.51 / 255)
    np.testing.assert_allclose(base, specular, atol=1e-6)  # as the README says of metals
    assert material.metallic_factor == pytest.approx(metallic) == pytest.approx(1.0)
    assert material.roughness_factor == pytest.approx(0.1)
    assert material.alpha_mode == "BLEND"


@pytest.mark.parametrize("mode", [None, "P"])  # RGBA, and a palette PNG (grey before the fix)
def test_spec_gloss_diffuse_texture_keeps_its_colour(tmp_path: Path, mode: str | None) -> None:
    png = _png(PIXELS if mode is None else PIXELS[..., :3], mode)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))  # as stored (palette)
    factor, specular, glossiness = [0.9, 1.0, 0.8, 0.5], [0.02, 0.02, 0.02], 0.3
    tree = quad_gltf({"alphaMode": "BLEND", "extensions": {SPEC_GLOSS: {
        "diffuseTexture": {"index": 0}, "diffuseFactor": factor, "specularFactor": specular,
        "glossinessFactor": glossiness}}}, [{"source": 0}], [{"uri": _data_uri(png, "image/png")}])
    material = _material(tmp_path / "diffuse.gltf", tree)
    assert material.texture is not None and material.texture.shape == (2, 2, 4)
    for y in range(2):
        for x in range(2):
            texel = pixels[y, x]
            diffuse = [_to_linear(texel[c] / 255) * factor[c] for c in range(3)]
            base, metallic = _reference_metal_rough(diffuse, specular)
            assert metallic == 0.0
            got = material.texture[y, x] / 255 * np.append(material.factor[:3], 1.0)
            expected = [_to_srgb(c) for c in base]
            alpha = texel[3] / 255 * factor[3]
            np.testing.assert_allclose(got, [*expected, alpha], atol=1.01 / 255)
            assert max(expected) > 0.2  # a colour, not the grey it was
    assert material.metallic_factor == 0.0
    assert material.roughness_factor == pytest.approx(1 - glossiness)
    assert material.alpha_mode == "BLEND"


def test_spec_gloss_texture_gives_roughness_and_metallic(tmp_path: Path) -> None:
    """Specular (sRGB RGB) and glossiness (linear A) per texel: roughness = 1 - glossiness."""
    sg = np.array([[[0, 0, 0, 255], [0, 0, 0, 51]], [[255, 200, 90, 204], [0, 0, 0, 0]]],
                  np.uint8)
    diffuse_pixels = np.full((2, 2, 3), 128, np.uint8)
    tree = quad_gltf({"extensions": {SPEC_GLOSS: {
        "diffuseTexture": {"index": 0}, "specularGlossinessTexture": {"index": 1},
        "glossinessFactor": 0.5}}}, [{"source": 0}, {"source": 1}],
        [{"uri": _data_uri(_png(diffuse_pixels), "image/png")},
         {"uri": _data_uri(_png(sg), "image/png")}])
    material = _material(tmp_path / "sg.gltf", tree)
    mr = material.metallic_roughness_texture
    assert mr is not None and material.metallic_factor == material.roughness_factor == 1.0
    for y in range(2):
        for x in range(2):
            specular = [_to_linear(c / 255) for c in sg[y, x, :3]]
            diffuse = [_to_linear(128 / 255)] * 3
            base, metallic = _reference_metal_rough(diffuse, specular)
            assert mr[y, x, 1] / 255 == pytest.approx(1 - sg[y, x, 3] / 255 * 0.5, abs=0.6 / 255)
            assert mr[y, x, 2] / 255 == pytest.approx(metallic, abs=0.6 / 255)
            np.testing.assert_allclose(material.texture[y, x, :3] / 255,
                                       [_to_srgb(c) for c in base], atol=1.01 / 255)
    assert mr[1, 0, 2] == 255  # the bright specular texel is a metal


# --- defect 8: KTX2 through a plain source, GOOGLE_texture_basis -----------------------------

def _ktx2(pixels: np.ndarray) -> bytes:
    alktx2 = pytest.importorskip("alktx2")
    return alktx2.encode_bytes_to_ktx2(_png(pixels), mime="image/png", codec="uastc")


BLOCK = np.tile(np.array([[[200, 40, 40, 255]]], np.uint8), (4, 4, 1))


@pytest.mark.parametrize("how", ["mime", "uri"])
def test_ktx2_through_plain_source_is_decoded(tmp_path: Path, how: str) -> None:
    ktx2 = _ktx2(BLOCK)
    if how == "mime":  # an embedded image/ktx2 (trimesh skips those)
        image = {"uri": _data_uri(ktx2, "image/ktx2"), "mimeType": "image/ktx2"}
    else:  # a .ktx2 file next to the .gltf, no mimeType (PIL cannot open it)
        (tmp_path / "color.ktx2").write_bytes(ktx2)
        image = {"uri": "color.ktx2"}
    tree = quad_gltf({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}},
                     [{"source": 0}], [image])
    with warnings.catch_warnings():
        warnings.simplefilter("error", KTX2TextureWarning)
        material = _material(tmp_path / "plain.gltf", tree)
    assert material.texture is not None
    np.testing.assert_allclose(material.texture[..., :3].mean(axis=(0, 1)), BLOCK[0, 0, :3],
                               atol=4)


def test_plain_ktx2_without_decoder_warns(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("meshprep.io.basisu.decoder_available", lambda: False)
    tree = quad_gltf({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0},
                                               "baseColorFactor": [0.2, 0.4, 0.6, 1.0]}},
                     [{"source": 0}], [{"uri": "color.ktx2"}])
    (tmp_path / "color.ktx2").write_bytes(b"\xabKTX 20\xbb\r\n\x1a\n" + b"\0" * 64)
    with pytest.warns(KTX2TextureWarning, match=r"plain\.gltf.*color\.ktx2"):
        material = _material(tmp_path / "plain.gltf", tree)
    assert material.texture is None
    np.testing.assert_allclose(material.factor, [0.2, 0.4, 0.6, 1.0], atol=0.51 / 255)


def test_google_basis_warns_and_draws_the_factor(tmp_path: Path) -> None:
    (tmp_path / "color.basis").write_bytes(b"sB" + b"\0" * 80)  # a .basis header's signature
    tree = quad_gltf({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0},
                                               "baseColorFactor": [0.3, 0.5, 0.7, 1.0]}},
                     [{"extensions": {"GOOGLE_texture_basis": {"source": 0}}}],
                     [{"uri": "color.basis", "mimeType": "image/basis"}])
    tree["extensionsUsed"] = tree["extensionsRequired"] = ["GOOGLE_texture_basis"]
    (tmp_path / "basis.gltf").write_text(json.dumps(tree))
    with pytest.warns(BasisTextureWarning, match=r"basis\.gltf.*GOOGLE_texture_basis.*color"):
        mesh = load(tmp_path / "basis.gltf", appearance=True)
    assert len(mesh.faces) == 2  # the geometry loads
    material = mesh.metadata["meshprep_appearance"].materials[0]
    assert material.texture is None
    np.testing.assert_allclose(material.factor, [0.3, 0.5, 0.7, 1.0], atol=0.51 / 255)


# --- defect 9: samplers ---------------------------------------------------------------------

@pytest.mark.parametrize("wrap_s, wrap_t, mag", [(CLAMP, MIRROR, 9728), (MIRROR, REPEAT, None),
                                                 (REPEAT, CLAMP, 9729)])
def test_samplers_are_carried(tmp_path: Path, wrap_s: int, wrap_t: int, mag: int | None) -> None:
    sampler = {"wrapS": wrap_s, "wrapT": wrap_t, **({"magFilter": mag} if mag else {})}
    png = _data_uri(_png(PIXELS), "image/png")
    tree = quad_gltf({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0},
                                               "metallicRoughnessTexture": {"index": 1}}},
                     [{"source": 0, "sampler": 0}, {"source": 0}], [{"uri": png}],
                     samplers=[sampler])
    material = _material(tmp_path / "sampled.gltf", tree)
    assert material.texture_sampler == Sampler(wrap_s, wrap_t, mag, None)
    assert material.metallic_roughness_sampler == Sampler()  # no sampler: glTF's default
    assert material.texture is not None and material.metallic_roughness_texture is not None


def test_default_sampler_needs_no_rewrite(tmp_path: Path) -> None:
    from meshprep.io.gltf_textures import needs_texture_pass

    tree = quad_gltf({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}},
                     [{"source": 0, "sampler": 0}], [{"uri": "x.png"}],
                     samplers=[{"wrapS": REPEAT}])
    assert not needs_texture_pass(tree)


# --- defect 9: the samplers drawn (rasterizer) and voxelized (PBR voxels) ---------------------

def _gl_wrap(i: int, size: int, mode: int) -> int:
    """OpenGL ES 3.0, 3.8.10 "Coordinate Wrapping and Texel Selection" (glTF's sampler refers to
    it): the texel index ``i`` under REPEAT, CLAMP_TO_EDGE or MIRRORED_REPEAT."""
    if mode == REPEAT:
        return i % size
    if mode == CLAMP:
        return min(max(i, 0), size - 1)
    a = i % (2 * size) - size
    return (size - 1) - (a if a >= 0 else -(1 + a))


TEXTURE = np.arange(4 * 4 * 4, dtype=np.uint8).reshape(4, 4, 4) * 3 + 40  # every texel distinct
COORDS = [-1.875, -1.125, -0.625, -0.125, 0.375, 1.125, 1.625, 2.375, 3.875]  # texel centres


@pytest.mark.parametrize("wrap_s, wrap_t", [(CLAMP, MIRROR), (MIRROR, CLAMP), (REPEAT, REPEAT),
                                            (MIRROR, MIRROR)])
@pytest.mark.parametrize("mag", [9728, 9729])
def test_rasterizer_honours_wrap_modes(wrap_s: int, wrap_t: int, mag: int) -> None:
    from meshprep.render.raster import sampler_codes, shade_colors
    from meshprep.render.views import _SRGB_TO_LINEAR

    material = Material(np.ones(4, np.float32), TEXTURE,
                        texture_sampler=Sampler(wrap_s, wrap_t, mag, None))
    # one triangle with UVs (0, 0), (1, 0), (0, 1): barycentrics (b1, b2) sample (u, v)
    points = [(u, v) for u in COORDS for v in COORDS]
    bary = np.array(points, np.float32).reshape(1, 1, -1, 2)
    face_id = np.zeros(bary.shape[:3], np.int32)
    out = np.zeros((*face_id.shape, 4), np.uint8)
    none = np.zeros((0, 4), np.float32)
    shade_colors(face_id, bary, np.array([[0, 1, 2]], np.int64),
                 np.array([[0, 0], [1, 0], [0, 1]], np.float64), none, none,
                 np.zeros(1, np.int32), np.ones((1, 4)), TEXTURE.reshape(-1),
                 np.zeros(1, np.int64), np.array([4]), np.array([4]), sampler_codes([material]),
                 _SRGB_TO_LINEAR, np.zeros((1, 1, len(points), 3), np.float32),
                 np.zeros((1, 3)), False, out)
    for k, (u, v) in enumerate(points):
        # glTF's t runs down the image: t = 1 - v in trimesh's UVs
        col = _gl_wrap(math.floor(u * 4), 4, wrap_s)
        row = _gl_wrap(math.floor((1 - v) * 4), 4, wrap_t)
        np.testing.assert_allclose(out[0, 0, k, :3], TEXTURE[row, col, :3], atol=1,
                                   err_msg=f"uv {(u, v)}")


@pytest.mark.parametrize("wrap_s, wrap_t", [(CLAMP, MIRROR), (MIRROR, CLAMP), (REPEAT, MIRROR)])
def test_pbr_voxels_honour_wrap_modes(wrap_s: int, wrap_t: int) -> None:
    """The voxelizer's slots get Blender's extension modes (EXTEND, MIRROR) per axis."""
    from meshprep.voxel.pbr import _sample_level, _sampling

    material = Material(np.ones(4, np.float32), TEXTURE,
                        texture_sampler=Sampler(wrap_s, wrap_t, 9728, None))
    wrap, filt = _sampling(material, 0)
    assert filt == 0  # NEAREST: Blender's 'Closest'
    flipped = np.ascontiguousarray(TEXTURE[::-1, :, :3])  # bottom row first, as Blender's
    for u in COORDS:
        for v in COORDS:
            got = _sample_level(flipped.reshape(-1), 0, 4, 3, np.float32(u), np.float32(v),
                                filt, wrap)
            col = _gl_wrap(math.floor(u * 4), 4, wrap_s)
            row = _gl_wrap(math.floor((1 - v) * 4), 4, wrap_t)
            np.testing.assert_allclose(np.array(got) * 255, flipped[row, col], atol=1e-3,
                                       err_msg=f"uv {(u, v)}")
