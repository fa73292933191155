"""The sample step's default counts: one place for ``[sample]``, ``sample_asset``, ``sample_sdf``
and ``meshprep sample``.

They cover what every registered layout of ``meshprep export`` needs (``Layout.needs``; a test
walks the registry): the largest are UltraShape-1.0's 300,000 + 300,000 surface rows and Dora's
400,000 near rows around uniform surface samples (``sample.near`` 600,000 with the default
one third around salient samples).
"""

from __future__ import annotations

#: uniform surface samples
SURFACE = 300_000
#: salient-edge samples
SALIENT = 300_000
#: volume points in [-1.05, 1.05]^3
VOLUME = 250_000
#: near-surface points (two thirds around uniform, one third around salient samples)
NEAR = 600_000

#: the four counts by their ``[sample]`` key
COUNTS = {"surface": SURFACE, "salient": SALIENT, "volume": VOLUME, "near": NEAR}
