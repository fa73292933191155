"""Geometry: normalization into the canonical cube and topology checks."""

from .normalize import apply_transform, denormalize, normalization_transform, normalize
from .topology import TopologyReport, check_topology, require_closed_manifold, weld_exact

__all__ = [
    "TopologyReport",
    "apply_transform",
    "check_topology",
    "denormalize",
    "normalization_transform",
    "normalize",
    "require_closed_manifold",
    "weld_exact",
]
