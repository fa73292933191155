"""Per-asset resource limits shared by the executors: memory caps and process bookkeeping.

Two layers bound an asset's memory:

* inside the worker, a soft ``RLIMIT_AS`` of (address space already mapped) + ``memory_mb``
  turns one huge allocation into a ``MemoryError`` that is recorded like any other failure;
* outside (local executor), the runner reads each worker's resident memory every poll and
  kills a worker that passes ``memory_mb``: an asset that grows slowly is stopped before the
  machine's OOM killer picks a victim.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
from collections.abc import Iterator

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux ``/proc``), None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as stream:
            return int(stream.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return None


def mapped_mb() -> float:
    """Address space this process has mapped now, in MB (0 where ``/proc`` is absent)."""
    try:
        with open("/proc/self/statm") as stream:
            return int(stream.read().split()[0]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


@contextlib.contextmanager
def memory_cap(memory_mb: float) -> Iterator[None]:
    """Cap this process's further address space at ``memory_mb`` for the block (soft limit).

    The hard limit is left alone, so the cap is lifted again afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = int((mapped_mb() + memory_mb) * 2**20)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):  # a platform that refuses: rely on the runner's watchdog
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a ``kill -9``'d runner).

    Without it, a worker outlives its runner and keeps writing into the output folder.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def signal_name(exitcode: int | None) -> str:
    """``-11`` -> ``"SIGSEGV"``; a positive code -> ``"exit code N"``."""
    if exitcode is None:
        return "an unknown cause"
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"
