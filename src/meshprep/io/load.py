"""Load any common mesh file into one triangle mesh, or fail with a typed, one-line error.

trimesh does the parsing; this module decides what may be parsed, confines every file a model
references to the model's folder, flattens scene graphs, and checks the result itself (trimesh with
``process=False`` does not check finiteness or face indices).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from meshprep.errors import (
    ArchiveError,
    CorruptFileError,
    EmptyFileError,
    InvalidGeometryError,
    LoadError,
    MissingCompanionError,
    NoTrianglesError,
    SceneGraphError,
    UnsafePathError,
    UnsupportedFormatError,
)
from meshprep.io import archive, collada, diagnose, fbx, gltf, gltf_decode, text, threemf
from meshprep.io.appearance import Appearance, part_appearance, read_mtl_maps
from meshprep.io.appearance import combine as combine_appearance
from meshprep.io.appearance import plain as plain_appearance
from meshprep.io.lfs import POINTER_MESSAGE, read_pointer
from meshprep.io.meshpack import read_packed_mesh
from meshprep.io.parts import parse_options, read_parts
from meshprep.io.pose import Pose, posed_appearance, posed_at_frame0
from meshprep.io.rig import read_rig, with_blender_weights
from meshprep.io.text import TextResolver

#: extensions :func:`load` reads
SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".glb",
    ".gltf",
    ".obj",
    ".ply",
    ".stl",
    ".off",
    ".dae",
    ".3mf",
    ".drc",
    ".npz",  # the compact store's packed meshes only (meshprep.io.meshpack)
    ".zip",
)

# formats only Blender imports: read through the Blender backend when it is installed
_NEEDS_BLENDER = {".fbx": "FBX", ".blend": "BLEND", ".abc": "Alembic", ".usd": "USD",
                  ".usdz": "USDZ", ".usda": "USD", ".usdc": "USD"}
# proprietary scene files no open-source reader handles
_PROPRIETARY = {".max": "3ds Max", ".c4d": "Cinema 4D", ".ma": "Maya", ".mb": "Maya"}

# geometry only: materials and textures are never read, which is faster and opens fewer files
_LOADER_OPTIONS: dict[str, dict[str, Any]] = {
    ".obj": {"skip_materials": True},
    ".ply": {"skip_materials": True},
    ".glb": {"skip_materials": True},
    ".gltf": {"skip_materials": True},
}

# a COLLADA float array written with a decimal comma ("21,920870") by a localised exporter
_DAE_DECIMAL_COMMA = re.compile(rb"<float_array[^>]*>\s*-?\d+,\d")

# a COLLADA prolog (XML declaration, comments) longer than this is not a real file
_XML_PROLOG_BYTES = 1 << 20

# how many model candidates of one archive are tried before giving up
_MAX_ARCHIVE_TRIES = 5


def load(path: str | os.PathLike[str], *, max_archive_bytes: int = 2 * 1024**3,
         appearance: bool = False, rig: bool = False,
         parts: bool = False) -> trimesh.Trimesh:
    """Load a mesh file (or a zip holding one) into a single triangle mesh.

    Scene graphs are flattened: every instance of every triangle geometry is moved by its node
    transform and all are concatenated. Point clouds and paths are dropped. Vertices are not
    merged (``process=False``). By default only geometry is kept; with ``appearance=True`` the
    UVs, base-colour materials and colours come too (:class:`meshprep.io.appearance.Appearance`
    in ``metadata["meshprep_appearance"]``). A missing ``.mtl`` or texture never fails a load.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.glb .gltf .obj .ply .stl .off .dae .3mf .drc`` file, a packed mesh ``.npz`` of
        the compact store (:mod:`meshprep.io.meshpack`) or a ``.zip`` archive holding one.
    max_archive_bytes : int
        Largest total uncompressed size a zip archive (or a 3MF container) may expand to.
    appearance : bool
        Also read UVs, materials and colours (for the render step's ``color`` pass).
    parts : bool
        Also keep which scene geometry each face came from: a
        :class:`meshprep.io.parts.Parts` (int32 ``face_part`` per face and part ``names``) in
        ``metadata["meshprep_parts"]``. OBJ is then read split by object and group.
    rig : bool
        Also read a glTF's skeleton and skin weights at frame 0 into
        ``metadata["meshprep_rig"]``: a :class:`meshprep.io.rig.Rig`, or None for a file
        without a skin (FBX and other formats: None for now).

    Returns
    -------
    trimesh.Trimesh
        float64 vertices ``(N, 3)`` and int64 faces ``(M, 3)`` with ``M > 0``, all referenced
        coordinates finite. ``metadata`` holds ``meshprep_source`` (the path given),
        ``meshprep_format`` (extension of the file parsed, without dot) and, for archives,
        ``meshprep_container`` (``"zip"``), ``meshprep_member`` (the member loaded) and
        ``meshprep_skipped_members`` (member names refused as unsafe, never written).

    Raises
    ------
    LoadError
        The file does not exist or cannot be read (base class of everything below).
    EmptyFileError
        The file has 0 bytes.
    UnsupportedFormatError
        BLEND / USD (need Blender), FBX without Blender or ufbx, proprietary or unknown
        extensions, undecodable glTF compression.
    CorruptFileError
        Truncated or malformed bytes; any parser failure not classified below.
    NoTrianglesError
        Parsed, but no triangles (point cloud, lines, empty scene).
    InvalidGeometryError
        NaN / inf coordinates on referenced vertices, or face indices out of range.
    UnsafePathError
        A glTF buffer or image URI is a URL, absolute, or leaves the file's folder; a COLLADA
        file declares XML entities.
    MissingCompanionError
        A glTF buffer file is missing.
    SceneGraphError
        A glTF node cycle, a node with two parents, or an index out of range in the node graph.
    ArchiveError
        A zip archive (or 3MF container) is too large or has too many members, or a zip holds
        no model file.
    """
    source = Path(os.fspath(path))
    _refuse_lfs_pointer(source)
    ext = _checked_extension(source)
    _check_file(source)
    if ext == ".zip":
        try:
            mesh = _load_zip(source, max_archive_bytes, appearance, rig, parts=parts)
        except LoadError:
            raise
        except Exception as exc:
            # a failure of the extraction itself (members are loaded with their own mapping)
            raise _classify(exc, source, "zip") from exc
    else:
        mesh = _load_model(source, jail=source.parent, max_bytes=max_archive_bytes,
                           appearance=appearance, rig=rig, parts=parts)
    if rig:
        mesh.metadata.setdefault("meshprep_rig", None)
    mesh.metadata["meshprep_source"] = str(path)
    return mesh


def _refuse_lfs_pointer(path: Path) -> None:
    """Raise UnsupportedFormatError for a Git LFS pointer file, whatever its extension."""
    pointer = read_pointer(path)
    if pointer is not None:
        raise UnsupportedFormatError(f"{path.name}: {POINTER_MESSAGE} (oid sha256:"
                                     f"{pointer.oid[:12]}..., {pointer.size} bytes)")


def _checked_extension(path: Path) -> str:
    """Return the lower-case extension, or raise UnsupportedFormatError for formats not read."""
    ext = path.suffix.lower()
    if ext in _NEEDS_BLENDER:
        from meshprep.blender import blender_python

        # FBX without Blender: meshprep.io.fbx reads it, or names its version in the error
        if blender_python() is None and ext != ".fbx":
            raise UnsupportedFormatError(
                f"{path.name}: {_NEEDS_BLENDER[ext]} needs the Blender backend: "
                "pip install \"meshprep[blender]\" (or set MESHPREP_BLENDER_PYTHON)"
            )
        return ext
    if ext in _PROPRIETARY:
        raise UnsupportedFormatError(
            f"{path.name}: {_PROPRIETARY[ext]} scene files ({ext}) cannot be read "
            "(proprietary format; export to glTF first)"
        )
    if ext not in SUPPORTED_EXTENSIONS:
        shown = ext or "no extension"
        raise UnsupportedFormatError(f"{path.name}: unsupported format ({shown})")
    return ext


def _check_file(path: Path) -> None:
    """Raise LoadError for a missing path or a folder, EmptyFileError for 0 bytes."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise LoadError(f"no such file: {path}") from exc
    except OSError as exc:
        raise LoadError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise LoadError(f"{path.name}: not a regular file")
    if info.st_size == 0:
        raise EmptyFileError(f"{path.name}: empty file (0 bytes)")


def _load_model(path: Path, jail: Path, max_bytes: int, appearance: bool = False,
                rig: bool = False,
                parts: bool = False) -> trimesh.Trimesh:
    """Parse one model file (not an archive) confined to ``jail`` and flatten it."""
    _refuse_lfs_pointer(path)
    ext = _checked_extension(path)
    fmt = ext[1:]
    refusal = None
    if ext in _NEEDS_BLENDER:
        from meshprep.blender import BlenderError, BlenderUnavailable

        try:
            return _load_through_blender(path, max_bytes, appearance, parts, rig)
        except (BlenderError, BlenderUnavailable) as exc:
            if ext != ".fbx":
                raise
            refusal = fbx.refusal_reason(exc)  # ufbx reads it below
    pose = look = skeleton = None
    try:
        tree = _precheck(path, ext, jail, max_bytes)
        # one decoding pass (Draco, meshopt, quantization, sparse, strips and fans, morph
        # weights) read by trimesh and the frame-0 poser alike; None: trimesh reads the file
        decoded = (gltf_decode.decoded_gltf(path, tree, jail, appearance, _posable(tree))
                   if tree is not None else None)
        data = (gltf_decode.decoded_glb(path, tree, jail, appearance, decoded)
                if decoded is not None else None)
        scene = (fbx.read_fbx(path, refusal) if ext == ".fbx"
                 else _parse(path, ext, jail, appearance, data, parts))
        pose = _frame0_pose(path, tree, jail, decoded) if decoded is not None else None
        if pose is not None and len(pose.faces):
            # an animated or skinned glTF: its first frame replaces trimesh's rest pose
            vertices, faces = pose.vertices, pose.faces
            if appearance:
                # each primitive's look as trimesh read it, in the posed mesh's order
                look = posed_appearance(scene, decoded.tree, pose)
        else:
            vertices, faces, look = _flatten(scene, path.name, appearance)
            if len(faces) == 0:
                raise _no_triangles(path, ext, scene)
        vertices, faces, kept = _checked_finite(vertices, faces, path.name)
        skeleton = read_rig(decoded, pose, kept) if rig else None
        if look is not None and kept is not None:
            look.uv = look.uv[kept]
            look.vertex_color = None if look.vertex_color is None else look.vertex_color[kept]
            look.vertex_normal = None if look.vertex_normal is None else look.vertex_normal[kept]
            look.tangent = None if look.tangent is None else look.tangent[kept]
    except LoadError:
        raise
    except Exception as exc:
        # anything else trimesh (or numpy under it) raised: one typed, one-line error
        raise _classify(exc, path, fmt) from exc
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)
    mesh.metadata["meshprep_format"] = fmt
    if parts:
        # the glTF JSON trimesh and the poser read: decoded where the file was
        read = decoded.tree if decoded is not None else tree
        mesh.metadata["meshprep_parts"] = read_parts(scene, pose, read, len(faces))
    if ext == ".fbx":
        mesh.metadata["meshprep_via"] = "ufbx"
    if appearance:
        mesh.metadata["meshprep_appearance"] = look or plain_appearance(len(vertices), len(faces))
    if rig:
        mesh.metadata["meshprep_rig"] = skeleton
    if pose is not None:
        mesh.metadata["meshprep_pose"] = {"animated": pose.animated, "skinned": pose.skinned,
                                          "pose_bbox_ratio": pose.bbox_ratio}
    return mesh


