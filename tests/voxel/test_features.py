"""TRELLIS's DINOv2 voxel features: projection, cameras, the model path end to end.

The references here are written directly from TRELLIS's ``extract_feature.py`` recipe with
torch (Blender camera-to-world -> OpenCV extrinsics, ``utils3d``'s ``project_cv`` and
``intrinsics_from_fov_xy``, ``F.grid_sample``), independently of ``meshprep.voxel.features``.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import trimesh
from PIL import Image

from meshprep.render.cameras import Camera, look_at, opencv_extrinsics, opencv_intrinsics
from meshprep.voxel.features import (
    dinov2_voxel_features,
    project_features,
    read_feature_npz,
    read_render_views,
    trellis_cameras,
    write_feature_npz,
)


def _cameras(n: int, seed: int = 0, radius: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4, 4) Blender camera-to-world looking at the origin and (n,) fields of view."""
    rng = np.random.default_rng(seed)
    eyes = rng.normal(size=(n, 3))
    eyes *= radius / np.linalg.norm(eyes, axis=1, keepdims=True)
    c2w = np.stack([look_at(e) for e in eyes])
    return c2w, rng.uniform(math.radians(15.0), math.radians(60.0), n)


def _reference(positions, tokens, c2w, fovs):
    """TRELLIS's projection and sampling, written directly in torch (float32)."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    exts, ints = [], []
    for matrix, fov in zip(c2w, fovs, strict=True):
        m = torch.tensor(matrix.tolist())
        m[:3, 1:3] *= -1
        exts.append(torch.inverse(m))
        f = 0.5 / torch.tan(torch.tensor(float(fov)) / 2)
        ints.append(torch.tensor([[f, 0.0, 0.5], [0.0, f, 0.5], [0.0, 0.0, 1.0]]))
    ext, intr = torch.stack(exts), torch.stack(ints)
    pts = torch.from_numpy(np.asarray(positions, np.float32))
    homog = torch.cat([pts, torch.ones(len(pts), 1)], dim=-1)
    cam = homog @ ext.transpose(-1, -2)  # (V, N, 4)
    img = cam[..., :3] @ intr.transpose(-1, -2)
    uv = img[..., :2] / img[..., 2:]
    sampled = F.grid_sample(torch.from_numpy(np.asarray(tokens, np.float32)),
                            (uv * 2 - 1).unsqueeze(1), mode="bilinear", align_corners=False)
    return sampled.squeeze(2).permute(0, 2, 1).mean(dim=0).numpy()


def _assert_within_float16(ours, ref):
    """``ours`` (float32 or float16) equals the float32 reference up to float16 rounding: half a
    float16 step at the value, plus float32 noise (1e-5 of the largest value)."""
    half_step = 0.5 * np.spacing(np.abs(ref).astype(np.float16)).astype(np.float32)
    noise = 1e-5 * float(np.abs(ref).max())
    error = np.abs(np.asarray(ours, np.float32) - ref)
    assert np.all(error <= half_step + noise), float((error - half_step).max())


def test_projection_matches_grid_sample_on_known_cameras():
    rng = np.random.default_rng(1)
    c2w, fovs = _cameras(6)
    # points inside the object cube and beyond it: some fall outside narrow views, some
    # straddle the border (zero padding)
    positions = rng.uniform(-0.9, 0.9, (300, 3))
    for shape in ((6, 5, 37, 37), (6, 3, 5, 7)):
        tokens = rng.normal(size=shape).astype(np.float32)
        w2c, intrinsics = trellis_cameras(c2w, fovs)
        ours = project_features(positions, tokens, w2c, intrinsics, chunk=64)
        ref = _reference(positions, tokens, c2w, fovs)
        assert ours.dtype == np.float32 and ours.shape == (300, shape[1])
        _assert_within_float16(ours, ref)


def test_trellis_cameras_match_meshprep_opencv_block():
    c2w, fovs = _cameras(4, seed=3)
    w2c, intrinsics = trellis_cameras(c2w, fovs)
    for i in range(4):
        camera = Camera(c2w[i], float(fovs[i]))
        np.testing.assert_allclose(w2c[i], opencv_extrinsics(camera), atol=1e-12)
        pixels = np.diag([64.0, 64.0, 1.0]) @ intrinsics[i]
        np.testing.assert_allclose(pixels, opencv_intrinsics(camera, 64, 64), atol=1e-12)


def test_voxel_at_the_image_centre_picks_the_centre_token():
    rng = np.random.default_rng(2)
    tokens = rng.normal(size=(1, 4, 37, 37)).astype(np.float32)
    c2w = look_at((2.0, 0.3, 0.5))[None]
    w2c, intrinsics = trellis_cameras(c2w, math.radians(40.0))
    # the target projects to the image centre: UV (0.5, 0.5) = the centre of token (18, 18)
    out = project_features(np.zeros((1, 3)), tokens, w2c, intrinsics)
    np.testing.assert_array_equal(out[0], tokens[0, :, 18, 18])
    # a point on the ray through the centre of token (r, c) picks that token; one outside the
    # view gets zeros
    r, c = 3, 30
    ray = np.linalg.inv(intrinsics[0]) @ np.array([(c + 0.5) / 37, (r + 0.5) / 37, 1.0])
    point = (np.linalg.inv(w2c[0]) @ np.append(1.7 * ray, 1.0))[:3]
    behind = (np.linalg.inv(w2c[0]) @ np.array([5.0, 0.0, 1.0, 1.0]))[:3]
    out = project_features(np.stack([point, behind]), tokens, w2c, intrinsics)
    np.testing.assert_allclose(out[0], tokens[0, :, r, c], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out[1], 0.0)


def test_render_folder_in_trellis_layout(tmp_path):
    c2w, fovs = _cameras(2, seed=4)
    frames = [{"file_path": f"{i:03d}.png", "camera_angle_x": float(fovs[i]),
               "transform_matrix": c2w[i].tolist()} for i in range(2)]
    (tmp_path / "transforms.json").write_text(json.dumps({"frames": frames}))
    Image.new("RGBA", (8, 8)).save(tmp_path / "000.png")
    with pytest.raises(FileNotFoundError, match="1 of 2 colour images"):
        read_render_views(tmp_path)
    Image.new("RGBA", (8, 8)).save(tmp_path / "001.png")
    images, w2c, intrinsics = read_render_views(tmp_path)
    assert [p.name for p in images] == ["000.png", "001.png"]
    np.testing.assert_allclose(intrinsics[:, 0, 0], 0.5 / np.tan(fovs / 2))


def _tiny_dinov2(folder):
    """A randomly initialised DINOv2 of the real class (with registers where transformers has
    them), 518-pixel input, saved with save_pretrained; returns the model."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    kwargs = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                  patch_size=14, image_size=518)
    if hasattr(transformers, "Dinov2WithRegistersModel"):
        model = transformers.Dinov2WithRegistersModel(
            transformers.Dinov2WithRegistersConfig(num_register_tokens=4, **kwargs))
        with torch.no_grad():  # zero-initialised registers would hide a wrong token offset
            model.embeddings.register_tokens.normal_()
    else:
        model = transformers.Dinov2Model(transformers.Dinov2Config(**kwargs))
    model.eval().save_pretrained(folder)
    return model


