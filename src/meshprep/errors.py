"""Typed errors raised by meshprep.

Every failure of one asset is data: the pipeline records the error class name and its message.
Messages are one line, say what was wrong with the input, and never contain a traceback.
"""

from __future__ import annotations


class MeshprepError(Exception):
    """Base class of every error meshprep raises on purpose."""


class LoadError(MeshprepError):
    """The input file cannot be turned into a triangle mesh."""


class EmptyFileError(LoadError):
    """The file has no bytes."""


class CorruptFileError(LoadError):
    """The file is truncated or its bytes do not follow its format."""


class NoTrianglesError(LoadError):
    """The file parsed but holds no triangles (a point cloud, lines only, or nothing)."""


class InvalidGeometryError(LoadError):
    """Coordinates are NaN or infinite, or face indices point outside the vertex array."""


class MissingCompanionError(LoadError):
    """A file the model references (.bin buffer, texture) is not there."""


class UnsafePathError(LoadError):
    """The file references a path outside its own folder (or an absolute path / URL)."""


class SceneGraphError(LoadError):
    """The scene graph is broken (a node cycle, a node that references a missing mesh)."""


class UnsupportedFormatError(LoadError):
    """The format is not read by meshprep (FBX and BLEND need the Blender backend)."""


class ArchiveError(LoadError):
    """A zip archive is unsafe (zip slip, too large when expanded) or holds no usable model."""


class WatertightError(MeshprepError):
    """The watertight conversion could not produce a closed 2-manifold."""


class TopologyError(WatertightError):
    """An output mesh failed the closed 2-manifold check."""
