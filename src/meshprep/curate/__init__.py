"""Curation: per-asset metrics, threshold decisions (keep / flag / drop) with reasons."""

from .decide import RULES, decide
from .extract import Extraction, main_object
from .metrics import asset_metrics

__all__ = ["RULES", "Extraction", "asset_metrics", "decide", "main_object"]
