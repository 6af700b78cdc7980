"""Multi-label data, training, thresholds and figures, on the topic documents of tests/conftest.py."""

import io
import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss
from sklearn.preprocessing import MultiLabelBinarizer

from tests.conftest import TOPICS, document, rows, write
from textcnn.errors import InputError
from textcnn.predict import Predictor
from training import multilabel
from training.batch_predict import predict
from training.data import DataError, Fields, load_examples
from training.evaluate import evaluate
from training.run_config import TrainConfig
from training.train import train


def test_labels_come_as_lists_separated_strings_or_empty(tmp_path: Path) -> None:
    lists = write(
        tmp_path / "lists.jsonl",
        [
            {"text": "Wheat and oil.", "labels": ["grain", "oil", "grain"]},
            {"text": "Nothing applies.", "labels": []},
            {"text": "One as a string.", "labels": "oil"},
        ],
    )
    examples = load_examples(lists)  # the "labels" column, for want of "label"
    assert [e.labels for e in examples] == [("grain", "oil"), (), ("oil",)]
    assert all(e.label is None and e.labelled for e in examples)
    csv = tmp_path / "topics.csv"
    csv.write_text('text,topics\nWheat and oil.,grain| oil\n"Nothing applies.",\n', encoding="utf-8")
    separated = load_examples(str(csv), fields=Fields(label="topics", label_separator="|"))
    assert [e.labels for e in separated] == [("grain", "oil"), ()]


def test_a_list_of_something_else_names_the_row(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.jsonl", [{"text": "A.", "labels": ["a"]}, {"text": "B.", "labels": [{"x": 1}]}]
    )
    with pytest.raises(DataError, match=r"bad.jsonl row 2: 'labels' lists a dict"):
        load_examples(bad)


def test_thresholds_are_chosen_per_label_and_rare_labels_share_one() -> None:
    rng = np.random.default_rng(0)
    gold = np.zeros((200, 3), dtype=bool)
    gold[:80, 0] = True  # common: positives score 0.3-0.4, negatives 0-0.2
    gold[:3, 2] = True  # rare: too few dev documents for a threshold of its own
    probabilities = rng.uniform(0.0, 0.2, size=(200, 3))
    probabilities[:80, 0] = rng.uniform(0.3, 0.4, size=80)
    probabilities[:100, 1] = rng.uniform(0.6, 0.7, size=100)
    gold[:100, 1] = True
    probabilities[:3, 2] = 0.9
    thresholds, record = multilabel.learn_thresholds(probabilities, gold)
    assert 0.2 < thresholds[0] <= 0.3  # below 0.5: the common label's scores run low
    assert 0.2 < thresholds[1] <= 0.6
    assert thresholds[2] == record["global"] and record["own_thresholds"] == 2
    assert record["dev_micro_f1"] == 1.0 > record["dev_micro_f1_at_0.5"]


def test_figures_match_scikit_learn() -> None:
    gold = [{"a", "b"}, {"a"}, set(), {"c"}, {"b", "c"}]
    predicted = [{"a"}, {"a", "c"}, set(), {"c"}, {"d"}]
    labels = sorted({"a", "b", "c", "d"})
    binarize = MultiLabelBinarizer(classes=labels)
    y_true, y_pred = binarize.fit_transform(gold), binarize.transform(predicted)
    figures = multilabel.figures(predicted, gold)
    assert figures["micro_f1"] == round(100 * f1_score(y_true, y_pred, average="micro"), 2)
    assert figures["macro_f1"] == round(100 * f1_score(y_true, y_pred, average="macro"), 2)
    # both sets empty is a perfect document (scikit-learn's zero_division=1)
    assert figures["samples_f1"] == round(
        100 * f1_score(y_true, y_pred, average="samples", zero_division=1), 2
    )
    assert figures["hamming_loss"] == round(100 * hamming_loss(y_true, y_pred), 2)
    assert figures["subset_accuracy"] == 40.0


