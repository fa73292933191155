"""Executors: who runs :func:`~meshprep.pipeline.steps.process_asset` for each asset.

One interface (:class:`Executor`), two implementations:

* :class:`LocalExecutor` (default): a pool of long-lived worker processes on this machine, one
  asset at a time each, with a wall-clock limit and a memory limit per asset. A worker that
  segfaults, is killed for memory, or runs past its time is replaced and the asset is recorded
  as failed; the run goes on.
* :class:`RayExecutor`: each asset is a Ray task with resource requests (CPU, memory, GPU),
  results stream back to the runner, which keeps the same ledger.

Both yield one :class:`~meshprep.pipeline.outcome.AssetOutcome` per asset, in completion order.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait

from meshprep._jit import SERIAL_ENV
from meshprep.errors import MeshprepError

from . import cluster
from .config import ConfigError
from .limits import die_with_parent, memory_cap, resident_mb, signal_name
from .outcome import AssetOutcome
from .sources import AssetTask
from .steps import AssetContext, failure, process_asset, resolve_step
from .store import OutputStore


@dataclass(frozen=True)
class Job:
    """What every worker needs besides the asset: configuration, output root, config hash."""

    config: dict
    output: str
    config_hash: str

    @property
    def timeout_s(self) -> float:
        return float(self.config["limits"]["timeout_s"])

    @property
    def memory_mb(self) -> float:
        return float(self.config["limits"]["memory_mb"])

    @property
    def memory_request_mb(self) -> float:
        """What a Ray task asks the scheduler for (never more than the enforced limit)."""
        limits = self.config["limits"]
        return float(min(limits.get("memory_request_mb", limits["memory_mb"]),
                         limits["memory_mb"]))

    @property
    def infra_retries(self) -> int:
        return int(self.config["limits"].get("infra_retries", 3))


OnStart = Callable[[AssetTask], None]
OnRetry = Callable[[AssetTask, str], None]
INFRASTRUCTURE = "InfrastructureError"
_WATCH_S = 5.0  # how often the Ray executor checks that the cluster can still run the tasks
_DEATH_GRACE_S = 3.0  # how long a crashed worker waits for the cluster to report a lost node


class Executor(ABC):
    """Runs assets and yields their outcomes as they finish."""

    name: str = "executor"
    workers: int = 1

    @abstractmethod
    def map(self, tasks: Iterable[AssetTask], job: Job, on_start: OnStart,
            on_retry: OnRetry | None = None) -> Iterator[AssetOutcome]:
        """Process ``tasks`` (pulled lazily), calling ``on_start(task)`` as each is dispatched.

        ``on_retry(task, reason)`` is called when an attempt was lost to the infrastructure and
        the asset is dispatched again (``on_start`` follows).
        """


def run_one(task: AssetTask, job: Job) -> AssetOutcome:
    """One asset under the memory cap, with a memory failure explained (both executors)."""
    with memory_cap(job.memory_mb):
        outcome = process_asset(task, job.config, OutputStore(job.output), job.config_hash)
    if outcome.error_class == "MemoryError":
        outcome.error_message = (f"exceeded the memory limit of {job.memory_mb:.0f} MB: "
                                 f"{outcome.error_message}")
    return outcome


# --- a cold numba cache: the workers compile disjoint halves first ----------------------------
#
# The kernels are numba functions cached on disk (``cache=True``); on a fresh install nothing is
# cached and each worker process compiled every kernel its first asset touched: with 2 workers on
# 2 cores both compiled the same ~250 specializations at once (the README's first run: 81-112 s,
# against 12 s warm; one process's compile CPU: 62 s). Three measures together bring it to the
# README's target (benchmarks/bench_first_run.py, RESULTS.md "First run"):
#
# * the warm-up below: before its first asset, each of the first two workers compiles one half of
#   the kernels on a tiny mesh, the halves split at the watertight step (the shape half: load,
#   normalize, curate, watertight; the samples half: sample, render, voxelize, write, on a
#   closed stand-in and with few samples); the runner waits for both, then every worker loads
#   the other half from the disk cache instead of compiling it (halves of ~20 s of CPU each;
#   nothing compiles afterwards). A warm cache is seen from a few kernels' cache indexes (a file
#   read each), so a warm run does no warm-up;
# * serial twins of the ``parallel=True`` kernels in the workers when there is a worker per core
#   (meshprep._jit): parfors compile 2-3x slower (62 s against 35 s of CPU), and with every core
#   busy on its own asset their threads buy little (the README's warm run: same CPU and wall);
#   single-process use keeps the parallel kernels;
# * one specialization of the topology kernels (int32 indices whatever the input's dtype).
#
# Rejected: dropping ``parallel=True`` for everyone (slows single-process use on big meshes);
# ahead-of-time compilation (numba.pycc is deprecated; shipped cache files are rejected: the index
# checks each source file's mtime and size); the first asset alone, then the rest (the second
# worker idles while the first compiles everything: no gain over one worker).

#: kernels whose cache index says whether a half is cold (the costliest of each half to compile)
_SENTINELS = (
    ("meshprep.watertight.band", "_mark_blocks"),
    ("meshprep.watertight.contour", "_count_triangles"),
    ("meshprep.geometry.topology", "_edge_defects"),
    ("meshprep.curate.metrics", "_group_boxes"),
), (
    ("meshprep.sample._bvh", "closest_points"),
    ("meshprep.sample.salient", "_salient_table"),
    ("meshprep.render.raster", "rasterize"),
)
WARM_UP = "warm-up"
log = logging.getLogger(__name__)
COUNT_KEYS = ("surface", "salient", "volume", "near")


def _half_is_cold(half: int) -> bool:
    """Whether a kernel of the half has nothing in numba's cache (unknown: cold)."""
    import importlib

    for module, name in _SENTINELS[half]:
        try:
            dispatcher = getattr(importlib.import_module(module), name)
            if not dispatcher._cache._cache_file._load_index():
                return True
        except Exception:  # noqa: BLE001  (numba's internals moved: warm up, it is harmless)
            return True
    return False


