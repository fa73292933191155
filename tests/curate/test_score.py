import csv

import numpy as np
import pyarrow.parquet as pq
import pytest

from meshprep.cli import main
from meshprep.curate.score import Scorer, fit_scorer
from meshprep.pipeline import LocalExecutor, run_dataset

from ..pipeline.conftest import fast_config, write_models


def test_ridge_recovers_a_linear_function(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    truth = np.array([0.8, -0.5, 0.0, 0.3, 1.2, -0.1])
    y = 3.0 + x @ truth + rng.normal(0, 0.1, 400)
    rows = [{f"f{i}": float(v) for i, v in enumerate(r)} for r in x]
    scorer = fit_scorer(rows, y, alpha=0.1)
    assert scorer.cv_r2 >= 0.9
    assert np.corrcoef(scorer.predict(rows), y)[0, 1] > 0.97
    scorer.save(tmp_path / "s.json")
    again = Scorer.load(tmp_path / "s.json")
    assert np.array_equal(again.predict(rows[:20]), scorer.predict(rows[:20]))


def test_too_few_ratings():
    with pytest.raises(ValueError, match="at least"):
        fit_scorer([{"a": 1.0}], [3.0])


def test_train_and_predict_on_a_dataset(tmp_path):
    write_models(tmp_path / "in", [f"m{i}.obj" for i in range(8)])
    config = fast_config(["load", "normalize", "curate", "render", "write"])
    out = tmp_path / "out"
    run_dataset(tmp_path / "in", out, config, executor=LocalExecutor(2), progress=False)
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    ratings = tmp_path / "ratings.csv"
    with open(ratings, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "score"])
        for i, row in enumerate(rows):
            writer.writerow([row["asset_id"], 1 + i % 5])
    assert main(["score", "train", str(ratings), "-o", str(tmp_path / "scorer.json"),
                 "--dataset", str(out)]) == 0
    assert main(["score", "predict", str(out), "--model", str(tmp_path / "scorer.json")]) == 0
    scored = pq.read_table(out / "manifest.parquet").to_pylist()
    assert all(isinstance(r["quality_score"], float) for r in scored)
    scorer = Scorer.load(tmp_path / "scorer.json")
    assert "view_coverage" in scorer.features and "plane_share" in scorer.features
