"""``meshprep curate``: re-decide a whole dataset from its stored metrics, duplicates included.

Nothing is recomputed: the ``curate`` step stored every asset's metrics in the ledger. Assets
now dropped become ``skipped`` (reason recorded); assets a curation drop had skipped and that
now pass go back to ``pending`` for the next ``meshprep run``. Duplicates (same geometry hash)
are found across the dataset: the first listed is kept, the others flagged (or dropped when
``"duplicate"`` is in ``[curate] drop``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from meshprep.pipeline.ledger import Ledger

from .decide import decide


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
