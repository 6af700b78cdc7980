"""How many cores a worker may use, so that torch's threads match them and never oversubscribe.

`os.cpu_count()` counts the machine's cores; a CPU affinity mask (taskset, cpusets) or a cgroup v2
CPU quota (what a container's or a Kubernetes pod's CPU limit sets) may allow fewer.
"""

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may run on: its affinity mask, capped by the cgroup quota (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota: the affinity mask is the limit
    return max(1, cores)


def torch_threads(configured: int | None, workers: int) -> int:
    """Torch threads per worker: the configured number, or the worker's share of the available cores
    less one, at least 1. The worker's Python (event loop, request threads) keeps about a core busy
    while passes run, and a torch thread sharing that core stalls its siblings at the end of every
    operation (docs/experiments.md, "Where a worker's cores go")."""
    return configured or max(1, available_cores() // workers - 1)
