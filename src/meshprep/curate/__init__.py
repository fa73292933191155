"""Curation: per-asset metrics, threshold decisions (keep / flag / drop) with reasons."""

from .dataset import curate_dataset
from .decide import RULES, decide
from .extract import Extraction, main_object
from .metrics import asset_metrics

__all__ = ["RULES", "Extraction", "asset_metrics", "curate_dataset", "decide", "main_object"]
