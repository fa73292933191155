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

Material inputs of PBR shading and texture-model passes: the tangent-space normal map (linear,
glTF ``normalTexture`` with its ``scale``; an MTL ``map_Bump`` / ``bump`` / ``norm``, read as a
normal map as Blender's OBJ importer does, ``-bm`` its strength), emission (linear factor, sRGB
texture, ``KHR_materials_emissive_strength``; MTL ``Ke`` / ``map_Ke``), ``doubleSided``, and the
file's own vertex normals (glTF ``NORMAL``, OBJ ``vn``, PLY ``nx ny nz``) and glTF ``TANGENT``.
"""

from __future__ import annotations

import io
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
    normal_texture : (H, W, 4) uint8 or None
        Tangent-space normal map, linear: RGB = ``(n + 1) / 2`` (glTF ``normalTexture``).
    normal_scale : float
        glTF ``normalTexture.scale``: multiplies the map's X and Y before normalizing.
    emissive_factor : (3,) float32
        Linear emitted colour (glTF ``emissiveFactor``, default black).
    emissive_texture : (H, W, 4) uint8 or None
        Emissive texture, sRGB-encoded (multiplied by ``emissive_factor``).
    emissive_strength : float
        ``KHR_materials_emissive_strength``: multiplies the emission (1 without it).
    double_sided : bool
        glTF ``doubleSided``.
    normal_sampler, emissive_sampler : Sampler
        Wrap modes and filters of the normal and emissive textures.
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
    normal_texture: np.ndarray | None = None
    normal_scale: float = 1.0
    emissive_factor: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    emissive_texture: np.ndarray | None = None
    emissive_strength: float = 1.0
    double_sided: bool = False
    normal_sampler: Sampler = field(default_factory=Sampler)
    emissive_sampler: Sampler = field(default_factory=Sampler)


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
    vertex_normal : (V, 3) float32 or None
        Unit vertex normals as the file declares them (glTF ``NORMAL``, OBJ ``vn``, PLY
        ``nx ny nz``), moved by the node transform (inverse transpose; flipped with the
        winding under a mirroring one) or skinned with the frame-0 pose. A part of the file
        that declares none gets trimesh's smoothed normals (angle-weighted face normals); None
        when no part declares any.
    tangent : (V, 4) float32 or None
        glTF ``TANGENT`` moved like the normals: unit XYZ, W = bitangent sign (±1); None when
        no part declares any (zeros for the parts without).
    """

    uv: np.ndarray
    vertex_color: np.ndarray | None
    face_color: np.ndarray | None
    face_material: np.ndarray
    materials: list[Material] = field(default_factory=list)
    vertex_normal: np.ndarray | None = None
    tangent: np.ndarray | None = None

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
    #: the file's normals (None: declared none) and the smoothed stand-in, lazily
    declared_normal: np.ndarray | None = None
    tangent: np.ndarray | None = None
    geometry: trimesh.Trimesh | None = None
    smoothed_normal: np.ndarray | None = None

    def normals(self) -> np.ndarray:
        """The declared normals, else trimesh's smoothed ones (moved with the part)."""
        if self.declared_normal is not None:
            return self.declared_normal
        if self.smoothed_normal is not None:
            return self.smoothed_normal
        if self.geometry is None:
            return np.zeros((len(self.uv), 3), np.float32)
        return np.asarray(self.geometry.vertex_normals, np.float32).reshape(-1, 3)


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
        tag = tagged_material(material.name)
        base_sampler, mr_sampler, normal_sampler, emissive_sampler = tag.samplers
        return Material(np.ones(4, np.float32) if factor is None else _unit(factor),
                        _texture(material.baseColorTexture),
                        metallic_factor=_scalar(material.metallicFactor, 1.0),
                        roughness_factor=_scalar(material.roughnessFactor, 1.0),
                        metallic_roughness_texture=_texture(material.metallicRoughnessTexture),
                        alpha_mode=alpha_mode if alpha_mode in ALPHA_MODES else "OPAQUE",
                        alpha_cutoff=_scalar(material.alphaCutoff, 0.5, clip=False),
                        texture_sampler=base_sampler, metallic_roughness_sampler=mr_sampler,
                        normal_texture=_texture(material.normalTexture),
                        normal_scale=tag.normal_scale,
                        emissive_factor=_rgb(material.emissiveFactor),
                        emissive_texture=_texture(material.emissiveTexture),
                        emissive_strength=tag.emissive_strength,
                        double_sided=bool(material.doubleSided),
                        normal_sampler=normal_sampler, emissive_sampler=emissive_sampler)
    diffuse = getattr(material, "diffuse", None)
    # an MTL Kd is taken as linear, as Blender's OBJ importer takes it
    factor = np.ones(4, np.float32) if diffuse is None else _unit(diffuse)
    extra = getattr(material, "kwargs", None) or {}
    normal_image, normal_scale = extra.get(_MTL_NORMAL, (None, 1.0))
    return Material(factor, _texture(getattr(material, "image", None)),
                    emissive_factor=_rgb(extra.get("ke")),
                    emissive_texture=_texture(extra.get(_MTL_EMISSIVE)),
                    normal_texture=_texture(normal_image), normal_scale=normal_scale)


