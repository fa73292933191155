"""meshprep: raw 3D assets in, training data for 3D generative models out.

The stages are plain functions on in-memory meshes (``trimesh.Trimesh``) and arrays::

    import meshprep as mp
    mesh = mp.load("chair.glb")                        # one triangle mesh, transforms applied
    mesh, transform = mp.normalize(mesh)               # into [-0.95, 0.95]^3
    result = mp.make_watertight(mesh, resolution=512)  # result.mesh: closed 2-manifold
    samples = mp.sample_asset(result.mesh, mesh)       # surface, salient and SDF samples
"""

from .errors import (
    ArchiveError,
    CorruptFileError,
    EmptyFileError,
    InvalidGeometryError,
    LoadError,
    MeshprepError,
    MissingCompanionError,
    NoTrianglesError,
    SceneGraphError,
    TopologyError,
    UnsafePathError,
    UnsupportedFormatError,
    WatertightError,
)
from .geometry import check_topology, denormalize, normalize
from .io import load, write_mesh
from .sample import (
    farthest_point_sampling,
    sample_asset,
    sample_salient,
    sample_sdf,
    sample_surface,
    signed_distance,
    write_layout,
)
from .watertight import WatertightResult, make_watertight

__version__ = "0.1.0"

__all__ = [
    "ArchiveError",
    "CorruptFileError",
    "EmptyFileError",
    "InvalidGeometryError",
    "LoadError",
    "MeshprepError",
    "MissingCompanionError",
    "NoTrianglesError",
    "SceneGraphError",
    "TopologyError",
    "UnsafePathError",
    "UnsupportedFormatError",
    "WatertightError",
    "WatertightResult",
    "check_topology",
    "denormalize",
    "farthest_point_sampling",
    "load",
    "make_watertight",
    "normalize",
    "sample_asset",
    "sample_salient",
    "sample_sdf",
    "sample_surface",
    "signed_distance",
    "write_layout",
    "write_mesh",
]
