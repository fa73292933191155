"""Voxelize: the sparse voxel structures sparse-voxel models train on.

- ``dual_grid``: TRELLIS.2's O-Voxel shape (flexible dual grid: active voxels, dual vertices,
  edge-crossing flags).
- ``pbr``: TRELLIS.2's O-Voxel PBR attributes (base colour, metallic, roughness, alpha).
- ``vxz``: TRELLIS.2's ``.vxz`` container (sparse voxel octree per chunk + LZMA attributes).
- ``surface``: TRELLIS (v1)'s 64³ surface voxels (Open3D's triangle/box overlap) and their PLY.
- ``sparse_sdf``: signed distances to the watertight output in a narrow band (Direct3D-S2 /
  Sparc3D-style sparse SDF VAEs).
- ``features``: TRELLIS (v1)'s DINOv2 voxel features (patch tokens of the renders projected to
  the voxel centres).

One call convention: every function of a mesh and a resolution is ``f(mesh, resolution, *,
...)`` (``mesh`` a ``trimesh.Trimesh``, or vertices with ``faces=``; the rest, arrays included,
by keyword): ``flexible_dual_grid(mesh, 1024)``, ``pbr_voxels(mesh, 1024, appearance=look)``,
``surface_voxels(mesh, 64)``, ``sparse_sdf(mesh, 1024, truncation=4)``. A call in another order
raises a ``TypeError`` that states it.
"""

from .dual_grid import DualGrid, flexible_dual_grid, flexible_dual_grids, normalize_for_dual_grid
from .features import (
    TRELLIS_FEATURE_NAME,
    dinov2_voxel_features,
    project_features,
    read_feature_npz,
    write_feature_npz,
)
from .pbr import PBR_ATTRIBUTES, pbr_voxels, pbr_voxels_multi
from .sparse_sdf import SparseSDF, read_sparse_sdf, sparse_sdf
from .surface import normalize_for_trellis, read_voxel_ply, surface_voxels, write_voxel_ply
from .vxz import read_vxz, read_vxz_info, write_vxz

__all__ = [
    "PBR_ATTRIBUTES",
    "SparseSDF",
    "read_sparse_sdf",
    "sparse_sdf",
    "TRELLIS_FEATURE_NAME",
    "dinov2_voxel_features",
    "project_features",
    "read_feature_npz",
    "write_feature_npz",
    "DualGrid",
    "flexible_dual_grid",
    "flexible_dual_grids",
    "normalize_for_dual_grid",
    "normalize_for_trellis",
    "pbr_voxels",
    "pbr_voxels_multi",
    "read_voxel_ply",
    "read_vxz",
    "read_vxz_info",
    "surface_voxels",
    "write_voxel_ply",
    "write_vxz",
]
