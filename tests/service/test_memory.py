"""The fixed mmap threshold: glibc's adaptive one moves a freed large block's size class to the heap;
a fixed one keeps it mmapped (so freeing it hands the memory back)."""

import subprocess
import sys
import textwrap

import pytest

from service.memory import fix_mmap_threshold
from service.settings import Settings

# In a fresh interpreter: free an 8 MiB block (raising glibc's adaptive threshold to 8 MiB unless it
# is fixed), then report whether a 1 MiB block is served by mmap, from glibc's own accounting.
PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys
    from service.memory import fix_mmap_threshold
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    libc.mallinfo2.restype = Info
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    if sys.argv[1] == "fixed":
        assert fix_mmap_threshold(128 * 1024)
    libc.free(libc.malloc(8 << 20))
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(1 << 20)
    print("mmapped" if libc.mallinfo2().hblkhd - before >= 1 << 20 else "heap")
    libc.free(block)
    """
)


def probe(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_a_fixed_threshold_keeps_large_blocks_mmapped_after_a_larger_one_is_freed() -> None:
    assert probe("adaptive") == "heap"  # what fragments the heap without the setting
    assert probe("fixed") == "mmapped"


def test_zero_leaves_glibc_alone_and_the_setting_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fix_mmap_threshold(0) is False
    assert Settings().malloc_mmap_threshold == 2 * 1024 * 1024
    monkeypatch.setenv("TEXTCNN_MALLOC_MMAP_THRESHOLD", str(64 << 20))
    with pytest.raises(ValueError, match="less than or equal"):
        Settings()
