import numpy as np
import trimesh

from meshprep.curate import main_object
from meshprep.io.meshpack import read_packed_mesh
from meshprep.pipeline import LocalExecutor, run_dataset

from ..pipeline.conftest import fast_config


def _box(extents, at=(0, 0, 0)) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(at)
    return box


def test_the_floor_goes_and_the_object_stays():
    obj = _box((0.5, 0.5, 0.5), (0, 0, 0.25))
    scene = trimesh.util.concatenate([_box((2, 2, 0.05), (0, 0, -0.025)), obj])
    result = main_object(scene.vertices, scene.faces)
    assert result.removed_components == 1 and result.floor_area_share > 0.5
    assert len(result.faces) == 12
    assert np.allclose(result.vertices.min(axis=0), obj.vertices.min(axis=0))


def test_floaters_and_extra_objects_go():
    body = trimesh.util.concatenate([_box((1, 1, 1)), _box((0.2, 0.2, 0.5), (0, 0, 0.75))])
    parts = [body, _box((0.3, 0.3, 0.3), (3, 0, 0))] + [
        trimesh.creation.icosphere(radius=0.02).apply_translation((0, 2 + i * 0.3, 0))
        for i in range(3)]
    scene = trimesh.util.concatenate(parts)
    result = main_object(scene.vertices, scene.faces)
    assert result.extra_objects == 4 and result.removed_components == 4
    assert len(result.faces) == len(body.faces)  # the touching handle stays with the body


def test_a_clean_object_is_untouched():
    torus = trimesh.creation.torus(1.0, 0.3)
    result = main_object(torus.vertices, torus.faces)
    assert result.removed_components == 0 and len(result.faces) == len(torus.faces)


def test_extract_step_in_a_run(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    scene = trimesh.util.concatenate([_box((2, 2, 0.05), (0, 0, -0.025)),
                                      _box((0.5, 0.5, 0.5), (0, 0, 0.25))])
    scene.export(folder / "tile.obj")
    config = fast_config(["load", "normalize", "extract", "watertight", "write"])
    summary = run_dataset(folder, tmp_path / "out", config, executor=LocalExecutor(1),
                          progress=False)
    assert summary.counts["ok"] == 1
    import pyarrow.parquet as pq

    row = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()[0]
    assert row["extract_removed_components"] == 1 and row["extract_floor_area_share"] > 0.5
    # the watertight mesh is the cube alone: 8 corners of a cube fill the canonical box
    ply = read_packed_mesh(next((tmp_path / "out").glob("objects/*/*/watertight.npz")))
    assert np.allclose(ply.extents, ply.extents[0], rtol=0.05)
