"""Watertight conversion: narrow-band distances, flood fill, signing, contouring, decimation."""

from .convert import WatertightResult, make_watertight

__all__ = ["WatertightResult", "make_watertight"]
