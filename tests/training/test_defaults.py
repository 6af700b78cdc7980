"""The training defaults: the recipe BENCHMARKS.md measures, and the choices it makes from the data
and the installed packages."""

import json
import logging
from pathlib import Path

import pytest

from textcnn.predict import Predictor
from training import run_config
from training.cli import parse_args
from training.data import DataError, Example
from training.distill import DEFAULT_PACKAGE
from training.run_config import TrainConfig, document_pooling, embedding_mode, vector_source
from training.run_data import for_task
from training.train import train

BASE = ["--train", "train.jsonl", "--out", "out"]


def test_no_flags_give_the_benchmarked_recipe() -> None:
    config = parse_args(BASE)
    recipe = (config.embedding_mode, config.vectors, config.document_pooling, config.bag_of_words)
    assert recipe == ("multichannel", "auto", "auto", True)
    assert (config.batch_size, config.epochs, config.patience, config.lowercase) == (50, 15, 2, False)
    assert config.word_pair_buckets == 262_144 and config.class_weight == "none"


def test_auto_vectors_are_the_installed_sentence_transformer() -> None:
    config = parse_args(BASE)
    assert vector_source(config, embedding_mode(config)) == DEFAULT_PACKAGE
    for opt_out in (["--vectors", "none"], ["--embedding-mode", "rand"]):
        chosen = parse_args([*BASE, *opt_out])
        assert vector_source(chosen, embedding_mode(chosen)) is None, opt_out
    named = parse_args([*BASE, "--vectors", DEFAULT_PACKAGE, "--embedding-mode", "static"])
    assert vector_source(named, "static") == DEFAULT_PACKAGE


def test_without_the_package_auto_falls_back_with_a_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(run_config, "sentence_transformer_folder", lambda spec: None)
    config = parse_args(BASE)
    with caplog.at_level(logging.INFO, logger="training.run_config"):
        assert vector_source(config, embedding_mode(config)) is None
    assert f"{DEFAULT_PACKAGE} is not installed: training in-domain word2vec vectors" in caplog.text


def test_auto_pooling_follows_the_documents_sentences() -> None:
    sentences = [Example(text="A short question about rivers?", label="q")] * 3
    articles = [Example(text="First sentence here. Second one there. A third.", label="a")] * 3
    assert document_pooling("auto", sentences) == "max"
    assert document_pooling("auto", articles) == "max+mean"
    assert document_pooling("max", articles) == "max"
    with pytest.raises(SystemExit):
        parse_args([*BASE, "--document-pooling", "mean"])


def test_a_summarization_only_run_has_no_bag_of_words(tmp_path: Path, data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "bbc_train.jsonl").read_text().splitlines()[:12]]
    summaries = tmp_path / "summaries.jsonl"
    summaries.write_text(
        "".join(json.dumps({"text": r["text"], "summary": r["summary"]}) + "\n" for r in rows)
    )
    config = TrainConfig(
        train=str(summaries),
        out=str(tmp_path / "model"),
        embedding_mode="rand",
        embedding_dim=16,
        num_filters=8,
        context_dim=8,
        min_freq=1,
        max_steps=2,
        scorer_epochs=0,
        quiet=True,
    )
    assert config.bag_of_words  # the default, which a model without classes cannot use
    predictor = Predictor.load(train(config))
    assert not predictor.can_classify and not predictor.model.config.bag_of_words
    assert predictor.summarize([rows[0]["text"]])[0].sentences


def test_the_task_can_be_one_of_what_the_data_holds() -> None:
    rows = [
        Example(text="a", label="x", summary="s"),
        Example(text="b", label="y"),
        Example(text="c", summary="t"),
    ]
    assert for_task(rows, "auto", "d") == rows
    assert for_task(rows, "classify", "d") == [Example(text="a", label="x"), Example(text="b", label="y")]
    assert for_task(rows, "summarize", "d") == [
        Example(text="a", summary="s"),
        Example(text="c", summary="t"),
    ]
    with pytest.raises(DataError, match="--task summarize needs rows with a summary"):
        for_task(rows[1:2], "summarize", "d")
