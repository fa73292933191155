"""Blender's view transforms: scene-linear Rec.709 light to display sRGB code values.

The colour pipeline of a render, as Blender runs it (and TRELLIS / TRELLIS.2's Blender 3.0.1
scripts render it: ``data_toolkit/blender_script/render_cond.py`` sets no view transform, so the
factory scene's **Filmic** view with look **None** applies):

1. Shading is done in scene-linear Rec.709 (Blender's ``scene_linear`` role); values may exceed 1.
2. The view transform maps that light to display code values in [0, 1]:

   ``standard``  the sRGB OETF (IEC 61966-2-1), clipped: highlights above 1 clip.
   ``filmic``    Blender's Filmic (config ``Filmic sRGB``): a log2 shaper over 25 stops
                 (−12.473931188 to +12.526068812 stops around 1.0; 0.18 lands near 0.5), the
                 33³ ``filmic_desat_33.cube`` (desaturating bright colours, tetrahedral), a
                 ``[0, 0.66]`` rescale, then the 1D contrast curve ``filmic_to_0-70_1-03.spi1d``
                 (look None / Medium Contrast). Other looks (``High Contrast``…) apply their own
                 curve in the ``Filmic Log`` space, OCIO's round trip through scene linear included.
   ``agx``       Blender 4+'s default (``AgX Base Rec.1886`` on an sRGB display): Rec.709 to
                 FilmLight E-Gamut, a log2 shaper over −12.47393…+12.5260688117 stops, the 57³
                 ``AgX_Base_sRGB.cube`` (tetrahedral), its Rec.1886 (2.4 gamma) output re-encoded
                 with the sRGB OETF.
3. The code values are quantized to 8 bits when the PNG is written (Blender dithers by default;
   these functions return floats, no dither).

Blender's LUT files are *not* shipped with meshprep (Blender is GPL-3.0; the OCIO config's
Filmic and AgX data carry their authors' terms, which this MIT package does not take on). They
are read at first use from a Blender installation's ``datafiles/colormanagement``: the folder in
``$MESHPREP_BLENDER_COLORMANAGEMENT``, else an installed ``bpy`` wheel (``pip install bpy``, here
or in the venv of ``$MESHPREP_BLENDER_PYTHON``), else next to a ``blender`` executable on
``PATH``. The transform structure follows Blender 5.0.1's
``datafiles/colormanagement/config.ocio`` (views ``Filmic`` and ``AgX`` of display ``sRGB``,
looks of family Filmic); tests/render/test_tonemap.py compares with values measured from
Blender 5.0.1. Blender 3.0 (TRELLIS.2's) used the 65³ ancestor of the desat cube; 5.0's is
its 33³ subsample.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np

FILMIC_STOPS = (-12.473931188, 12.526068812)  # Filmic Log's lg2 allocation
FILMIC_LOG_RANGE = 0.66  # the uniform allocation after the desat cube
FILMIC_INVERSE_STOPS = (-12.473931188, 4.026068812)  # Filmic Log's to_scene_reference
AGX_STOPS = (-12.47393, 12.5260688117)
FILMIC_BASE = "filmic_to_0-70_1-03.spi1d"
FILMIC_LOOKS = {
    "None": None,
    "Medium Contrast": "",  # no curve, but OCIO still round-trips through scene linear
    "Very High Contrast": "filmic_to_1.20_1-00.spi1d",
    "High Contrast": "filmic_to_0.99_1-0075.spi1d",
    "Medium High Contrast": "filmic_to_0-85_1-011.spi1d",
    "Medium Low Contrast": "filmic_to_0-60_1-04.spi1d",
    "Low Contrast": "filmic_to_0-48_1-09.spi1d",
    "Very Low Contrast": "filmic_to_0-35_1-30.spi1d",
}
# linear Rec.709 -> linear FilmLight E-Gamut (both D65), from the config's XYZ D65 matrices
_XYZ_TO_709 = np.array([[3.2409699, -1.5373832, -0.4986108], [-0.9692436, 1.8759675, 0.0415551],
                        [0.0556301, -0.2039770, 1.0569715]])
_XYZ_TO_EGAMUT = np.array([[1.5250528, -0.3159135, -0.1226583],
                           [-0.5091526, 1.3333274, 0.1382844],
                           [0.0957153, 0.0508974, 0.7879558]])
REC709_TO_EGAMUT = _XYZ_TO_EGAMUT @ np.linalg.inv(_XYZ_TO_709)


def standard(linear_rgb: np.ndarray) -> np.ndarray:
    """Blender's ``Standard`` view: the piecewise sRGB OETF, input clipped to [0, 1].

    Parameters
    ----------
    linear_rgb : array_like
        Scene-linear Rec.709 values, any shape.

    Returns
    -------
    ndarray
        sRGB-encoded values in [0, 1], float64, the input's shape.
    """
    x = np.clip(np.asarray(linear_rgb, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


def filmic(linear_rgb: np.ndarray, look: str = "None") -> np.ndarray:
    """Blender's ``Filmic`` view on an sRGB display.

    Parameters
    ----------
    linear_rgb : array_like
        Scene-linear Rec.709 RGB, shape (..., 3).
    look : str
        ``"None"`` (Blender's default, what TRELLIS.2's renders have), ``"Medium Contrast"``
        (the same curve; bright saturated colours desaturate twice through OCIO's round trip)
        or another of :data:`FILMIC_LOOKS`.

    Returns
    -------
    ndarray
        Display sRGB code values in [0, 1], shape (..., 3).
    """
    if look not in FILMIC_LOOKS:
        raise ValueError(f"unknown Filmic look {look!r}: one of {sorted(FILMIC_LOOKS)}")
    log = _filmic_log(np.asarray(linear_rgb, dtype=np.float64))
    curve = FILMIC_LOOKS[look]
    if curve is not None:  # OCIO: the look in Filmic Log, back to scene linear, Filmic Log again
        if curve:
            log = _spi1d_inverse(FILMIC_BASE, _spi1d(curve, log))
        log = _filmic_log(_lg2_decode(log, FILMIC_INVERSE_STOPS))
    return _spi1d(FILMIC_BASE, log)


def agx(linear_rgb: np.ndarray) -> np.ndarray:
    """Blender's ``AgX`` view (``AgX Base Rec.1886``) on an sRGB display, look None.

    Parameters
    ----------
    linear_rgb : array_like
        Scene-linear Rec.709 RGB, shape (..., 3).

    Returns
    -------
    ndarray
        Display sRGB code values in [0, 1], shape (..., 3).
    """
    egamut = np.asarray(linear_rgb, dtype=np.float64) @ REC709_TO_EGAMUT.T
    encoded = _cube("AgX_Base_sRGB.cube", _lg2_encode(egamut, AGX_STOPS))
    return standard(np.power(np.clip(encoded, 0.0, 1.0), 2.4))  # Rec.1886 out, sRGB display


def _filmic_log(linear: np.ndarray) -> np.ndarray:
    """Blender's ``Filmic Log`` colour space: lg2 shaper, desat cube, ``[0, 0.66]`` rescale."""
    desat = _cube("filmic_desat_33.cube", _lg2_encode(linear, FILMIC_STOPS))
    return desat / FILMIC_LOG_RANGE


def _lg2_encode(x: np.ndarray, stops: tuple[float, float]) -> np.ndarray:
    """OCIO's lg2 allocation: ``(log2 x − lo) / (hi − lo)``, non-positive light at the floor."""
    lo, hi = stops
    log = np.log2(np.maximum(x, np.finfo(np.float32).tiny))
    return np.clip((log - lo) / (hi - lo), 0.0, 1.0)


def _lg2_decode(y: np.ndarray, stops: tuple[float, float]) -> np.ndarray:
    lo, hi = stops
    return np.exp2(y * (hi - lo) + lo)


# ---- Blender's LUT files -------------------------------------------------------------------


def colormanagement_dir() -> Path:
    """Blender's ``datafiles/colormanagement`` folder (see the module docstring).

    Raises
    ------
    FileNotFoundError
        When no Blender installation is found.
    """
    candidates = []
    if os.environ.get("MESHPREP_BLENDER_COLORMANAGEMENT"):
        candidates.append(os.environ["MESHPREP_BLENDER_COLORMANAGEMENT"])
    spec = importlib.util.find_spec("bpy")
    if spec is not None and spec.origin:
        root = os.path.dirname(spec.origin)
        candidates += sorted(glob.glob(os.path.join(root, "*", "datafiles", "colormanagement")))
    python = os.environ.get("MESHPREP_BLENDER_PYTHON")
    if python:
        # the Blender backend's own venv (bpy pins numpy < 2, so it often lives apart)
        prefix = os.path.dirname(os.path.dirname(python))
        candidates += sorted(glob.glob(os.path.join(
            prefix, "lib", "python*", "site-packages", "bpy", "*", "datafiles", "colormanagement")))
    blender = shutil.which("blender")
    if blender:
        root = os.path.dirname(os.path.realpath(blender))
        candidates += sorted(glob.glob(os.path.join(root, "*", "datafiles", "colormanagement")))
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "config.ocio")):
            return Path(folder)
    raise FileNotFoundError(
        "Blender's colour-management LUTs were not found: set MESHPREP_BLENDER_COLORMANAGEMENT "
        "to a Blender's datafiles/colormanagement folder, or pip install bpy")


