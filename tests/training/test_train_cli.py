"""The training and evaluation commands end to end on small real slices."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from textcnn import Predictor

pytestmark = pytest.mark.slow


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600)


def test_evaluate_prints_one_json_object(bbc_model_dir: Path, data_dir: Path) -> None:
    result = run(
        "training.evaluate",
        "--model",
        str(bbc_model_dir),
        "--data",
        str(data_dir / "bbc_dev.jsonl"),
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n_docs"] == 20
    for key in ("accuracy", "macro_f1", "rouge1", "rouge2", "rougeLsum"):
        assert 0 <= metrics[key] <= 1  # fractions, as in metrics.json and /v1/model
    assert set(metrics["lead3"]) == {"rouge1", "rouge2", "rougeLsum"}
    assert metrics["rouge1"] > 0.3  # real overlap with the reference summaries, not noise


def test_evaluate_length_flags(bbc_model_dir: Path, data_dir: Path) -> None:
    data = str(data_dir / "bbc_dev.jsonl")
    short = json.loads(
        run(
            "training.evaluate",
            "--model",
            str(bbc_model_dir),
            "--data",
            data,
            "--max-sentences",
            "1",
        ).stdout
    )
    long = json.loads(
        run("training.evaluate", "--model", str(bbc_model_dir), "--data", data, "--ratio", "0.5").stdout
    )
    assert short["rouge1"] < long["rouge1"]


def test_trec_classification_only(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "trec"
    trained = run(
        "training.train",
        "--train",
        str(data_dir / "trec_train.jsonl"),
        "--out",
        str(out),
        "--embeddings",
        "word2vec",
        "--embedding-dim",
        "32",
        "--num-filters",
        "32",
        *("--epochs", "8", "--patience", "8", "--lr", "0.005", "--batch-size", "16"),
        *("--min-freq", "1", "--seed", "5", "--quiet", "--bag-of-words", "--word-pair-buckets", "4096"),
    )
    assert trained.returncode == 0, trained.stderr
    predictor = Predictor.load(out)
    assert predictor.can_classify and not predictor.can_summarize
    assert not predictor.model.config.graph_centrality  # a scorer feature, and there is no scorer
    # document frequencies of the hashed word pairs: most slots stay empty, the seen ones are rarer
    # than their words
    pair_idf = predictor.model.pair_idf
    assert 0 < int((pair_idf < pair_idf.max()).sum()) < 4096
    assert predictor.model.config.wide_convolution
    card = (out / "README.md").read_text()
    assert "adjacent word pairs in 4096 hashed slots" in card
    assert "wide filters [3, 4, 5] x 32" in card
    stage = json.loads((out / "metrics.json").read_text())["bag_stage"]
    assert f"weighed {stage['alpha']:g} x words + {stage['beta']:g} x CNN" in card
    terms = {"nb": "naive Bayes-weighted TF-IDF terms", "tfidf": "regression over TF-IDF terms"}
    assert terms[stage["weighting"]] in card
    assert stage["dev_log_loss"] <= stage["dev_log_loss_cnn"]
    assert predictor.info.labels == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    config = tomllib.loads((out / "training.toml").read_text())
    assert config["embeddings"] == "word2vec" and "dev" not in config  # None is left out
    metrics = json.loads(
        run("training.evaluate", "--model", str(out), "--data", str(data_dir / "trec_train.jsonl")).stdout
    )
    assert set(metrics) == {"n_docs", "accuracy", "macro_f1"}
    assert metrics["accuracy"] > 0.5  # well above the 27% majority class after a few epochs


@pytest.mark.parametrize("centrality", [True, False])
def test_summary_only_data(tmp_path: Path, data_dir: Path, centrality: bool) -> None:
    rows = [json.loads(line) for line in (data_dir / "bbc_train.jsonl").read_text().splitlines()]
    source = tmp_path / "summaries.jsonl"
    source.write_text(
        "".join(json.dumps({"text": r["text"], "summary": r["summary"]}) + "\n" for r in rows[:20])
    )
    out = tmp_path / "summarizer"
    trained = run(
        "training.train",
        "--train",
        str(source),
        "--out",
        str(out),
        "--embedding-mode",
        "rand",
        "--embedding-dim",
        "16",
        "--num-filters",
        "8",
        "--max-steps",
        "3",
        "--quiet",
        *([] if centrality else ["--no-graph-centrality", "--narrow-convolution"]),
    )
    assert trained.returncode == 0, trained.stderr
    predictor = Predictor.load(out)
    assert predictor.can_summarize and not predictor.can_classify
    assert predictor.model.config.graph_centrality is centrality
    assert predictor.model.config.wide_convolution is centrality  # on unless --narrow-convolution
    assert ("TextRank-style graph centrality" in (out / "README.md").read_text()) is centrality
    assert len(predictor.summarize([rows[0]["text"]])[0].sentences) >= 1
    assert 0 < predictor.info.summary_length.ratio <= 1
    # the ranking rule was chosen on the held-out dev rows and written down with the model
    assert json.loads((out / "config.json").read_text())["selection"] == predictor.info.selection
    assert "the rule with the higher dev ROUGE-1" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"body": "x", "label": "a"}], "no 'text' field"),
        ([{"text": "", "label": "a"}], "no usable rows"),
        ([{"text": "x", "label": "a"}, {"text": "y", "label": "a"}], "at least two classes"),
    ],
)
def test_bad_data_fails_with_a_clear_message(
    tmp_path: Path, rows: list[dict[str, str]], message: str
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run("training.train", "--train", str(source), "--out", str(tmp_path / "m"), "--quiet")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unseen_dev_labels_are_refused(tmp_path: Path, data_dir: Path) -> None:
    dev = tmp_path / "dev.jsonl"
    dev.write_text(json.dumps({"text": "What is it?", "label": "NEW"}) + "\n")
    result = run(
        "training.train",
        "--train",
        str(data_dir / "trec_train.jsonl"),
        "--dev",
        str(dev),
        "--out",
        str(tmp_path / "m"),
        "--quiet",
    )
    assert result.returncode != 0 and "['NEW'] never occur in the training data" in result.stderr
