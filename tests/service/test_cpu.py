"""Torch threads per worker follow the cores the process may use: affinity mask and cgroup quota."""

import os
from pathlib import Path

import pytest

from service import cpu
from service.cpu import available_cores, torch_threads

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "cores"),
    [
        ("max 100000\n", AFFINITY),
        ("50000 100000\n", 1),  # half a core still gets one thread
        (f"{AFFINITY * 100000 + 1} 100000\n", AFFINITY),  # a quota above the mask does not add cores
        ("garbage", AFFINITY),
    ],
)
def test_the_cgroup_quota_caps_the_affinity_mask(tmp_path: Path, cpu_max: str, cores: int) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert available_cores(path) == cores


def test_no_cgroup_file_means_the_affinity_mask(tmp_path: Path) -> None:
    assert available_cores(tmp_path / "missing") == AFFINITY


def test_workers_share_the_cores_and_a_setting_wins() -> None:
    assert torch_threads(3, workers=8) == 3
    assert torch_threads(None, workers=10**6) == 1
    assert torch_threads(None, workers=1) == max(1, available_cores() - 1)  # a core for the Python


@pytest.mark.parametrize(
    ("cores", "workers", "threads"), [(2, 1, 1), (8, 1, 7), (8, 2, 3), (4, 4, 1), (1, 1, 1)]
)
def test_each_worker_leaves_a_core_to_its_python(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr(cpu, "available_cores", lambda: cores)
    assert torch_threads(None, workers=workers) == threads
