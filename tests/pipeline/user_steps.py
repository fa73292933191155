"""User steps that misbehave on purpose, keyed on the asset's file name (for the runner tests)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from meshprep.pipeline import AssetContext, SkipAsset


def trouble(ctx: AssetContext) -> None:
    """abort*: the worker dies (SIGABRT); hog_fast*: one huge allocation; hog_slow*: memory
    that grows; sleep*: runs past any limit; skip*: a curation filter drops it."""
    name = Path(ctx.task.source).stem
    if name.startswith("abort"):
        os.abort()
    if name.startswith("hog_fast"):
        ctx.metrics["hog"] = float(np.ones(8 * 2**30 // 8).sum())
    if name.startswith("hog_slow"):
        chunks = []
        for _ in range(400):  # up to 20 GB in 50 MB steps, touched so they are resident
            chunks.append(np.ones(50 * 2**20 // 8))
            time.sleep(0.03)
    if name.startswith("sleep"):
        time.sleep(3600)
    if name.startswith("skip"):
        raise SkipAsset("dropped by a test filter")
    ctx.metrics["trouble_checked"] = True


def slow(ctx: AssetContext) -> None:
    """Sleep a little: gives a test time to kill the runner mid-run.

    With ``[steps.slow] started = DIR``, first leaves a file in DIR named after the Ray node
    it runs on (``local`` outside Ray), so a test can wait until a given node holds an asset.
    With ``release = PATH``, it then holds the asset until PATH exists (at most 15 minutes)
    instead of sleeping: the test decides when the step ends, however slow the machine.
    """
    options = ctx.config.get("steps", {}).get("slow", {})
    if options.get("started"):
        import uuid

        try:
            import ray

            node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
        except ImportError:
            node = "local"
        (Path(options["started"]) / f"{node}.{uuid.uuid4().hex}").touch()
    if options.get("release"):
        deadline = time.monotonic() + 900
        while not Path(options["release"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return
    time.sleep(float(options.get("seconds", 0.5)))


def environment(ctx: AssetContext) -> None:
    """Record whether the worker compiles the parallel kernels serially (its environment)."""
    ctx.metrics["serial_kernels"] = os.environ.get("MESHPREP_SERIAL_KERNELS", "")