def _lut_path(name: str) -> Path:
    folder = colormanagement_dir()
    for sub in ("filmic", "luts", "."):
        if (folder / sub / name).is_file():
            return folder / sub / name
    raise FileNotFoundError(f"{name} is not in {folder}")


@functools.cache
def _read_spi1d(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(domain samples, values) of a one-component Sony ``.spi1d`` LUT."""
    domain, values, length = (0.0, 1.0), [], 0
    with open(_lut_path(name), encoding="utf-8") as stream:
        for line in stream:
            words = line.split()
            if words and words[0] == "From":
                domain = (float(words[1]), float(words[2]))
            elif words and words[0] == "Length":
                length = int(words[1])
            elif words and words[0] not in ("Version", "Components", "{", "}"):
                values.append(float(words[0]))
    table = np.asarray(values[:length] if length else values)
    return np.linspace(domain[0], domain[1], len(table)), table


@functools.cache
def _read_cube(name: str) -> np.ndarray:
    """An ``.cube`` 3D LUT as ``table[r, g, b] -> rgb`` (the file lists red fastest)."""
    size, data = 0, []
    with open(_lut_path(name), encoding="utf-8") as stream:
        for line in stream:  # the header, up to the first row of numbers
            words = line.split()
            if words and words[0] == "LUT_3D_SIZE":
                size = int(words[1])
            elif words and (words[0][0].isdigit() or words[0][0] in "-."):
                data = [line]
                break
        data.append(stream.read())  # the rows, parsed at once (185k rows: 1 s as a loop)
    rows = np.array(" ".join(data).split(), np.float64)
    return rows[:size**3 * 3].reshape(size, size, size, 3).transpose(2, 1, 0, 3)


def _spi1d(name: str, x: np.ndarray) -> np.ndarray:
    """The 1D LUT per channel, linear interpolation, clamped to its domain."""
    grid, table = _read_spi1d(name)
    return np.interp(x, grid, table)


def _spi1d_inverse(name: str, y: np.ndarray) -> np.ndarray:
    """The 1D LUT's inverse (monotonic non-decreasing table), linear interpolation."""
    grid, table = _read_spi1d(name)
    return np.interp(y, np.maximum.accumulate(table), grid)


def _cube(name: str, rgb: np.ndarray) -> np.ndarray:
    """Tetrahedral interpolation of a 3D LUT over [0, 1]³ (OCIO's ``tetrahedral``)."""
    table = _read_cube(name)
    n = table.shape[0]
    pos = np.clip(rgb, 0.0, 1.0) * (n - 1)
    base = np.minimum(np.floor(pos).astype(np.int64), n - 2)
    frac = pos - base
    # walk from the cell's low corner along the axes in order of decreasing fraction
    order = np.argsort(-frac, axis=-1, kind="stable")
    sorted_frac = np.take_along_axis(frac, order, axis=-1)
    corner = base.copy()
    out = (1.0 - sorted_frac[..., 0:1]) * table[corner[..., 0], corner[..., 1], corner[..., 2]]
    for step in range(3):
        np.put_along_axis(corner, order[..., step:step + 1],
                          np.take_along_axis(base, order[..., step:step + 1], axis=-1) + 1,
                          axis=-1)
        weight = sorted_frac[..., step:step + 1] - (sorted_frac[..., step + 1:step + 2]
                                                    if step < 2 else 0.0)
        out = out + weight * table[corner[..., 0], corner[..., 1], corner[..., 2]]
    return out