def _load_through_blender(path: Path, max_bytes: int, appearance: bool,
                          parts: bool = False, rig: bool = False) -> trimesh.Trimesh:
    """FBX / BLEND / ABC / USD: Blender (in a worker process) exports a GLB, loaded as usual;
    with ``rig`` the GLB keeps the skins (posed at frame 0 by the glTF poser)."""
    from meshprep.blender import export_glb

    with tempfile.TemporaryDirectory(prefix="meshprep_blender_") as folder:
        glb = Path(folder) / "model.glb"
        export_glb(path, glb, skins=rig)
        try:
            mesh = _load_model(glb, jail=Path(folder), max_bytes=max_bytes,
                               appearance=appearance, rig=rig, parts=parts)
            weights = glb.with_name(glb.name + ".weights.npz")
            if rig and mesh.metadata.get("meshprep_rig") is not None and weights.is_file():
                mesh.metadata["meshprep_rig"] = with_blender_weights(
                    mesh.metadata["meshprep_rig"], np.asarray(mesh.vertices), weights)
        except LoadError as exc:
            raise type(exc)(f"{path.name} (exported by Blender): {exc}") from exc
    mesh.metadata["meshprep_format"] = path.suffix.lower()[1:]
    mesh.metadata["meshprep_via"] = "blender"
    return mesh


