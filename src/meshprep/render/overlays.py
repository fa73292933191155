"""Views of an asset's structure for the report: its parts in distinct colours, its skeleton
drawn over it.

Both are one camera's view (the first of a set, as the report's thumbnails) rendered with the
builtin rasterizer (:func:`meshprep.render.raster.rasterize`):

* :func:`render_parts_view`: each pixel takes the colour of its face's part
  (:data:`PART_PALETTE`, cycled), shaded by a headlight, with a dark line where two parts meet;
* :func:`render_skeleton_view`: the mesh in mid-grey shading, every bone a line from a joint
  to its parent (:data:`BONE_COLOR`) and every joint a dot (:data:`JOINT_COLOR`), both outlined
  and drawn in front of the surface (joints lie inside the mesh).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from .cameras import CameraSet, parse_cameras
from .raster import rasterize, shade_views
from .views import _camera_arrays, _normals, save_png, world_transform

#: part colours, cycled by part index: clearly distinct hues, none grey (Sasha Trubetskoy's
#: "20 simple, distinct colors", the 12 most distinct)
PART_PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (255, 225, 25), (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128),
    (170, 110, 40), (128, 0, 0),
], np.uint8)
#: the skeleton's colours (RGB) and the outline drawn around bones and joints
BONE_COLOR = (255, 150, 0)
JOINT_COLOR = (30, 80, 230)
OUTLINE_COLOR = (20, 20, 20)


def part_colors(count: int) -> np.ndarray:
    """The colours of parts ``0 .. count - 1``: :data:`PART_PALETTE` cycled.

    Parameters
    ----------
    count : int
        Number of parts.

    Returns
    -------
    numpy.ndarray
        uint8 ``(count, 3)`` RGB.
    """
    return PART_PALETTE[np.arange(count) % len(PART_PALETTE)]


@dataclass
class FirstView:
    """One rasterized view of a mesh: the buffers and the camera that projects points.

    Attributes
    ----------
    normalization : numpy.ndarray
        4×4 from the mesh's coordinates to the render world.
    w2c : numpy.ndarray
        4×4 world-to-camera (OpenCV axes).
    intrinsics : numpy.ndarray
        fx, fy, cx, cy in pixels.
    orthographic : bool
    face_id : numpy.ndarray
        int32 ``(size, size)``: the face seen at each pixel, -1 for the background.
    shaded : numpy.ndarray
        uint8 ``(size, size, 4)``: grey Lambert shading from the camera, alpha = coverage.
    depth : numpy.ndarray
        float32 ``(size, size)``: the surface's depth along the camera axis (inf: background).
    """

    normalization: np.ndarray
    w2c: np.ndarray
    intrinsics: np.ndarray
    orthographic: bool
    face_id: np.ndarray
    shaded: np.ndarray
    depth: np.ndarray

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates of points given in the mesh's coordinates.

        Parameters
        ----------
        points : numpy.ndarray
            ``(N, 3)`` in the coordinates of the mesh the view was rendered from.

        Returns
        -------
        uv : numpy.ndarray
            float64 ``(N, 2)``: column and row (pixel ``(r, c)`` spans ``[c, c + 1)``).
        z : numpy.ndarray
            float64 ``(N,)``: depth along the camera axis (a point with ``z <= 0`` is behind
            a perspective camera; its ``uv`` is meaningless).
        """
        world = np.asarray(points, np.float64).reshape(-1, 3) @ self.normalization[:3, :3].T \
            + self.normalization[:3, 3]
        camera = world @ self.w2c[:3, :3].T + self.w2c[:3, 3]
        z = camera[:, 2]
        fx, fy, cx, cy = self.intrinsics
        scale = np.ones_like(z) if self.orthographic else 1.0 / np.where(z > 1e-6, z, 1.0)
        uv = np.stack([fx * camera[:, 0] * scale + cx, fy * camera[:, 1] * scale + cy], axis=1)
        return uv, z


