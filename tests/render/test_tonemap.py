"""Blender's view transforms (issue 28, part 3) against values measured from Blender 5.0.1.

The reference rows were measured with the ``bpy==5.0.1`` wheel (Python 3.11): a 21×1 float
image (colour space ``Linear Rec.709``) holding ``LINEAR``, saved with ``Image.save_render`` as a
16-bit RGB PNG through the scene's view settings (display ``sRGB``, dither 0, exposure 0,
gamma 1), read back as ``Non-Color`` and divided out to [0, 1] (5 decimals kept).
The LUT tests need Blender's ``datafiles/colormanagement`` (``MESHPREP_BLENDER_COLORMANAGEMENT``
or an installed ``bpy``) and skip without it.
"""

from __future__ import annotations

import numpy as np
import pytest

from meshprep.render import tonemap

TOLERANCE = 1.0 / 255.0

LINEAR = np.array([
    (0.00000, 0.00000, 0.00000),
    (0.00100, 0.00100, 0.00100),
    (0.01000, 0.01000, 0.01000),
    (0.05000, 0.05000, 0.05000),
    (0.18000, 0.18000, 0.18000),
    (0.50000, 0.50000, 0.50000),
    (1.00000, 1.00000, 1.00000),
    (2.00000, 2.00000, 2.00000),
    (4.00000, 4.00000, 4.00000),
    (16.00000, 16.00000, 16.00000),
    (100.00000, 100.00000, 100.00000),
    (1.00000, 0.00000, 0.00000),
    (0.00000, 1.00000, 0.00000),
    (0.00000, 0.00000, 1.00000),
    (0.80000, 0.30000, 0.10000),
    (2.00000, 0.50000, 0.10000),
    (0.05000, 0.20000, 0.60000),
    (0.30000, 0.90000, 0.20000),
    (10.00000, 1.00000, 0.20000),
    (0.02000, 0.00400, 0.30000),
    (-0.10000, 0.50000, 0.20000),
])

BLENDER_5_0_1 = {
    "Filmic/None": np.array([
        (0.00002, 0.00002, 0.00002),
        (0.01624, 0.01624, 0.01624),
        (0.10111, 0.10111, 0.10111),
        (0.27308, 0.27308, 0.27308),
        (0.50021, 0.50021, 0.50021),
        (0.69496, 0.69496, 0.69496),
        (0.80723, 0.80723, 0.80723),
        (0.89227, 0.89227, 0.89227),
        (0.94939, 0.94939, 0.94939),
        (0.99974, 0.99974, 0.99974),
        (1.00000, 1.00000, 1.00000),
        (0.80723, 0.00002, 0.00002),
        (0.00002, 0.80723, 0.00002),
        (0.00002, 0.00002, 0.80723),
        (0.77382, 0.59959, 0.38828),
        (0.89227, 0.69496, 0.38828),
        (0.27308, 0.52070, 0.72679),
        (0.59959, 0.79181, 0.52070),
        (0.99008, 0.80737, 0.52166),
        (0.15921, 0.05245, 0.59959),
        (0.00002, 0.69496, 0.52070),
    ]),
    "Filmic/Medium Contrast": np.array([
        (0.00003, 0.00003, 0.00003),
        (0.01624, 0.01624, 0.01624),
        (0.10111, 0.10111, 0.10111),
        (0.27308, 0.27308, 0.27308),
        (0.50021, 0.50021, 0.50021),
        (0.69496, 0.69496, 0.69496),
        (0.80723, 0.80723, 0.80723),
        (0.89227, 0.89227, 0.89227),
        (0.94939, 0.94939, 0.94939),
        (0.99974, 0.99974, 0.99974),
        (1.00000, 1.00000, 1.00000),
        (0.80723, 0.00003, 0.00003),
        (0.00003, 0.80723, 0.00003),
        (0.00003, 0.00003, 0.80723),
        (0.77382, 0.59959, 0.38828),
        (0.89227, 0.69496, 0.38828),
        (0.27308, 0.52070, 0.72679),
        (0.59959, 0.79181, 0.52070),
        (0.99008, 0.80751, 0.52262),
        (0.15921, 0.05245, 0.59959),
        (0.00003, 0.69496, 0.52070),
    ]),
    "Filmic/High Contrast": np.array([
        (0.00002, 0.00002, 0.00002),
        (0.00459, 0.00459, 0.00459),
        (0.05127, 0.05127, 0.05127),
        (0.21430, 0.21430, 0.21430),
        (0.50028, 0.50028, 0.50028),
        (0.74499, 0.74499, 0.74499),
        (0.86294, 0.86294, 0.86294),
        (0.93553, 0.93553, 0.93553),
        (0.97452, 0.97452, 0.97452),
        (0.99991, 0.99991, 0.99991),
        (1.00000, 1.00000, 1.00000),
        (0.86294, 0.00002, 0.00002),
        (0.00002, 0.86294, 0.00002),
        (0.00002, 0.00002, 0.86294),
        (0.83024, 0.62956, 0.35454),
        (0.93553, 0.74499, 0.35454),
        (0.21430, 0.52735, 0.78068),
        (0.62956, 0.84813, 0.52735),
        (0.99609, 0.86326, 0.53153),
        (0.09799, 0.02074, 0.62956),
        (0.00002, 0.74499, 0.52735),
    ]),
    "Filmic/Very Low Contrast": np.array([
        (0.00008, 0.00008, 0.00008),
        (0.05060, 0.05060, 0.05060),
        (0.17942, 0.17942, 0.17942),
        (0.33370, 0.33370, 0.33370),
        (0.50013, 0.50013, 0.50013),
        (0.63609, 0.63609, 0.63609),
        (0.73024, 0.73024, 0.73024),
        (0.81926, 0.81926, 0.81926),
        (0.89694, 0.89694, 0.89694),
        (0.99921, 0.99921, 0.99921),
        (1.00000, 1.00000, 1.00000),
        (0.73024, 0.00008, 0.00008),
        (0.00008, 0.73024, 0.00008),
        (0.00008, 0.00008, 0.73024),
        (0.70019, 0.56690, 0.41932),
        (0.81926, 0.63609, 0.41932),
        (0.33370, 0.51363, 0.66101),
        (0.56690, 0.71611, 0.51363),
        (0.97354, 0.73036, 0.51427),
        (0.23833, 0.11719, 0.56690),
        (0.00008, 0.63609, 0.51363),
    ]),
    "AgX/None": np.array([
        (0.00000, 0.00000, 0.00000),
        (0.00330, 0.00330, 0.00330),
        (0.07250, 0.07250, 0.07251),
        (0.22721, 0.22721, 0.22724),
        (0.46133, 0.46133, 0.46137),
        (0.66517, 0.66517, 0.66520),
        (0.77098, 0.77098, 0.77099),
        (0.85180, 0.85180, 0.85182),
        (0.91369, 0.91369, 0.91371),
        (0.99857, 0.99857, 0.99857),
        (1.00000, 1.00000, 1.00000),
        (0.85801, 0.22409, 0.12920),
        (0.43247, 0.77264, 0.31843),
        (0.07909, 0.33761, 0.82150),
        (0.76912, 0.55669, 0.40256),
        (0.89960, 0.65670, 0.52197),
        (0.29078, 0.50742, 0.71733),
        (0.60595, 0.75030, 0.53716),
        (1.00000, 0.81035, 0.75621),
        (0.04680, 0.17484, 0.57902),
        (0.00322, 0.66235, 0.49603),
    ]),
    "Standard/None": np.array([
        (0.00000, 0.00000, 0.00000),
        (0.01292, 0.01292, 0.01292),
        (0.09986, 0.09986, 0.09986),
        (0.24781, 0.24781, 0.24781),
        (0.46136, 0.46136, 0.46136),
        (0.73536, 0.73536, 0.73536),
        (1.00000, 1.00000, 1.00000),
        (1.00000, 1.00000, 1.00000),
        (1.00000, 1.00000, 1.00000),
        (1.00000, 1.00000, 1.00000),
        (1.00000, 1.00000, 1.00000),
        (1.00000, 0.00000, 0.00000),
        (0.00000, 1.00000, 0.00000),
        (0.00000, 0.00000, 1.00000),
        (0.90634, 0.58384, 0.34919),
        (1.00000, 0.73536, 0.34919),
        (0.24781, 0.48453, 0.79774),
        (0.58384, 0.95470, 0.48453),
        (1.00000, 1.00000, 0.48453),
        (0.15171, 0.05071, 0.58384),
        (0.00000, 0.73536, 0.48453),
    ]),
}


