"""3MF packages, production extension included: every build item's geometry, transforms applied.

trimesh's 3MF reader ignores a build item's ``p:path`` and merges the objects of different model
files that share an ``objectid`` (ids are local to each model file), so a package from the 3MF
production extension comes out empty or with parts repeated. This reader resolves every object
reference as a (model file, id) pair: build items and components may name another model file of
the package with ``p:path``; that path must stay inside the package. Only geometry is read
(trimesh's reader reads no colours either). The caller bounds the package's expanded size
(:func:`meshprep.io.archive.check_zip_limits`) before this runs.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh
from lxml import etree

from meshprep.errors import CorruptFileError, SceneGraphError, UnsafePathError

_RELS = "_rels/.rels"
_MODEL_REL = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
_DEFAULT_ROOT = "3D/3dmodel.model"
# components nested deeper than this are a cycle or hostile
_MAX_DEPTH = 64
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          load_dtd=False)


@dataclass
class _Object:
    """One ``<object>``: its own triangles and the components it places."""

    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None
    components: list[tuple[str, str, np.ndarray]] = field(default_factory=list)


class _Package:
    """The model files of one 3MF zip, parsed on first use."""

    def __init__(self, zf: zipfile.ZipFile, name: str) -> None:
        self.zf = zf
        self.name = name
        # lower-case member name -> member name: 3MF part names compare case-insensitively
        self.members = {info.filename.lower(): info.filename for info in zf.infolist()}
        self.models: dict[str, dict[str, _Object]] = {}

    def member(self, part: str, referrer: str) -> str:
        """The member a package-absolute part name (``/3D/Objects/a.model``) names."""
        normal = posixpath.normpath(part.replace("\\", "/").lstrip("/"))
        if normal.startswith("..") or posixpath.isabs(normal) or ":" in normal.split("/")[0]:
            raise UnsafePathError(f"{self.name}: 3MF path {part!r} in {referrer} leaves the "
                                  "package")
        found = self.members.get(normal.lower())
        if found is None:
            raise CorruptFileError(f"{self.name}: 3MF part {part!r} named in {referrer} is not "
                                   "in the package")
        return found

    def objects(self, member: str) -> dict[str, _Object]:
        """The objects of one model file, by id."""
        if member not in self.models:
            self.models[member] = self._parse(member)
        return self.models[member]

    def root(self) -> str:
        """The package's start part (the model file whose build is read)."""
        target = None
        if _RELS in self.members:
            rels = self.xml(self.members[_RELS])
            for rel in rels.iter("{*}Relationship"):
                if rel.get("Type") == _MODEL_REL and rel.get("Target"):
                    target = rel.get("Target")
                    break
        return self.member(target or _DEFAULT_ROOT, "_rels/.rels")

    def xml(self, member: str) -> etree._Element:
        """Parse one member as XML (no DTD, no entities, no network)."""
        try:
            return etree.fromstring(self.zf.read(member), _PARSER)
        except etree.XMLSyntaxError as exc:
            raise CorruptFileError(f"{self.name}: 3MF part {member} is not well-formed XML "
                                   f"(line {exc.lineno})") from exc

    def _parse(self, member: str) -> dict[str, _Object]:
        tree = self.xml(member)
        found: dict[str, _Object] = {}
        for node in tree.iter("{*}object"):
            index = node.get("id")
            if index is None:
                raise CorruptFileError(f"{self.name}: a 3MF object in {member} has no id")
            found[index] = _read_object(node, member, self)
        return found


def _read_object(node: etree._Element, member: str, package: _Package) -> _Object:
    """One ``<object>``: its mesh, and its components as (member, objectid, transform)."""
    obj = _Object()
    mesh = node.find("{*}mesh")
    if mesh is not None:
        obj.vertices, obj.faces = _read_mesh(mesh, f"{package.name}: 3MF object "
                                             f"{node.get('id')} in {member}")
    for comp in node.iter("{*}component"):
        target = _path_of(comp)
        where = member if target is None else package.member(target, member)
        obj.components.append((where, _object_id(comp, package.name, member),
                               transform(comp.get("transform"), package.name)))
    return obj