def _reference_tokens(model, images):
    """Pre-norm patch-token maps of the views, preprocessed here as TRELLIS does."""
    import torch

    batch = []
    for path in images:
        image = Image.open(path).resize((518, 518), Image.Resampling.LANCZOS)
        array = np.array(image).astype(np.float32) / 255
        array = array[:, :, :3] * array[:, :, 3:]
        array = (array - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        batch.append(torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1))
    captured = {}
    hook = model.layernorm.register_forward_hook(
        lambda module, inputs, output: captured.setdefault("x", inputs[0]))
    with torch.no_grad():
        model(pixel_values=torch.stack(batch))
    hook.remove()
    skip = 1 + getattr(model.config, "num_register_tokens", 0)
    tokens = captured["x"][:, skip:]
    return tokens.permute(0, 2, 1).reshape(len(batch), -1, 37, 37).numpy()


def test_dinov2_voxel_features_end_to_end(tmp_path):
    pytest.importorskip("torch")
    from meshprep.render import render_views
    from meshprep.voxel import surface_voxels

    model = _tiny_dinov2(tmp_path / "dinov2")
    mesh = trimesh.creation.annulus(r_min=0.3, r_max=0.7, height=0.5, sections=24)
    render = tmp_path / "renders" / "asset"
    render_views(mesh, render, "hammersley:4", size=64, passes=("color",))
    meta = json.loads((render / "transforms.json").read_text())
    normalization = np.asarray(meta["normalization"])
    vertices = mesh.vertices @ normalization[:3, :3].T + normalization[:3, 3]
    voxels = surface_voxels(vertices, 64, faces=mesh.faces, normalize=False)

    indices, features = dinov2_voxel_features(render, voxels, tmp_path / "dinov2", batch_size=3)
    assert indices.dtype == np.uint8 and features.dtype == np.float16
    assert features.shape == (len(voxels), 32)
    np.testing.assert_array_equal(indices, voxels)
    assert np.isfinite(features).all()
    assert len(np.unique(features, axis=0)) > len(features) // 2
    assert float(features.astype(np.float32).std(axis=0).min()) > 0.0

    # the same numbers from the recipe written out here (TRELLIS's preprocessing, pre-norm
    # tokens, its cameras and grid_sample), within float16 rounding
    images = [render / f"{i:03d}.png" for i in range(4)]
    c2w = np.array([f["transform_matrix"] for f in meta["frames"]])
    fovs = np.array([f["camera_angle_x"] for f in meta["frames"]])
    ref = _reference((voxels + 0.5) / 64 - 0.5, _reference_tokens(model, images), c2w, fovs)
    _assert_within_float16(features, ref)

    path = write_feature_npz(tmp_path / "features" / "dinov2_vitl14_reg" / "asset.npz",
                             indices, features)
    back_indices, back_features = read_feature_npz(path)
    assert back_indices.dtype == np.uint8 and back_features.dtype == np.float16
    np.testing.assert_array_equal(back_features, features)
    with np.load(path) as data:
        assert sorted(data.files) == ["indices", "patchtokens"]


def test_weights_only_from_a_local_folder(tmp_path):
    from meshprep.curate.embed import MissingDependencyError, MissingWeightsError

    render = tmp_path / "render"
    render.mkdir()
    c2w, fovs = _cameras(1)
    frames = [{"file_path": "000", "camera_angle_x": float(fovs[0]),
               "transform_matrix": c2w[0].tolist()}]
    (render / "transforms.json").write_text(json.dumps({"frames": frames}))
    Image.new("RGBA", (8, 8)).save(render / "000.png")
    voxels = np.zeros((1, 3), np.int32)
    with pytest.raises(MissingWeightsError, match="nothing is downloaded"):
        dinov2_voxel_features(render, voxels, "facebook/dinov2-with-registers-large")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "config.json").write_text('{"model_type": "dinov2"}')
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "transformers", None)
        with pytest.raises(MissingDependencyError, match=r"meshprep\[embed\]"):
            dinov2_voxel_features(render, voxels, tmp_path / "w")
