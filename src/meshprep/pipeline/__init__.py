"""The pipeline: steps, configuration, ledger and executors behind ``meshprep run``."""

from .config import DEFAULTS, ConfigError, config_hash, dump_toml, resolve_config
from .executors import Executor, Job, LocalExecutor, RayExecutor, default_workers
from .ledger import Ledger
from .manifest import export_manifest, format_summary, summarize
from .outcome import AssetOutcome
from .run import RunSummary, default_ledger_path, run_dataset
from .sources import AssetTask, SourceError, iter_tasks
from .steps import AssetContext, ChecksumError, PipelineError, SkipAsset, process_asset
from .store import OutputStore

__all__ = [
    "DEFAULTS",
    "AssetContext",
    "AssetOutcome",
    "AssetTask",
    "ChecksumError",
    "ConfigError",
    "Executor",
    "Job",
    "Ledger",
    "LocalExecutor",
    "OutputStore",
    "PipelineError",
    "RayExecutor",
    "RunSummary",
    "SkipAsset",
    "SourceError",
    "config_hash",
    "default_ledger_path",
    "default_workers",
    "dump_toml",
    "export_manifest",
    "format_summary",
    "iter_tasks",
    "process_asset",
    "resolve_config",
    "run_dataset",
    "summarize",
]
