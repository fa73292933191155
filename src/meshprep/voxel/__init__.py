"""Voxelize: the sparse voxel structures sparse-voxel models train on.

- ``dual_grid``: TRELLIS.2's O-Voxel shape (flexible dual grid: active voxels, dual vertices,
  edge-crossing flags).
- ``vxz``: TRELLIS.2's ``.vxz`` container (sparse voxel octree per chunk + LZMA attributes).
"""

from .dual_grid import DualGrid, flexible_dual_grid, flexible_dual_grids, normalize_for_dual_grid

__all__ = ["DualGrid", "flexible_dual_grid", "flexible_dual_grids", "normalize_for_dual_grid"]
