"""Shared fixtures: a small model trained once per session on real BBC articles, and a multi-label one
on topic documents made here; and a free loopback port for the tests that start servers."""

import json
import random
import socket
from pathlib import Path

import pytest

from training.run_config import TrainConfig
from training.train import train

DATA = Path(__file__).parent / "data"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
        embedding_mode="rand",
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


TOPICS = {
    "grain": "wheat harvest barley farmers tonnes silo",
    "oil": "crude barrel refinery opec pipeline drilling",
    "money": "dollar currency exchange central bank rates",
    "ships": "port vessel cargo tanker freight docks",
}
FILLER = [
    "the",
    "a",
    "report",
    "said",
    "on",
    "monday",
    "officials",
    "that",
    "in",
    "of",
    "week",
    "market",
    "new",
]


def document(rng: random.Random, topics: list[str]) -> str:
    """Two to four sentences of filler words with two words of each topic in each."""
    sentences = []
    for _ in range(rng.randint(2, 4)):
        words = rng.sample(FILLER, 6)
        for topic in topics:
            words += rng.sample(TOPICS[topic].split(), 2)
        rng.shuffle(words)
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def rows(count: int, seed: int) -> list[dict[str, object]]:
    """Topic documents with none, one, two or three topics, and those topics as their labels."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        topics = sorted(rng.sample(sorted(TOPICS), rng.choice([0, 1, 1, 2, 2, 3])))
        made.append({"text": document(rng, topics), "labels": topics})
    return made


def write(path: Path, records: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def topic_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Multi-label topic documents: each row's labels are the topics its words come from (maybe none)."""
    folder = tmp_path_factory.mktemp("multilabel")
    return {
        "train": write(folder / "train.jsonl", rows(160, seed=1)),
        "dev": write(folder / "dev.jsonl", rows(60, seed=2)),
        "test": write(folder / "test.jsonl", rows(60, seed=3)),
    }


@pytest.fixture(scope="session")
def multilabel_dir(topic_data: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multi-label model of the topic documents, with its bag of words and learned thresholds."""
    config = TrainConfig(
        train=topic_data["train"],
        dev=topic_data["dev"],
        out=str(tmp_path_factory.mktemp("models") / "topics"),
        vectors="none",
        embedding_mode="rand",
        embedding_dim=16,
        num_filters=8,
        min_freq=1,
        epochs=6,
        patience=6,
        batch_size=16,
        lr=3e-3,
        word_pair_buckets=1024,
        quiet=True,
    )
    return train(config)
