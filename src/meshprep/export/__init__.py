"""Write what trainers read: per-asset products and dataset roots in other projects' layouts.

- ``trellis``: TRELLIS (v1)'s root (150 renders + ``mesh.ply``, 64³ voxels, DINOv2 features).
- ``trellis2``: TRELLIS.2's dataset root (mesh dumps, O-Voxel ``.vxz`` files per resolution,
  condition renders, the ``metadata.csv`` files its datasets filter on).
"""

from .trellis import TRELLIS_FOLDER, assemble_trellis, write_trellis_asset
from .trellis2 import TRELLIS2_FOLDER, assemble_trellis2, write_trellis2_asset

__all__ = ["TRELLIS2_FOLDER", "TRELLIS_FOLDER", "assemble_trellis", "assemble_trellis2",
           "write_trellis2_asset", "write_trellis_asset"]
