"""Mesh input and output: load any common mesh file safely into one triangle mesh, write atomically.

:func:`load` raises only :class:`meshprep.errors.LoadError` subclasses for bad input.
"""

from meshprep.io.load import SUPPORTED_EXTENSIONS, load
from meshprep.io.write import atomic_write, write_mesh

__all__ = ["SUPPORTED_EXTENSIONS", "atomic_write", "load", "write_mesh"]
