"""The Blender backend: agreement with the built-in renderer, .blend safety, time limits.

The Blender tests need a Python with ``bpy`` (``$MESHPREP_BLENDER_PYTHON`` or bpy importable
here) and are skipped without one; the tests of the error without Blender always run.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import textwrap

import numpy as np
import pytest
import trimesh
from PIL import Image

from meshprep.blender import BlenderError, blender_python, run_job
from meshprep.errors import LoadError, UnsupportedFormatError
from meshprep.io import load
from meshprep.render import render_views
from meshprep.render.blender import render_blender


def _find_blender() -> str | None:
    blender_python.cache_clear()  # the environment may have changed since it was cached
    return blender_python()


needs_blender = pytest.mark.skipif(_find_blender() is None,
                                   reason="no Python with bpy (set MESHPREP_BLENDER_PYTHON)")


@pytest.fixture
def blender():
    """The bpy interpreter, looked up afresh."""
    python = _find_blender()
    if python is None:
        pytest.skip("no Python with bpy")
    return python


@pytest.fixture
def no_blender(monkeypatch, tmp_path):
    """An environment whose Blender Python does not exist (the cache is cleared both ways)."""
    monkeypatch.setenv("MESHPREP_BLENDER_PYTHON", str(tmp_path / "no" / "such" / "python"))
    blender_python.cache_clear()
    yield
    monkeypatch.undo()
    blender_python.cache_clear()


def _read(path) -> np.ndarray:
    return np.asarray(Image.open(path))


# --- without Blender -------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".fbx", ".blend", ".abc", ".usdz"])
def test_blender_formats_without_blender(no_blender, tmp_path, ext):
    path = tmp_path / f"model{ext}"
    path.write_bytes(b"Kaydara FBX Binary  \x00" + bytes(64))
    assert blender_python() is None
    with pytest.raises(UnsupportedFormatError, match=r"meshprep\[blender\]"):
        load(path)


def test_fbx_without_bpy_or_setting(monkeypatch, tmp_path):
    if importlib.util.find_spec("bpy") is not None:
        pytest.skip("bpy is importable in this interpreter")
    monkeypatch.delenv("MESHPREP_BLENDER_PYTHON", raising=False)
    blender_python.cache_clear()
    try:
        path = tmp_path / "model.fbx"
        path.write_bytes(b"Kaydara FBX Binary  \x00" + bytes(64))
        with pytest.raises(UnsupportedFormatError, match=r"meshprep\[blender\]"):
            load(path)
    finally:
        monkeypatch.undo()
        blender_python.cache_clear()


# --- agreement with the built-in renderer ----------------------------------------------------

def _scene(textured: bool) -> trimesh.Trimesh:
    """A flat-faced sphere with a box sticking out of it (so views have occlusion)."""
    sphere = trimesh.creation.icosphere(subdivisions=2)
    box = trimesh.creation.box(extents=(0.8, 0.8, 0.8))
    box.apply_translation((0.9, 0.3, 0.2))
    mesh = trimesh.util.concatenate([sphere, box])
    xy = mesh.vertices[:, :2]
    uv = (xy - xy.min(axis=0)) / np.ptp(xy, axis=0)
    if textured:
        rng = np.random.default_rng(0)
        blocks = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
        blocks[..., 3] = 255
        image = Image.fromarray(np.kron(blocks, np.ones((8, 8, 1), np.uint8)))
        material = trimesh.visual.material.PBRMaterial(baseColorTexture=image,
                                                       baseColorFactor=[255, 255, 255, 255])
    else:
        material = trimesh.visual.material.PBRMaterial(baseColorFactor=[255, 0, 0, 255])
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return mesh


def _unit(normal_png: np.ndarray) -> np.ndarray:
    n = normal_png[..., :3].astype(np.float64) / 255.0 * 2.0 - 1.0
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


@needs_blender
@pytest.mark.parametrize("textured", [False, True], ids=["red", "texture"])
def test_backends_agree(blender, tmp_path, textured):
    path = tmp_path / "scene.glb"
    _scene(textured).export(path)
    passes = ("normal", "depth", "mask", "albedo")
    ours, theirs = tmp_path / "builtin", tmp_path / "blender"
    render_views(load(path, appearance=True), ours, "hammersley:4", size=128, passes=passes)
    rendered = render_blender(path, theirs, "hammersley:4", size=128, passes=passes)
    assert rendered.frames == 4
    assert all(f.exists() for f in rendered.files)

    meta_ours = json.loads((ours / "transforms.json").read_text())
    meta_theirs = json.loads((theirs / "transforms.json").read_text())
    assert meta_ours["depth_max"] == pytest.approx(meta_theirs["depth_max"])
    assert np.allclose(meta_ours["normalization"], meta_theirs["normalization"])
    depth_max = meta_ours["depth_max"]
    for i in range(4):
        mask_a = _read(ours / f"{i:03d}_mask.png") > 0
        mask_b = _read(theirs / f"{i:03d}_mask.png") > 0
        assert mask_a.sum() > 1000
        iou = (mask_a & mask_b).sum() / (mask_a | mask_b).sum()
        assert iou >= 0.99, (i, iou)
        both = mask_a & mask_b

        depth_a = _read(ours / f"{i:03d}_depth.png").astype(np.float64) / 65535 * depth_max
        depth_b = _read(theirs / f"{i:03d}_depth.png").astype(np.float64) / 65535 * depth_max
        relative = np.abs(depth_a - depth_b)[both] / depth_a[both]
        assert (relative < 1e-3).mean() >= 0.99, (i, np.percentile(relative, 99))

        normal_a = _read(ours / f"{i:03d}_normal.png")
        normal_b = _read(theirs / f"{i:03d}_normal.png")
        cosine = np.clip((_unit(normal_a) * _unit(normal_b)).sum(axis=-1), -1.0, 1.0)
        degrees = np.degrees(np.arccos(cosine))[both]
        assert (degrees < 2.0).mean() >= 0.99, (i, np.percentile(degrees, 99))

        albedo_a = _read(ours / f"{i:03d}_albedo.png")[..., :3].astype(np.float64)
        albedo_b = _read(theirs / f"{i:03d}_albedo.png")[..., :3].astype(np.float64)
        mse = ((albedo_a - albedo_b) ** 2)[both].mean()
        psnr = 10 * np.log10(255.0**2 / max(mse, 1e-10))
        assert psnr >= 30.0, (i, psnr)
        if not textured:
            assert np.abs(albedo_b[both] - (255, 0, 0)).max() <= 2


# --- .blend files run no embedded code -------------------------------------------------------

_MAKE_BLEND = textwrap.dedent("""
    import sys
    import bpy

    blend, marker = sys.argv[-2], sys.argv[-1]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = bpy.data.meshes.new("cube")
    corners = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(corners, [], quads)
    mesh.update()
    cube = bpy.data.objects.new("cube", mesh)
    bpy.context.scene.collection.objects.link(cube)
    payload = "__import__('pathlib').Path(r'" + marker + "').write_text('{}')"
    text = bpy.data.texts.new("autorun.py")
    text.write(payload.format("text") + "\\n")
    text.use_module = True  # registered (run) when the file is opened with auto-run on
    curve = cube.driver_add("location", 0)
    curve.driver.type = "SCRIPTED"
    curve.driver.expression = payload.format("driver") + " and 0"
    bpy.ops.wm.save_as_mainfile(filepath=blend)