def test_training_learns_the_topics_and_their_thresholds(
    multilabel_dir: Path, topic_data: dict[str, str]
) -> None:
    config = json.loads((multilabel_dir / "config.json").read_text())
    assert config["model"]["multi_label"] and config["labels"] == sorted(TOPICS)
    assert len(config["thresholds"]) == len(TOPICS)
    metrics = json.loads((multilabel_dir / "metrics.json").read_text())
    assert metrics["thresholds"]["dev_micro_f1"] >= metrics["thresholds"]["dev_micro_f1_at_0.5"]
    assert "dev_micro_f1" in metrics["bag_stage"] and "dev_confusion" not in metrics
    card = (multilabel_dir / "README.md").read_text()
    assert "Thresholds learned on dev" in card
    predictor = Predictor.load(multilabel_dir)
    figures = evaluate(predictor, load_examples(topic_data["test"]), unknown_labels=None)
    assert figures["micro_f1"] > 90, figures
    assert {"macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"} <= set(figures)


def test_classify_chooses_labels_above_their_thresholds(multilabel_dir: Path) -> None:
    predictor = Predictor.load(multilabel_dir)
    rng = random.Random(7)
    both = document(rng, ["grain", "ships"])
    neither = "The a report said on monday officials that in of week market new."
    result, empty = predictor.classify([both, neither])
    assert result.labels is not None and set(result.labels) == {"grain", "ships"}
    assert list(result.labels.values()) == sorted(result.labels.values(), reverse=True)
    assert len(result.scores) == len(TOPICS)  # every label's probability, as for single-label models
    assert empty.labels == {}
    (kept,) = predictor.classify([neither], at_least_one=True)
    assert kept.labels is not None and list(kept.labels) == [kept.label]
    (everything,) = predictor.classify([neither], threshold=0.0)
    assert everything.labels is not None and set(everything.labels) == set(TOPICS)
    with pytest.raises(InputError, match="threshold must be in"):
        predictor.classify([neither], threshold=1.5)


def test_batch_prediction_writes_the_chosen_labels(multilabel_dir: Path, topic_data: dict[str, str]) -> None:
    records = [json.loads(line) for line in Path(topic_data["test"]).read_text().splitlines()][:12]
    predictor = Predictor.load(multilabel_dir)
    out = io.StringIO()
    predict(predictor, iter(records), out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    chosen = predictor.classify([r["text"] for r in records])
    assert [line["labels"] for line in lines] == [
        {k: round(p, 5) for k, p in (c.labels or {}).items()} for c in chosen
    ]
    assert any(len(line["labels"]) > 1 for line in lines)


def test_single_label_models_refuse_thresholds_and_answer_as_before(bbc_model_dir: Path) -> None:
    predictor = Predictor.load(bbc_model_dir)
    (result,) = predictor.classify(["Shares rose on the stock market today."])
    assert result.labels is None and abs(sum(result.scores.values()) - 1) < 1e-5
    with pytest.raises(InputError, match="multi-label models"):
        predictor.classify(["Shares rose."], threshold=0.5)


def test_dev_labels_unseen_in_training_are_left_out_with_a_warning(
    topic_data: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dev = [*rows(20, seed=4), {"text": "Gold and silver prices rose.", "labels": ["gold", "grain"]}]
    config = TrainConfig(
        train=topic_data["train"],
        dev=write(tmp_path / "dev.jsonl", dev),
        out=str(tmp_path / "model"),
        vectors="none",
        embedding_mode="rand",
        embedding_dim=8,
        num_filters=4,
        epochs=1,
        bag_of_words=False,
        quiet=True,
    )
    with caplog.at_level(logging.WARNING, logger="training.run_data"):
        train(config)
    assert "dev labels ['gold'] never occur in the training data: left out of 1 dev rows" in caplog.text


def test_exclusive_labels_still_refuse_an_unseen_dev_label(tmp_path: Path) -> None:
    records = [{"text": f"Text number {i}.", "label": "ab"[i % 2]} for i in range(8)]
    config = TrainConfig(
        train=write(tmp_path / "train.jsonl", records),
        dev=write(tmp_path / "dev.jsonl", [{"text": "Another.", "label": "c"}]),
        out=str(tmp_path / "model"),
        vectors="none",
        quiet=True,
    )
    with pytest.raises(DataError, match=r"dev labels \['c'\] never occur"):
        train(config)