def _posable(tree: dict[str, Any] | None) -> bool:
    """Whether a glTF has animations or skins (the poser reads it then)."""
    return tree is not None and bool(tree.get("animations") or tree.get("skins"))


def _frame0_pose(path: Path, tree: dict[str, Any], jail: Path,
                 decoded: gltf_decode.DecodedGltf) -> Pose | None:
    """Animated or skinned glTF: its first frame, read from the decoded data trimesh reads
    too (None for a static one)."""
    if not _posable(tree):
        return None
    return posed_at_frame0(path, tree, jail, decoded)


def _precheck(path: Path, ext: str, jail: Path, max_bytes: int) -> dict[str, Any] | None:
    """Refuse hostile input that trimesh would otherwise act on before we could check it.

    Returns the glTF JSON tree it checked (None for other formats), so it is read once.
    """
    if ext in (".gltf", ".glb"):
        # the JSON is checked before trimesh may follow any URI or walk the node graph
        tree = gltf.read_gltf_json(path)
        version = str((tree.get("asset") or {}).get("version", "")) \
            if isinstance(tree.get("asset"), dict) else ""
        if version.startswith("1."):
            # glTF 1.0 keeps its objects in dictionaries: say so, not "not an array"
            raise UnsupportedFormatError(f"{path.name}: glTF {version} (only glTF 2.0 is read)")
        gltf.validate_gltf(path, tree, jail)
        if not tree.get("meshes"):
            # buffers, views or images alone: nothing to draw, whatever else is broken
            raise NoTrianglesError(f"{path.name}: no triangles: the glTF declares no meshes")
        return tree
    if ext == ".3mf":
        # a 3MF is a zip that trimesh inflates in memory: bound it like any archive
        archive.check_zip_limits(path, max_bytes=max_bytes)
    elif ext == ".dae":
        _check_xml_prolog(path)
    elif ext == ".ply":
        # trimesh reads an ASCII PLY with rows missing as if it were whole
        rows = diagnose.ply_rows_problem(path)
        if rows:
            raise CorruptFileError(f"{path.name}: {rows}")
    return None


