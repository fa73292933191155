"""Write ``box_textured_etc1s.glb`` and ``box_textured_uastc.glb`` (KHR_texture_basisu fixtures).

    python tests/data/make_ktx2_fixtures.py   # needs alktx2 (pip install alktx2)

The box's PNG texture is re-encoded as a Basis Universal KTX2 (ETC1S, and UASTC with Zstandard
supercompression) by alktx2 (basisu's encoder) and stored in place of the PNG, with no PNG
fallback: ``KHR_texture_basisu`` in ``extensionsUsed`` and ``extensionsRequired``, the texture
without a ``source`` (the extension README, "Using Without a Fallback"). glTF-Transform's own
``etc1s`` / ``uastc`` commands need KTX-Software's ``toktx`` binary, not available here.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXTENSION = "KHR_texture_basisu"


def _parts(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20:20 + length]), data[20 + length + 8:]


def _glb(tree: dict, binary: bytes) -> bytes:
    text = json.dumps(tree, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<II", len(text), 0x4E4F534A)
            + text + struct.pack("<II", len(binary), 0x004E4942) + binary)


def with_ktx2(tree: dict, binary: bytes, ktx2: bytes) -> bytes:
    """The GLB with image 0's bytes replaced by ``ktx2`` (views repacked)."""
    image_view = tree["images"][0]["bufferView"]
    packed = bytearray()
    for i, view in enumerate(tree["bufferViews"]):
        start = view.get("byteOffset", 0)
        data = ktx2 if i == image_view else binary[start:start + view["byteLength"]]
        packed += b"\0" * (-len(packed) % 4)
        view.update(byteOffset=len(packed), byteLength=len(data))
        packed += data
    tree["buffers"][0]["byteLength"] = len(packed)
    tree["images"][0]["mimeType"] = "image/ktx2"
    for texture in tree["textures"]:
        texture.setdefault("extensions", {})[EXTENSION] = {"source": texture.pop("source")}
    for key in ("extensionsUsed", "extensionsRequired"):
        tree[key] = sorted({*tree.get(key, []), EXTENSION})
    return _glb(tree, bytes(packed))


def main() -> None:
    import alktx2

    for codec, options in (("etc1s", {}), ("uastc", {"zstd_supercompression_level": 18})):
        tree, binary = _parts(HERE / "box_textured.glb")
        view = tree["bufferViews"][tree["images"][0]["bufferView"]]
        png = binary[view.get("byteOffset", 0):view.get("byteOffset", 0) + view["byteLength"]]
        ktx2 = alktx2.encode_bytes_to_ktx2(png, mime="image/png", codec=codec, **options)
        (HERE / f"box_textured_{codec}.glb").write_bytes(with_ktx2(tree, binary, ktx2))


if __name__ == "__main__":
    main()
