"""Dataset-level curation: re-decide a run's assets and score them, through its ledger.

:func:`curate_dataset` is ``meshprep curate``: it re-decides a whole dataset from its stored
metrics, duplicates included. Nothing is recomputed: the ``curate`` step stored every asset's
metrics in the ledger. Assets now dropped become ``skipped`` (reason recorded); assets a
curation drop had skipped and that now pass go back to ``pending`` for the next ``meshprep
run``. Duplicates (same geometry hash) are found across the dataset: the first listed is kept,
the others flagged (or dropped when ``"duplicate"`` is in ``[curate] drop``).

:func:`train_from_ratings` and :func:`predict_dataset` are ``meshprep score``: the quality
scorer (:mod:`meshprep.curate.score`) fitted on a run's rated assets, and its scores written
into every ``ok`` asset's metrics.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from meshprep.curate.decide import decide
from meshprep.curate.score import (
    ModelPaths,
    Scorer,
    fit_scorer,
    make_extractor,
    used_model_paths,
)

from .ledger import Ledger


def curate_dataset(output: str | os.PathLike[str], params: dict,
                   ledger_path: str | os.PathLike[str] | None = None) -> dict:
    """Apply the ``[curate]`` parameters to every curated asset of a run's output.

    Returns
    -------
    dict
        ``decisions`` (count per keep / flag / drop), ``requeued`` (assets back to pending),
        ``newly_skipped``, ``duplicates``.
    """
    path = Path(ledger_path) if ledger_path else Path(output) / "ledger.sqlite"
    first_by_hash: dict[str, str] = {}
    decisions: Counter = Counter()
    requeued = skipped = duplicates = 0
    updates = []
    with Ledger(path) as ledger:
        rows = ledger.db.execute("SELECT asset_id, status, stage, metrics FROM assets "
                                 "WHERE metrics IS NOT NULL ORDER BY rowid").fetchall()
        for asset_id, status, stage, text in rows:
            metrics = json.loads(text)
            if "curation" not in metrics:
                continue  # failed before curation, or a run without the curate step
            digest = metrics.get("geometry_hash") or ""
            first = first_by_hash.setdefault(digest, asset_id) if digest else asset_id
            duplicate_of = first if first != asset_id else None
            duplicates += duplicate_of is not None
            decision, reason = decide(metrics, params, duplicate_of)
            decisions[decision] += 1
            metrics.update(curation=decision, curation_reason=reason)
            new_status, new_stage, message = status, stage, None
            if decision == "drop" and status != "skipped":
                new_status, new_stage, message = "skipped", "curate", reason
                skipped += 1
            elif decision != "drop" and status == "skipped" and stage == "curate":
                new_status, new_stage = "pending", None
                requeued += 1
            elif status == "skipped" and stage == "curate":
                message = reason
            updates.append((new_status, new_stage, message, json.dumps(metrics), asset_id))
        ledger.db.executemany(
            "UPDATE assets SET status = ?, stage = ?, error_message = COALESCE(?, "
            "error_message), metrics = ? WHERE asset_id = ?", updates)
        ledger.db.commit()
    return {"decisions": dict(decisions), "requeued": requeued, "newly_skipped": skipped,
            "duplicates": duplicates}


def dataset_features(output: str | os.PathLike[str], extractor: str = "builtin",
                     model_paths: ModelPaths | None = None, *, device: str = "cpu"
                     ) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Features of every ``ok`` asset of a run's output, and a uid -> asset id map.

    ``model_paths`` and ``device`` reach the embedding extractors (see
    :func:`meshprep.curate.score.make_extractor`).
    """
    root = Path(output)
    extract = make_extractor(extractor, model_paths, device=device)
    features, uids = {}, {}
    with Ledger(root / "ledger.sqlite") as ledger:
        for asset_id, uid, text in ledger.db.execute(
                "SELECT asset_id, uid, metrics FROM assets WHERE status = 'ok'"):
            folder = root / "objects" / asset_id[:2] / asset_id
            features[asset_id] = extract(folder, json.loads(text or "{}"))
            if uid:
                uids[uid] = asset_id
    return features, uids


def train_from_ratings(ratings: str | os.PathLike[str], output: str | os.PathLike[str], *,
                       alpha: float = 1.0, extractor: str = "builtin",
                       model_paths: ModelPaths | None = None, device: str = "cpu") -> Scorer:
    """Fit a scorer on a CSV of ``id,score`` (asset id or the list's uid) over a dataset.

    The scorer records ``extractor`` and the weights folders it used (absolute paths).
    """
    import csv

    features, uids = dataset_features(output, extractor, model_paths, device=device)
    rows, scores = [], []
    with open(ratings, newline="", encoding="utf-8") as stream:
        for record in csv.DictReader(stream):
            asset = record.get("id") or record.get("uid") or ""
            asset = asset if asset in features else uids.get(asset, "")
            if asset in features and record.get("score") not in (None, ""):
                rows.append(features[asset])
                scores.append(float(record["score"]))
    scorer = fit_scorer(rows, scores, alpha=alpha, extractor=extractor)
    scorer.model_paths = used_model_paths(extractor, model_paths)
    return scorer


def predict_dataset(output: str | os.PathLike[str], scorer: Scorer, *,
                    model_paths: ModelPaths | None = None, device: str = "cpu") -> int:
    """Write ``quality_score`` into every ``ok`` asset's metrics; returns how many.

    The weights folders are the scorer's own, each replaced by one given in ``model_paths``.
    """
    paths = {**scorer.model_paths, **(model_paths or {})}
    features, _ = dataset_features(output, scorer.extractor, paths, device=device)
    ids = list(features)
    _check_features(scorer, features)
    predicted = scorer.predict([features[i] for i in ids]) if ids else []
    with Ledger(Path(output) / "ledger.sqlite") as ledger:
        updates = []
        for asset_id, value in zip(ids, predicted, strict=True):
            (text,) = ledger.db.execute("SELECT metrics FROM assets WHERE asset_id = ?",
                                        (asset_id,)).fetchone()
            metrics = json.loads(text or "{}")
            metrics["quality_score"] = round(float(value), 4)
            updates.append((json.dumps(metrics), asset_id))
        ledger.db.executemany("UPDATE assets SET metrics = ? WHERE asset_id = ?", updates)
        ledger.db.commit()
    return len(ids)


def _check_features(scorer: Scorer, features: dict[str, dict[str, float]]) -> None:
    """Refuse features that lack some of the scorer's (other weights than it was fitted on)."""
    row = next(iter(features.values()), None)
    missing = [f for f in scorer.features if row is not None and f not in row]
    if missing:
        raise ValueError(f"the {scorer.extractor!r} extractor gives no {missing[0]!r} "
                         f"({len(missing)} of the scorer's features missing): other weights "
                         "than the scorer was trained with?")
