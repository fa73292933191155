"""TRELLIS (v1) voxel features: DINOv2 patch tokens of the renders projected onto the voxels.

Definition (learned from microsoft/TRELLIS ``dataset_toolkits/extract_feature.py``; this is our
own implementation):

- Cameras: per frame of ``renders/<sha256>/transforms.json``, ``transform_matrix`` is a
  camera-to-world matrix in Blender/NeRF axes and ``camera_angle_x`` the field of view. The
  OpenCV world-to-camera matrix is the inverse of that matrix with its Y and Z columns negated;
  the intrinsics are normalized to UV units, ``fx = fy = 0.5 / tan(fov / 2)``,
  ``cx = cy = 0.5`` (``utils3d.torch.intrinsics_from_fov_xy``).
- Images: each view ``NNN.png`` (RGBA) is resized to 518 x 518 with Pillow's Lanczos filter
  (Pillow resamples RGBA premultiplied), its RGB multiplied by its alpha (RGB over black),
  normalized with the model's mean / std (ImageNet's) and fed to DINOv2 (TRELLIS: ViT-L/14 with
  registers, ``dinov2_vitl14_reg``) in batches.
- Tokens: the patch tokens of the last block **before** the final layer norm (TRELLIS takes
  ``x_prenorm[:, 1 + num_register_tokens:]``, not ``x_norm_patchtokens``), laid out as a
  (C, 37, 37) map per view (518 / 14 = 37).
- Projection: the voxel centres ``(i + 0.5) / 64 - 0.5`` go through each view's camera to UV in
  [0, 1] (origin top left), and the token map is sampled there as ``F.grid_sample(tokens,
  uv * 2 - 1, mode="bilinear", padding_mode="zeros", align_corners=False)``: token ``(r, c)``
  sits at UV ``((c + 0.5) / 37, (r + 0.5) / 37)``, and a sample's corners outside the map count
  as zero. There is no occlusion test: every view counts for every voxel, and the samples are
  averaged over all views (float32), then stored as float16.
- Output: ``features/<model>/<sha256>.npz`` (``np.savez_compressed``) with ``indices`` (N, 3)
  uint8 and ``patchtokens`` (N, C) float16.

Differences we choose: points whose projection is not finite (on a camera's plane) count as
outside the view instead of whatever ``grid_sample`` makes of NaN; the camera maths runs in
float64 (TRELLIS: float32 on the GPU), far below float16 rounding; views are processed and
accumulated batch by batch rather than all held at once.

Weights come only from a local folder written by ``save_pretrained`` (a transformers
``Dinov2Model`` or ``Dinov2WithRegistersModel``; ``facebook/dinov2-with-registers-large`` is
TRELLIS's model): a folder without ``config.json`` is refused before transformers sees it and
loading passes ``local_files_only=True``; nothing is downloaded. torch and transformers are
imported only inside functions (``pip install "meshprep[embed]"``).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from meshprep.io import atomic_write

#: side of the square images DINOv2 sees (TRELLIS: 518 = 37 patches of 14 pixels)
IMAGE_SIZE = 518
#: TRELLIS's voxel grid (cells per axis over [-0.5, 0.5]^3)
TRELLIS_RESOLUTION = 64
#: the feature folder name TRELLIS uses (``features/<model>/``) for its default model
TRELLIS_FEATURE_NAME = "dinov2_vitl14_reg"
#: transformers model types accepted as DINOv2
DINOV2_MODEL_TYPES = ("dinov2", "dinov2_with_registers")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: voxels sampled at once in the model path (bounds the (batch, C, chunk) sample buffer)
_SAMPLE_ELEMENTS = 1 << 25


# --------------------------------------------------------------------------------------------
# cameras and projection (numpy)
# --------------------------------------------------------------------------------------------

def trellis_cameras(transform_matrix: np.ndarray, fov: np.ndarray | float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world-to-camera and normalized intrinsics of Blender/NeRF camera-to-world matrices.

    Parameters
    ----------
    transform_matrix : numpy.ndarray
        (V, 4, 4) camera-to-world, Blender/NeRF axes (camera looks along -Z, +Y up).
    fov : float or numpy.ndarray
        Field of view in radians, one or (V,); used for both axes (square images).

    Returns
    -------
    w2c : numpy.ndarray
        (V, 4, 4) float64 world-to-camera, OpenCV axes (+Z forward, +Y down).
    intrinsics : numpy.ndarray
        (V, 3, 3) float64, in UV units: ``fx = fy = 0.5 / tan(fov / 2)``, ``cx = cy = 0.5``.
    """
    c2w = np.array(transform_matrix, dtype=np.float64).reshape(-1, 4, 4)
    c2w[:, :3, 1:3] *= -1.0
    w2c = np.linalg.inv(c2w)
    focal = 0.5 / np.tan(np.broadcast_to(np.asarray(fov, dtype=np.float64), (len(c2w),)) / 2.0)
    intrinsics = np.zeros((len(c2w), 3, 3))
    intrinsics[:, 0, 0] = intrinsics[:, 1, 1] = focal
    intrinsics[:, :2, 2] = 0.5
    intrinsics[:, 2, 2] = 1.0
    return w2c, intrinsics


