"""How many fits a training step runs at once: the CPUs its pod was granted, never the node's core count.

Inside a container `os.cpu_count()` is the node's cores. Kubernetes enforces a pod's CPU limit as a CFS
quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`): more busy processes than the quota only queue, each
holding its share of the training set in memory. So the count is the quota, within the CPUs this process
may run on (its affinity, which is all of them on a laptop), and at most what the spec asks for.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def cgroup_quota(root: Path = CGROUP) -> float | None:
    """The CPU limit as a number of CPUs (2.5 for `250000 100000`), or None when there is none."""
    v2 = root / "cpu.max"
    if v2.is_file():
        quota, _, period = v2.read_text().strip().partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100_000)
    quota_file, period_file = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
    if quota_file.is_file() and period_file.is_file():
        quota = int(quota_file.read_text())
        return None if quota < 0 else quota / int(period_file.read_text())
    return None


def granted_cpus(requested: int | None = None, root: Path = CGROUP) -> int:
    """Whole CPUs to use: the quota rounded down (at least 1), within the affinity, capped by `requested`."""
    available = len(os.sched_getaffinity(0))
    quota = cgroup_quota(root)
    cpus = available if quota is None else max(1, min(available, math.floor(quota)))
    return max(1, min(cpus, requested)) if requested else cpus
