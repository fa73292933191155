"""``meshprep run``: every asset of a dataset through the configured steps, resumably.

The runner lists the assets into the ledger, hands the unfinished ones to an executor, and
records each outcome as it arrives. Rerunning the same command after any interruption processes
only what is missing; a finished dataset is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, config_hash, dump_toml, sample_layouts
from .executors import Executor, Job, LocalExecutor, default_workers
from .ledger import Ledger
from .manifest import export_manifest
from .outcome import AssetOutcome
from .progress import Progress
from .sources import AssetTask, iter_tasks
from .steps import resolve_step
from .store import META, OutputStore

LEDGER = "ledger.sqlite"
MANIFEST = "manifest.parquet"
CONFIG = "config.toml"


@dataclass
class RunSummary:
    """What a call of :func:`run_dataset` did."""

    listed: int = 0
    new: int = 0
    processed: int = 0
    adopted: int = 0
    counts: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    ledger: str = ""
    manifest: str = ""


def default_ledger_path(store: OutputStore) -> Path:
    """``OUT/ledger.sqlite`` for a local output; a local cache file for a remote one."""
    if store.is_local:
        return Path(store.root, LEDGER)
    key = hashlib.sha256(store.root.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "meshprep" / "ledgers" / f"{key}.sqlite"


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One run per output at a time (released by the OS if the run is killed)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another meshprep run is using {lock_path.parent}") from None
        yield


def _check_config(config: dict) -> None:
    """Refuse, before any work, what would fail every asset."""
    if config["watertight"]["device"] == "cuda":
        raise ConfigError("watertight.device = 'cuda': the GPU path is not available yet; "
                          "use 'cpu'")
    for name in config["run"]["steps"]:
        resolve_step(name)


def _adopt_published(ledger: Ledger, store: OutputStore, digest: str) -> int:
    """Mark ``ok`` the interrupted assets whose files were completely published.

    A runner killed after a worker published an asset but before it recorded it leaves the asset
    ``running``; its ``meta.json`` proves it finished, so it is not processed a second time.
    """
    adopted = 0
    for task in ledger.iter_tasks(["running"]):
        meta = store.read_meta(task.asset_id)
        if meta is None or meta.get("config_hash") != digest:
            continue
        stages = [(s["name"], s["status"], s["seconds"]) for s in meta.get("stages", [])]
        outcome = AssetOutcome(task.asset_id, "ok", sum(s[2] for s in stages), None, None, None,
                               stages, meta.get("metrics", {}), meta.get("files", []))
        ledger.record(outcome, run_id=None)
        adopted += 1
    return adopted


def run_dataset(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: dict,
    *,
    executor: Executor | None = None,
    retry_failed: bool = False,
    ledger_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    log=None,
    stream=None,
) -> RunSummary:
    """Process every asset of ``source`` into ``output``; resume whatever is unfinished.

    Parameters
    ----------
    source : path-like
        A folder of models, a CSV list, or one model file (see :func:`iter_tasks`).
    output : str or path-like
        Output folder or fsspec URL.
    config : dict
        Resolved configuration (:func:`resolve_config`).
    executor : Executor, optional
        Default: :class:`LocalExecutor` with one worker per core.
    retry_failed : bool
        Also process the assets that failed in earlier runs.
    ledger_path : path-like, optional
        Default ``OUT/ledger.sqlite`` (a cache file for remote outputs, copied to ``OUT``).
    progress : bool
        Show progress on stderr.
    log : text stream, optional
        Where progress and messages go (default stderr).
    stream : meshprep.data.stream.StreamSource, optional
        Fetch ``source`` (a list) ahead of the workers instead of reading local files; raw
        objects are deleted once their asset is recorded.

    Returns
    -------
    RunSummary

    Raises
    ------
    ConfigError
        The configuration cannot run, differs from the one the output was made with, or another
        run holds the output.
    SourceError
        The source cannot be read.
    """
    log = log or sys.stderr
    _check_config(config)
    executor = executor or LocalExecutor(default_workers())
    store = OutputStore(output)
    digest, text = config_hash(config), dump_toml(config)
    ledger_file = Path(ledger_path) if ledger_path else default_ledger_path(store)
    summary = RunSummary(ledger=str(ledger_file))
    lock = ledger_file.with_name(f".{ledger_file.name}.lock")
    with _exclusive(lock), Ledger(ledger_file) as ledger:
        ledger.bind_config(digest, text)
        _put_text(store, CONFIG, text)
        store.clear_staging()
        if stream is not None:
            summary.listed = stream.listed()
            summary.new = ledger.add_tasks(_release_done(ledger, stream, stream.arrived()))[1]
        else:
            summary.listed, summary.new = ledger.add_tasks(iter_tasks(source,
                                                                      ledger.file_hash))
        summary.adopted = _adopt_published(ledger, store, digest)
        statuses = ["pending", "running"] + (["failed"] if retry_failed else [])
        todo = ledger.count(statuses)
        if stream is not None:
            done = sum(ledger.counts()[s] for s in ("ok", "failed", "skipped"))
            bar = Progress(max(0, summary.listed - done), log, progress)
            summary.processed = _process_stream(ledger, executor, Job(config, store.root, digest),
                                                statuses, bar, stream)
        elif todo == 0:
            counts = ledger.counts()
            hint = " (--retry-failed retries the failures)" if counts["failed"] else ""
            print(f"nothing to do: all {summary.listed} listed assets are done, {counts['ok']} "
                  f"ok, {counts['failed']} failed, {counts['skipped']} skipped{hint}", file=log)
        else:
            summary.processed = _process(ledger, executor, Job(config, store.root, digest),
                                         statuses, todo, Progress(todo, log, progress), source)
        store.clear_staging()
        summary.counts = ledger.counts()
        summary.failures = ledger.failure_kinds()
        summary.manifest = write_manifest(ledger, store)
        write_dataset_layouts(config, store, summary.manifest, log)
        if not store.is_local:
            store.put_file(ledger_file, LEDGER)
    return summary


def _release_done(ledger: Ledger, stream, tasks: list[AssetTask]) -> list[AssetTask]:
    """Raw objects of assets already recorded go now (a run killed before deleting them)."""
    for task in tasks:
        if ledger.status(task.asset_id) in ("ok", "failed", "skipped"):
            stream.finished(task.source)
    return tasks


def _process_stream(ledger: Ledger, executor: Executor, job: Job, statuses: list[str],
                    progress: Progress, stream) -> int:
    """Unfinished assets first, then the objects the fetcher hands over as they arrive."""
    def live() -> Iterator[AssetTask]:
        for task in stream.tasks():
            if ledger.add_tasks([task])[1] or ledger.status(task.asset_id) in statuses:
                yield task

    def tasks() -> Iterator[AssetTask]:
        yield from ledger.iter_tasks(statuses, up_to=ledger.max_rowid())
        yield from live()

    stream.start()
    try:
        return _process(ledger, executor, job, statuses, 0, progress, "stream", tasks(),
                        stream.finished)
    finally:
        stream.close()


def _process(ledger: Ledger, executor: Executor, job: Job, statuses: list[str], todo: int,
             progress: Progress, source, tasks=None, on_done=None) -> int:
    run_id = ledger.start_run(executor.name, executor.workers, os.fspath(source))
    sources: dict[str, str] = {}

    def on_start(task: AssetTask) -> None:
        sources[task.asset_id] = task.source
        ledger.mark_running(task.asset_id, run_id)

    def on_retry(task: AssetTask, reason: str) -> None:
        ledger.add_event(run_id, task.asset_id, "infra_retry", reason)

    processed, store = 0, OutputStore(job.output)
    try:
        tasks = ledger.iter_tasks(statuses) if tasks is None else tasks
        for outcome in executor.map(tasks, job, on_start, on_retry):
            ledger.record(_seen_by_driver(outcome, store, job.config_hash), run_id)
            path = sources.pop(outcome.asset_id, "")
            progress.update(outcome, os.path.basename(path))
            if on_done is not None:
                on_done(path)
            processed += 1
    finally:
        progress.close()
        ledger.finish_run(run_id)
    return processed


def _seen_by_driver(outcome: AssetOutcome, store: OutputStore, digest: str) -> AssetOutcome:
    """An ``ok`` outcome stays ``ok`` only if this process reads its ``meta.json`` in the store.

    A worker on another machine may have published into a folder the runner does not see (a
    node-local disk); such an asset is failed as ``OutputNotVisible`` (an infrastructure
    failure) rather than recorded as done.
    """
    if outcome.status != "ok" or META not in outcome.files:
        return outcome
    meta = store.read_meta(outcome.asset_id)
    if meta is not None and meta.get("config_hash") == digest:
        return outcome
    outcome.status, outcome.error_class = "failed", "OutputNotVisible"
    outcome.error_message = (f"the worker published the asset but the runner does not see "
                             f"{store.asset_path(outcome.asset_id)}/meta.json: write to a store "
                             "every node shares (s3://, gs://, a shared mount)")
    return outcome


def _put_text(store: OutputStore, name: str, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as stream:
        stream.write(text)
    try:
        if store.is_local:
            os.makedirs(store.root, exist_ok=True)
        store.put_file(stream.name, name)
    finally:
        os.unlink(stream.name)


def write_dataset_layouts(config: dict, store: OutputStore, manifest: str, log) -> None:
    """Rebuild the dataset roots of ``[write] layouts`` from the manifest (local outputs):
    TRELLIS.2's and TRELLIS's roots, and every sample layout exported from the store into
    ``OUTPUT/<layout>/`` (``meshprep export``: resumable, only new assets are written)."""
    layouts = config["write"]["layouts"]
    if not layouts:
        return
    if not store.is_local:
        print(f"dataset layouts {layouts} are assembled for local outputs only; the assets' "
              "own folders hold the voxel files; run `meshprep export` on a local copy for "
              "the sample layouts", file=log)
        return
    import pyarrow.parquet as pq

    from meshprep.export import assemble_trellis, assemble_trellis2
    from meshprep.export.run import export_dataset

    rows = pq.read_table(manifest).to_pylist()
    if "trellis2" in layouts:
        print(f"TRELLIS.2 dataset root: {assemble_trellis2(store.root, rows)}", file=log)
    if "trellis" in layouts:
        print(f"TRELLIS dataset root: {assemble_trellis(store.root, rows)}", file=log)
    for name in sample_layouts(config):
        out = os.path.join(store.root, name)
        done = export_dataset(store.root, name, out, progress=False)
        failed = f", {done.failed} failed (see {done.manifest})" if done.failed else ""
        if done.unsuitable:
            failed += f", {done.unsuitable} skipped (reasons in {done.manifest})"
        print(f"{name} layout: {out} ({done.exported} written, {done.skipped} already there"
              f"{failed})", file=log)
        if name == "hunyuan3d-paint":
            from meshprep.export.layout_hunyuan3d_paint import ENVMAP_NOTE

            print(f"{name}: {ENVMAP_NOTE}", file=log)
        if name == "step1x3d-texture":
            from meshprep.export.layout_step1x3d_texture import CONFIG_NOTE

            print(f"{name}: {CONFIG_NOTE}", file=log)


def write_manifest(ledger: Ledger, store: OutputStore) -> str:
    """Export the manifest next to the outputs, atomically."""
    fd, temporary = tempfile.mkstemp(suffix=".parquet")
    os.close(fd)
    try:
        export_manifest(ledger, temporary, asset_root=store.root)
        return store.put_file(temporary, MANIFEST)
    finally:
        os.unlink(temporary)
