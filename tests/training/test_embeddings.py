"""Word vectors (in-domain gensim training, pretrained files in every supported format), their
coverage, and Kim's four embedding modes in the encoder and in training."""

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from textcnn import Predictor
from textcnn.config import ModelConfig
from textcnn.encoder import KimEncoder
from textcnn.vocab import Vocabulary
from training.cli import parse_args
from training.data import DataError
from training.embeddings import (
    UNIFORM_RANGE,
    embedding_matrix,
    load_vectors,
    read_unlabeled,
    train_vectors,
)
from training.run_config import TrainConfig
from training.train import train

VECTORS = {"what": [1.0, 0.0, 0.5], "is": [0.0, 1.0, -0.5], "the": [0.25, 0.25, 0.25]}


def _keyed() -> object:
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(vector_size=3)
    keyed.add_vectors(list(VECTORS), np.array(list(VECTORS.values()), dtype=np.float32))
    return keyed


def _text_lines(header: bool) -> str:
    lines = [f"{w} " + " ".join(str(x) for x in v) for w, v in VECTORS.items()]
    return "\n".join(([f"{len(VECTORS)} 3"] if header else []) + lines) + "\n"


def _write_vectors(tmp_path: Path, kind: str) -> Path:
    if kind == "glove":
        path = tmp_path / "glove.txt"
        path.write_text(_text_lines(header=False))
    elif kind == "word2vec-text":
        path = tmp_path / "vectors.txt"
        path.write_text(_text_lines(header=True))
    elif kind == "fasttext-vec-gz":
        path = tmp_path / "cc.vec.gz"
        with gzip.open(path, "wt") as handle:
            handle.write(_text_lines(header=True))
    elif kind == "word2vec-bin":
        path = tmp_path / "vectors.bin"
        _keyed().save_word2vec_format(str(path), binary=True)  # type: ignore[attr-defined]
    else:
        path = tmp_path / "vectors.kv"
        _keyed().save(str(path))  # type: ignore[attr-defined]
    return path


@pytest.mark.parametrize("kind", ["glove", "word2vec-text", "fasttext-vec-gz", "word2vec-bin", "gensim"])
def test_every_pretrained_format_loads_the_same_vectors(tmp_path: Path, kind: str) -> None:
    vectors = load_vectors(_write_vectors(tmp_path, kind))
    assert vectors.dim == 3 and len(vectors) == 3
    for word, expected in VECTORS.items():
        assert vectors.get(word) == pytest.approx(expected)
    assert vectors.get("unseen") is None


def test_a_whole_gensim_model_file_loads_its_vectors(tmp_path: Path) -> None:
    from gensim.models import Word2Vec

    model = Word2Vec([["a", "b", "c"]] * 5, vector_size=4, min_count=1, seed=1, workers=1)
    model.save(str(tmp_path / "w2v.model"))
    vectors = load_vectors(tmp_path / "w2v.model")
    assert vectors.dim == 4
    assert vectors.get("b") == pytest.approx(model.wv["b"])


def test_unreadable_vector_files_raise_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="expected a word-vector file"):
        load_vectors(tmp_path / "missing.vec")
    broken = tmp_path / "broken.txt"
    broken.write_text("2 3\nword 1 2\n")
    with pytest.raises(DataError, match="cannot be read as word vectors"):
        load_vectors(broken)


def test_fasttext_gives_unseen_words_a_vector_from_subwords() -> None:
    sentences = [["running", "runner", "runs", "fast"], ["walking", "walker", "walks", "slow"]] * 20
    fasttext = train_vectors(sentences, method="fasttext", dim=8, seed=1)
    word2vec = train_vectors(sentences, method="word2vec", dim=8, seed=1)
    assert fasttext.get("runnings") is not None
    assert word2vec.get("runnings") is None
    assert word2vec.get("runner") is not None


def test_in_domain_training_repeats_with_a_seed() -> None:
    sentences = [["a", "b", "c", "d"], ["b", "c", "a"]] * 10
    for method in ("word2vec", "cbow", "fasttext"):
        first = train_vectors(sentences, method=method, dim=5, seed=3)
        second = train_vectors(sentences, method=method, dim=5, seed=3)
        assert first.get("a") == pytest.approx(second.get("a"))


def test_embedding_matrix_coverage_and_kims_init() -> None:
    vocab = Vocabulary.build([["what", "is", "the", "zebra", "zebra"]], min_freq=1)
    counts = Counter({"what": 1, "is": 1, "the": 2, "zebra": 4, "dropped": 2})
    vectors = load_vectors_from(VECTORS)
    matrix, coverage = embedding_matrix(vocab, 3, seed=0, vectors=vectors, token_counts=counts)
    assert coverage.vocabulary == pytest.approx(3 / 4)
    assert coverage.tokens == pytest.approx(4 / 10)
    assert matrix[vocab.encode(["is"])[0]].tolist() == pytest.approx(VECTORS["is"])
    zebra = matrix[vocab.encode(["zebra"])[0]]
    assert bool((zebra.abs() <= UNIFORM_RANGE).all()) and bool(zebra.any())
    assert not matrix[0].any()  # padding


