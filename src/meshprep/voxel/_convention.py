"""One call convention for ``meshprep.voxel``: ``f(mesh, resolution, *, ...)``.

``mesh`` is a ``trimesh.Trimesh`` (or (V, 3) vertices with ``faces=`` by keyword), the second
parameter the resolution (or resolutions), everything else keyword-only. :func:`mesh_call`
checks a call against it and raises a ``TypeError`` that states the convention when a call
uses an older order (``flexible_dual_grid(vertices, faces, 1024)``,
``pbr_voxels(mesh, appearance, 1024)``).
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _resolution_ok(value: Any, plural: bool, optional: bool) -> bool:
    if value is None:
        return optional
    if plural:
        return (isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray)
                                                     and value.ndim == 1)) \
            and all(_is_int(v) for v in value)
    return _is_int(value)


def convention(name: str, second: str) -> str:
    """The convention as text, for error messages."""
    return (f"{name}(mesh, {second}, *, ...): mesh is a trimesh.Trimesh (or vertices with "
            f"faces= by keyword), {second} the second argument, every other argument by keyword")


def mesh_call(fn: F) -> F:
    """Check calls of ``fn(mesh, resolution, *, ...)`` and name the convention on a misuse.

    The wrapper keeps ``fn``'s signature (``inspect.signature`` follows ``__wrapped__``). The
    second parameter must be an int (``resolutions``: a sequence of ints; a default of None
    allows None).
    """
    signature = inspect.signature(fn)
    first, second = list(signature.parameters.values())[:2]
    plural = second.name.endswith("s")
    optional = second.default is None
    text = convention(fn.__name__, second.name)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{exc}; the call convention is {text}") from None
        bound.apply_defaults()
        value = bound.arguments[second.name]
        if not _resolution_ok(value, plural, optional):
            raise TypeError(f"{second.name} must be {'ints' if plural else 'an int'}, got "
                            f"{type(value).__name__}; the call convention is {text}")
        mesh = bound.arguments[first.name]
        if isinstance(mesh, np.ndarray) and "faces" in signature.parameters \
                and bound.arguments.get("faces") is None:
            raise TypeError(f"vertices without faces=; the call convention is {text}")
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def mesh_arrays(mesh: Any, faces: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices, faces)`` of a mesh, or of vertices with ``faces``."""
    if faces is None:
        return np.asarray(mesh.vertices), np.asarray(mesh.faces)
    if hasattr(mesh, "faces"):
        raise TypeError("faces= is for vertices given as an array, not with a mesh")
    return np.asarray(mesh), np.asarray(faces)
