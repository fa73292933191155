"""What happened to one asset: the record a worker sends the runner and the ledger stores."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class AssetOutcome:
    """What happened to one asset: sent from the worker to the runner, stored in the ledger.

    ``status`` is ``"ok"``, ``"failed"`` or ``"skipped"``; ``stages`` lists
    ``(name, status, seconds)`` for each step that ran.
    """

    asset_id: str
    status: str
    seconds: float = 0.0
    stage: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    stages: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    files: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)
