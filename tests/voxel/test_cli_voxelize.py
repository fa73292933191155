"""``meshprep voxelize`` on one asset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meshprep.cli import main
from meshprep.voxel import read_voxel_ply, read_vxz

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_voxelize_ovoxel_several_resolutions(tmp_path: Path) -> None:
    assert main(["voxelize", str(EXAMPLES / "kenney_flag.glb"), "-o", str(tmp_path),
                 "-r", "32", "-r", "16"]) == 0
    for res in (16, 32):
        coords, attrs = read_vxz(tmp_path / f"dual_grid_{res}.vxz")
        assert coords.max() < res and set(attrs) == {"vertices", "intersected"}
        pbr_coords, pbr = read_vxz(tmp_path / f"pbr_voxels_{res}.vxz")
        assert len(pbr_coords) == len(coords) and pbr["base_color"].shape == (len(coords), 3)


def test_voxelize_trellis(tmp_path: Path) -> None:
    assert main(["voxelize", str(EXAMPLES / "fandisk.obj"), "-o", str(tmp_path), "--format",
                 "trellis", "--views", "2"]) == 0
    voxels = read_voxel_ply(tmp_path / "trellis" / "voxels.ply")
    assert len(voxels) > 100 and np.all((voxels >= 0) & (voxels < 64))
    assert (tmp_path / "trellis" / "renders" / "001.png").is_file()


def test_voxelize_features_need_weights(tmp_path: Path, capsys) -> None:
    assert main(["voxelize", str(EXAMPLES / "fandisk.obj"), "-o", str(tmp_path), "--format",
                 "trellis", "--features", "dinov2"]) == 1
    assert "--dinov2" in capsys.readouterr().err
