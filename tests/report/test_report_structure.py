"""The report's structure views: an asset's parts in distinct colours with a legend, its
skeleton drawn over the mesh (issue 30)."""

import os
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from meshprep.io.parts import read_parts_file
from meshprep.io.rig import Rig, read_rig_file, save_rig
from meshprep.pipeline import LocalExecutor, resolve_config, run_dataset
from meshprep.render.overlays import (
    BONE_COLOR,
    JOINT_COLOR,
    PART_PALETTE,
    first_view,
    render_parts_view,
)
from meshprep.report import build_report


def _two_boxes(path: Path) -> None:
    """A GLB scene of two unit boxes side by side, nodes ``left`` and ``right``."""
    scene = trimesh.Scene()
    for name, x in (("left", -1.0), ("right", 1.0)):
        box = trimesh.creation.box((1.0, 1.0, 1.0))
        box.apply_translation((x, 0.0, 0.0))
        scene.add_geometry(box, node_name=name, geom_name=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    scene.export(path)


def _chain(vertices: np.ndarray, joints: np.ndarray) -> Rig:
    """A chain of joints (each the parent of the next), every vertex on the root."""
    count, n_vertices = len(joints), len(vertices)
    world = np.tile(np.eye(4), (count, 1, 1))
    world[:, :3, 3] = joints
    return Rig(names=[f"bone{i}" for i in range(count)], parents=np.arange(count) - 1,
               joints=joints, world=world, inverse_bind=np.tile(np.eye(4), (count, 1, 1)),
               nodes=np.arange(count), indices=np.zeros((n_vertices, 1), np.int32),
               weights=np.ones((n_vertices, 1), np.float32),
               skinned=np.ones(n_vertices, bool), totals=np.ones(n_vertices, np.float32))


@pytest.fixture(scope="module")
def structured(tmp_path_factory) -> tuple[Path, Path]:
    """A run of the two boxes with ``[parts] store``, a rig added to the asset's folder, and
    its report: the output folder and the asset's store folder."""
    tmp = tmp_path_factory.mktemp("structure")
    _two_boxes(tmp / "in" / "pair.glb")
    config = resolve_config(overrides={"run": {"steps": ["load", "normalize", "curate",
                                                         "write"]},
                                       "parts": {"store": True}})
    run_dataset(tmp / "in", tmp / "out", config, executor=LocalExecutor(1), progress=False)
    folder = next((tmp / "out").glob("objects/*/*/parts.npz")).parent
    mesh = read_parts_file(folder / "parts.npz")
    centres = [mesh.vertices[mesh.faces[mesh.metadata["meshprep_parts"].face_part == p]]
               .mean(axis=(0, 1)) for p in (0, 1)]
    joints = np.stack([centres[0], (centres[0] + centres[1]) / 2, centres[1]])
    save_rig(folder / "rig.npz", mesh.vertices, mesh.faces, _chain(mesh.vertices, joints))
    build_report(tmp / "out")
    return tmp / "out", folder


def _palette_index(pixel: np.ndarray) -> int:
    """The palette colour a shaded pixel is a shade of (-1: none)."""
    rgb = pixel[:3].astype(np.float64)
    palette = PART_PALETTE.astype(np.float64)
    cosine = palette @ rgb / (np.linalg.norm(palette, axis=1) * max(np.linalg.norm(rgb), 1e-9))
    best = int(np.argmax(cosine))
    return best if cosine[best] > 0.995 else -1


def test_asset_page_shows_parts_and_skeleton(structured):
    out, folder = structured
    page = (out / "report" / "assets" / f"{folder.name}.html").read_text()
    assert f'src="../structure/{folder.name}_parts.png"' in page
    assert f'src="../structure/{folder.name}_skeleton.png"' in page
    legend = page.split('id="parts-legend">')[1].split("</ul>")[0]
    assert "left" in legend and "right" in legend
    swatches = [item.split("background:")[1][:7] for item in legend.split("<li")[1:]]
    assert swatches == ["#{:02x}{:02x}{:02x}".format(*c) for c in PART_PALETTE[:2]]
    assert "3 joints, 1 root)" in page
    for src in (part.split('"')[0] for part in page.split('<img src="')[1:]):
        assert (out / "report" / "assets" / src).resolve().is_file(), src
    index = (out / "report" / "data" / "index.js").read_text()
    assert '"structure_parts"' in index and '"asset_page"' in index


def test_parts_image_colours_each_part(structured):
    out, folder = structured
    image = np.asarray(Image.open(out / "report" / "structure" / f"{folder.name}_parts.png"))
    assert image.shape == (256, 256, 4)
    mesh = read_parts_file(folder / "parts.npz")
    face_part = mesh.metadata["meshprep_parts"].face_part
    view = first_view(mesh)
    for part in (0, 1):
        centre = mesh.vertices[mesh.faces[face_part == part]].mean(axis=(0, 1))
        (col, row), = np.floor(view.project(centre[None])[0]).astype(int)
        assert _palette_index(image[row, col]) == part  # the box's front face, in its colour
    covered = image[image[..., 3] > 0]
    kinds = {_palette_index(p) for p in covered[:: max(1, len(covered) // 500)]}
    assert {0, 1} <= kinds


def test_skeleton_drawn_over_the_mesh(structured):
    out, folder = structured
    image = np.asarray(Image.open(out / "report" / "structure" / f"{folder.name}_skeleton.png"))
    mesh, rig = read_rig_file(folder / "rig.npz")
    uv, z = first_view(mesh).project(rig.joints)
    assert (z > 0).all()
    bone = np.all(image[..., :3] == BONE_COLOR, axis=-1)
    for t in (0.3, 0.5, 0.7):  # along the bone from joint 1 to its parent, joint 0
        col, row = np.floor(uv[1] + t * (uv[0] - uv[1])).astype(int)
        assert bone[row - 1:row + 2, col - 1:col + 2].any(), (t, row, col)
    # the joints are inside the boxes: their dots are drawn all the same
    for col, row in np.floor(uv).astype(int):
        assert np.all(image[row, col, :3] == JOINT_COLOR)
    # elsewhere the mesh is grey
    grey = (image[..., 3] > 0) & (image[..., 0] == image[..., 1]) & (image[..., 1] == image[..., 2])
    assert grey.sum() > 1000


def test_structure_views_are_cached(structured):
    out, folder = structured
    image = out / "report" / "structure" / f"{folder.name}_parts.png"
    stamp = image.stat().st_mtime_ns
    build_report(out)
    assert image.stat().st_mtime_ns == stamp  # not rendered again
    data = folder / "parts.npz"
    os.utime(data, ns=(stamp + 10**9, stamp + 10**9))  # the store file is newer: rendered again
    build_report(out)
    assert image.stat().st_mtime_ns > stamp


def test_parts_view_needs_one_part_per_face(tmp_path):
    mesh = trimesh.creation.box()
    with pytest.raises(ValueError, match="part ids"):
        render_parts_view(mesh, np.zeros(3, np.int32), tmp_path / "parts.png")
