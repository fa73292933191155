"""Exact signed distance from points to a closed triangle mesh.

The unsigned distance is exact (a closest-point query in a BVH, see ``_bvh``); the sign comes
from the angle-weighted pseudonormal of the closest feature (see ``_pseudonormal``), which is
exact for a closed, consistently oriented 2-manifold such as the output of
:func:`meshprep.make_watertight`. Both run in numba on all cores.
"""

from __future__ import annotations

import numpy as np

from ._bvh import CHUNK, build_bvh, closest_points, morton_order
from ._mesh import MeshLike, mesh_arrays
from ._pseudonormal import (
    face_neighbours,
    face_normals,
    pseudonormal_dots,
    vertex_faces,
    vertex_pseudonormals,
)


class MeshDistance:
    """Distance queries against one triangle mesh; build once, query many point sets.

    Parameters
    ----------
    mesh : trimesh.Trimesh or (vertices, faces)
        The mesh. Signs are meaningful only if it is a closed, outward-oriented 2-manifold.

    Examples
    --------
    >>> import trimesh
    >>> field = MeshDistance(trimesh.creation.box(extents=(1, 1, 1)))
    >>> field.signed_distance([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).round(3)
    array([-0.5,  0.5])
    """

    def __init__(self, mesh: MeshLike) -> None:
        vertices, faces = mesh_arrays(mesh)
        if len(faces) == 0:
            raise ValueError("the mesh has no faces")
        self.vertices = vertices
        self.faces = faces
        self._bvh = build_bvh(vertices, faces)
        self._sign_data: tuple[np.ndarray, ...] | None = None

    def _signing(self) -> tuple[np.ndarray, ...]:
        # built on first use: unsigned queries never pay for it
        if self._sign_data is None:
            normals = face_normals(self.vertices, self.faces)
            offsets, members = vertex_faces(self.faces, len(self.vertices))
            neighbours = face_neighbours(self.faces, offsets, members)
            pseudo = vertex_pseudonormals(self.vertices, self.faces, normals, offsets, members)
            self._sign_data = (normals, pseudo, neighbours)
        return self._sign_data

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact closest surface points.

        Parameters
        ----------
        points : (N, 3) array_like

        Returns
        -------
        distance : (N,) float64
            Unsigned distance.
        closest : (N, 3) float64
            Closest point on the mesh.
        face : (N,) int64
            Index of the face the closest point lies on.
        """
        distance, closest, face, _, _ = self._query(points)
        return distance, closest, face

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance, negative inside.

        Parameters
        ----------
        points : (N, 3) array_like

        Returns
        -------
        (N,) float64
        """
        return self._query(points, signed=True)[0]

    def _query(self, points, signed=False):
        points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        if not np.isfinite(points).all():
            raise ValueError("points must be finite")
        # sort along the tree's curve: neighbouring queries then share their answers
        order = morton_order(points)
        sorted_points = np.ascontiguousarray(points[order])
        d2, tri, code, closest = closest_points(
            sorted_points, self._bvh.triangles, self._bvh.nodes, self._bvh.depth, CHUNK
        )
        face = self._bvh.order[tri]
        distance = np.sqrt(d2)
        if signed:
            normals, pseudo, neighbours = self._signing()
            dots = pseudonormal_dots(
                sorted_points, closest, face, code, self.faces, normals, pseudo, neighbours
            )
            distance = np.where(dots < 0.0, -distance, distance)
        out_distance = np.empty_like(distance)
        out_distance[order] = distance
        out_closest = np.empty_like(closest)
        out_closest[order] = closest
        out_face = np.empty_like(face)
        out_face[order] = face
        out_code = np.empty_like(code)
        out_code[order] = code
        return out_distance, out_closest, out_face, out_code, order


def signed_distance(mesh: MeshLike, points: np.ndarray) -> np.ndarray:
    """Exact signed distance from points to a closed mesh, negative inside.

    Parameters
    ----------
    mesh : trimesh.Trimesh or (vertices, faces)
        A closed, consistently outward-oriented 2-manifold (for example
        ``make_watertight(...).mesh``). On other meshes the distance is still exact but the sign
        is only a local inside/outside guess.
    points : (N, 3) array_like
        Query points.

    Returns
    -------
    (N,) float64
        Signed distances.

    See Also
    --------
    MeshDistance : the same, keeping the acceleration structure for several point sets.

    Examples
    --------
    >>> import trimesh
    >>> sphere = trimesh.creation.icosphere(subdivisions=4)
    >>> signed_distance(sphere, [[0, 0, 0], [0, 0, 2]]).round(2)
    array([-1.,  1.])
    """
    return MeshDistance(mesh).signed_distance(points)