def _check_xml_prolog(path: Path) -> None:
    """Refuse a COLLADA file that declares a DOCTYPE or entities.

    pycollada parses with ``huge_tree=True``, which lifts libxml2's guard against entity
    expansion ("billion laughs"); COLLADA never needs a DTD, so any declaration is refused.
    """
    with open(path, "rb") as f:
        head = f.read(_XML_PROLOG_BYTES)
    root = head.find(b"<COLLADA")
    prolog = head if root < 0 else head[:root]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise UnsafePathError(f"{path.name}: XML DOCTYPE / entity declarations are refused")
    if root < 0 and len(head) == _XML_PROLOG_BYTES:
        raise CorruptFileError(f"{path.name}: no <COLLADA> root element in the first 1 MiB")


def _parse(path: Path, ext: str, jail: Path, appearance: bool = False,
           data: bytes | None = None, parts: bool = False) -> trimesh.Scene:
    """Run trimesh's loader on an open file with a resolver confined to ``jail``.

    With ``appearance``, materials and textures are read too; when that fails (a missing or
    broken texture, an unreadable ``.mtl``) the file is parsed again for its geometry alone.
    """
    split = parse_options(ext) if parts else {}  # OBJ objects and groups kept apart
    options = {**_LOADER_OPTIONS.get(ext, {}), **split}
    if appearance and options:
        try:
            return _parse_with(path, ext, jail, split, data)
        except Exception:
            pass  # the geometry-only parse below decides whether the file loads
    return _parse_with(path, ext, jail, options, data)