def first_view(mesh: trimesh.Trimesh, cameras: str | CameraSet = "scoring4", *,
               size: int = 256, y_up: bool = True, seed: int = 0) -> FirstView:
    """Rasterize and shade the first camera's view of ``mesh``.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        Any coordinates (normalized into the camera set's frame as :func:`render_views` does).
    cameras : str or CameraSet
        A camera set name (:func:`parse_cameras`) or a set; its first camera is used.
    size : int
        Image width and height in pixels.
    y_up : bool
        The mesh is Y-up (as :func:`meshprep.load` returns it and the store keeps it).
    seed : int
        Seeds random camera sets.

    Returns
    -------
    FirstView
    """
    cams = parse_cameras(cameras, seed) if isinstance(cameras, str) else cameras
    first = cams.first()
    loaded = np.asarray(mesh.vertices, dtype=np.float64)
    normalization = world_transform(loaded, first.bound, y_up, first.fit)
    vertices = loaded @ normalization[:3, :3].T + normalization[:3, 3]
    faces = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    w2c, intr, ortho, eyes, forwards = _camera_arrays(first, size)
    depth = np.full((1, size, size), np.inf, np.float32)
    face_id = np.full((1, size, size), -1, np.int32)
    bary = np.zeros((1, size, size, 2), np.float32)
    rasterize(vertices, faces, w2c, intr, ortho, size, size, depth, face_id, bary)
    unit_normals, vertex_normals = _normals(vertices, faces)
    images = [np.zeros((1, size, size, 4), np.uint8), np.zeros((0, size, size), np.uint16),
              np.zeros((0, size, size), np.uint8), np.zeros((1, size, size, 4), np.uint8)]
    shade_views(face_id, bary, depth, vertices, faces, unit_normals, vertex_normals, False,
                eyes, forwards, ortho, 1.0, *images, np.zeros((0, size, size, 3), np.float32))
    return FirstView(normalization, w2c[0], intr[0], bool(ortho[0]), face_id[0], images[3][0],
                     depth[0])


def _light(view: FirstView) -> np.ndarray:
    """The headlight term in [0, 1] per pixel, from the grey shading (``0.2 + 0.75 * light``)."""
    grey = view.shaded[..., 0].astype(np.float32) / 255.0
    return np.clip((grey - 0.2) / 0.75, 0.0, 1.0)


def parts_image(view: FirstView, face_part: np.ndarray) -> np.ndarray:
    """The view with every pixel in its part's colour, shaded, part borders darkened.

    Parameters
    ----------
    view : FirstView
    face_part : numpy.ndarray
        int ``(M,)``: the part of each face of the rendered mesh.

    Returns
    -------
    numpy.ndarray
        uint8 ``(size, size, 4)`` RGBA, alpha = coverage.
    """
    covered = view.face_id >= 0
    part = np.full(view.face_id.shape, -1, np.int64)
    part[covered] = np.asarray(face_part, np.int64)[view.face_id[covered]]
    colors = part_colors(max(int(part.max()) + 1, 1)).astype(np.float32)
    factor = 0.45 + 0.55 * _light(view)
    image = np.zeros(view.shaded.shape, np.uint8)
    image[covered, :3] = (colors[part[covered]] * factor[covered, None]).round()
    image[..., 3] = view.shaded[..., 3]
    border = np.zeros(part.shape, bool)
    border[:, 1:] |= part[:, 1:] != part[:, :-1]
    border[1:, :] |= part[1:, :] != part[:-1, :]
    border &= covered
    image[border, :3] //= 3
    return image


def render_parts_view(mesh: trimesh.Trimesh, face_part: np.ndarray,
                      path: str | os.PathLike[str], cameras: str | CameraSet = "scoring4", *,
                      size: int = 256, y_up: bool = True, seed: int = 0) -> Path:
    """Write the first camera's view of ``mesh`` with each part in its colour (:func:`part_colors`).

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The mesh (e.g. :func:`meshprep.io.parts.read_parts_file`'s).
    face_part : numpy.ndarray
        int ``(M,)``: the part of each face.
    path : path-like
        The PNG written (RGBA; folders created).
    cameras, size, y_up, seed
        As :func:`first_view`.

    Returns
    -------
    Path
    """
    if len(face_part) != len(mesh.faces):
        raise ValueError(f"{len(face_part)} part ids for {len(mesh.faces)} faces")
    image = parts_image(first_view(mesh, cameras, size=size, y_up=y_up, seed=seed), face_part)
    return _save(image, path)


