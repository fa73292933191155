import json
import subprocess
import sys

import trimesh

from meshprep.cli import main
from tests.conftest import DATA


def test_watertight_writes_a_closed_mesh_in_input_coordinates(tmp_path, capsys):
    out = tmp_path / "flag.ply"
    assert main(["watertight", str(DATA / "kenney_flag.glb"), "-o", str(out), "-r", "64"]) == 0
    mesh = trimesh.load(out, process=False)
    source = trimesh.load(DATA / "kenney_flag.glb", force="mesh")
    assert abs(mesh.extents.max() - source.extents.max()) < 0.1 * source.extents.max()
    assert main(["check", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["closed_2manifold"] and report["boundary_edges"] == 0


def test_normalized_output_and_decimation(tmp_path):
    out = tmp_path / "wall.obj"
    args = ["watertight", str(DATA / "wallhole.obj"), "-o", str(out), "-r", "64", "--normalized",
            "--target-faces", "2000"]
    assert main(args) == 0
    mesh = trimesh.load(out, process=False)
    assert abs(mesh.vertices).max() <= 1.0
    assert len(mesh.faces) <= 2400


def test_bad_input_exits_non_zero_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "meshprep.cli", "watertight", str(DATA / "points_only.ply"),
         "-o", str(tmp_path / "x.ply")], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "NoTrianglesError" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.ply").exists()


def test_check_reports_an_open_mesh(capsys):
    assert main(["check", str(DATA / "plane.ply")]) == 0
    text = capsys.readouterr().out
    assert "NOT a closed 2-manifold" in text and "boundary_edges" in text


def test_sample_makes_watertight_then_writes_our_layout(tmp_path):
    import numpy as np

    out = tmp_path / "flag"
    args = ["sample", str(DATA / "kenney_flag.glb"), "-o", str(out), "-r", "64", "--surface",
            "3000", "--salient", "2000", "--volume", "1000", "--near", "2000"]
    assert main(args) == 0
    surface, sdf = np.load(out / "surface.npz"), np.load(out / "sdf.npz")
    assert surface["surface_points"].shape == (3000, 3)
    assert surface["salient_points"].shape == (2000, 3)
    assert sdf["volume_points"].shape == (1000, 3) and sdf["near_sdf"].shape == (2000,)
    assert np.abs(sdf["volume_points"]).max() <= 1.05 + 1e-6


def test_sample_hunyuan3d_layout(tmp_path):
    import numpy as np

    args = ["sample", str(DATA / "wallhole.obj"), "-o", str(tmp_path), "-r", "64", "--layout",
            "hunyuan3d", "--id", "wall", "--surface", "2000", "--salient", "2000", "--volume",
            "1000", "--near", "1500"]
    assert main(args) == 0
    surface = np.load(tmp_path / "wall_surface.npz")
    assert surface["random_surface"].shape == (2000, 6)
    assert surface["random_surface"].dtype == np.float16
    sdf = np.load(tmp_path / "wall_sdf.npz")
    assert sdf["vol_label"].shape == (1000,)
    assert (tmp_path / "wall_watertight.obj").is_file()


def test_watertight_creates_the_output_folder(tmp_path):
    out = tmp_path / "new" / "folder" / "plane.ply"
    assert main(["watertight", str(DATA / "plane.ply"), "-o", str(out), "-r", "32"]) == 0
    assert out.is_file()
