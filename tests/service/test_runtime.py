"""Process tuning: what runtime.tune sets for a serving process, and that an operator's own kernel
cache sizes win."""

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from service import runtime
from service.settings import Settings


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Undo what tune changes in this process: torch threads, switch interval, environment."""
    threads, interval = torch.get_num_threads(), sys.getswitchinterval()
    for name in {**runtime.KERNEL_CACHES, **runtime.HUGE_PAGES}:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    torch.set_num_threads(threads)
    sys.setswitchinterval(interval)


def test_tune_sets_threads_switch_interval_and_kernel_caches(restored: pytest.MonkeyPatch) -> None:
    restored.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")  # the operator's value
    runtime.tune(Settings(torch_threads=1, malloc_mmap_threshold=0))
    assert torch.get_num_threads() == 1
    assert sys.getswitchinterval() == pytest.approx(runtime.SWITCH_INTERVAL_S)
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "64"
    assert os.environ["LRU_CACHE_CAPACITY"] == "16"


def test_room_for_connections_raises_the_soft_limit_to_the_hard_one(caplog: pytest.LogCaptureFixture) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard open-file limit to raise the soft one to")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        runtime.room_for_connections(10)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        assert not caplog.records
        runtime.room_for_connections(hard)
        assert "near the open-file limit" in caplog.text
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
# In a fresh interpreter, as a worker starts: the app module, the lifespan's tuning, then a tensor of
# a batch's size.
SERVING = """
import os, torch, service.main
from service import runtime
runtime.tune(service.main.settings)
block = torch.ones(6 << 20, dtype=torch.uint8)
with open("/proc/self/smaps_rollup") as f:
    huge = sum(int(line.split()[1]) for line in f if line.startswith("AnonHugePages"))
print(os.environ["THP_MEM_ALLOC_ENABLE"], huge > 0)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's transparent huge pages")
@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("0", "0")])
def test_the_app_asks_torch_for_huge_pages_before_its_first_allocation(
    given: str | None, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if given is not None:
        env["THP_MEM_ALLOC_ENABLE"] = given  # the operator's own value wins
    command = [sys.executable, "-c", SERVING]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    setting, huge = done.stdout.split()
    assert setting == expected
    if given is None and THP.exists() and "[never]" not in THP.read_text():
        assert huge == "True"
