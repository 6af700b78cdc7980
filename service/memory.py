"""Keep the worker's resident memory flat under a stream of differently shaped forward passes.

glibc serves a large allocation with its own mmap and unmaps it on free, but only above an adaptive
threshold: every such free raises the threshold to that size (up to 32 MiB). After a few forward
passes the multi-megabyte activations of a batch come from the heap instead, and since every pass
has other shapes, the freed blocks fragment the heap and RSS creeps up for minutes. A fixed
threshold keeps them mmapped: freed activations go straight back to the system (RELIABILITY.md).
The default, 2 MiB, sits above a one-article pass's largest tensor (the encoder's window sums of
every filter width, about a megabyte for a news article), which then reuses heap blocks instead of
faulting in fresh pages every pass.
"""

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def fix_mmap_threshold(size: int) -> bool:
    """Serve allocations of `size` bytes and more with mmap, and stop glibc from raising that bar.
    Returns whether it took effect (False off glibc, or for size 0, which leaves glibc's default)."""
    if size <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        logger.info("malloc threshold not set: no glibc mallopt here")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, size))
