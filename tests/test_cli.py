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
