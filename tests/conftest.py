"""Shared fixtures: a small model trained once per session on real BBC articles."""

from pathlib import Path

import pytest

from training.train import TrainConfig, train

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def bbc_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Multi-task model: 60 BBC articles, small network, a few epochs (seconds on a CPU)."""
    out = tmp_path_factory.mktemp("models") / "bbc-small"
    config = TrainConfig(
        train=str(DATA / "bbc_train.jsonl"),
        dev=str(DATA / "bbc_dev.jsonl"),
        out=str(out),
        embeddings="random",
        embedding_dim=32,
        num_filters=16,
        context_dim=16,
        min_freq=1,
        epochs=15,
        patience=15,
        batch_size=8,
        lr=3e-3,
        quiet=True,
    )
    return train(config)