#: keys under which :func:`read_mtl_maps` leaves the images it read in a material's kwargs
_MTL_NORMAL, _MTL_EMISSIVE = "meshprep_normal_map", "meshprep_emissive_map"
#: MTL statements read as a normal map (Blender's OBJ importer reads ``map_Bump`` / ``bump``
#: as one) and as the emission map
_MTL_NORMAL_KEYS, _MTL_EMISSIVE_KEYS = ("norm", "map_bump", "bump"), ("map_ke",)


def read_mtl_maps(scene: trimesh.Scene, resolver) -> None:
    """Read the normal and emission maps an OBJ's MTL names (trimesh reads ``map_Kd`` only).

    Parameters
    ----------
    scene : trimesh.Scene
        As trimesh read the OBJ, with materials.
    resolver : trimesh.resolvers.Resolver
        Gives a referenced file's bytes (confined to the model's folder by the caller); a
        missing or unreadable file leaves that map out.
    """
    from PIL import Image

    for geometry in scene.geometry.values():
        material = getattr(getattr(geometry, "visual", None), "material", None)
        extra = getattr(material, "kwargs", None)
        if not isinstance(extra, dict):
            continue
        for keys, target in ((_MTL_NORMAL_KEYS, _MTL_NORMAL), (_MTL_EMISSIVE_KEYS, _MTL_EMISSIVE)):
            if target in extra:
                continue
            name, strength = next((mtl_texture_name(extra[k]) for k in keys if k in extra),
                                  (None, 1.0))
            if name is None:
                continue
            try:
                image = Image.open(io.BytesIO(resolver.get(name)))
                image.load()
            except Exception:  # a missing or unreadable map: left out
                continue
            if image is not None:
                extra[target] = (image, strength) if target == _MTL_NORMAL else image