def _tiny_mesh():
    """A small mesh with the features the steps branch on: closed parts, an open sheet."""
    import numpy as np
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    box = trimesh.creation.box((0.4, 0.3, 0.2))
    box.apply_translation((0.8, 0.1, 0.0))
    sheet = trimesh.Trimesh(np.array([[-0.9, -0.6, 0.3], [-0.3, -0.6, 0.3], [-0.3, 0.1, 0.35],
                                      [-0.9, 0.1, 0.3]]), np.array([[0, 1, 2], [0, 2, 3]]),
                            process=False)
    return trimesh.util.concatenate([sphere, box, sheet])


def warm_up(half: int, config: dict) -> float:
    """Compile one half of the kernels a run of ``config`` uses, if that half is not cached.

    Parameters
    ----------
    half : int
        0: the steps up to the watertight step; 1: the steps after it.
    config : dict
        The run's configuration (the same types and options, so the same specializations).

    Returns
    -------
    float
        Seconds spent (0 when the half was already cached). Never raises: a step that fails on
        the tiny mesh only leaves its kernels to be compiled by the first asset.
    """
    import tempfile
    from pathlib import Path

    if not _half_is_cold(half):
        return 0.0
    start = time.monotonic()
    steps = [name for name in config["run"]["steps"] if ":" not in name]  # built-ins only
    # the same options (so the same types and specializations) with fewer samples: compiling,
    # not sampling 1.45 M points of a tiny mesh, is what the warm-up is for
    config = {**config, "sample": {**config["sample"], **{
        key: min(int(config["sample"][key]), 5000) for key in COUNT_KEYS}}}
    cut = steps.index("watertight") + 1 if "watertight" in steps else \
        steps.index("curate") + 1 if "curate" in steps else 0
    with tempfile.TemporaryDirectory(prefix="meshprep-warm-up-") as folder:
        source = Path(folder) / "tiny.ply"
        _tiny_mesh().export(source)
        staging = Path(folder) / "staging"
        staging.mkdir()
        ctx = AssetContext(AssetTask("warm-up", str(source)), config, staging)
        if half == 0:  # ~16 s of one process's CPU with the workers' serial kernels
            todo = steps[:cut]
        else:  # ~17 s: the later steps, on the tiny mesh and a closed stand-in for the
            # watertight one (curate stays in the first half: it shares the topology kernels)
            todo = [name for name in steps[:cut] if name in ("load", "normalize")] + steps[cut:]
            if "watertight" in steps:
                import trimesh

                closed = trimesh.creation.icosphere(subdivisions=3, radius=0.45)
                ctx.watertight = trimesh.Trimesh(closed.vertices, closed.faces, process=False)
        for name in todo:
            try:
                resolve_step(name)(ctx)
            except Exception:  # noqa: BLE001, S112  (best effort: see the docstring)
                continue
    return time.monotonic() - start