def _parse_with(path: Path, ext: str, jail: Path, options: dict[str, Any],
                data: bytes | None = None) -> trimesh.Scene:
    resolver = TextResolver(path.parent, jail)  # a .mtl in any encoding reaches trimesh as UTF-8
    # passing an open file (not a string) keeps trimesh from guessing URLs or JSON from the name
    if data is not None:
        # a decoded glTF (meshprep.io.gltf_decode): a GLB whose images still resolve here
        return trimesh.load_scene(io.BytesIO(data), file_type="glb", resolver=resolver,
                                  process=False, **options)
    if ext == ".3mf":
        return threemf.read_3mf(path)  # production extension (p:path) included
    if ext == ".drc":
        return trimesh.Scene(read_draco(path))
    if ext == ".npz":
        return trimesh.Scene(read_packed_mesh(path))
    # a text file that is not UTF-8: re-encoded here, as trimesh needs charset_normalizer for it
    recoded = text.as_utf8(path, ext)
    with io.BytesIO(recoded) if recoded is not None else open(path, "rb") as f:
        scene = trimesh.load_scene(f, file_type=ext[1:], resolver=resolver, process=False,
                                   **options)
    if ext == ".obj" and not options.get("skip_materials"):
        read_mtl_maps(scene, resolver)  # normal and emission maps trimesh does not read
    # skinned meshes and instances with broken material bindings, which trimesh drops
    return collada.completed(path, scene) if ext == ".dae" else scene


def read_draco(path: Path) -> trimesh.Trimesh:
    """A Draco ``.drc`` file's triangle mesh (points without faces are refused).

    Raises
    ------
    CorruptFileError
        When Draco cannot decode it, or it holds no triangles.
    """
    import DracoPy

    try:
        decoded = DracoPy.decode(path.read_bytes())
    except Exception as exc:  # DracoPy raises its own types for broken data
        raise CorruptFileError(f"{path.name}: not a Draco mesh ({exc})") from exc
    faces = np.asarray(getattr(decoded, "faces", np.zeros((0, 3))), np.int64).reshape(-1, 3)
    if not len(faces):
        raise CorruptFileError(f"{path.name}: a Draco point cloud, not a mesh")
    return trimesh.Trimesh(np.asarray(decoded.points, np.float64), faces, process=False)


def _flatten(scene: trimesh.Scene, file_name: str, appearance: bool = False
             ) -> tuple[np.ndarray, np.ndarray, Appearance | None]:
    """Concatenate every triangle-geometry instance of a scene, node transforms applied, and
    (when asked) each instance's look in the same order.

    Done here rather than with ``Scene.to_mesh`` so that face indices are checked per geometry
    (before offsets could hide an out-of-range index) and visuals are never copied or merged
    into one texture atlas.
    """
    vertices: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    parts = []
    offset = 0
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geometry = scene.geometry.get(name)
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            continue
        v, f = _checked_indices(geometry, f"{file_name}: geometry '{name}'")
        v, f = _transformed(v, f, np.asarray(transform, dtype=np.float64))
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
        if appearance:
            # the file's normals and tangents follow the node transform's linear part
            parts.append(part_appearance(geometry, np.asarray(transform, np.float64)[:3, :3]))
    if not faces:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), None
    look = combine_appearance(parts, [len(f) for f in faces]) if appearance else None
    return np.concatenate(vertices), np.concatenate(faces), look