def _rgb(value: object) -> np.ndarray:
    """A linear RGB factor as (3,) float32 in [0, +inf) (black when missing or malformed; a
    single number is grey, as an MTL ``Ke 1`` is)."""
    try:
        array = np.asarray(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        return np.zeros(3, np.float32)
    if array.size == 1:
        array = np.repeat(array, 3)
    if array.size < 3 or not np.isfinite(array[:3]).all():
        return np.zeros(3, np.float32)
    return np.maximum(array[:3], 0.0).astype(np.float32)


def mtl_texture_name(values: object) -> tuple[str | None, float]:
    """The file name and ``-bm`` strength of an MTL map statement's arguments (trimesh keeps
    them split on white space; options such as ``-bm 0.5`` or ``-s 1 1 1`` precede the name).

    Returns
    -------
    name : str or None
        The file name (None: none given).
    strength : float
        ``-bm``'s value (1 without it).
    """
    if not isinstance(values, list | tuple) or not values:
        return None, 1.0
    words = [str(v) for v in values]
    strength, i = 1.0, 0
    while i < len(words) and words[i].startswith("-"):
        option, count = words[i].lower(), _MTL_OPTION_ARGS.get(words[i].lower(), 1)
        if option == "-bm" and i + 1 < len(words):
            try:
                strength = float(words[i + 1])
            except ValueError:
                pass
        i += 1 + count
    name = " ".join(words[i:]).strip()
    return (name or None), strength


#: MTL texture options and how many arguments each takes (the MTL spec's ``-o -s -t`` take up
#: to three; taken as three here, as exporters write them)
_MTL_OPTION_ARGS = {"-o": 3, "-s": 3, "-t": 3, "-mm": 2, "-bm": 1, "-boost": 1, "-blendu": 1,
                    "-blendv": 1, "-cc": 1, "-clamp": 1, "-imfchan": 1, "-texres": 1, "-type": 1}


@dataclass(frozen=True)
class MaterialTag:
    """What a glTF material name carries past trimesh (:func:`tag_samplers`).

    Attributes
    ----------
    samplers : tuple of Sampler
        Of the base colour, metallic-roughness, normal and emissive textures.
    normal_scale : float
        ``normalTexture.scale``.
    emissive_strength : float
        ``KHR_materials_emissive_strength``'s ``emissiveStrength``.
    """

    samplers: tuple[Sampler, Sampler, Sampler, Sampler] = (Sampler(),) * 4
    normal_scale: float = 1.0
    emissive_strength: float = 1.0


def tag_samplers(name: object, base: Sampler, metallic_roughness: Sampler,
                 normal: Sampler | None = None, emissive: Sampler | None = None, *,
                 normal_scale: float = 1.0, emissive_strength: float = 1.0) -> str:
    """A material name carrying its textures' samplers and the scalars trimesh drops (read back
    by :func:`tagged_material`).

    Parameters
    ----------
    name : object
        The glTF material's name (None or not a string: none).
    base, metallic_roughness, normal, emissive : Sampler
        The samplers of the base colour, metallic-roughness, normal and emissive textures.
    normal_scale, emissive_strength : float
        ``normalTexture.scale`` and ``KHR_materials_emissive_strength``'s value.

    Returns
    -------
    str
        ``name`` with a record appended (the loaded mesh keeps no material names).
    """
    samplers = (base, metallic_roughness, normal or Sampler(), emissive or Sampler())
    record = [[s.wrap_s, s.wrap_t, s.mag_filter, s.min_filter] for s in samplers]
    record.append({"normal_scale": float(normal_scale),
                   "emissive_strength": float(emissive_strength)})
    text = name if isinstance(name, str) else ""
    return f"{text.split(_SAMPLER_TAG)[0]}{_SAMPLER_TAG}{json.dumps(record)}"


def tagged_material(name: object) -> MaterialTag:
    """What a material name carries (defaults when it carries none or a malformed record)."""
    if not isinstance(name, str) or _SAMPLER_TAG not in name:
        return MaterialTag()
    try:
        record = json.loads(name.split(_SAMPLER_TAG, 1)[1])
        extra = record.pop() if record and isinstance(record[-1], dict) else {}
        keys = ("wrapS", "wrapT", "magFilter", "minFilter")
        samplers = [Sampler.from_gltf(dict(zip(keys, values, strict=True))) for values in record]
        samplers = (samplers + [Sampler()] * 4)[:4]
        return MaterialTag(tuple(samplers),
                           _scalar(extra.get("normal_scale"), 1.0, clip=False),
                           max(_scalar(extra.get("emissive_strength"), 1.0, clip=False), 0.0))
    except (ValueError, TypeError, AttributeError):
        return MaterialTag()


def tagged_samplers(name: object) -> tuple[Sampler, Sampler]:
    """The base colour and metallic-roughness samplers a material name carries (defaults when it
    carries none or a malformed record)."""
    return tagged_material(name).samplers[:2]


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


def part_appearance(geometry: trimesh.Trimesh, linear: np.ndarray | None = None) -> _Part:
    """The look of one scene geometry (UVs, colours, material, declared normals and tangents),
    aligned with its arrays.

    Parameters
    ----------
    geometry : trimesh.Trimesh
        As trimesh read it (its normals not yet computed: a cached ``vertex_normals`` is what
        the file declared).
    linear : (3, 3) or (V, 3, 3) float, optional
        The linear part of the transform that placed its vertices (node transform, or per
        vertex the blended skinning matrix); normals and tangents are moved by it.
    """
    part = _look(geometry)
    # trimesh's loaders put a file's normals in the cache (glTF NORMAL, OBJ vn, PLY nx ny nz);
    # without them ``vertex_normals`` is computed on first access, after this check
    if "vertex_normals" in geometry._cache:
        part.declared_normal = _finite_rows(geometry.vertex_normals, len(geometry.vertices), 3)
    attributes = getattr(geometry, "vertex_attributes", None) or {}
    part.tangent = _finite_rows(attributes.get(TANGENT_ATTRIBUTE), len(geometry.vertices), 4)
    part.geometry = geometry
    return moved_part(part, linear) if linear is not None else part


#: the vertex attribute the glTF reader renames ``TANGENT`` to, so that trimesh keeps it
TANGENT_ATTRIBUTE = "_TANGENT"


def _finite_rows(values: object, count: int, width: int) -> np.ndarray | None:
    """``values`` as (count, width) float32 with non-finite entries zeroed (None: wrong shape)."""
    if values is None:
        return None
    array = np.asarray(values, np.float32)
    if array.ndim != 2 or array.shape != (count, width):
        return None
    return np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)


