"""Geometry: normalization into the canonical cube, face normals and topology checks."""

from .normalize import apply_transform, denormalize, normalization_transform, normalize
from .normals import face_normals
from .topology import TopologyReport, check_topology, require_closed_manifold, weld_exact

__all__ = [
    "TopologyReport",
    "apply_transform",
    "check_topology",
    "denormalize",
    "face_normals",
    "normalization_transform",
    "normalize",
    "require_closed_manifold",
    "weld_exact",
]
