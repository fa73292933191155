"""``meshprep._jit.njit``: serial twins of the parallel kernels in the runner's workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

KERNELS = '''
import numba as nb
import numpy as np
from meshprep._jit import njit

@njit(cache=True, parallel=True)
def total(a):
    s = 0.0
    for i in nb.prange(len(a)):
        s += a[i]
    return s

@njit(cache=True)
def plain(a):
    return a.sum()
'''


def _run(tmp_path: Path, serial: str) -> list[str]:
    code = ("import numpy as np, kernels as k\n"
            "print(k.total.py_func.__qualname__, bool(k.total.targetoptions.get('parallel')),"
            " k.total(np.arange(100.0)), k.plain.py_func.__qualname__)")
    env = {**os.environ, "MESHPREP_SERIAL_KERNELS": serial,
           "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "src")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=600, check=True)
    return done.stdout.split()


def test_serial_twins_have_their_own_cache_files(tmp_path):
    (tmp_path / "kernels.py").write_text(KERNELS)
    assert _run(tmp_path, "1") == ["total_serial", "False", "4950.0", "plain"]
    assert _run(tmp_path, "0") == ["total", "True", "4950.0", "plain"]
    assert _run(tmp_path, "1") == ["total_serial", "False", "4950.0", "plain"]  # from the cache
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").rglob("*.nbi"))
    assert names == ["kernels.total", "kernels.total_serial"]
