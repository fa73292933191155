"""The default ``[sample]`` counts cover what every registered layout needs, so a default
``meshprep run`` can be exported in any layout (a future layout with bigger needs fails here)."""

from __future__ import annotations

import inspect

import pytest

from meshprep.cli import build_parser
from meshprep.export.layouts import all_layouts, smallest_config
from meshprep.pipeline.config import DEFAULTS, resolve_config
from meshprep.sample import defaults, sample_asset, sample_sdf


@pytest.mark.parametrize("layout", all_layouts(), ids=lambda layout: layout.name)
def test_default_sample_counts_cover_the_layout(layout) -> None:
    have = DEFAULTS["sample"]
    assert smallest_config(layout.needs, have) == "", layout.name
    # a run writing the layout with the defaults is accepted
    resolve_config(overrides={"write": {"layouts": [layout.name]}})


def test_step1x3d_reads_as_many_salient_rows_as_surface_rows() -> None:
    # its random sampling indexes sharp_surface with the surface's indices
    assert DEFAULTS["sample"]["salient"] >= DEFAULTS["sample"]["surface"]


def test_the_defaults_are_one_set() -> None:
    """[sample], sample_asset, sample_sdf and `meshprep sample` share meshprep.sample.defaults."""
    assert {k: DEFAULTS["sample"][k] for k in defaults.COUNTS} == defaults.COUNTS
    asset = inspect.signature(sample_asset).parameters
    assert {k: asset[k].default for k in defaults.COUNTS} == defaults.COUNTS
    sdf = inspect.signature(sample_sdf).parameters
    assert (sdf["volume"].default, sdf["near"].default) == (defaults.VOLUME, defaults.NEAR)
    args = build_parser().parse_args(["sample", "in.ply", "-o", "out"])
    assert {k: getattr(args, k) for k in defaults.COUNTS} == defaults.COUNTS


def test_smallest_config_names_each_short_key() -> None:
    needs = {"surface": 32768, "near": 600_000}
    assert smallest_config(needs, {"surface": 40_000, "near": 500_000}) == \
        "[sample] near = 600000 (the store has 500000)"
    assert smallest_config(needs, {"surface": 1, "near": 1}) == \
        "[sample] surface = 32768 (the store has 1), near = 600000 (the store has 1)"
