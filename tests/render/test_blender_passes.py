"""The Blender backend's material passes against the built-in renderer's (issue 29).

A generated quad of metallic 0.3 and roughness 0.7 seen from four cameras: ``mr`` agrees within
2/255, ``position`` within 1/512 and ``normal_camera`` within 2°. Skipped without a Python that
has ``bpy`` (:func:`meshprep.blender.blender_python`).
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from meshprep.blender import blender_python
from meshprep.io import load
from meshprep.render import render_views
from meshprep.render.blender import render_blender


def _quad(path) -> None:
    """A unit quad tilted toward every camera of ``hammersley:4``, metallic 0.3, rough 0.7."""
    vertices = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0.3], [-1, 1, 0.3]], np.float64)
    mesh = trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]], process=False)
    material = trimesh.visual.material.PBRMaterial(baseColorFactor=[200, 120, 40, 255],
                                                   metallicFactor=0.3, roughnessFactor=0.7,
                                                   doubleSided=True)
    mesh.visual = trimesh.visual.TextureVisuals(uv=vertices[:, :2] / 2 + 0.5, material=material)
    mesh.export(path)


def _read(path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.float64)


@pytest.mark.slow
def test_blender_mr_and_position_match(tmp_path):
    blender_python.cache_clear()
    if blender_python() is None:
        pytest.skip("no Python with bpy (set MESHPREP_BLENDER_PYTHON)")
    path = tmp_path / "quad.glb"
    _quad(path)
    passes = ("mr", "position", "normal_camera", "mask")
    ours, theirs = tmp_path / "builtin", tmp_path / "blender"
    render_views(load(path, appearance=True), ours, "cond:4", size=96, passes=passes)
    render_blender(path, theirs, "cond:4", size=96, passes=passes)
    seen = 0
    for i in range(4):
        both = (_read(ours / f"{i:03d}_mask.png") > 0) & (_read(theirs / f"{i:03d}_mask.png") > 0)
        if both.sum() < 50:
            continue
        seen += 1
        mr_a, mr_b = _read(ours / f"{i:03d}_mr.png"), _read(theirs / f"{i:03d}_mr.png")
        assert np.abs(mr_a[both][:, :3] - (255, 0.7 * 255, 0.3 * 255)).max() <= 1
        assert np.abs(mr_a[both][:, :3] - mr_b[both][:, :3]).max() <= 2, i
        pos_a = _read(ours / f"{i:03d}_pos.png")[..., :3] / 65535
        pos_b = _read(theirs / f"{i:03d}_pos.png")[..., :3] / 65535
        # a pixel-centre sample of the same surface point: within 1/512 of the box
        assert np.median(np.abs(pos_a - pos_b)[both]) <= 1 / 512, i
        assert np.percentile(np.abs(pos_a - pos_b)[both], 99) <= 1 / 512, i
        cam_a = _read(ours / f"{i:03d}_normal_cam.png")[..., :3] / 255 * 2 - 1
        cam_b = _read(theirs / f"{i:03d}_normal_cam.png")[..., :3] / 255 * 2 - 1
        cosine = (cam_a * cam_b).sum(-1) / np.maximum(
            np.linalg.norm(cam_a, axis=-1) * np.linalg.norm(cam_b, axis=-1), 1e-12)
        assert np.median(np.degrees(np.arccos(np.clip(cosine, -1, 1)))[both]) <= 2.0, i
    assert seen >= 2


def test_blender_refuses_passes_it_does_not_draw(tmp_path):
    with pytest.raises(ValueError, match="emission"):
        render_blender(tmp_path / "none.glb", tmp_path / "out", "ortho6",
                       passes=("albedo", "emission"))
