"""The HTML report of a run's output: overview, gallery, failures."""

from .build import build_report

__all__ = ["build_report"]
