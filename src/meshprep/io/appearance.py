"""What a loaded mesh looks like: UVs, PBR materials (base colour, metallic/roughness, alpha mode),
vertex and face colours.

:func:`meshprep.load` keeps geometry only unless asked (``load(path, appearance=True)``); then
every geometry instance of the scene contributes, in the order of the flattened faces, its UVs,
its material (base-colour factor and texture) and its colours, so the render step can draw the
``color`` pass. Colour spaces follow glTF: textures are sRGB-encoded, factors and vertex colours
linear; a surface without any material has Blender's default base colour (0.8 grey), metallic
0 and roughness 0.5 (the default TRELLIS.2's ``data_toolkit/voxelize_pbr.py`` appends). glTF's
metallic-roughness texture is linear (B metallic, G roughness). A missing or unreadable texture
never fails a load: that material draws its factor. Each texture keeps its glTF sampler (wrap
modes, filters; :class:`Sampler`), which the glTF reader passes along in the material's name
(:func:`tag_samplers`) since trimesh's materials have no field for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import trimesh

#: largest texture side kept (bigger ones are downsampled, so one asset cannot hold GBs)
MAX_TEXTURE_SIDE = 4096
#: base colour (linear) of a surface that has no material: Blender's default surface, so both
#: render backends agree (a glTF material without a factor is white, as glTF defines)
DEFAULT_BASE_COLOR = (0.8, 0.8, 0.8, 1.0)


#: glTF alpha modes
ALPHA_MODES = ("OPAQUE", "MASK", "BLEND")

#: glTF sampler wrap modes (glTF 2.0, 5.26 "Sampler": wrapS / wrapT)
REPEAT, CLAMP_TO_EDGE, MIRRORED_REPEAT = 10497, 33071, 33648
WRAP_MODES = (REPEAT, CLAMP_TO_EDGE, MIRRORED_REPEAT)
#: glTF sampler filters (magFilter: NEAREST or LINEAR; minFilter adds the mipmap ones)
NEAREST, LINEAR = 9728, 9729
#: glTF's filter values (magFilter takes the first two)
FILTERS = (9728, 9729, 9984, 9985, 9986, 9987)
#: marks the sampler record the glTF reader appends to a trimesh material's name
_SAMPLER_TAG = "\x1fmeshprep-samplers:"


@dataclass(frozen=True)
class Sampler:
    """How a texture is sampled (glTF 2.0, 5.26 "Sampler").

    Attributes
    ----------
    wrap_s, wrap_t : int
        glTF wrap mode along U and V: :data:`REPEAT` (the default), :data:`CLAMP_TO_EDGE` or
        :data:`MIRRORED_REPEAT`.
    mag_filter, min_filter : int or None
        glTF's filters (None: left to the renderer, bilinear here).
    """

    wrap_s: int = REPEAT
    wrap_t: int = REPEAT
    mag_filter: int | None = None
    min_filter: int | None = None

    @classmethod
    def from_gltf(cls, sampler: object) -> Sampler:
        """A glTF ``samplers[]`` entry (anything else, or invalid values: the defaults)."""
        if not isinstance(sampler, dict):
            return cls()
        wrap = [sampler.get(k, REPEAT) for k in ("wrapS", "wrapT")]
        wrap = [w if w in WRAP_MODES else REPEAT for w in wrap]
        filters = [sampler.get(k) for k in ("magFilter", "minFilter")]
        filters = [f if f in FILTERS else None for f in filters]
        return cls(wrap[0], wrap[1], filters[0], filters[1])

    @property
    def nearest(self) -> bool:
        """Whether magnification picks the nearest texel (glTF ``magFilter: NEAREST``)."""
        return self.mag_filter == NEAREST

    def is_default(self) -> bool:
        """Whether this samples as glTF's default does here (repeat, bilinear magnification)."""
        return self.wrap_s == self.wrap_t == REPEAT and not self.nearest


@dataclass
class Material:
    """A PBR material (glTF metallic-roughness model).

    Attributes
    ----------
    factor : (4,) float32
        Base colour factor, linear RGBA in [0, 1] (alpha: the glTF alpha factor).
    texture : (H, W, 4) uint8 or None
        Base colour texture, sRGB-encoded RGBA (A: the alpha texture).
    metallic_factor, roughness_factor : float
        glTF's factors (1 where a glTF material leaves them out, as glTF defines; 0 and 0.5,
        Blender's default surface, for materials that have no such notion, e.g. OBJ/MTL).
    metallic_roughness_texture : (H, W, 4) uint8 or None
        glTF's metallic-roughness texture, linear: B metallic, G roughness.
    alpha_mode : str
        ``"OPAQUE"`` (alpha ignored), ``"MASK"`` (alpha below ``alpha_cutoff`` is 0, else 1)
        or ``"BLEND"``.
    alpha_cutoff : float
        The MASK threshold.
    texture_sampler, metallic_roughness_sampler : Sampler
        Wrap modes and filters of the two textures (glTF's default sampler when not given).
    """

    factor: np.ndarray
    texture: np.ndarray | None = None
    metallic_factor: float = 0.0
    roughness_factor: float = 0.5
    metallic_roughness_texture: np.ndarray | None = None
    alpha_mode: str = "OPAQUE"
    alpha_cutoff: float = 0.5
    texture_sampler: Sampler = field(default_factory=Sampler)
    metallic_roughness_sampler: Sampler = field(default_factory=Sampler)


