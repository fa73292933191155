"""Training samples: uniform surface points, salient-edge points, farthest point sampling and
SDF supervision, in the layouts trainers read.

>>> import meshprep.sample as ms
>>> pts, normals = ms.sample_surface(mesh, 300_000, seed=0)  # doctest: +SKIP
>>> sal, sal_normals = ms.sample_salient(mesh, 300_000, angle=30, seed=0)  # doctest: +SKIP
>>> idx = ms.farthest_point_sampling(pts, 64_000)  # doctest: +SKIP
>>> sdf = ms.sample_sdf(watertight, volume=250_000, near=600_000, seed=0)  # doctest: +SKIP
"""

from .distance import MeshDistance, signed_distance
from .fps import farthest_point_sampling
from .layouts import (
    LAYOUTS,
    read_hunyuan3d,
    read_meshprep,
    write_hunyuan3d,
    write_layout,
    write_meshprep,
)
from .salient import SalientEdges, SalientStats, salient_edges, sample_salient
from .sdf import SDFSamples, sample_sdf
from .step import TrainingSamples, sample_asset
from .surface import sample_surface

__all__ = [
    "LAYOUTS",
    "MeshDistance",
    "SDFSamples",
    "SalientEdges",
    "SalientStats",
    "TrainingSamples",
    "farthest_point_sampling",
    "read_hunyuan3d",
    "read_meshprep",
    "salient_edges",
    "sample_asset",
    "sample_salient",
    "sample_sdf",
    "sample_surface",
    "signed_distance",
    "write_hunyuan3d",
    "write_layout",
    "write_meshprep",
]
