"""Process tuning for serving, in one place: threads, the GIL's switch interval, the allocator, the
kernel caches and the open-file limit.

`tune` runs as the app starts (the lifespan), in each worker process, before the first forward pass;
`room_for_connections` runs once in `python -m service`, before uvicorn starts its workers, which
inherit the limit. service/cpu.py and service/memory.py hold the helpers they apply.
"""

import logging
import os
import resource
import sys

import torch

from service import memory
from service.cpu import torch_threads
from service.settings import Settings

logger = logging.getLogger("service")

# The event loop shares the GIL with the model thread. At Python's default 5 ms switch interval every
# loop turn can wait 5 ms behind pure-Python model work (splitting, tokenizing), so quick answers
# (503s, health checks) queue behind the model; a tenth of it lets them through under overload
# (RELIABILITY.md).
SWITCH_INTERVAL_S = 0.0005
# oneDNN, and torch's own cache around it (LRU_CACHE_CAPACITY), keep a compiled kernel per input
# shape, 1024 by default, and documents come in endless shapes: without a small cap RSS grows for as
# long as new shapes arrive (RELIABILITY.md).
KERNEL_CACHES = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "16", "LRU_CACHE_CAPACITY": "16"}
# torch backs each CPU tensor of 2 MB or more with transparent huge pages when this is set. A batched
# pass's activations are that large, and since glibc maps them afresh every pass (service/memory.py),
# each would otherwise fault its pages in 4 KiB at a time.
HUGE_PAGES = {"THP_MEM_ALLOC_ENABLE": "1"}
# Descriptors beyond the connections: the model files, logs and the listening socket.
SPARE_FILES = 64


def tune(settings: Settings) -> None:
    """Set this process up to serve: torch threads for its share of the cores, a short switch
    interval, capped kernel caches, huge pages for large tensors and a fixed mmap threshold."""
    torch.set_num_threads(torch_threads(settings.torch_threads, settings.workers))
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # torch reads these when it builds its first kernel and makes its first allocation, both after
    # this (the models load next); an operator's own values win.
    for name, value in {**KERNEL_CACHES, **HUGE_PAGES}.items():
        os.environ.setdefault(name, value)
    memory.fix_mmap_threshold(settings.malloc_mmap_threshold)


def room_for_connections(connections: int) -> None:
    """Raise the open-file limit to its ceiling, so the connection cap, not the kernel, refuses."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if connections + SPARE_FILES > hard:
        logger.warning(
            "TEXTCNN_MAX_CONNECTIONS=%d is near the open-file limit of %d: connections beyond it fail "
            "without an answer; lower it or raise the limit",
            connections,
            hard,
        )
