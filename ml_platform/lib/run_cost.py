"""What a loop run cost: its wall time and its process's peak memory, reported in the run's own metadata.

The loop's frequent runs must cost the same in a deployment's first hour and its hundredth day (issue 22):
with the cost in each materialization, the Dagster UI plots it over the asset's history, so an operator
sees growth as it starts, and the compressed-day test reads the same figures the operator does.
"""

from __future__ import annotations

import resource
import sys
import time


class RunCost:
    """Started when the work starts; `metadata()` when it ends."""

    def __init__(self) -> None:
        self.began = time.perf_counter()

    def metadata(self) -> dict[str, float]:
        """`cost_seconds` since the start; `peak_rss_mib` of the process (a step runs in a process of its
        own under the multiprocess and k8s executors, so this is the step's peak, imports included)."""
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_bytes = peak if sys.platform == "darwin" else peak * 1024  # kilobytes on Linux
        return {"cost_seconds": round(time.perf_counter() - self.began, 3), "peak_rss_mib": round(peak_bytes / 2**20, 1)}