""")

_OPEN_TRUSTED = textwrap.dedent("""
    import sys
    import bpy

    bpy.context.preferences.filepaths.use_scripts_auto_execute = True
    bpy.ops.wm.open_mainfile(filepath=sys.argv[-1])
    bpy.context.scene.frame_set(bpy.context.scene.frame_start)
""")


@needs_blender
def test_blend_runs_no_embedded_code(blender, tmp_path):
    blend, marker = tmp_path / "hostile.blend", tmp_path / "marker.txt"
    subprocess.run([blender, "-c", _MAKE_BLEND, str(blend), str(marker)], check=True,
                   capture_output=True, timeout=300)
    assert blend.is_file() and not marker.exists()

    mesh = load(blend)
    assert len(mesh.faces) > 0
    assert mesh.metadata["meshprep_via"] == "blender"
    assert mesh.metadata["meshprep_format"] == "blend"
    assert np.allclose(mesh.bounds, [[-1, -1, -1], [1, 1, 1]], atol=1e-5)
    assert not marker.exists(), marker.read_text()

    # the control: opened as a trusted main file, the same .blend does run its code
    subprocess.run([blender, "-c", _OPEN_TRUSTED, str(blend)], capture_output=True,
                   timeout=300)
    assert marker.exists()


# --- the worker's time limit -----------------------------------------------------------------

@needs_blender
def test_worker_time_limit(blender, tmp_path):
    model = tmp_path / "box.glb"
    trimesh.creation.box().export(model)
    job = {"action": "export", "input": str(model), "output": str(tmp_path / "out.glb")}
    with pytest.raises(BlenderError, match=r"ran past 0\.5 s") as caught:
        run_job(job, timeout=0.5)
    assert isinstance(caught.value, LoadError)
    assert "box.glb" in str(caught.value)


@needs_blender
def test_worker_reports_failures(blender, tmp_path):
    job = {"action": "export", "input": str(tmp_path / "missing.glb"),
           "output": str(tmp_path / "out.glb")}
    with pytest.raises(BlenderError, match="missing.glb"):
        run_job(job, timeout=300)


# --- real assets -----------------------------------------------------------------------------

@needs_blender
@pytest.mark.corpus
@pytest.mark.parametrize("name", ["spider_fbx.fbx", "anim_skeleton_fbx.fbx",
                                  "human_blend.blend"])
def test_corpus_through_blender(blender, corpus_dir, name):
    mesh = load(corpus_dir / name)
    assert len(mesh.faces) > 0
    assert np.isfinite(mesh.vertices).all()
    assert mesh.metadata["meshprep_via"] == "blender"
    assert mesh.metadata["meshprep_format"] == name.rsplit(".", 1)[1]


@needs_blender
def test_run_renders_with_the_blender_backend(tmp_path):
    from meshprep.pipeline import LocalExecutor, resolve_config, run_dataset
    from tests.pipeline.conftest import write_models

    write_models(tmp_path / "in", ["a.glb", "b.stl"])
    config = resolve_config(overrides={
        "run": {"steps": ["load", "normalize", "render", "write"]},
        "render": {"backend": "blender", "cameras": "scoring4", "size": 48,
                   "passes": ["normal", "mask"], "targets": ["input"]},
    })
    run_dataset(tmp_path / "in", tmp_path / "out", config, executor=LocalExecutor(1),
                progress=False)
    masks = sorted((tmp_path / "out").glob("objects/*/*/renders/input/*_mask.png"))
    assert len(masks) == 8  # 4 views of each asset
    assert all(np.asarray(Image.open(m)).any() for m in masks)