def load_vectors_from(table: dict[str, list[float]]) -> dict[str, np.ndarray]:
    return {w: np.array(v, dtype=np.float32) for w, v in table.items()}


def test_read_unlabeled_gives_tokenized_sentences(tmp_path: Path) -> None:
    path = tmp_path / "more.txt.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("First sentence here. Second one!\n\nAnother document\n")
    assert list(read_unlabeled(path, lowercase=True)) == [
        ["first", "sentence", "here", "."],
        ["second", "one", "!"],
        ["another", "document"],
    ]


def test_multichannel_is_two_channels_through_the_same_filters() -> None:
    torch.manual_seed(0)
    encoder = KimEncoder(10, embedding_dim=4, filter_widths=[2], num_filters=3, embedding_mode="multichannel")
    assert encoder.static_embedding is not None
    conv = encoder.convs[0]
    assert isinstance(conv, torch.nn.Conv1d)
    ids = torch.tensor([[2, 5, 7, 3]])
    tuned = encoder.embedding(ids).transpose(1, 2)
    frozen = encoder.static_embedding(ids).transpose(1, 2)
    # Kim: each filter applied to both channels and the results added (the bias once).
    with torch.no_grad():
        by_channel = conv(tuned) + F.conv1d(frozen, conv.weight)
        expected = torch.relu(by_channel.amax(dim=2))
        assert torch.allclose(encoder(ids, torch.tensor([4])), expected, atol=1e-6)
    assert not encoder.static_embedding.weight.requires_grad and encoder.embedding.weight.requires_grad


def test_static_freezes_the_table_and_other_modes_tune_it() -> None:
    def tuned(mode: str) -> bool:
        return KimEncoder(10, 4, [2], 3, embedding_mode=mode).embedding.weight.requires_grad

    assert not tuned("static")
    assert tuned("rand") and tuned("non-static") and tuned("multichannel")


def test_model_directories_without_a_mode_load_as_non_static() -> None:
    config = ModelConfig(vocab_size=5, num_classes=2, summarize=False).to_dict()
    del config["embedding_mode"]
    assert ModelConfig.from_dict(config, version=1).embedding_mode == "non-static"  # before versions
    with pytest.raises(ValueError, match="embedding_mode"):
        ModelConfig(vocab_size=5, num_classes=2, summarize=False, embedding_mode="dynamic")


def test_mode_flags_are_checked() -> None:
    base = ["--train", "t.jsonl", "--out", "o"]
    assert parse_args([*base, "--embedding-mode", "rand"]).embedding_mode == "rand"
    for bad in (
        ["--embeddings", "random"],  # retired: --embedding-mode rand says it
        ["--embedding-mode", "rand", "--vectors", "v.txt"],
        ["--embeddings", "glove"],
        ["--optimizer", "adadelta"],  # retired: Adam is the one optimizer
        ["--oracle-targets", "ranked"],  # retired: targets are binary
    ):
        with pytest.raises(SystemExit):
            parse_args([*base, *bad])
    assert parse_args([*base, "--lr", "0.5"]).lr == 0.5


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["static", "multichannel"])
def test_training_with_pretrained_vectors(tmp_path: Path, data_dir: Path, mode: str) -> None:
    vectors = _write_vectors(tmp_path, "glove")
    out = train(
        TrainConfig(
            train=str(data_dir / "trec_train.jsonl"),
            out=str(tmp_path / "model"),
            vectors=str(vectors),
            embedding_mode=mode,
            num_filters=8,
            min_freq=1,
            epochs=2,
            batch_size=50,
            quiet=True,
        )
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["embedding_mode"] == mode and metrics["vectors"] == str(vectors)
    assert 0 < metrics["embedding_coverage"]["vocabulary"] < 0.01
    assert 0.05 < metrics["embedding_coverage"]["tokens"] < 0.5  # "what", "is", "the" are frequent
    assert "3-d embeddings" in (out / "README.md").read_text()
    predictor = Predictor.load(out)
    encoder = predictor.model.encoder
    what = predictor.vocab.encode(["what"])[0]
    frozen = encoder.static_embedding if mode == "multichannel" else encoder.embedding
    assert frozen is not None
    assert frozen.weight[what].tolist() == pytest.approx(VECTORS["what"])  # never tuned
    if mode == "multichannel":
        assert encoder.embedding.weight[what].tolist() != pytest.approx(VECTORS["what"])
