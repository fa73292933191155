"""``njit``: numba kernels that compile without parfors in the runner's worker processes.

A kernel compiled with ``parallel=True`` (parfors) takes 2-3x longer to compile than the same
loops compiled serially (measured on the kernels of the README's run: 62 s against 35 s of one
process's CPU), and a fresh install compiles every kernel on first use. In the runner's workers,
one per core, every core already works on its own asset, so the parfors' threads buy little
there (the README's warm run: same CPU and wall; benchmarks/RESULTS.md, "First run"). Those
workers run with ``MESHPREP_SERIAL_KERNELS=1`` in their environment (set by
:class:`~meshprep.pipeline.executors.LocalExecutor`) and get serial twins of the parallel
kernels, cached under their own names (``<name>_serial``: numba's cache index does not tell a
parallel build from a serial one, so the twins must not share files with the originals). Every
other process (the CLI on one asset, the benchmarks, a run with fewer workers than cores, Ray
tasks) keeps the parallel kernels.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from typing import Any

import numba as nb

#: set (to anything but "" or "0") in a process's environment before meshprep is imported
SERIAL_ENV = "MESHPREP_SERIAL_KERNELS"


def serial_kernels() -> bool:
    """Whether this process compiles ``parallel=True`` kernels serially (see the module)."""
    return os.environ.get(SERIAL_ENV, "") not in ("", "0")


def njit(**options: Any) -> Callable[[Callable], Any]:
    """``numba.njit(**options)``, with ``parallel`` dropped where :func:`serial_kernels`.

    Parameters
    ----------
    **options
        numba.njit's options (``cache``, ``parallel``, ``error_model``...).

    Returns
    -------
    callable
        A decorator returning a numba dispatcher (callable from other kernels as usual).
    """
    def decorate(function: Callable) -> Any:
        if not (options.get("parallel") and serial_kernels()):
            return nb.njit(**options)(function)
        twin = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                                  function.__defaults__, function.__closure__)
        twin.__kwdefaults__ = function.__kwdefaults__
        twin.__module__, twin.__doc__ = function.__module__, function.__doc__
        twin.__qualname__ = f"{function.__qualname__}_serial"  # its own cache files
        return nb.njit(**{k: v for k, v in options.items() if k != "parallel"})(twin)
    return decorate
