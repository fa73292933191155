"""glTF texture and material rewrites made before trimesh reads a file (with ``appearance``).

:func:`meshprep.io.gltf_decode.decoded_glb` calls :func:`needs_texture_pass` to decide whether
the file must be rewritten and :func:`texture_pass` on its copy of the tree:

* KTX2 images, through ``KHR_texture_basisu`` or a texture's plain ``source``, are decoded to
  TGA (:mod:`meshprep.io.basisu`); ``GOOGLE_texture_basis`` ``.basis`` images cannot be, and
  draw their factor with a warning. A texture never fails the geometry load.
* ``KHR_materials_pbrSpecularGlossiness`` materials become metallic-roughness ones, as the
  extension's conversion note computes them (``examples/convert-between-workflows``,
  ``PbrUtilities.ConvertToMetallicRoughness``), per texel when a texture is involved.
* every textured material's name carries its base colour, metallic-roughness, normal and
  emissive samplers, its ``normalTexture.scale`` and its ``KHR_materials_emissive_strength``
  (:func:`meshprep.io.appearance.tag_samplers`), which trimesh does not keep.
* a primitive's ``TANGENT`` is also named ``_TANGENT``
  (:data:`meshprep.io.appearance.TANGENT_ATTRIBUTE`): trimesh keeps custom attributes only.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from meshprep.io.appearance import TANGENT_ATTRIBUTE, Sampler, tag_samplers
from meshprep.io.basisu import (
    EXTENSION,
    GOOGLE_EXTENSION,
    KTX2TextureWarning,
    basis_to_image,
    basisu_textures,
    google_basis_textures,
    ktx2_to_image,
    plain_ktx2_textures,
)

__all__ = ["SPEC_GLOSS", "needs_texture_pass", "spec_gloss_to_metal_rough", "texture_pass"]

SPEC_GLOSS = "KHR_materials_pbrSpecularGlossiness"
EMISSIVE_STRENGTH = "KHR_materials_emissive_strength"
#: F0 of dielectrics in the conversion note (``dielectricSpecular``)
_DIELECTRIC = 0.04
_EPSILON = 1e-6
#: rows converted at a time (bounds the float arrays of a large texture)
_ROWS = 256

ReadImage = Callable[[dict[str, Any]], "bytes | None"]
AddImage = Callable[[bytes], int]


def needs_texture_pass(tree: dict[str, Any]) -> bool:
    """Whether :func:`texture_pass` has anything to do on this glTF tree."""
    return bool(basisu_textures(tree) or plain_ktx2_textures(tree)
                or google_basis_textures(tree) or _spec_gloss_materials(tree)
                or any(not s.is_default() for s in _material_samplers(tree))
                or any(_scalars(m) != (1.0, 1.0) for m in _materials(tree))
                or bool(_tangent_attributes(tree)))


def texture_pass(tree: dict[str, Any], file_name: str, read: ReadImage, add: AddImage) -> None:
    """Decode KTX2 textures, convert spec-gloss materials and tag samplers, in place.

    Parameters
    ----------
    tree : dict
        The glTF tree being rewritten (a copy of the file's).
    file_name : str
        The file's name, for warnings.
    read : callable
        An ``images[]`` entry to its bytes (None: unreadable).
    add : callable
        Stores image bytes as a new ``images[]`` entry; returns its index.
    """
    _decode_images(tree, file_name, read, add)
    for material in _spec_gloss_materials(tree):
        spec_gloss_to_metal_rough(material, tree, read, add)
    _drop_used(tree, SPEC_GLOSS)
    _tag_samplers(tree)
    for attributes in _tangent_attributes(tree):
        attributes[TANGENT_ATTRIBUTE] = attributes["TANGENT"]


# ---------------------------------------------------------------------------------------------
# KTX2 / Basis images


def _decode_images(tree: dict[str, Any], file_name: str, read: ReadImage, add: AddImage) -> None:
    """Point every KTX2 / Basis texture at a decoded image, or at none (its factor draws)."""
    decoded: dict[int, int | None] = {}  # source image -> decoded image (None: none)
    jobs = [(t, i, EXTENSION, ktx2_to_image) for t, i in basisu_textures(tree)]
    jobs += [(t, i, "texture source", ktx2_to_image) for t, i in plain_ktx2_textures(tree)]
    jobs += [(t, i, GOOGLE_EXTENSION, basis_to_image) for t, i in google_basis_textures(tree)]
    for texture_index, image_index, how, decode in jobs:
        if image_index not in decoded:
            decoded[image_index] = _decoded(tree, image_index, f"{file_name}: {how}", read,
                                            decode, add)
        texture = tree["textures"][texture_index]
        for name in (EXTENSION, GOOGLE_EXTENSION):
            (texture.get("extensions") or {}).pop(name, None)
        texture.pop("source", None)  # a KTX2 / Basis fallback would be skipped by trimesh anyway
        if decoded[image_index] is not None:
            texture["source"] = decoded[image_index]
    for name in (EXTENSION, GOOGLE_EXTENSION):
        _drop_used(tree, name)


def _decoded(tree: dict[str, Any], image_index: int, where: str, read: ReadImage,
             decode: Callable[[bytes, str], bytes | None], add: AddImage) -> int | None:
    """The index of the decoded copy of image ``image_index`` (None, with a warning: none)."""
    image = tree["images"][image_index]
    uri = image.get("uri") if isinstance(image.get("uri"), str) else None
    where = f"{where}, images[{image_index}]" + (f" ({uri[:80]})" if uri else "")
    data = read(image)
    if data is None:
        warnings.warn(f"{where}: KTX2 image cannot be read; the base colour factor is used",
                      KTX2TextureWarning, stacklevel=5)
        return None
    pixels = decode(data, where)
    return None if pixels is None else add(pixels)


def _drop_used(tree: dict[str, Any], name: str) -> None:
    """Remove a rewritten extension from ``extensionsUsed`` / ``extensionsRequired``."""
    for key in ("extensionsUsed", "extensionsRequired"):
        if isinstance(tree.get(key), list):
            tree[key] = [e for e in tree[key] if e != name]


# ---------------------------------------------------------------------------------------------
# samplers


def _texture_sampler(tree: dict[str, Any], info: object) -> Sampler:
    """The sampler of a ``textureInfo`` (glTF's default when it names none)."""
    textures = tree.get("textures", []) or []
    samplers = tree.get("samplers", []) or []
    index = info.get("index") if isinstance(info, dict) else None
    if not isinstance(index, int) or not 0 <= index < len(textures) \
            or not isinstance(textures[index], dict):
        return Sampler()
    sampler = textures[index].get("sampler")
    if not isinstance(sampler, int) or not 0 <= sampler < len(samplers):
        return Sampler()
    return Sampler.from_gltf(samplers[sampler])


def _pair(tree: dict[str, Any], material: dict[str, Any]) -> tuple[Sampler, Sampler]:
    """The base colour and metallic-roughness samplers of a metallic-roughness material (or of
    a spec-gloss one's diffuse and specular-glossiness textures, not yet converted)."""
    pbr = material.get("pbrMetallicRoughness") or {}
    spec_gloss = (material.get("extensions") or {}).get(SPEC_GLOSS)
    if isinstance(spec_gloss, dict):
        return (_texture_sampler(tree, spec_gloss.get("diffuseTexture")),
                _texture_sampler(tree, spec_gloss.get("specularGlossinessTexture")))
    return (_texture_sampler(tree, pbr.get("baseColorTexture")),
            _texture_sampler(tree, pbr.get("metallicRoughnessTexture")))


def _materials(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in tree.get("materials", []) or [] if isinstance(m, dict)]


def _samplers(tree: dict[str, Any], material: dict[str, Any]) -> tuple[Sampler, ...]:
    """The base colour, metallic-roughness, normal and emissive textures' samplers."""
    return (*_pair(tree, material), _texture_sampler(tree, material.get("normalTexture")),
            _texture_sampler(tree, material.get("emissiveTexture")))


def _material_samplers(tree: dict[str, Any]) -> list[Sampler]:
    return [s for m in _materials(tree) for s in _samplers(tree, m)]


def _scalars(material: dict[str, Any]) -> tuple[float, float]:
    """``normalTexture.scale`` and ``KHR_materials_emissive_strength`` (1 when absent or not a
    finite number)."""
    normal = material.get("normalTexture")
    scale = normal.get("scale", 1.0) if isinstance(normal, dict) else 1.0
    extension = (material.get("extensions") or {}).get(EMISSIVE_STRENGTH)
    strength = extension.get("emissiveStrength", 1.0) if isinstance(extension, dict) else 1.0
    values = []
    for value in (scale, strength):
        ok = isinstance(value, int | float) and not isinstance(value, bool) \
            and np.isfinite(value)
        values.append(float(value) if ok else 1.0)
    return values[0], values[1]


def _tag_samplers(tree: dict[str, Any]) -> None:
    """Append samplers and scalars to the name of every material that has a non-default one."""
    for material in _materials(tree):
        samplers = _samplers(tree, material)
        normal_scale, strength = _scalars(material)
        if not all(s.is_default() for s in samplers) or (normal_scale, strength) != (1.0, 1.0):
            material["name"] = tag_samplers(material.get("name"), *samplers,
                                            normal_scale=normal_scale, emissive_strength=strength)


def _tangent_attributes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``attributes`` of every primitive that has a ``TANGENT``."""
    return [p["attributes"] for m in tree.get("meshes", []) or [] if isinstance(m, dict)
            for p in m.get("primitives", []) or []
            if isinstance(p, dict) and isinstance(p.get("attributes"), dict)
            and isinstance(p["attributes"].get("TANGENT"), int)]


# ---------------------------------------------------------------------------------------------
# KHR_materials_pbrSpecularGlossiness


def _spec_gloss_materials(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in tree.get("materials", []) or [] if isinstance(m, dict)
            and isinstance((m.get("extensions") or {}).get(SPEC_GLOSS), dict)]


def spec_gloss_to_metal_rough(material: dict[str, Any], tree: dict[str, Any], read: ReadImage,
                              add: AddImage) -> None:
    """Replace a material's spec-gloss extension by the metallic-roughness it converts to.

    Factors convert as numbers; with a diffuse or specular-glossiness texture the conversion
    runs per texel (both textures at the larger one's size, the diffuse one's UV set, sampler
    and transform) into new base colour and metallic-roughness images. A texture that does not
    decode is kept as the base colour texture (diffuse) or left out (specular-glossiness), the
    factors converted alone. The extension's ``pbrMetallicRoughness`` fallback, if any, is
    replaced: a reader that supports the extension renders spec-gloss (its "Best practices").

    Parameters
    ----------
    material : dict
        A glTF ``materials[]`` entry carrying ``KHR_materials_pbrSpecularGlossiness``.
    tree : dict
        The glTF tree (new images and textures are appended to it).
    read, add : callable
        As :func:`texture_pass` takes them.
    """
    extension = material["extensions"].pop(SPEC_GLOSS)
    diffuse = _factor(extension.get("diffuseFactor"), 4)
    specular = _factor(extension.get("specularFactor"), 3)
    glossiness = float(_factor(extension.get("glossinessFactor"), 1)[0])
    diffuse_info = extension.get("diffuseTexture")
    sg_info = extension.get("specularGlossinessTexture")
    diffuse_pixels = _pixels(tree, diffuse_info, read)
    sg_pixels = _pixels(tree, sg_info, read)
    if diffuse_pixels is None and sg_pixels is None:
        base, metallic = convert(diffuse[:3], specular)
        pbr = {"baseColorFactor": [*map(float, base), float(diffuse[3])],
               "metallicFactor": float(metallic), "roughnessFactor": 1.0 - glossiness}
        if isinstance(diffuse_info, dict):  # not decodable here: trimesh may still read it
            pbr["baseColorTexture"] = diffuse_info
    else:
        pbr = _converted_textures(tree, (diffuse, specular, glossiness),
                                  (diffuse_info, sg_info), (diffuse_pixels, sg_pixels), add)
    material["pbrMetallicRoughness"] = pbr


def _factor(value: object, size: int) -> np.ndarray:
    """A spec-gloss factor in [0, 1] (the extension's default, all ones, when missing)."""
    try:
        array = np.asarray(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        array = np.ones(0)
    if value is None or array.size < size or not np.isfinite(array[:size]).all():
        return np.ones(size)
    return np.clip(array[:size], 0.0, 1.0)


def _pixels(tree: dict[str, Any], info: object, read: ReadImage) -> np.ndarray | None:
    """A ``textureInfo``'s image as (H, W, 4) float64 in [0, 1] (None: none or unreadable)."""
    from PIL import Image  # a dependency of meshprep (textures through trimesh)

    from meshprep.io.appearance import MAX_TEXTURE_SIDE

    textures, images = tree.get("textures", []) or [], tree.get("images", []) or []
    index = info.get("index") if isinstance(info, dict) else None
    if not isinstance(index, int) or not 0 <= index < len(textures):
        return None
    source = (textures[index] or {}).get("source")
    if not isinstance(source, int) or not 0 <= source < len(images):
        return None
    data = read(images[source])
    try:
        image = Image.open(io.BytesIO(data)).convert("RGBA") if data else None
    except Exception:  # not an image PIL reads (PIL raises many types): no texture
        return None
    if image is not None and max(image.size) > MAX_TEXTURE_SIDE:
        scale = MAX_TEXTURE_SIDE / max(image.size)
        image = image.resize((max(1, round(image.size[0] * scale)),
                              max(1, round(image.size[1] * scale))))
    return None if image is None else np.asarray(image, np.float64) / 255.0


def _converted_textures(tree: dict[str, Any], factors: tuple, infos: tuple, pixels: tuple,
                        add: AddImage) -> dict[str, Any]:
    """Per-texel conversion into new base colour and metallic-roughness textures."""
    from PIL import Image

    diffuse_factor, specular_factor, glossiness = factors
    shape = max((p.shape[:2] for p in pixels if p is not None), key=lambda s: s[0] * s[1])
    diffuse = _resized(pixels[0], shape, Image)
    sg = _resized(pixels[1], shape, Image)
    base = np.empty((*shape, 4), np.uint8)
    metal_rough = np.zeros((*shape, 4), np.uint8)
    metal_rough[..., 3] = 255
    low, high = np.inf, -np.inf  # metallic's range
    for top in range(0, shape[0], _ROWS):
        rows = slice(top, top + _ROWS)
        # the textures are sRGB-encoded (alpha and glossiness linear), factors linear (README)
        d = _srgb_decode(diffuse[rows, :, :3]) * diffuse_factor[:3]
        s = _srgb_decode(sg[rows, :, :3]) * specular_factor
        color, metallic = convert(d, s)
        low, high = min(low, metallic.min()), max(high, metallic.max())
        base[rows, :, :3] = _byte(_srgb_encode(color))
        base[rows, :, 3] = _byte(diffuse[rows, :, 3] * diffuse_factor[3])
        metal_rough[rows, :, 1] = _byte(1.0 - sg[rows, :, 3] * glossiness)  # G: roughness
        metal_rough[rows, :, 2] = _byte(metallic)  # B: metallic
    main = infos[0] if pixels[0] is not None else infos[1]
    pbr = {"baseColorTexture": _new_texture(tree, main, base, add, Image),
           "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 1.0, "roughnessFactor": 1.0}
    if pixels[1] is None and high - low < 1e-9:  # uniform: exact factors, no texture
        pbr.update(metallicFactor=float(low), roughnessFactor=1.0 - glossiness)
    else:
        pbr["metallicRoughnessTexture"] = _new_texture(tree, main, metal_rough, add, Image)
    return pbr


def _resized(pixels: np.ndarray | None, shape: tuple[int, int], image_module) -> np.ndarray:
    """Texels at ``shape`` (bilinear); an absent texture is all ones (the README's default)."""
    if pixels is None:
        return np.ones((*shape, 4))
    if pixels.shape[:2] == shape:
        return pixels
    image = image_module.fromarray(_byte(pixels))
    resized = image.resize((shape[1], shape[0]), image_module.Resampling.BILINEAR)
    return np.asarray(resized, np.float64) / 255.0


def _new_texture(tree: dict[str, Any], info: dict[str, Any], pixels: np.ndarray, add: AddImage,
                 image_module) -> dict[str, Any]:
    """A new texture of ``pixels`` with the sampler of ``info``'s; a textureInfo naming it (the
    UV set and transform of ``info``)."""
    stream = io.BytesIO()
    image_module.fromarray(pixels, "RGBA").save(stream, "TGA")
    textures = tree.setdefault("textures", [])
    old = textures[info["index"]]
    texture = {"source": add(stream.getvalue())}
    if "sampler" in old:
        texture["sampler"] = old["sampler"]
    textures.append(texture)
    return {**info, "index": len(textures) - 1}


def _byte(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8)


def _srgb_decode(values: np.ndarray) -> np.ndarray:
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def _srgb_encode(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055)


def _brightness(rgb: np.ndarray) -> np.ndarray:
    """The conversion note's perceived brightness, ``sqrt(0.299 r² + 0.587 g² + 0.114 b²)``."""
    return np.sqrt(rgb[..., 0] ** 2 * 0.299 + rgb[..., 1] ** 2 * 0.587 + rgb[..., 2] ** 2 * 0.114)


def convert(diffuse: np.ndarray, specular: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spec-gloss diffuse and specular (linear RGB, ``(..., 3)``) to base colour and metallic.

    The extension's conversion note (``PbrUtilities.ConvertToMetallicRoughness``): metallic
    solves ``0.04 m² + b m + c = 0`` with ``b = bd (1 - s_max) / 0.96 + bs - 0.08`` and
    ``c = 0.04 - bs`` (``bd``, ``bs``: perceived brightness of diffuse and specular; 0 when
    ``bs < 0.04``); base colour blends the colour implied by the diffuse with the one implied
    by the specular by ``m²``, clamped to [0, 1]. Roughness is ``1 - glossiness`` and opacity
    the diffuse alpha (not computed here).

    Returns
    -------
    base : (..., 3) float64
    metallic : (...) float64
    """
    diffuse, specular = np.asarray(diffuse, np.float64), np.asarray(specular, np.float64)
    one_minus = 1.0 - specular.max(axis=-1)
    bd, bs = _brightness(diffuse), _brightness(specular)
    b = bd * one_minus / (1.0 - _DIELECTRIC) + bs - 2.0 * _DIELECTRIC
    c = _DIELECTRIC - bs
    root = np.sqrt(np.maximum(b * b - 4.0 * _DIELECTRIC * c, 0.0))
    metallic = np.where(bs < _DIELECTRIC, 0.0,
                        np.clip((-b + root) / (2.0 * _DIELECTRIC), 0.0, 1.0))
    m = metallic[..., None]
    from_diffuse = diffuse * (one_minus[..., None] / (1.0 - _DIELECTRIC)
                              / np.maximum(1.0 - m, _EPSILON))
    from_specular = (specular - _DIELECTRIC * (1.0 - m)) / np.maximum(m, _EPSILON)
    base = np.clip(from_diffuse + (from_specular - from_diffuse) * m * m, 0.0, 1.0)
    return base, metallic