def _have_luts() -> bool:
    try:
        tonemap.colormanagement_dir()
    except FileNotFoundError:
        return False
    return True


needs_luts = pytest.mark.skipif(
    not _have_luts(),
    reason="Blender's LUTs not found (set MESHPREP_BLENDER_COLORMANAGEMENT or pip install bpy)")


def test_standard_is_the_srgb_oetf():
    assert np.allclose(tonemap.standard(LINEAR), BLENDER_5_0_1["Standard/None"], atol=TOLERANCE)
    assert tonemap.standard(0.0031308) == pytest.approx(12.92 * 0.0031308)
    assert tonemap.standard(np.array([1.0, 7.0])) == pytest.approx([1.0, 1.0])


@needs_luts
@pytest.mark.parametrize("look", ["None", "Medium Contrast", "High Contrast", "Very Low Contrast"])
def test_filmic_matches_blender(look):
    ours = tonemap.filmic(LINEAR, look=look)
    assert ours.shape == LINEAR.shape
    assert np.abs(ours - BLENDER_5_0_1[f"Filmic/{look}"]).max() < TOLERANCE


@needs_luts
def test_agx_matches_blender():
    assert np.abs(tonemap.agx(LINEAR) - BLENDER_5_0_1["AgX/None"]).max() < TOLERANCE


@needs_luts
def test_filmic_puts_middle_grey_near_half_and_is_monotonic():
    grey = np.geomspace(1e-4, 1e3, 200)[:, None].repeat(3, axis=1)
    out = tonemap.filmic(grey)[:, 0]
    assert np.all(np.diff(out) >= 0) and out[-1] <= 1.0
    assert tonemap.filmic(np.full(3, 0.18))[0] == pytest.approx(0.5, abs=0.002)


@needs_luts
def test_filmic_keeps_image_shapes():
    image = np.random.default_rng(0).uniform(0, 4, (5, 7, 3))
    out = tonemap.filmic(image)
    assert out.shape == image.shape
    assert np.allclose(out[2, 3], tonemap.filmic(image[2, 3]))


def test_unknown_look_is_refused():
    with pytest.raises(ValueError, match="unknown Filmic look"):
        tonemap.filmic(LINEAR, look="Punchy")


def test_missing_blender_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("MESHPREP_BLENDER_COLORMANAGEMENT", str(tmp_path))
    monkeypatch.delenv("MESHPREP_BLENDER_PYTHON", raising=False)
    monkeypatch.setattr(tonemap.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(tonemap.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="MESHPREP_BLENDER_COLORMANAGEMENT"):
        tonemap.colormanagement_dir()