@dataclass
class Appearance:
    """Per-vertex and per-face look of a flattened mesh (arrays aligned with its vertices/faces).

    Attributes
    ----------
    uv : (V, 2) float32
        Texture coordinates, origin at the image's bottom-left (trimesh's convention); 0 where a
        part has none.
    vertex_color : (V, 4) float32 or None
        Linear RGBA vertex colours in [0, 1] (None: all white).
    face_color : (F, 4) float32 or None
        Linear RGBA face colours in [0, 1] (None: all white).
    face_material : (F,) int32
        Index into ``materials`` per face.
    materials : list of Material
    """

    uv: np.ndarray
    vertex_color: np.ndarray | None
    face_color: np.ndarray | None
    face_material: np.ndarray
    materials: list[Material] = field(default_factory=list)

    @property
    def textured(self) -> bool:
        """Whether any material has a texture."""
        return any(m.texture is not None for m in self.materials)


@dataclass
class _Part:
    uv: np.ndarray
    vertex_color: np.ndarray | None
    face_color: np.ndarray | None
    material: Material


def _unit(color) -> np.ndarray:
    """An RGBA colour as float32 in [0, 1] (trimesh stores uint8)."""
    array = np.asarray(color).reshape(-1)
    values = array.astype(np.float32)
    if array.dtype.kind in "ui":
        values /= 255.0
    if values.size == 3:
        values = np.append(values, 1.0)
    return np.clip(values[:4], 0.0, 1.0).astype(np.float32)


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def _texture(image) -> np.ndarray | None:
    """A PIL image as an (H, W, 4) uint8 array, downsampled past MAX_TEXTURE_SIDE."""
    if image is None:
        return None
    try:
        image = image.convert("RGBA")
        if max(image.size) > MAX_TEXTURE_SIDE:
            scale = MAX_TEXTURE_SIDE / max(image.size)
            image = image.resize((max(1, round(image.size[0] * scale)),
                                  max(1, round(image.size[1] * scale))))
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    except Exception:  # a truncated or unreadable texture: draw the factor instead
        return None


def _default() -> Material:
    return Material(np.array(DEFAULT_BASE_COLOR, np.float32))


def _is_placeholder(material) -> bool:
    """trimesh's stand-in for an OBJ without (or with a missing) ``.mtl``: a tiny uniform image
    of its default grey, no file behind it."""
    image = getattr(material, "image", None)
    if image is None or max(image.size) > 4:
        return False
    pixels = np.asarray(image.convert("RGBA")).reshape(-1, 4)
    default = np.asarray(trimesh.visual.color.DEFAULT_COLOR)[:3]
    return bool(np.abs(pixels[:, :3].astype(int) - default).max() <= 2)


def _material(material) -> Material:
    """Base colour of a trimesh PBR or simple (OBJ/MTL) material."""
    if material is None or _is_placeholder(material):
        return _default()
    if isinstance(material, trimesh.visual.material.PBRMaterial):
        factor = material.baseColorFactor
        alpha_mode = str(material.alphaMode or "OPAQUE").upper()
        base_sampler, mr_sampler = tagged_samplers(material.name)
        return Material(np.ones(4, np.float32) if factor is None else _unit(factor),
                        _texture(material.baseColorTexture),
                        metallic_factor=_scalar(material.metallicFactor, 1.0),
                        roughness_factor=_scalar(material.roughnessFactor, 1.0),
                        metallic_roughness_texture=_texture(material.metallicRoughnessTexture),
                        alpha_mode=alpha_mode if alpha_mode in ALPHA_MODES else "OPAQUE",
                        alpha_cutoff=_scalar(material.alphaCutoff, 0.5, clip=False),
                        texture_sampler=base_sampler, metallic_roughness_sampler=mr_sampler)
    diffuse = getattr(material, "diffuse", None)
    # an MTL Kd is taken as linear, as Blender's OBJ importer takes it
    factor = np.ones(4, np.float32) if diffuse is None else _unit(diffuse)
    return Material(factor, _texture(getattr(material, "image", None)))


