"""Data-parallel training: sharding, and a 2-process gloo run under torchrun against one process."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from textcnn import artifact
from training.distributed import World, shard
from training.run_config import TrainConfig
from training.train import train


def test_shards_cover_a_batch_evenly() -> None:
    batch = list(range(7))
    parts = [shard(batch, World(rank, 3)) for rank in range(3)]
    assert parts == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]  # padded by wrapping, like DistributedSampler
    assert set().union(*parts) == set(batch)
    assert [shard([9], World(rank, 2)) for rank in range(2)] == [[9], [9]]  # never empty
    assert shard(batch, World()) == batch


@pytest.mark.slow
def test_two_gloo_processes_agree_and_match_one(tmp_path: Path, data_dir: Path) -> None:
    settings = {"embedding_dim": 32, "num_filters": 32, "epochs": 6, "patience": 6, "lr": 0.005}
    settings |= {"batch_size": 16, "min_freq": 1, "seed": 5, "threads": 1}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    source = str(data_dir / "trec_train.jsonl")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "training.train", "--train", source, "--out", str(tmp_path / "ddp")]
    command += ["--embedding-mode", "rand", "--quiet", *flags]
    environment = os.environ | {"OMP_NUM_THREADS": "1"}
    # A session of its own, so a hang can be ended with torchrun's workers rather than without them.
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        start_new_session=True,
    ) as process:
        try:
            _, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert process.returncode == 0, stderr[-3000:]
    ddp = artifact.read_extra(tmp_path / "ddp", "metrics.json")
    single_dir = train(
        TrainConfig(train=source, out=str(tmp_path / "one"), embedding_mode="rand", quiet=True, **settings)
    )
    single = artifact.read_extra(single_dir, "metrics.json")

    assert ddp["processes"] == 2
    first, second = ddp["replica_sha256"]
    assert first == second  # both ranks end with bit-identical parameters and buffers
    # Each global batch of 16 is split 8 + 8, so the run follows one process's optimization: the
    # loss curves stay close and dev accuracy (30 questions) within noise; both far above the 27%
    # majority class.
    for mine, theirs in zip(ddp["history"], single["history"], strict=True):
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=0.15)
    assert abs(ddp["dev"]["dev_accuracy"] - single["dev"]["dev_accuracy"]) <= 0.2
    assert min(ddp["dev"]["dev_accuracy"], single["dev"]["dev_accuracy"]) > 0.45
