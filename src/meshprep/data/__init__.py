"""Acquisition: object lists in (TRELLIS / Objaverse-XL / Step1X / uids), verified files out."""

from .endpoints import Endpoints
from .fetch import FetchSummary, fetch
from .http import FetchError, MissingError, RetryPolicy
from .lists import ListError, filter_list, read_list

__all__ = ["Endpoints", "FetchError", "FetchSummary", "ListError", "MissingError",
           "RetryPolicy", "fetch", "filter_list", "read_list"]
