"""``KHR_texture_basisu``: KTX2 (Basis Universal ETC1S / UASTC) textures to plain RGBA images.

trimesh skips ``image/ktx2`` images, so a glTF whose textures exist only as KTX2 loads with its
material factors and no texture. When the optional ``alktx2`` wheel (Basis Universal's
transcoder; ``pip install meshprep[ktx2]``, Linux x86-64 and Windows wheels only) is installed,
:func:`ktx2_to_image` decodes such an image (its first level, layer and face) to an uncompressed
TGA that trimesh reads like any other texture; otherwise, or when the KTX2 does not decode, a
:class:`KTX2TextureWarning` says the base colour factor stands in for the texture and the
geometry loads as usual.

Spec: ``KHR_texture_basisu`` README ("glTF Schema Updates": the extension's ``source`` names a
``image/ktx2`` image; "Using Without a Fallback": the texture's own ``source`` may be absent).
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

__all__ = ["EXTENSION", "KTX2TextureWarning", "basisu_textures", "decoder_available",
           "ktx2_to_image"]

EXTENSION = "KHR_texture_basisu"
_KTX2_MAGIC = b"\xabKTX 20\xbb\r\n\x1a\n"  # KTX 2.0 file identifier


class KTX2TextureWarning(UserWarning):
    """A KTX2 texture could not be decoded: the material's base colour factor is used."""


def decoder_available() -> bool:
    """Whether the optional KTX2 decoder (``alktx2``) is installed."""
    return importlib.util.find_spec("alktx2") is not None


def basisu_textures(tree: dict[str, Any]) -> list[tuple[int, int]]:
    """``(texture, image)`` of textures that only a KTX2 image provides.

    A texture whose own ``source`` names a non-KTX2 image (the PNG / JPEG fallback) is left to
    trimesh, which reads that one.
    """
    images = tree.get("images", []) or []
    found = []
    for t, texture in enumerate(tree.get("textures", []) or []):
        extension = (texture.get("extensions") or {}).get(EXTENSION) if isinstance(
            texture, dict) else None
        source = extension.get("source") if isinstance(extension, dict) else None
        if not isinstance(source, int) or not 0 <= source < len(images):
            continue
        fallback = texture.get("source")
        if isinstance(fallback, int) and 0 <= fallback < len(images) \
                and not _is_ktx2(images[fallback]):
            continue
        found.append((t, source))
    return found


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


def _warn(message: str) -> None:
    warnings.warn(message, KTX2TextureWarning, stacklevel=4)
