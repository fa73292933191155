"""``KHR_texture_basisu``: KTX2 (Basis Universal ETC1S / UASTC) textures to plain RGBA images.

trimesh skips ``image/ktx2`` images, so a glTF whose textures exist only as KTX2 loads with its
material factors and no texture. When the optional ``alktx2`` wheel (Basis Universal's
transcoder; ``pip install meshprep[ktx2]``, Linux x86-64 and Windows wheels only) is installed,
:func:`ktx2_to_image` decodes such an image (its first level, layer and face) to an uncompressed
TGA that trimesh reads like any other texture; otherwise, or when the KTX2 does not decode, a
:class:`KTX2TextureWarning` says the base colour factor stands in for the texture and the
geometry loads as usual.

A texture whose plain ``source`` names a KTX2 image (``image/ktx2`` or a ``.ktx2`` URI, no
extension) is decoded alike (:func:`plain_ktx2_textures`). ``GOOGLE_texture_basis`` (the
extension's ``source`` names a Basis Universal ``.basis`` file) cannot be: alktx2 transcodes KTX2
containers only, so such a texture without a readable fallback draws its factor, with a
:class:`BasisTextureWarning` (:func:`google_basis_textures`).

Spec: ``KHR_texture_basisu`` README ("glTF Schema Updates": the extension's ``source`` names a
``image/ktx2`` image; "Using Without a Fallback": the texture's own ``source`` may be absent).
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

__all__ = ["EXTENSION", "GOOGLE_EXTENSION", "BasisTextureWarning", "KTX2TextureWarning",
           "basis_to_image", "basisu_textures", "decoder_available", "google_basis_textures",
           "ktx2_to_image", "plain_ktx2_textures"]

EXTENSION = "KHR_texture_basisu"
#: Google's earlier extension for ``.basis`` textures (glTF's vendor extension list)
GOOGLE_EXTENSION = "GOOGLE_texture_basis"
_KTX2_MAGIC = b"\xabKTX 20\xbb\r\n\x1a\n"  # KTX 2.0 file identifier


class KTX2TextureWarning(UserWarning):
    """A KTX2 texture could not be decoded: the material's base colour factor is used."""


class BasisTextureWarning(KTX2TextureWarning):
    """A ``GOOGLE_texture_basis`` (``.basis``) texture was not decoded: its factor is used."""


def decoder_available() -> bool:
    """Whether the optional KTX2 decoder (``alktx2``) is installed."""
    return importlib.util.find_spec("alktx2") is not None


def basisu_textures(tree: dict[str, Any]) -> list[tuple[int, int]]:
    """``(texture, image)`` of textures that only a KTX2 image provides.

    A texture whose own ``source`` names a non-KTX2 image (the PNG / JPEG fallback) is left to
    trimesh, which reads that one.
    """
    return _extension_textures(tree, EXTENSION, _is_ktx2)


def plain_ktx2_textures(tree: dict[str, Any]) -> list[tuple[int, int]]:
    """``(texture, image)`` of textures whose own ``source`` is a KTX2 image, without
    ``KHR_texture_basisu`` (trimesh skips ``image/ktx2`` and cannot open a ``.ktx2`` file)."""
    images = tree.get("images", []) or []
    found = []
    for t, texture in enumerate(tree.get("textures", []) or []):
        if not isinstance(texture, dict) or EXTENSION in (texture.get("extensions") or {}):
            continue
        source = texture.get("source")
        if isinstance(source, int) and 0 <= source < len(images) \
                and isinstance(images[source], dict) and _is_ktx2(images[source]):
            found.append((t, source))
    return found


def google_basis_textures(tree: dict[str, Any]) -> list[tuple[int, int]]:
    """``(texture, image)`` of ``GOOGLE_texture_basis`` textures with no other readable image
    (no ``source``, or one naming a ``.basis`` image too)."""
    return _extension_textures(tree, GOOGLE_EXTENSION, _is_basis)


def _extension_textures(tree: dict[str, Any], name: str, same_kind) -> list[tuple[int, int]]:
    """``(texture, image)`` of textures whose extension ``name`` gives an image ``source`` and
    whose own ``source``, if any, names an image of that same kind (``same_kind(image)``), so no
    fallback trimesh could read exists."""
    images = tree.get("images", []) or []
    found = []
    for t, texture in enumerate(tree.get("textures", []) or []):
        extension = (texture.get("extensions") or {}).get(name) if isinstance(
            texture, dict) else None
        source = extension.get("source") if isinstance(extension, dict) else None
        if not isinstance(source, int) or not 0 <= source < len(images):
            continue
        fallback = texture.get("source")
        if isinstance(fallback, int) and 0 <= fallback < len(images) \
                and not same_kind(images[fallback]):
            continue
        found.append((t, source))
    return found


def _is_basis(image: dict[str, Any]) -> bool:
    uri = str(image.get("uri", ""))
    return image.get("mimeType") == "image/basis" or uri.lower().endswith(".basis")


def _is_ktx2(image: dict[str, Any]) -> bool:
    uri = str(image.get("uri", ""))
    return image.get("mimeType") == "image/ktx2" or uri.lower().endswith(".ktx2") \
        or uri.startswith("data:image/ktx2")


def ktx2_to_image(data: bytes, where: str) -> bytes | None:
    """A KTX2 image as an uncompressed TGA (RGBA8), or None with a warning.

    Parameters
    ----------
    data : bytes
        The KTX2 file's bytes.
    where : str
        What to name in the warning (file and texture).

    Returns
    -------
    bytes or None
        TGA bytes; None when no decoder is installed or the KTX2 does not decode (a
        :class:`KTX2TextureWarning` is issued then).
    """
    if not decoder_available():
        _warn(f"{where}: KTX2 texture (KHR_texture_basisu) not decoded: no KTX2 decoder is "
              "installed (pip install meshprep[ktx2]); the base colour factor is used")
        return None
    if not data.startswith(_KTX2_MAGIC):
        _warn(f"{where}: image is not a KTX2 file; the base colour factor is used")
        return None
    import alktx2  # optional (the ktx2 extra), imported only when a file needs it

    try:
        image, _ = alktx2.decode_ktx2_to_bytes(data, format="tga")
    except Exception as exc:  # alktx2 raises RuntimeError / ValueError on a broken file
        _warn(f"{where}: KTX2 texture does not decode ({exc}); the base colour factor is used")
        return None
    return image


def basis_to_image(data: bytes, where: str) -> bytes | None:
    """A ``GOOGLE_texture_basis`` image as TGA bytes when it is in fact a KTX2 file; otherwise
    None with a :class:`BasisTextureWarning` (alktx2 has no ``.basis`` transcoder).

    Parameters
    ----------
    data : bytes
        The image's bytes.
    where : str
        What to name in the warning (file, image and its URI).

    Returns
    -------
    bytes or None
    """
    if data.startswith(_KTX2_MAGIC):
        return ktx2_to_image(data, where)
    _warn(f"{where}: {GOOGLE_EXTENSION} texture not decoded: .basis files have no decoder here "
          "(re-encode it as KTX2, KHR_texture_basisu); the base colour factor is used",
          BasisTextureWarning)
    return None


def _warn(message: str, category: type[Warning] = KTX2TextureWarning) -> None:
    warnings.warn(message, category, stacklevel=4)