def moved_part(part: _Part, linear: np.ndarray) -> _Part:
    """A part whose normals and tangents follow a transform's linear part.

    Normals take the inverse transpose (renormalized), which keeps them on the outside that the
    winding (reversed under a mirroring transform) gives; tangents take the matrix itself and
    their bitangent sign flips with a mirror. The smoothed stand-in normals are computed now,
    from the untransformed geometry, and moved alike.

    Parameters
    ----------
    part : _Part
        From :func:`part_appearance`.
    linear : (3, 3) or (V, 3, 3) float
        One matrix, or one per vertex (skinning).

    Returns
    -------
    _Part
        ``part``, updated in place.
    """
    linear = np.asarray(linear, np.float64)
    if linear.ndim == 2 and np.array_equal(linear, np.eye(3)):
        return part
    normals = part.normals()
    with np.errstate(all="ignore"):
        inverse = np.linalg.pinv(linear)
        # row vector n times inverse(L): the column (L^-T n)
        rotated = _unit_rows(np.einsum("...ij,...i->...j", inverse, normals.astype(np.float64)))
        if part.declared_normal is not None:
            part.declared_normal = rotated
        else:
            part.smoothed_normal = rotated
        if part.tangent is not None:
            xyz = np.einsum("...ij,...j->...i", linear, part.tangent[:, :3].astype(np.float64))
            sign = np.where(np.linalg.det(linear) < 0, -1.0, 1.0)
            part.tangent = np.concatenate(
                [_unit_rows(xyz), (part.tangent[:, 3] * sign)[:, None]], axis=1
            ).astype(np.float32)
    return part


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32 (zero or non-finite rows: zero)."""
    vectors = np.nan_to_num(np.asarray(vectors, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    length = np.linalg.norm(vectors, axis=-1, keepdims=True)
    out = np.zeros_like(vectors)
    np.divide(vectors, length, out=out, where=length > 1e-20)
    return out.astype(np.float32)


def _look(geometry: trimesh.Trimesh) -> _Part:
    """UVs, colours and material of one geometry."""
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
    vertex_normal = tangent = None
    if any(p.declared_normal is not None for p in parts):
        vertex_normal = np.concatenate([_unit_rows(p.normals()) for p in parts])
    if any(p.tangent is not None for p in parts):
        tangent = np.concatenate([np.zeros((n, 4), np.float32) if p.tangent is None
                                  else p.tangent for p, n in zip(parts, vertex_counts,
                                                                 strict=True)])
    return Appearance(uv, vertex_color, face_color, face_material, [p.material for p in parts],
                      vertex_normal, tangent)


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
