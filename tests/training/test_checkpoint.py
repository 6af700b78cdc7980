"""Seeded runs repeat exactly, and a run stopped by Ctrl-C resumes to the same model."""

import signal
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import training.trainer
from textcnn import artifact
from training import checkpoint
from training.cli import main
from training.data import DataError
from training.interrupt import Interrupted
from training.run_config import TrainConfig
from training.train import train
from training.workspace import work_folder

pytestmark = pytest.mark.slow


def trec_config(data_dir: Path, out: Path) -> TrainConfig:
    """Three short epochs of 17 batches on 270 TREC questions (30 held out)."""
    return TrainConfig(
        train=str(data_dir / "trec_train.jsonl"),
        out=str(out),
        embedding_mode="rand",
        embedding_dim=16,
        num_filters=8,
        min_freq=1,
        epochs=3,
        patience=3,
        batch_size=16,
        lr=0.005,
        seed=5,
        quiet=True,
    )


def interrupt_at(monkeypatch: pytest.MonkeyPatch, steps: Sequence[int]) -> None:
    """Send this process a real SIGINT during the given (1-based) training steps."""
    loss = training.trainer.training_loss
    calls = {"n": 0}

    def counting(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] in steps:
            signal.raise_signal(signal.SIGINT)
        return loss(*args)

    monkeypatch.setattr(training.trainer, "training_loss", counting)


def metrics(out: Path) -> dict[str, Any]:
    return artifact.read_extra(out, "metrics.json")


def test_same_seed_same_numbers_and_resume_matches(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = metrics(train(trec_config(data_dir, tmp_path / "a")))
    again = metrics(train(trec_config(data_dir, tmp_path / "b")))
    assert again["history"] == first["history"]
    assert again["replica_sha256"] == first["replica_sha256"]  # bit-identical weights

    # Ctrl-C mid epoch 1, resume, Ctrl-C at the end of epoch 2's last step, resume to the end.
    config = trec_config(data_dir, tmp_path / "c")
    interrupt_at(monkeypatch, [5])
    with pytest.raises(Interrupted, match="in epoch 1 after batch 5 of 17") as stopped:
        train(config)
    assert Path(stopped.value.checkpoint) == checkpoint.path(work_folder(config.out))
    interrupt_at(monkeypatch, [17 - 5 + 17])  # steps count from the resume
    with pytest.raises(Interrupted, match="in epoch 2 after batch 17 of 17"):
        train(replace(config, resume=True))
    monkeypatch.undo()
    resumed = metrics(train(replace(config, resume=True)))
    assert resumed["history"] == first["history"]
    assert resumed["replica_sha256"] == first["replica_sha256"]
    assert not checkpoint.path(config.out).exists()  # removed once the run finished
    lines = (Path(config.out) / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(first["history"])  # no duplicate epochs after two resumes


def test_resume_refuses_another_run(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = trec_config(data_dir, tmp_path / "m")
    with pytest.raises(DataError, match="no checkpoint"):
        train(replace(config, resume=True))
    interrupt_at(monkeypatch, [2])
    with pytest.raises(Interrupted):
        train(config)
    monkeypatch.undo()
    with pytest.raises(DataError, match=r"other settings \(batch_size, lr\)"):
        train(replace(config, resume=True, lr=0.01, batch_size=8))


def test_ctrl_c_message_says_how_to_resume(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m"
    args = ["--train", str(data_dir / "trec_train.jsonl"), "--out", str(out), "--embedding-mode", "rand"]
    args += ["--embedding-dim", "8", "--num-filters", "4", "--quiet"]
    interrupt_at(monkeypatch, [3])
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 130
    message = capsys.readouterr().err
    assert f"checkpoint saved to {work_folder(out) / 'checkpoint.pt'}" in message
    assert message.rstrip().endswith("--quiet --resume")
    assert checkpoint.path(work_folder(out)).is_file() and not out.exists()
