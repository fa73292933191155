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
    signed_distances,
    unit_face_normals,
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
        self._position: np.ndarray | None = None

    def _signing(self) -> tuple[np.ndarray, ...]:
        # built on first use: unsigned queries never pay for it
        if self._sign_data is None:
            normals = unit_face_normals(self.vertices, self.faces)
            offsets, members = vertex_faces(self.faces, len(self.vertices))
            neighbours = face_neighbours(self.faces, offsets, members)
            pseudo = vertex_pseudonormals(self.vertices, self.faces, normals, offsets, members)
            self._sign_data = (normals, pseudo, neighbours)
        return self._sign_data

    def closest(
        self, points: np.ndarray, hint_faces: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact closest surface points.

        Parameters
        ----------
        points : (N, 3) array_like
        hint_faces : (N,) int array_like, optional
            A face known to be near each point (-1 for none), e.g. the face a near-surface
            point was offset from. Only speeds the search up; the answer is exact either way.

        Returns
        -------
        distance : (N,) float64
            Unsigned distance.
        closest : (N, 3) float64
            Closest point on the mesh.
        face : (N,) int64
            Index of the face the closest point lies on.
        """
        distance, closest, face, _ = self._query(points, hint_faces)
        return distance, closest, face

    def signed_distance(
        self, points: np.ndarray, hint_faces: np.ndarray | None = None
    ) -> np.ndarray:
        """Signed distance, negative inside.

        Parameters
        ----------
        points : (N, 3) array_like
        hint_faces : (N,) int array_like, optional
            See :meth:`closest`.

        Returns
        -------
        (N,) float64
        """
        return self._query(points, hint_faces, signed=True)[0]

    def _tree_hints(self, hint_faces, order):
        # faces -> positions in the tree, in the queries' sorted order
        n = len(order)
        if hint_faces is None:
            return np.full(n, -1, np.int64)
        hint_faces = np.asarray(hint_faces, dtype=np.int64).reshape(-1)
        if len(hint_faces) != n:
            raise ValueError(f"{len(hint_faces)} hint faces for {n} points")
        if len(hint_faces) and hint_faces.max() >= len(self.faces):
            raise ValueError("hint face index out of range")
        if self._position is None:
            self._position = np.empty(len(self.faces), np.int64)
            self._position[self._bvh.order] = np.arange(len(self.faces))
        hints = hint_faces[order]
        return np.where(hints >= 0, self._position[np.maximum(hints, 0)], -1)

    def _query(self, points, hint_faces=None, signed=False):
        points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        if not np.isfinite(points).all():
            raise ValueError("points must be finite")
        # sort along the tree's curve: neighbouring queries then share their answers
        order = morton_order(points)
        sorted_points = np.ascontiguousarray(points[order])
        d2, tri, code, closest = closest_points(
            sorted_points, self._bvh.triangles, self._bvh.nodes, self._bvh.depth, CHUNK,
            self._tree_hints(hint_faces, order),
        )
        if signed:
            normals, pseudo, neighbours = self._signing()
            out = signed_distances(sorted_points, d2, closest, tri, code, self._bvh.order,
                                   self.faces, normals, pseudo, neighbours, order)
            return out, None, None, order
        out_distance = np.empty(len(order))
        out_distance[order] = np.sqrt(d2)
        out_closest = np.empty_like(closest)
        out_closest[order] = closest
        out_face = np.empty(len(order), np.int64)
        out_face[order] = self._bvh.order[tri]
        return out_distance, out_closest, out_face, order


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
