"""The report's Disk card: bytes per file kind of a real run's output (issue 31)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from meshprep.pipeline import LocalExecutor, run_dataset
from meshprep.pipeline.disk import human_bytes, measure_disk
from meshprep.report import build_report

from ..pipeline.conftest import fast_config, write_models


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report_disk")
    write_models(tmp / "in", ["a.obj", "b.ply"])
    run_dataset(tmp / "in", tmp / "out", fast_config(["load", "normalize", "write"]),
                executor=LocalExecutor(1), progress=False)
    return tmp / "out"


def _table(text: str, table_id: str) -> list[list[str]]:
    """The cells of a table of the page, row by row (header row left out)."""
    body = re.search(rf'<table id="{table_id}">(.*?)</table>', text, re.S).group(1)
    return [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body)[1:]]


def test_disk_card(output):
    text = build_report(output).read_text()
    assert '<section id="disk"><h2>Disk</h2>' in text
    assert "2 finished assets (folders with meta.json)" in text and "1 MB = 10^6 bytes" in text
    disk = measure_disk(output)
    kinds = _table(text, "disk-kinds")
    assert [row[0] for row in kinds] == [*disk["kinds"], "all files"]
    meta = {row[0]: row for row in kinds}["meta.json"]
    figures = disk["kinds"]["meta.json"]
    assert meta == ["meta.json", "2", human_bytes(figures["median_bytes"]),
                    human_bytes(figures["mean_bytes"]), human_bytes(figures["total_bytes"])]
    sizes = [p.stat().st_size for p in output.glob("objects/*/*/meta.json")]
    assert figures["total_bytes"] == sum(sizes)
    assert kinds[-1][:2] == ["all files", "2"]
    dataset = {row[0]: row for row in _table(text, "disk-dataset")}
    assert {"ledger.sqlite", "manifest.parquet", "report/"} <= set(dataset)
    assert dataset["manifest.parquet"][2] == human_bytes((output / "manifest.parquet")
                                                         .stat().st_size)