def _checked_indices(geometry: trimesh.Trimesh, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 vertices and int64 faces, refusing indices outside the vertex array."""
    v = np.asarray(geometry.vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(geometry.faces, dtype=np.int64)
    if f.ndim != 2 or f.shape[1] != 3:
        raise InvalidGeometryError(f"{label}: faces have shape {f.shape}, not (M, 3)")
    low, high = int(f.min()), int(f.max())
    if low < 0 or high >= len(v):
        raise InvalidGeometryError(
            f"{label}: face index out of range [{low}, {high}] for {len(v)} vertices"
        )
    return v, f


def _transformed(v: np.ndarray, f: np.ndarray, transform: np.ndarray) -> tuple[np.ndarray, ...]:
    """Apply a 4x4 transform; reverse the winding when it mirrors, as trimesh does."""
    if np.array_equal(transform, np.eye(4)):
        return v, f
    rotation, translation = transform[:3, :3], transform[:3, 3]
    # inf coordinates times 0 give NaN: that is reported by the finiteness check, not warned
    with np.errstate(invalid="ignore", over="ignore"):
        moved = v @ rotation.T + translation
        mirrored = np.linalg.det(rotation) < 0
    return moved, (f[:, ::-1] if mirrored else f)


def _checked_finite(v: np.ndarray, f: np.ndarray, name: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Refuse NaN / inf on referenced vertices; drop unreferenced non-finite ones (the mask of
    vertices kept is returned, None when all are)."""
    finite = np.isfinite(v).all(axis=1)
    if finite.all():
        return v, f, None
    used = np.zeros(len(v), dtype=bool)
    used[f.ravel()] = True
    bad = int((used & ~finite).sum())
    if bad:
        raise InvalidGeometryError(
            f"{name}: non-finite vertex coordinates ({bad} referenced vertices are NaN or inf)"
        )
    # only unreferenced vertices are non-finite: compact so downstream bounds stay finite
    remap = np.cumsum(used) - 1
    return v[used], remap[f], used


# texts of a parser's own failure, which say nothing about the file
_READABLE = re.compile(r"reshape|local variable|NoneType|has no attribute|not subscriptable|"
                       r"invalid literal|could not convert|unhashable|not iterable|^\S+$|"
                       r"^'[^']*'$|unmatched data|Error:|takes \d+ positional")
_INTERNAL_ERRORS = (KeyError, AttributeError, TypeError, AssertionError, NameError,
                    ZeroDivisionError, ImportError)


def _classify(exc: Exception, path: Path, fmt: str) -> LoadError:
    """Turn an exception raised while parsing into the matching one-line LoadError."""
    # what the file lacks or what is broken, read from the file itself
    explained = diagnose.explain(exc, path, fmt)
    if explained is not None:
        return explained
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    # trimesh reports out-of-range indices as IndexError, or ValueError naming the index range
    lowered = text.lower()
    index_problem = "index" in lowered and ("range" in lowered or "bounds" in lowered)
    if isinstance(exc, IndexError) or index_problem:
        return InvalidGeometryError(f"{path.name}: {fmt.upper()} references an element that "
                                    "does not exist (index out of range)")
    if isinstance(exc, FileNotFoundError):
        name = exc.filename or text
        return MissingCompanionError(f"{path.name}: referenced file not found: {name}")
    if isinstance(exc, RecursionError):
        return SceneGraphError(f"{path.name}: scene graph too deep or cyclic")
    if isinstance(exc, OSError):
        # permissions, a full disk while extracting: the environment failed, not the bytes
        return LoadError(f"{path.name}: I/O error: {text}")
    if _READABLE.search(text) is None and not isinstance(exc, _INTERNAL_ERRORS):
        return CorruptFileError(f"{path.name}: cannot parse {fmt}: {text}")
    # a KeyError's bare key, a local variable, numpy's reshape: what the parser tripped on
    return diagnose.fallback(exc, path, fmt)


def _no_triangles(path: Path, ext: str, scene: trimesh.Scene) -> LoadError:
    """Explain an empty result: a corruption we can recognise, or genuinely no triangles."""
    if ext == ".stl":
        problem = _binary_stl_problem(path)
        if problem:
            return CorruptFileError(f"{path.name}: {problem}")
    if ext == ".dae" and _DAE_DECIMAL_COMMA.search(path.read_bytes()):
        return CorruptFileError(
            f"{path.name}: COLLADA numbers use ',' as decimal separator (locale-broken export); "
            "no geometry could be parsed"
        )
    reason = diagnose.empty_reason(path, ext)
    if reason and ext in (".gltf", ".glb") and "holds fewer bytes" in reason:
        # diagnose's last guess; trimesh read every buffer here, so none is short: the file
        # simply draws no triangles (points, lines, hidden or camera-only nodes)
        reason = None
    if reason:
        return CorruptFileError(f"{path.name}: {reason}")
    return NoTrianglesError(f"{path.name}: no triangles: {_describe(scene)}")


def _binary_stl_problem(path: Path) -> str | None:
    """Describe why a non-ASCII STL that yielded nothing is corrupt, or None if it is ASCII."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(84)
    if head[:5].lower() == b"solid" and b"facet" in path.read_bytes()[:4096]:
        return None
    if len(head) < 84:
        return f"truncated binary STL ({size} bytes, header alone is 84)"
    count = struct.unpack("<I", head[80:84])[0]
    expected = 84 + 50 * count
    if expected != size:
        return (
            f"truncated binary STL: header declares {count} triangles ({expected} bytes), "
            f"file has {size}"
        )
    return None


def _describe(scene: trimesh.Scene) -> str:
    """Say briefly what a scene without triangles holds."""
    if not scene.geometry:
        return "empty scene"
    kinds: dict[str, int] = {}
    for geometry in scene.geometry.values():
        label = type(geometry).__name__
        if isinstance(geometry, trimesh.PointCloud):
            label = f"point cloud ({len(geometry.vertices)} points)"
        kinds[label] = kinds.get(label, 0) + 1
    return "only " + ", ".join(f"{n} x {k}" if n > 1 else k for k, n in kinds.items())


def _load_zip(path: Path, max_bytes: int, appearance: bool = False, rig: bool = False,
              parts: bool = False) -> trimesh.Trimesh:
    """Extract an archive into a private folder, load its preferred model, remove the folder."""
    folder = Path(tempfile.mkdtemp(prefix="meshprep_zip_"))
    try:
        extraction = archive.extract_zip(path, folder, max_bytes=max_bytes)
        candidates = archive.model_candidates(extraction.written)
        if not candidates:
            raise ArchiveError(f"{path.name}: no model file in archive")
        mesh, member = _load_first(candidates, folder, max_bytes, appearance, rig, parts=parts)
    finally:
        # the mesh holds plain arrays: nothing it needs lives in the folder
        shutil.rmtree(folder, ignore_errors=True)
    mesh.metadata["meshprep_container"] = "zip"
    mesh.metadata["meshprep_member"] = member
    mesh.metadata["meshprep_skipped_members"] = list(extraction.skipped)
    return mesh


def _load_first(
    candidates: list[Path], folder: Path, max_bytes: int, appearance: bool = False,
    rig: bool = False,
    parts: bool = False,
) -> tuple[trimesh.Trimesh, str]:
    """Load the first candidate that loads; re-raise the most preferred one's error otherwise."""
    errors: list[LoadError] = []
    for candidate in candidates[:_MAX_ARCHIVE_TRIES]:
        # references inside an archive may use sibling folders, but never leave the archive
        try:
            _check_file(candidate)
            mesh = _load_model(candidate, jail=folder, max_bytes=max_bytes,
                               appearance=appearance, rig=rig, parts=parts)
        except LoadError as exc:
            errors.append(exc)
            continue
        return mesh, candidate.relative_to(folder).as_posix()
    raise errors[0]