def _stamp(image: np.ndarray, centres: np.ndarray, radius: float, color) -> None:
    """Paint every pixel whose centre is within ``radius`` of one of ``centres`` (pixel
    coordinates, ``(N, 2)`` column and row), opaque."""
    if not len(centres):
        return
    reach = int(np.ceil(radius))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    base = np.floor(centres).astype(np.int64)
    cols = base[:, 0, None] + dx.reshape(-1)
    rows = base[:, 1, None] + dy.reshape(-1)
    near = (cols + 0.5 - centres[:, 0, None]) ** 2 + (rows + 0.5 - centres[:, 1, None]) ** 2 \
        <= radius * radius
    height, width = image.shape[:2]
    near &= (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    image[rows[near], cols[near]] = (*color, 255)


def _bone_samples(uv: np.ndarray, z: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Points every half pixel along each bone (joint to parent) in front of the camera."""
    samples = [np.zeros((0, 2))]
    for child, parent in enumerate(np.asarray(parents, np.int64)):
        if parent < 0 or parent >= len(uv) or z[child] <= 1e-6 or z[parent] <= 1e-6:
            continue
        a, b = uv[child], uv[parent]
        steps = int(min(np.ceil(np.linalg.norm(b - a) * 2.0), 1e5)) + 1
        t = np.linspace(0.0, 1.0, steps + 1)[:, None]
        samples.append(a + t * (b - a))
    return np.concatenate(samples)


def skeleton_image(view: FirstView, joints: np.ndarray, parents: np.ndarray, *,
                   bone_width: float = 2.5, joint_radius: float = 3.5) -> np.ndarray:
    """The view in mid grey with the skeleton drawn over it, never hidden by the surface.

    Parameters
    ----------
    view : FirstView
    joints : numpy.ndarray
        ``(J, 3)`` joint positions in the rendered mesh's coordinates.
    parents : numpy.ndarray
        ``(J,)`` each joint's parent, -1 for a root.
    bone_width : float
        Width of a bone line in pixels (an outline of one pixel around it).
    joint_radius : float
        Radius of a joint dot in pixels (outlined too).

    Returns
    -------
    numpy.ndarray
        uint8 ``(size, size, 4)`` RGBA: alpha is the coverage of the mesh and the skeleton.
    """
    image = view.shaded.copy()
    covered = image[..., 3] > 0
    # a mid grey: the light bones and the dark outlines both stand out on it
    image[covered, :3] = (image[covered, :3] * 0.55 + 60).astype(np.uint8)
    uv, z = view.project(joints)
    bones = _bone_samples(uv, z, parents)
    dots = uv[z > 1e-6]
    _stamp(image, bones, bone_width / 2 + 1.0, OUTLINE_COLOR)
    _stamp(image, bones, bone_width / 2, BONE_COLOR)
    _stamp(image, dots, joint_radius + 1.0, OUTLINE_COLOR)
    _stamp(image, dots, joint_radius, JOINT_COLOR)
    return image


def render_skeleton_view(mesh: trimesh.Trimesh, joints: np.ndarray, parents: np.ndarray,
                         path: str | os.PathLike[str], cameras: str | CameraSet = "scoring4", *,
                         size: int = 256, y_up: bool = True, seed: int = 0) -> Path:
    """Write the first camera's view of ``mesh`` with its skeleton drawn over it.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The skinned mesh (e.g. :func:`meshprep.io.rig.read_rig_file`'s).
    joints : numpy.ndarray
        ``(J, 3)`` in the mesh's coordinates (:attr:`meshprep.io.rig.Rig.joints`).
    parents : numpy.ndarray
        ``(J,)`` each joint's parent, -1 for a root.
    path : path-like
        The PNG written (RGBA; folders created).
    cameras, size, y_up, seed
        As :func:`first_view`.

    Returns
    -------
    Path
    """
    if len(joints) != len(parents):
        raise ValueError(f"{len(joints)} joints but {len(parents)} parents")
    view = first_view(mesh, cameras, size=size, y_up=y_up, seed=seed)
    return _save(skeleton_image(view, joints, parents), path)


def _save(image: np.ndarray, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(image, out)
    return out