def project_uv(positions: np.ndarray, w2c: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """UV of points in each view (``utils3d``'s ``project_cv``): (V, N, 2) float64.

    UV is in [0, 1] inside the image, origin at the top left corner. Points on a camera's plane
    get non-finite UV; points behind a camera are projected through it (mirrored), as TRELLIS
    does.

    Parameters
    ----------
    positions : numpy.ndarray
        (N, 3) world points.
    w2c : numpy.ndarray
        (V, 4, 4) world-to-camera, OpenCV axes.
    intrinsics : numpy.ndarray
        (V, 3, 3) intrinsics in UV units.
    """
    p = np.asarray(positions, dtype=np.float64)
    w2c = np.asarray(w2c, dtype=np.float64)
    k = np.asarray(intrinsics, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"positions must be (N, 3), got {p.shape}")
    if w2c.ndim != 3 or w2c.shape[1:] != (4, 4) or k.shape != (len(w2c), 3, 3):
        raise ValueError(f"w2c must be (V, 4, 4) and intrinsics (V, 3, 3), got {w2c.shape} and "
                         f"{k.shape}")
    cam = np.einsum("vij,nj->vni", w2c[:, :3, :3], p) + w2c[:, None, :3, 3]
    image = np.einsum("vij,vnj->vni", k, cam)
    with np.errstate(divide="ignore", invalid="ignore"):
        return image[..., :2] / image[..., 2:3]


def _bilinear_taps(uv: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat token indices and weights of the 4 bilinear corners: (..., 4) int64 and float32.

    ``grid_sample(align_corners=False)`` maps UV ``u`` to column ``u * width - 0.5``; corners
    outside the map (and samples with non-finite UV) get weight 0 and index 0.
    """
    finite = np.isfinite(uv).all(axis=-1)
    uv = np.where(finite[..., None], uv, -1.0)  # fully outside: all four weights zero
    x = uv[..., 0] * width - 0.5
    y = uv[..., 1] * height - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    index, weight = [], []
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            col, row = x0 + dx, y0 + dy
            inside = finite & (col >= 0) & (col < width) & (row >= 0) & (row < height)
            flat = np.where(inside, row * width + col, 0.0).astype(np.int64)
            index.append(flat)
            weight.append(np.where(inside, wx * wy, 0.0))
    return np.stack(index, axis=-1), np.stack(weight, axis=-1).astype(np.float32)


def project_features(positions: np.ndarray, patch_tokens: np.ndarray, w2c: np.ndarray,
                     intrinsics: np.ndarray, *, chunk: int = 16384) -> np.ndarray:
    """Token maps sampled at the points' projections, bilinear, averaged over the views.

    The sampling is ``F.grid_sample(tokens, uv * 2 - 1, mode="bilinear",
    padding_mode="zeros", align_corners=False)``, here in numpy (no torch needed): token
    ``(r, c)`` of a P x Q map sits at UV ``((c + 0.5) / Q, (r + 0.5) / P)``, corners outside the
    map count as zero, points with non-finite UV as outside. Every view counts for every point
    (no occlusion test), as in TRELLIS's ``extract_feature.py``.

    Parameters
    ----------
    positions : numpy.ndarray
        (N, 3) world points (TRELLIS: the voxel centres, in [-0.5, 0.5]^3).
    patch_tokens : numpy.ndarray
        (V, C, P, Q) token map of each view.
    w2c : numpy.ndarray
        (V, 4, 4) world-to-camera, OpenCV axes (+Z forward, +Y down).
    intrinsics : numpy.ndarray
        (V, 3, 3) intrinsics normalized to UV units (``fx = 0.5 / tan(fov / 2)``, ``cx = 0.5``).
    chunk : int
        Points sampled at once (bounds a (chunk, C) buffer per corner).

    Returns
    -------
    numpy.ndarray
        (N, C) float32: the mean over views of the sampled tokens.
    """
    tokens = np.asarray(patch_tokens)
    if tokens.ndim != 4:
        raise ValueError(f"patch_tokens must be (V, C, P, Q), got {tokens.shape}")
    views, channels, height, width = tokens.shape
    if len(np.asarray(w2c)) != views:
        raise ValueError(f"{views} token maps but {len(np.asarray(w2c))} cameras")
    uv = project_uv(positions, w2c, intrinsics)
    index, weight = _bilinear_taps(uv, height, width)
    out = np.zeros((uv.shape[1], channels), np.float32)
    if views == 0:
        return out
    step = max(1, int(chunk))
    for v in range(views):
        flat = np.ascontiguousarray(tokens[v].reshape(channels, height * width).T,
                                    dtype=np.float32)
        for start in range(0, len(out), step):
            part = slice(start, start + step)
            for corner in range(4):
                out[part] += weight[v, part, corner, None] * flat[index[v, part, corner]]
    out /= np.float32(views)
    return out


# --------------------------------------------------------------------------------------------
# render folder
# --------------------------------------------------------------------------------------------

def read_render_views(render_folder: str | os.PathLike[str]
                      ) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """The colour images and cameras of a render folder (its ``transforms.json``).

    Accepts meshprep's folders (``file_path`` ``"000"``, images ``000.png``) and TRELLIS's
    (``file_path`` ``"000.png"``); a frame without ``camera_angle_x`` uses the file's.

    Parameters
    ----------
    render_folder : path-like
        Folder with ``transforms.json`` and the ``color`` pass.

    Returns
    -------
    images : list of pathlib.Path
        One RGBA image per frame, in frame order.
    w2c : numpy.ndarray
        (V, 4, 4) world-to-camera, OpenCV axes (:func:`trellis_cameras`).
    intrinsics : numpy.ndarray
        (V, 3, 3) intrinsics in UV units.

    Raises
    ------
    FileNotFoundError
        No ``transforms.json``, or an image it lists is missing.
    ValueError
        No frames, or an orthographic frame.
    """
    folder = Path(render_folder)
    path = folder / "transforms.json"
    if not path.is_file():
        raise FileNotFoundError(f"no transforms.json in {folder}: render the views first")
    with open(path, encoding="utf-8") as stream:
        data = json.load(stream)
    frames = data.get("frames") or []
    if not frames:
        raise ValueError(f"{path} lists no frames")
    images, matrices, fovs = [], [], []
    for i, frame in enumerate(frames):
        fov = float(frame.get("camera_angle_x", data.get("camera_angle_x", 0.0)))
        if frame.get("ortho_scale") or not fov > 0.0:
            raise ValueError(f"frame {i} of {path} is orthographic: TRELLIS's features need "
                             "perspective views (e.g. the hammersley:150 camera set)")
        name = str(frame.get("file_path", f"{i:03d}"))
        image = folder / (name if Path(name).suffix else f"{name}.png")
        images.append(image)
        matrices.append(frame["transform_matrix"])
        fovs.append(fov)
    missing = [p.name for p in images if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(images)} colour images are missing in {folder} (first: "
            f"{missing[0]}): render with the 'color' pass")
    w2c, intrinsics = trellis_cameras(np.asarray(matrices, dtype=np.float64), np.asarray(fovs))
    return images, w2c, intrinsics


def load_view(path: str | os.PathLike[str], size: int = IMAGE_SIZE) -> np.ndarray:
    """One RGBA view as TRELLIS feeds it: (3, size, size) float32 RGB over black, in [0, 1].

    Pillow's Lanczos resize (which resamples RGBA premultiplied), then RGB times alpha.
    """
    with Image.open(path) as image:
        rgba = image.convert("RGBA") if image.mode != "RGBA" else image.copy()
    rgba = rgba.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(rgba, dtype=np.float32) / np.float32(255.0)
    rgb = array[..., :3] * array[..., 3:]
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


# --------------------------------------------------------------------------------------------
# the model (torch, transformers)
# --------------------------------------------------------------------------------------------

def _require() -> Any:
    """torch, after checking that torch and transformers import."""
    from meshprep.curate.embed import INSTALL, MissingDependencyError

    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"DINOv2 voxel features need torch and transformers ({exc.name or exc} does not "
            f"import): {INSTALL}") from exc
    return torch


def dinov2_folder(model_folder: str | os.PathLike[str]) -> Path:
    """A checked local DINOv2 weights folder (absolute).

    Raises
    ------
    meshprep.curate.embed.MissingWeightsError
        Not a folder with a ``config.json`` (it is never read as a hub id).
    meshprep.curate.embed.EmbedError
        The folder holds another kind of model.
    """
    from meshprep.curate.embed import EmbedError, MissingWeightsError

    if not model_folder:
        raise MissingWeightsError("DINOv2 voxel features need a local weights folder (--dinov2)")
    folder = Path(model_folder).expanduser()
    if not (folder / "config.json").is_file():
        raise MissingWeightsError(
            f"no DINOv2 weights at {folder} (no config.json there): it must be a local folder "
            "written by save_pretrained (e.g. of facebook/dinov2-with-registers-large); nothing "
            "is downloaded")
    with open(folder / "config.json", encoding="utf-8") as stream:
        model_type = str(json.load(stream).get("model_type", ""))
    if model_type not in DINOV2_MODEL_TYPES:
        raise EmbedError(f"{folder} holds a {model_type!r} model, not DINOv2 "
                         f"({' or '.join(DINOV2_MODEL_TYPES)})")
    return folder.resolve()


def _normalization(folder: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The model's mean / std (its ``preprocessor_config.json``), else ImageNet's."""
    path = folder / "preprocessor_config.json"
    if path.is_file():
        with open(path, encoding="utf-8") as stream:
            config = json.load(stream)
        mean, std = config.get("image_mean"), config.get("image_std")
        if mean and std and len(mean) == 3 and len(std) == 3:
            return tuple(map(float, mean)), tuple(map(float, std))
    return IMAGENET_MEAN, IMAGENET_STD


@functools.cache
def load_dinov2(folder: str, device: str = "cpu") -> Any:
    """The DINOv2 model of a checked local ``folder``: float32, eval mode (cached per process)."""
    from meshprep.curate.embed import EmbedError

    torch = _require()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EmbedError(f"device {device!r} asked for, but torch sees no CUDA device")
    path = dinov2_folder(folder)
    with open(path / "config.json", encoding="utf-8") as stream:
        model_type = json.load(stream).get("model_type")
    if model_type == "dinov2_with_registers":
        from transformers import Dinov2WithRegistersModel as Model
    else:
        from transformers import Dinov2Model as Model
    return Model.from_pretrained(path, local_files_only=True).float().eval().to(device)


def patch_token_maps(model: Any, pixels: Any) -> Any:
    """Pre-norm patch tokens of a batch as maps: (B, C, H / patch, W / patch) torch tensor.

    The last block's output before the final layer norm (DINOv2's ``x_prenorm``, what TRELLIS
    projects), without the class token and the ``num_register_tokens`` registers.
    """
    batch, _, height, width = pixels.shape
    patch = int(model.config.patch_size)
    skip = 1 + int(getattr(model.config, "num_register_tokens", 0) or 0)
    hidden = model(pixel_values=pixels, output_hidden_states=True).hidden_states[-1]
    tokens = hidden[:, skip:]
    rows, cols = height // patch, width // patch
    if tokens.shape[1] != rows * cols:
        raise RuntimeError(f"the model gave {tokens.shape[1]} patch tokens, expected {rows}x{cols}")
    return tokens.permute(0, 2, 1).reshape(batch, tokens.shape[2], rows, cols)


def _checked_indices(voxel_indices: np.ndarray, resolution: int) -> np.ndarray:
    idx = np.asarray(voxel_indices)
    if idx.ndim != 2 or idx.shape[1] != 3 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"voxel_indices must be (N, 3) integers, got {idx.shape} {idx.dtype}")
    if not 1 <= resolution <= 256:
        raise ValueError(f"resolution must be in [1, 256] (uint8 indices), got {resolution}")
    if len(idx) and (idx.min() < 0 or idx.max() >= resolution):
        raise ValueError(f"voxel indices must lie in [0, {resolution})")
    return idx.astype(np.int64)


def dinov2_voxel_features(render_folder: str | os.PathLike[str], voxel_indices: np.ndarray,
                          model_folder: str | os.PathLike[str], *,
                          resolution: int = TRELLIS_RESOLUTION, device: str = "cpu",
                          batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """TRELLIS's DINOv2 voxel features of one asset (see the module docstring).

    Parameters
    ----------
    render_folder : path-like
        A render folder with ``transforms.json`` and the ``color`` pass (``NNN.png``), in the
        frame of the voxels (TRELLIS: 150 ``hammersley`` views of the object scaled into
        [-0.5, 0.5]^3).
    voxel_indices : numpy.ndarray
        (N, 3) integer cells of the ``resolution``^3 grid over [-0.5, 0.5]^3 of the render
        world (:func:`meshprep.voxel.surface_voxels` of the mesh in that frame); cell ``i`` has
        its centre at ``(i + 0.5) / resolution - 0.5``.
    model_folder : path-like
        Local DINOv2 weights (transformers ``save_pretrained`` folder, with or without
        registers; TRELLIS: ``facebook/dinov2-with-registers-large``).
    resolution : int
        Cells per axis (TRELLIS: 64); at most 256 (uint8 indices).
    device : str
        Torch device (``"cpu"``, or ``"cuda"`` when torch sees one).
    batch_size : int
        Views through the model at once.

    Returns
    -------
    indices : numpy.ndarray
        (N, 3) uint8, ``voxel_indices`` in their order.
    patchtokens : numpy.ndarray
        (N, C) float16: the tokens sampled at the voxel centres, averaged over the views.

    Raises
    ------
    meshprep.curate.embed.MissingDependencyError
        torch or transformers is missing (``pip install "meshprep[embed]"``).
    meshprep.curate.embed.MissingWeightsError
        ``model_folder`` is not a local weights folder.
    """
    idx = _checked_indices(voxel_indices, int(resolution))
    images, w2c, intrinsics = read_render_views(render_folder)
    folder = dinov2_folder(model_folder)
    torch = _require()
    import torch.nn.functional as functional

    model = load_dinov2(str(folder), device)
    mean, std = _normalization(folder)
    shape = (1, 3, 1, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(shape)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(shape)
    positions = (idx.astype(np.float64) + 0.5) / resolution - 0.5
    step = max(1, int(batch_size))
    total = None
    with torch.inference_mode():
        for start in range(0, len(images), step):
            part = slice(start, start + step)
            pixels = torch.from_numpy(np.stack([load_view(p) for p in images[part]])).to(device)
            tokens = patch_token_maps(model, (pixels - mean_t) / std_t).float()
            uv = project_uv(positions, w2c[part], intrinsics[part])
            grid = np.where(np.isfinite(uv), uv * 2.0 - 1.0, -3.0)  # non-finite: outside
            grid_t = torch.from_numpy(grid.astype(np.float32)).to(device)
            if total is None:
                total = torch.zeros((tokens.shape[1], len(idx)), dtype=torch.float32,
                                    device=device)
            chunk = max(1, _SAMPLE_ELEMENTS // max(1, tokens.shape[0] * tokens.shape[1]))
            for first in range(0, len(idx), chunk):
                cols = slice(first, first + chunk)
                sampled = functional.grid_sample(tokens, grid_t[:, None, cols], mode="bilinear",
                                                 padding_mode="zeros", align_corners=False)
                total[:, cols] += sampled[:, :, 0].sum(dim=0)
    patchtokens = (total / len(images)).T.cpu().numpy().astype(np.float16)
    return idx.astype(np.uint8), patchtokens


def write_feature_npz(path: str | os.PathLike[str], indices: np.ndarray,
                      patchtokens: np.ndarray) -> Path:
    """Write TRELLIS's ``features/<model>/<sha256>.npz`` atomically (``np.savez_compressed``).

    Parameters
    ----------
    path : path-like
        Output file (its folder is created).
    indices : numpy.ndarray
        (N, 3) voxel cells, stored as uint8.
    patchtokens : numpy.ndarray
        (N, C) features, stored as float16.

    Returns
    -------
    pathlib.Path
    """
    idx = np.asarray(indices)
    tokens = np.asarray(patchtokens)
    if idx.ndim != 2 or idx.shape[1] != 3 or tokens.ndim != 2 or len(tokens) != len(idx):
        raise ValueError(f"indices must be (N, 3) and patchtokens (N, C), got {idx.shape} and "
                         f"{tokens.shape}")
    if len(idx) and (idx.min() < 0 or idx.max() > 255):
        raise ValueError("indices must fit uint8 ([0, 255])")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as tmp, open(tmp, "wb") as stream:
        np.savez_compressed(stream, indices=idx.astype(np.uint8),
                            patchtokens=tokens.astype(np.float16))
    return target


def read_feature_npz(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``indices`` (N, 3) uint8 and ``patchtokens`` (N, C) float16 of a feature file."""
    with np.load(path) as data:
        return data["indices"], data["patchtokens"]


__all__ = [
    "IMAGE_SIZE",
    "TRELLIS_FEATURE_NAME",
    "dinov2_folder",
    "dinov2_voxel_features",
    "load_dinov2",
    "load_view",
    "patch_token_maps",
    "project_features",
    "project_uv",
    "read_feature_npz",
    "read_render_views",
    "trellis_cameras",
    "write_feature_npz",
]