# --- local processes ------------------------------------------------------------------------

def _worker_main(conn, job: Job) -> None:
    """A local worker: receive tasks, send outcomes, until told to stop or the runner is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    die_with_parent()
    import meshprep.sample  # noqa: F401  (import the heavy modules once, not per asset)
    import meshprep.watertight  # noqa: F401

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if isinstance(task, tuple) and task[0] == WARM_UP:
            outcome = (WARM_UP, warm_up(task[1], job.config))
        else:
            outcome = run_one(task, job)
        try:
            conn.send(outcome)
        except (BrokenPipeError, OSError):
            return


@dataclass
class _Slot:
    process: multiprocessing.Process
    conn: object
    task: AssetTask | None = None
    started: float = 0.0


class LocalExecutor(Executor):
    """Worker processes on this machine.

    Parameters
    ----------
    workers : int
        Processes, each working on one asset at a time.
    poll_s : float
        How often the runner checks time and memory limits while workers are busy.
    warm_up : bool
        On a cold numba cache, let the first two workers compile disjoint halves of the kernels
        before the first asset (:func:`warm_up`); nothing happens when the cache is warm.
    serial_kernels : bool, optional
        Whether the workers compile the ``parallel=True`` kernels serially (see
        :mod:`meshprep._jit`); default: when there is at least one worker per core (the cores
        are then busy with one asset each, and serial kernels compile 2-3x faster).
    """

    name = "local"

    def __init__(self, workers: int = 2, poll_s: float = 0.1, warm_up: bool = True,
                 serial_kernels: bool | None = None):
        self.workers = max(1, int(workers))
        self.poll_s = poll_s
        self.warm_up = warm_up
        self.serial_kernels = (self.workers >= default_workers() if serial_kernels is None
                               else serial_kernels)
        self._context = multiprocessing.get_context("spawn")

    def _spawn(self, job: Job) -> _Slot:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child, job), daemon=True,
                                        name="meshprep-worker")
        # the spawned interpreter reads its environment before it imports any kernel
        with _environment(SERIAL_ENV, "1" if self.serial_kernels else "0"):
            process.start()
        child.close()
        return _Slot(process, parent)

    def map(self, tasks: Iterable[AssetTask], job: Job, on_start: OnStart,
            on_retry: OnRetry | None = None) -> Iterator[AssetOutcome]:
        tasks = iter(tasks)
        slots = [self._spawn(job) for _ in range(self.workers)]
        exhausted = False
        try:
            if self.warm_up and self.workers > 1:
                self._warm_up(slots, job)
            while True:
                for index, slot in enumerate(slots):
                    if slot.task is None and not exhausted:
                        task = next(tasks, None)
                        if task is None:
                            exhausted = True
                        else:
                            slots[index] = slot = self._dispatch(slot, task, job, on_start)
                busy = [slot for slot in slots if slot.task is not None]
                if not busy:
                    return
                wait([s.conn for s in busy] + [s.process.sentinel for s in busy], self.poll_s)
                for index, slot in enumerate(slots):
                    if slot.task is not None:
                        outcome, replace = self._check(slot, job)
                        if outcome is not None:
                            slot.task = None
                            if replace:
                                slots[index] = self._replace(slot, job)
                            yield outcome
        finally:
            self._shutdown(slots)

    def _warm_up(self, slots: list[_Slot], job: Job) -> None:
        """The first two workers compile disjoint halves of a cold cache (:func:`warm_up`);
        wait for both (a worker that dies meanwhile is replaced; its asset compiles instead)."""
        warming = {}
        for half, slot in enumerate(slots[:len(_SENTINELS)]):
            try:
                slot.conn.send((WARM_UP, half))
                warming[half] = slot
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + job.timeout_s
        while warming and time.monotonic() < deadline:
            wait([s.conn for s in warming.values()] +
                 [s.process.sentinel for s in warming.values()], self.poll_s)
            for half, slot in list(warming.items()):
                if slot.conn.poll():
                    try:
                        _, seconds = slot.conn.recv()
                        log.info("warm-up: kernels of half %d compiled in %.1f s", half, seconds)
                        del warming[half]
                        continue
                    except (EOFError, OSError):
                        pass
                if not slot.process.is_alive():
                    del warming[half]
        for index, slot in enumerate(slots):
            if slot in warming.values() or not slot.process.is_alive():
                slots[index] = self._replace(slot, job)

    def _dispatch(self, slot: _Slot, task: AssetTask, job: Job, on_start: OnStart) -> _Slot:
        on_start(task)
        try:
            slot.conn.send(task)
        except (BrokenPipeError, OSError):  # the idle worker is gone: start another, send again
            slot = self._replace(slot, job)
            slot.conn.send(task)
        slot.task, slot.started = task, time.monotonic()
        return slot

    def _check(self, slot: _Slot, job: Job) -> tuple[AssetOutcome | None, bool]:
        """(outcome or None while still working, whether the worker must be replaced)."""
        task, elapsed = slot.task, time.monotonic() - slot.started
        if slot.conn.poll():
            try:
                return slot.conn.recv(), False
            except (EOFError, OSError):
                pass
        if not slot.process.is_alive():
            slot.process.join()
            cause = signal_name(slot.process.exitcode)
            return failure(task, "WorkerCrash", f"the worker died ({cause}) on this asset",
                           elapsed), True
        if elapsed > job.timeout_s:
            return failure(task, "Timeout", f"still running after the limit of "
                           f"{job.timeout_s:g} s", elapsed), True
        resident = resident_mb(slot.process.pid)
        if resident is not None and resident > job.memory_mb:
            return failure(task, "MemoryLimit", f"resident memory {resident:.0f} MB passed the "
                           f"limit of {job.memory_mb:.0f} MB", elapsed), True
        return None, False

    def _replace(self, slot: _Slot, job: Job) -> _Slot:
        _kill(slot)
        return self._spawn(job)

    def _shutdown(self, slots: list[_Slot]) -> None:
        for slot in slots:
            if slot.task is None:
                try:
                    slot.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + 5
        for slot in slots:
            if slot.task is None:
                slot.process.join(max(0.0, deadline - time.monotonic()))
            _kill(slot)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` for the block (a user's own setting is left alone)."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _kill(slot: _Slot) -> None:
    if slot.process.is_alive():
        slot.process.kill()
    slot.process.join()
    slot.conn.close()


# --- Ray ------------------------------------------------------------------------------------

def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise MeshprepError("the Ray executor needs Ray: pip install 'meshprep[ray]'") from exc
    return ray


@dataclass
class _InFlight:
    """One submitted Ray task: its asset, when it started, its losses, the deaths seen then."""

    task: AssetTask
    started: float
    losses: int = 0
    deaths: int = 0


class RayExecutor(Executor):
    """Each asset a Ray task, on the cluster at ``address`` (or a local Ray instance).

    An asset whose node, object or owner is lost is submitted again, up to
    ``[limits] infra_retries`` times (each loss is reported through ``on_retry``), and only then
    failed as ``InfrastructureError``. Before any work it prints the cluster it joined, refuses a
    request no node can hold and a local output folder some node does not share.

    Parameters
    ----------
    address : str, optional
        ``"auto"`` for the cluster this machine belongs to, ``"ray://head:10001"``, or None to
        use an already initialised Ray (or start a local one).
    max_in_flight : int, optional
        Tasks submitted at once; default twice the cluster's CPUs (bounded memory in the runner
        however long the list).
    num_gpus : float
        GPUs requested per asset (the GPU path).
    poll_s : float
        How often the runner checks for results, time limits and the cluster.
    log : text stream, optional
        Where the cluster description goes (default stderr).
    """

    name = "ray"

    def __init__(self, address: str | None = None, max_in_flight: int | None = None,
                 num_gpus: float = 0.0, poll_s: float = 0.1, log=None):
        self.address = address
        self.max_in_flight = max_in_flight
        self.num_gpus = num_gpus
        self.poll_s = poll_s
        self.log = log
        self.workers = max_in_flight or 0
        self._deaths: set[str] = set()

    def map(self, tasks: Iterable[AssetTask], job: Job, on_start: OnStart,
            on_retry: OnRetry | None = None) -> Iterator[AssetOutcome]:
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)
        request = self._prepare(ray, job)
        limit = self.max_in_flight or 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.workers = limit
        remote = ray.remote(run_one).options(
            num_cpus=request.cpus, num_gpus=request.gpus,
            memory=int(request.memory_mb * cluster.MB), max_retries=0)
        job_ref = ray.put(job)
        submit = self._submitter(remote, job_ref)
        tasks = iter(tasks)
        in_flight: dict = {}
        exhausted, watched = False, time.monotonic()
        try:
            while True:
                while not exhausted and len(in_flight) < limit:
                    task = next(tasks, None)
                    if task is None:
                        exhausted = True
                        break
                    on_start(task)
                    submit(in_flight, _InFlight(task, time.monotonic()))
                if not in_flight:
                    return
                ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight),
                                    timeout=self.poll_s)
                for ref in ready:
                    entry = in_flight.pop(ref)
                    outcome = self._result(ray, ref, entry, job, on_start, on_retry)
                    if outcome is None:
                        submit(in_flight, entry)
                    else:
                        yield outcome
                yield from self._expire(ray, in_flight, job)
                if time.monotonic() - watched > _WATCH_S:
                    watched = time.monotonic()
                    self._watch(ray, request)
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)

    def _prepare(self, ray, job: Job) -> cluster.Request:
        """Describe the cluster, refuse what it cannot run; the request of one asset."""
        nodes = cluster.alive_nodes(ray)
        print(cluster.describe_cluster(nodes), file=self.log or sys.stderr, flush=True)
        request = cluster.Request(1.0, job.memory_request_mb, self.num_gpus)
        why = cluster.unschedulable(nodes, request)
        if why:
            raise ConfigError(why)
        if len(nodes) > 1 and OutputStore(job.output).is_local:
            cluster.check_shared_output(ray, job.output, nodes)
        self._deaths = cluster.dead_node_ids(ray)
        return request

    def _submitter(self, remote, job_ref):
        def submit(in_flight: dict, entry: _InFlight) -> None:
            entry.started, entry.deaths = time.monotonic(), len(self._deaths)
            in_flight[remote.remote(entry.task, job_ref)] = entry
        return submit

    def _watch(self, ray, request: cluster.Request) -> None:
        """Stop a run that nothing in the cluster (as it is now) can schedule."""
        nodes = cluster.alive_nodes(ray)
        why = cluster.unschedulable(nodes, request)
        if why:
            raise MeshprepError(f"{why} (the cluster now: {cluster.describe_cluster(nodes)})")

    def _result(self, ray, ref, entry: _InFlight, job: Job, on_start: OnStart,
                on_retry: OnRetry | None) -> AssetOutcome | None:
        """The asset's outcome, or None when it must be submitted again (its node was lost)."""
        elapsed = time.monotonic() - entry.started
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as exc:
            reason = cluster.infra_reason(ray, exc, self._node_lost(ray, entry, exc))
            if reason is None:
                return _ray_failure(ray, exc, entry.task, elapsed)
            entry.losses += 1
            message = f"{reason}: {_first_line(exc)}"
            if entry.losses > job.infra_retries:
                return failure(entry.task, INFRASTRUCTURE,
                               f"infrastructure: node lost {entry.losses} times ({message})",
                               elapsed)
            if on_retry is not None:
                on_retry(entry.task, f"attempt {entry.losses} lost, submitted again: {message}")
            on_start(entry.task)
            return None

    def _node_lost(self, ray, entry: _InFlight, exc: BaseException) -> bool:
        """Whether a node died while ``entry`` ran (asked only for a crashed worker)."""
        if not isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.RayActorError)):
            return False
        deadline = time.monotonic() + _DEATH_GRACE_S
        while True:
            self._deaths |= cluster.dead_node_ids(ray)
            if len(self._deaths) > entry.deaths or time.monotonic() > deadline:
                return len(self._deaths) > entry.deaths
            time.sleep(0.5)

    def _expire(self, ray, in_flight: dict, job: Job) -> Iterator[AssetOutcome]:
        now = time.monotonic()
        for ref, entry in list(in_flight.items()):
            if now - entry.started > job.timeout_s:
                ray.cancel(ref, force=True)
                del in_flight[ref]
                yield failure(entry.task, "Timeout", f"still running after the limit of "
                              f"{job.timeout_s:g} s", now - entry.started)


def _ray_failure(ray, exc: BaseException, task: AssetTask, elapsed: float) -> AssetOutcome:
    """A Ray error that is the asset's own failure, as its outcome."""
    if isinstance(exc, ray.exceptions.OutOfMemoryError):
        return failure(task, "MemoryLimit", _first_line(exc), elapsed)
    if isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.RayActorError)):
        return failure(task, "WorkerCrash", f"the Ray worker died on this asset: "
                       f"{_first_line(exc)}", elapsed)
    return failure(task, type(exc).__name__, _first_line(exc), elapsed)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
