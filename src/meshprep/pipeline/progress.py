"""Progress of a run: a redrawn status line on a terminal, quiet log lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .outcome import AssetOutcome


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Counts outcomes and shows them.

    On a terminal the line ``done/total ok · failed · skipped · rate · ETA`` is redrawn at most
    ``redraw_s`` apart. Otherwise (CI, a cluster's log) each failure gets one line and a summary
    line is written every ``log_every_s`` seconds and at the end.

    Parameters
    ----------
    total : int
        Assets this run will process.
    stream : text stream
        Where to write (default stderr).
    enabled : bool
        False prints nothing at all.
    """

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True,
                 redraw_s: float = 0.2, log_every_s: float = 30.0):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = redraw_s if self.tty else log_every_s
        self.counts = {"ok": 0, "failed": 0, "skipped": 0}
        self.start = self.last = time.monotonic()

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        """The status line: counts, rate and estimated time left."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = _duration(left / rate) if rate > 0 else "?"
        return (f"{self.done}/{self.total} assets · ok {self.counts['ok']} · failed "
                f"{self.counts['failed']} · skipped {self.counts['skipped']} · {left} left · "
                f"{rate:.2f}/s · ETA {eta}")

    def update(self, outcome: AssetOutcome, source: str = "") -> None:
        """Count one finished asset and show it."""
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if not self.enabled:
            return
        if outcome.status == "failed" and not self.tty:
            self._write(f"failed {outcome.asset_id[:16]} {source}: {outcome.error_class}: "
                        f"{outcome.error_message}\n")
        now = time.monotonic()
        if now - self.last >= self.interval or self.done == self.total:
            self.last = now
            self._write(f"\r{self.line()}\x1b[K" if self.tty else f"{self.line()}\n")

    def close(self) -> None:
        """End the redrawn line on a terminal."""
        if self.enabled and self.tty:
            self._write("\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
