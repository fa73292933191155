import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meshprep.data import ListError, filter_list, read_list

UID = "0123456789abcdef0123456789abcdef"
COMMIT = "a" * 40


def test_trellis_csv(tmp_path):
    path = tmp_path / "ObjaverseXL_github.csv"
    path.write_text(
        "sha256,file_identifier,aesthetic_score,captions\n"
        f"{'1' * 64},https://github.com/org/repo/blob/{COMMIT}/m/a.glb,5.5,a chair\n"
        f"{'2' * 64},https://sketchfab.com/3d-models/lamp-{UID},4.0,a lamp\n")
    table = read_list(path)
    assert table.column_names[:4] == ["uid", "source", "url", "sha256"]
    rows = table.to_pylist()
    assert rows[0]["source"] == "github" and rows[0]["uid"] == "1" * 64
    assert rows[1]["source"] == "objaverse" and rows[1]["uid"] == UID
    assert rows[1]["captions"] == "a lamp"
    assert filter_list(table, min_aesthetic=5.0).num_rows == 1
    assert filter_list(table, sources=("objaverse",)).to_pylist()[0]["uid"] == UID


def test_parquet_json_text_and_folder(tmp_path):
    pq.write_table(pa.table({"fileIdentifier": [f"https://example.org/x/{UID}.glb"],
                             "source": ["smithsonian"], "license": ["CC0"],
                             "sha256": ["3" * 64]}), tmp_path / "xl.parquet")
    xl = read_list(tmp_path / "xl.parquet").to_pylist()[0]
    assert xl["source"] == "url" and xl["license"] == "CC0" and xl["uid"] == "3" * 64
    (tmp_path / "step1x.json").write_text(json.dumps([UID, "f" * 32]))
    assert read_list(tmp_path / "step1x.json")["uid"].to_pylist() == [UID, "f" * 32]
    (tmp_path / "rows.json").write_text(json.dumps([{"uid": UID, "url": UID, "score": 1}]))
    assert read_list(tmp_path / "rows.json").to_pylist()[0]["score"] == 1
    (tmp_path / "uids.txt").write_text(f"# objaverse\n{UID}\n\n")
    assert read_list(tmp_path / "uids.txt").to_pylist()[0]["source"] == "objaverse"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.obj").write_text("v 0 0 0\n")
    row = read_list(tmp_path / "models").to_pylist()[0]
    assert row["source"] == "local" and row["url"].endswith("m.obj")


def test_bad_lists(tmp_path):
    (tmp_path / "x.csv").write_text("name,size\na,1\n")
    with pytest.raises(ListError, match="no column names the objects"):
        read_list(tmp_path / "x.csv")
    with pytest.raises(ListError, match="cannot read list"):
        read_list(tmp_path / "missing.parquet")