def _read_mesh(mesh: etree._Element, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of a ``<mesh>`` element."""
    try:
        vertices = np.array([(float(v.get("x")), float(v.get("y")), float(v.get("z")))
                             for v in mesh.iter("{*}vertex")], dtype=np.float64)
        faces = np.array([(int(t.get("v1")), int(t.get("v2")), int(t.get("v3")))
                          for t in mesh.iter("{*}triangle")], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise CorruptFileError(f"{label}: a vertex or triangle lacks a number or has a "
                               "malformed one") from exc
    return vertices.reshape(-1, 3), faces.reshape(-1, 3)


def _path_of(node: etree._Element) -> str | None:
    """The production extension's ``p:path`` of an item or component (any namespace prefix)."""
    for key, value in node.attrib.items():
        if key == "path" or key.endswith("}path"):
            return value
    return None


def _object_id(node: etree._Element, name: str, member: str) -> str:
    index = node.get("objectid")
    if index is None:
        raise CorruptFileError(f"{name}: a 3MF item or component in {member} has no objectid")
    return index


def transform(text: str | None, name: str) -> np.ndarray:
    """A 3MF ``transform`` attribute (12 numbers, a 3x4 matrix for row vectors) as a 4x4
    matrix for column vectors.

    Parameters
    ----------
    text : str or None
        The attribute (None: identity).
    name : str
        The file name, for the error.

    Returns
    -------
    np.ndarray
        ``(4, 4)`` float64.
    """
    matrix = np.eye(4)
    if text is None:
        return matrix
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError:
        values = np.zeros(0)
    if values.size != 12:
        raise CorruptFileError(f"{name}: 3MF transform {text[:60]!r} is not 12 numbers")
    # rows m00 m01 m02 / m10 m11 m12 / m20 m21 m22 / m30 m31 m32: p' = [x y z 1] @ M
    matrix[:3, :4] = values.reshape(4, 3).T
    return matrix


def read_3mf(path: Path) -> trimesh.Scene:
    """Read a 3MF package's build into a scene: one geometry per placed mesh.

    Parameters
    ----------
    path : Path
        The ``.3mf`` file, already checked by :func:`meshprep.io.archive.check_zip_limits`.

    Returns
    -------
    trimesh.Scene
        Every mesh every build item places (through components, in any model file of the
        package), with the product of the transforms on its way.

    Raises
    ------
    CorruptFileError
        Broken XML, a reference to an object or part that does not exist, malformed numbers.
    UnsafePathError
        A ``p:path`` that leaves the package.
    SceneGraphError
        Components that reference each other in a cycle.
    """
    scene = trimesh.Scene()
    with zipfile.ZipFile(path) as zf:
        package = _Package(zf, path.name)
        root = package.root()
        build = package.xml(root).find("{*}build")
        for item in [] if build is None else build.iter("{*}item"):
            target = _path_of(item)
            member = root if target is None else package.member(target, root)
            _place(package, member, _object_id(item, path.name, root),
                   transform(item.get("transform"), path.name), scene, ())
    return scene


def _place(package: _Package, member: str, index: str, matrix: np.ndarray,
           scene: trimesh.Scene, chain: tuple[tuple[str, str], ...]) -> None:
    """Add one object (and, recursively, its components) to the scene."""
    key = (member, index)
    if key in chain or len(chain) > _MAX_DEPTH:
        raise SceneGraphError(f"{package.name}: 3MF components form a cycle at object "
                              f"{index} of {member}")
    obj = package.objects(member).get(index)
    if obj is None:
        raise CorruptFileError(f"{package.name}: 3MF object {index} referenced but not "
                               f"defined in {member}")
    if obj.faces is not None and len(obj.faces):
        mesh = trimesh.Trimesh(obj.vertices, obj.faces, process=False, validate=False)
        scene.add_geometry(mesh, geom_name=f"{member}#{index}", transform=matrix)
    for where, child, local in obj.components:
        _place(package, where, child, matrix @ local, scene, (*chain, key))
