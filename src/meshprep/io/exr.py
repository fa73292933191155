"""OpenEXR, an optional dependency (``pip install 'meshprep[exr]'``): found once, or a clear error.

Both the ``step1x3d-texture`` layout (its depth maps) and the ``envmap`` lighting (``.exr``
environment maps) use it; it lives here, below both stages.
"""

from __future__ import annotations

from typing import Any

from meshprep.errors import MeshprepError

INSTALL = "pip install 'meshprep[exr]'"


class ExrUnavailableError(MeshprepError):
    """The ``OpenEXR`` package is not installed (``meshprep[exr]``)."""


def require_exr(purpose: str = "reading or writing OpenEXR") -> Any:
    """The ``OpenEXR`` module.

    Parameters
    ----------
    purpose : str
        What needs it, for the message (``"the step1x3d-texture layout's depth maps"``).

    Returns
    -------
    module
        ``OpenEXR``.

    Raises
    ------
    ExrUnavailableError
        Not installed; the message says what needs it and how to install it.
    """
    try:
        import OpenEXR
    except ImportError as exc:
        raise ExrUnavailableError(f"{purpose} needs the OpenEXR wheel: {INSTALL}") from exc
    return OpenEXR
