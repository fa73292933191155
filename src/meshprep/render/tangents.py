"""Per-vertex tangents for normal mapping when a file declares none.

MikkTSpace-like, not exact MikkTSpace: each triangle's tangent and bitangent come from its UV
gradients (the standard derivation: ``dP = T du + B dv`` over two edges), are accumulated per
vertex weighted by the triangle's corner angle, Gram-Schmidt orthogonalised against the vertex
normal, and the bitangent sign ``w`` is ``sign((N x T) . B)``. MikkTSpace additionally splits
vertices at UV seams and mirrored islands and weights differently, so normal maps baked with
MikkTSpace can differ slightly on curved surfaces (flat and UV-aligned regions agree). A
pre-built ``pymikktspace`` wheel exists on PyPI; it is not used (a native dependency for a
fallback path).
"""

from __future__ import annotations

import numpy as np
import trimesh

from meshprep.io.appearance import Appearance

__all__ = ["tangents", "uv_tangents"]


def tangents(mesh: trimesh.Trimesh, look: Appearance) -> np.ndarray:
    """Tangents of a loaded mesh: the file's (``look.tangent``) or :func:`uv_tangents`.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        As :func:`meshprep.load` returns it.
    look : Appearance
        Its appearance (UVs; normals used when declared, else area-weighted ones).

    Returns
    -------
    (V, 4) float32
        Unit XYZ in the mesh's coordinates, W = bitangent sign (±1).
    """
    if look.tangent is not None and len(look.tangent) == len(mesh.vertices):
        return np.asarray(look.tangent, np.float32)
    vertices = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.faces, np.int64)
    normals = look.vertex_normal
    if normals is None or len(normals) != len(vertices):
        normals = np.asarray(mesh.vertex_normals, np.float64)
    return uv_tangents(vertices, faces, look.uv, normals)


def uv_tangents(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray,
                normals: np.ndarray) -> np.ndarray:
    """Per-vertex tangents from UV gradients (see the module's note).

    Parameters
    ----------
    vertices : (V, 3) float
    faces : (F, 3) int
    uv : (V, 2) float
        Texture coordinates, V up (trimesh's convention): the tangent follows +U and the
        bitangent +V, i.e. toward the top of the image, the +Y of glTF's normal maps
        (glTF 2.0, 3.9.3 "normalTexture": +X right, +Y up).
    normals : (V, 3) float
        Unit vertex normals.

    Returns
    -------
    (V, 4) float32
        Unit XYZ (a vertex without UV gradient gets any unit vector normal to its normal) and
        W = ±1.
    """
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    uv = np.asarray(uv, np.float64)
    normals = np.asarray(normals, np.float64)
    face_t, face_b = _face_gradients(vertices, faces, uv)
    weights = _corner_angles(vertices, faces)
    t = np.zeros_like(vertices)
    b = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(t, faces[:, corner], face_t * weights[:, corner, None])
        np.add.at(b, faces[:, corner], face_b * weights[:, corner, None])
    t -= normals * np.einsum("ij,ij->i", normals, t)[:, None]
    t = _unit(t, _any_perpendicular(normals))
    sign = np.where(np.einsum("ij,ij->i", np.cross(normals, t), b) < 0.0, -1.0, 1.0)
    return np.concatenate([t, sign[:, None]], axis=1).astype(np.float32)


def _face_gradients(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray):
    """Unnormalized per-face tangent (dP/du) and bitangent (dP/dv)."""
    p0, p1, p2 = (vertices[faces[:, j]] for j in range(3))
    t0, t1, t2 = (uv[faces[:, j]] for j in range(3))
    e1, e2 = p1 - p0, p2 - p0
    d1, d2 = t1 - t0, t2 - t0
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    scale = np.where(np.abs(det) > 1e-20, 1.0 / np.where(det == 0, 1.0, det), 0.0)
    tangent = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * scale[:, None]
    bitangent = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * scale[:, None]
    return _unit(tangent, np.zeros_like(tangent)), _unit(bitangent, np.zeros_like(bitangent))


def _corner_angles(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) interior angle at each corner."""
    p = [vertices[faces[:, j]] for j in range(3)]
    out = np.zeros((len(faces), 3))
    for j in range(3):
        a = _unit(p[(j + 1) % 3] - p[j], np.zeros((len(faces), 3)))
        b = _unit(p[(j + 2) % 3] - p[j], np.zeros((len(faces), 3)))
        out[:, j] = np.arccos(np.clip(np.einsum("ij,ij->i", a, b), -1.0, 1.0))
    return out


def _any_perpendicular(normals: np.ndarray) -> np.ndarray:
    """A unit vector normal to each normal (for vertices without a UV gradient)."""
    axis = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    return _unit(np.cross(normals, axis), np.tile([1.0, 0.0, 0.0], (len(normals), 1)))


def _unit(vectors: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; ``fallback`` rows where a row has (almost) no length."""
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    ok = length > 1e-12
    return np.where(ok, vectors / np.where(ok, length, 1.0), fallback)
