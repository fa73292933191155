"""One call convention across ``meshprep.voxel``: ``f(mesh, resolution, *, ...)``.

Every public callable whose first parameter is a mesh takes the resolution (or resolutions)
second and everything else by keyword; each works when called ``f(mesh, resolution)`` on a
small mesh, and an old-style call raises a TypeError that states the convention.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import trimesh

import meshprep.voxel as voxel

#: a small resolution per function (sparse_sdf makes the mesh watertight at it first)
SMALL = {"sparse_sdf": 16}


def _mesh_functions() -> list[str]:
    names = []
    for name in voxel.__all__:
        obj = getattr(voxel, name)
        if not (inspect.isfunction(obj) or inspect.isfunction(getattr(obj, "__wrapped__", 0))):
            continue
        params = list(inspect.signature(obj).parameters)
        if params and params[0] == "mesh":
            names.append(name)
    return names


MESH_FUNCTIONS = _mesh_functions()


def test_the_mesh_functions_are_found() -> None:
    assert {"flexible_dual_grid", "flexible_dual_grids", "pbr_voxels", "pbr_voxels_multi",
            "surface_voxels", "sparse_sdf"} <= set(MESH_FUNCTIONS)


def test_no_resolution_function_takes_geometry_otherwise() -> None:
    """A function of a resolution taking a mesh's arrays first (``vertices``, ``faces``) would
    dodge the checks below; those of a path or voxel indices are not mesh functions."""
    for name in voxel.__all__:
        obj = getattr(voxel, name)
        if callable(obj) and not inspect.isclass(obj):
            params = list(inspect.signature(obj).parameters)
            if {"resolution", "resolutions"} & set(params):
                assert params[0] not in ("vertices", "faces", "mesh_or_result"), name


@pytest.mark.parametrize("name", MESH_FUNCTIONS)
def test_signature_is_mesh_resolution_then_keywords(name: str) -> None:
    params = list(inspect.signature(getattr(voxel, name)).parameters.values())
    assert params[0].name == "mesh"
    assert params[1].name in ("resolution", "resolutions")
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    assert params[0].kind in positional and params[1].kind in positional
    rest = [p for p in params[2:] if p.kind != inspect.Parameter.KEYWORD_ONLY]
    assert not rest, f"{name}: {[p.name for p in rest]} must be keyword-only"


def _small_mesh() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(1, radius=0.5)


@pytest.mark.parametrize("name", MESH_FUNCTIONS)
def test_call_with_mesh_and_resolution(name: str) -> None:
    function = getattr(voxel, name)
    plural = list(inspect.signature(function).parameters)[1] == "resolutions"
    res = SMALL.get(name, 8)
    out = function(_small_mesh(), [res] if plural else res)
    assert out is not None
    if plural:
        assert set(out) == {res}


@pytest.mark.parametrize("name", ["flexible_dual_grid", "surface_voxels"])
def test_vertices_and_faces_by_keyword(name: str) -> None:
    mesh = _small_mesh()
    function = getattr(voxel, name)
    by_mesh, by_arrays = function(mesh, 8), function(mesh.vertices, 8, faces=mesh.faces)
    first = by_mesh.coords if hasattr(by_mesh, "coords") else by_mesh
    second = by_arrays.coords if hasattr(by_arrays, "coords") else by_arrays
    assert np.array_equal(first, second)


def test_old_calls_name_the_convention() -> None:
    mesh = _small_mesh()
    with pytest.raises(TypeError, match=r"flexible_dual_grid\(mesh, resolution, \*, \.\.\.\)"):
        voxel.flexible_dual_grid(mesh.vertices, mesh.faces, 8)  # the old order
    with pytest.raises(TypeError, match="resolution must be an int.*faces= by keyword"):
        voxel.flexible_dual_grid(mesh.vertices, mesh.faces)
    with pytest.raises(TypeError, match="vertices without faces="):
        voxel.flexible_dual_grid(mesh.vertices, 8)
    with pytest.raises(TypeError, match=r"pbr_voxels\(mesh, resolution, \*, \.\.\.\)"):
        voxel.pbr_voxels(mesh, None, 8)
    with pytest.raises(TypeError, match="resolutions must be ints"):
        voxel.flexible_dual_grids(mesh, 8)
    with pytest.raises(TypeError, match=r"sparse_sdf\(mesh, resolution"):
        voxel.sparse_sdf(mesh, 16, 2)  # truncation is keyword-only