def tag_samplers(name: object, base: Sampler, metallic_roughness: Sampler) -> str:
    """A material name carrying its textures' samplers (read back by :func:`tagged_samplers`).

    Parameters
    ----------
    name : object
        The glTF material's name (None or not a string: none).
    base, metallic_roughness : Sampler
        The samplers of the base colour and metallic-roughness textures.

    Returns
    -------
    str
        ``name`` with a sampler record appended (the loaded mesh keeps no material names).
    """
    record = [[s.wrap_s, s.wrap_t, s.mag_filter, s.min_filter] for s in (base, metallic_roughness)]
    text = name if isinstance(name, str) else ""
    return f"{text.split(_SAMPLER_TAG)[0]}{_SAMPLER_TAG}{json.dumps(record)}"


def tagged_samplers(name: object) -> tuple[Sampler, Sampler]:
    """The base colour and metallic-roughness samplers a material name carries (defaults when it
    carries none or a malformed record)."""
    if not isinstance(name, str) or _SAMPLER_TAG not in name:
        return Sampler(), Sampler()
    try:
        record = json.loads(name.split(_SAMPLER_TAG, 1)[1])
        keys = ("wrapS", "wrapT", "magFilter", "minFilter")
        base, metallic_roughness = (Sampler.from_gltf(dict(zip(keys, values, strict=True)))
                                    for values in record)
    except (ValueError, TypeError):
        return Sampler(), Sampler()
    return base, metallic_roughness


def _scalar(value, default: float, clip: bool = True) -> float:
    """A glTF scalar factor as a float (``default`` when missing or not finite)."""
    try:
        number = float(np.asarray(value, dtype=np.float64).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        return default
    if not np.isfinite(number):
        return default
    return min(max(number, 0.0), 1.0) if clip else number


def _colors(values, count: int) -> np.ndarray | None:
    if values is None:
        return None
    array = np.asarray(values)
    if array.ndim != 2 or len(array) != count or array.shape[1] not in (3, 4):
        return None
    if array.dtype.kind != "f":
        return _srgb_rows(array)
    rgba = np.ones((count, 4), np.float32)
    rgba[:, :array.shape[1]] = np.clip(np.nan_to_num(array), 0.0, 1.0)
    return rgba


def _srgb_rows(array: np.ndarray) -> np.ndarray:
    """uint8 RGB(A) rows (display colours, as PLY and OBJ store them) to linear float32."""
    rgba = np.ones((len(array), 4), np.float32)
    rgba[:, :array.shape[1]] = array.astype(np.float32) / 255.0
    rgba[:, :3] = _srgb_to_linear(rgba[:, :3])
    return rgba


def part_appearance(geometry: trimesh.Trimesh) -> _Part:
    """The look of one scene geometry (UVs, colours, material), aligned with its arrays."""
    n_vertices, n_faces = len(geometry.vertices), len(geometry.faces)
    visual = geometry.visual
    uv = np.zeros((n_vertices, 2), np.float32)
    vertex_color = face_color = None
    material = _default()
    if isinstance(visual, trimesh.visual.TextureVisuals):
        if visual.uv is not None and len(visual.uv) == n_vertices:
            uv = np.asarray(visual.uv, np.float32).reshape(n_vertices, 2)
        material = _material(visual.material)
        attributes = getattr(visual, "vertex_attributes", None) or {}
        vertex_color = _colors(attributes.get("color"), n_vertices)
    elif isinstance(visual, trimesh.visual.ColorVisuals) and visual.defined:
        # the colours are the look: drawn as stored (Blender's importers keep them as a colour
        # attribute that its default surface does not show)
        material = Material(np.ones(4, np.float32))
        if visual.kind == "vertex":
            vertex_color = _colors(visual.vertex_colors, n_vertices)
        elif visual.kind == "face":
            face_color = _colors(visual.face_colors, n_faces)
    uv = np.where(np.isfinite(uv), uv, 0.0).astype(np.float32)
    return _Part(uv, vertex_color, face_color, material)


def combine(parts: list[_Part], face_counts: list[int]) -> Appearance:
    """Concatenate the parts of a flattened scene (same order as its vertices and faces)."""
    vertex_counts = [len(p.uv) for p in parts]
    uv = np.concatenate([p.uv for p in parts]) if parts else np.zeros((0, 2), np.float32)
    vertex_color = _stacked([p.vertex_color for p in parts], vertex_counts)
    face_color = _stacked([p.face_color for p in parts], face_counts)
    face_material = np.repeat(np.arange(len(parts), dtype=np.int32), face_counts)
    return Appearance(uv, vertex_color, face_color, face_material, [p.material for p in parts])


def _stacked(arrays: list[np.ndarray | None], counts: list[int]) -> np.ndarray | None:
    """Concatenate per-part colours, white where a part has none (None when no part has any)."""
    if all(a is None for a in arrays):
        return None
    return np.concatenate([np.ones((n, 4), np.float32) if a is None else a
                           for a, n in zip(arrays, counts, strict=True)])


def plain(n_vertices: int, n_faces: int) -> Appearance:
    """The default grey, untextured look (for meshes loaded without appearance)."""
    return Appearance(np.zeros((n_vertices, 2), np.float32), None, None,
                      np.zeros(n_faces, np.int32), [_default()])
