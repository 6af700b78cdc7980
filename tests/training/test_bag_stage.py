"""The bag-of-words stage: a logistic regression fit apart from the CNN, folded into the model's own
weights, and weighed against the CNN by dev log loss."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from textcnn import Predictor
from textcnn.config import ModelConfig, ModelInfo
from textcnn.features import collate
from textcnn.model import TextCNN
from textcnn.tokenize import tokenize
from textcnn.vocab import Vocabulary
from training.bag_regression import nb_ratios
from training.bag_stage import ALPHA_GRID, BETA_GRID, C_GRID, WEIGHTINGS, fit_bag_of_words
from training.data import Example
from training.dev_choices import fit_bag_stage
from training.device import place
from training.encoding import TrainingDocument, corpus_idf

DATA = Path(__file__).parents[1] / "data" / "trec_train.jsonl"
CPU = place("cpu", "fp32")


def trec(classes: int) -> tuple[Predictor, list[TrainingDocument], list[TrainingDocument]]:
    """An untrained CNN with a bag of words and word pairs over real TREC questions of the most
    frequent `classes` labels, with their documents split 4:1 into train and dev."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    labels = sorted(label for label, _ in Counter(r["label"] for r in rows).most_common(classes))
    rows = [r for r in rows if r["label"] in labels]
    vocab = Vocabulary.build([(t for r in rows for t in tokenize(r["text"], lowercase=True))], min_freq=1)
    config = ModelConfig(
        len(vocab), classes, False, embedding_dim=8, num_filters=4, bag_of_words=True, word_pair_buckets=512
    )
    torch.manual_seed(0)
    predictor = Predictor(TextCNN(config), vocab, ModelInfo("trec", tuple(labels)))
    documents = [
        TrainingDocument(d, labels.index(r["label"]), None)
        for d, r in zip(predictor.prepare([r["text"] for r in rows]), rows, strict=True)
    ]
    idf = corpus_idf([d.document for d in documents], len(vocab), config.word_pair_buckets)
    with torch.no_grad():
        predictor.model.token_idf.copy_(idf[: len(vocab)])
        predictor.model.pair_idf.copy_(idf[len(vocab) :])
    cut = len(documents) * 4 // 5
    return predictor, documents[:cut], documents[cut:]


def logits(model: TextCNN, documents: list[TrainingDocument]) -> torch.Tensor:
    with torch.inference_mode():
        output = model.eval()(collate([d.document for d in documents]), score_sentences=False)
    assert output.class_logits is not None
    return output.class_logits


def regression_log_probs(
    x: np.ndarray, labels: list[int], x_dev: np.ndarray, c: float, weighting: str, classes: int
) -> np.ndarray:
    """The stage's regression written out on dense bags: scikit-learn's own probabilities, or for
    naive Bayes weighting the softmax of one regression per class over its scaled bags (one for two
    classes, its log-odds split as (-z/2, z/2))."""
    if weighting == "tfidf":
        return np.log(LogisticRegression(C=c, max_iter=2000).fit(x, labels).predict_proba(x_dev))
    y = np.array(labels)
    if classes == 2:
        r = nb_ratios(csr_matrix(x), y, 2)[0]
        z = LogisticRegression(C=c, max_iter=2000).fit(x * r, y).decision_function(x_dev * r)
        scores = np.stack([-z / 2, z / 2], axis=1)
    else:
        scores = np.stack(
            [
                LogisticRegression(C=c, max_iter=2000).fit(x * r, y == k).decision_function(x_dev * r)
                for k, r in enumerate(nb_ratios(csr_matrix(x), y, classes))
            ],
            axis=1,
        )
    return torch.log_softmax(torch.as_tensor(scores), dim=1).numpy()


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("classes", [2, 6])
def test_the_model_computes_the_chosen_mix_of_cnn_and_regression(classes: int, weighting: str) -> None:
    predictor, train, dev = trec(classes)
    model = predictor.model
    assert model.words is not None
    cnn = logits(model, dev)
    bags = model.bag_of_words(collate([d.document for d in train]))
    dev_bags = model.bag_of_words(collate([d.document for d in dev]))
    record = fit_bag_of_words(model, train, dev, placement=CPU, weightings=[weighting]).record
    assert record["weighting"] == weighting
    assert record["C"] in C_GRID and record["alpha"] in ALPHA_GRID and record["beta"] in BETA_GRID
    assert record["refit_docs"] == len(train) + len(dev)
    # The same regression, fit here on the dense bags of train and dev (the stage refits the chosen
    # setting on both), explains the model's logits exactly.
    x_dev = dev_bags.dense(len(dev), model.num_terms).numpy().astype(np.float64)
    x = np.vstack([bags.dense(len(train), model.num_terms).numpy().astype(np.float64), x_dev])
    labels = [d.label or 0 for d in train + dev]
    expected = regression_log_probs(x, labels, x_dev, record["C"], weighting, classes)
    mixed = logits(model, dev) - record["beta"] * cnn  # alpha * (regression logits), up to a shift
    if record["alpha"]:
        got = torch.log_softmax(mixed / record["alpha"], dim=1).numpy()
        # lbfgs stops within its tolerance, by a different path on sparse and dense bags
        np.testing.assert_allclose(got, expected, atol=1e-2)
        # Terms in no train or dev bag (most pair slots here) were left out of the fit: weight 0.
        absent = torch.as_tensor(~(x != 0).any(axis=0))
        assert absent.any() and not model.words.weight[:, absent].any()
    else:
        assert not model.words.weight.any()


def test_naive_bayes_ratios_by_hand() -> None:
    # Three documents over three terms; counts above one count once (the share of documents).
    x = csr_matrix(np.array([[2.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 3.0, 1.0]]))
    labels = np.array([0, 0, 1])
    inside, outside = np.array([1.0, 2.0, 2.0]), np.array([3.0, 1.0, 2.0])  # 1 + documents holding it
    expected = np.log(inside / inside.sum()) - np.log(outside / outside.sum())
    np.testing.assert_allclose(nb_ratios(x, labels, 2), [expected])
    # More classes: one row each, each class against the rest.
    three = nb_ratios(x, np.array([0, 1, 2]), 3)
    assert three.shape == (3, 3)
    first_in, first_out = np.array([2.0, 1.0, 2.0]), np.array([2.0, 2.0, 2.0])
    expected_first = np.log(first_in / first_in.sum()) - np.log(first_out / first_out.sum())
    np.testing.assert_allclose(three[0], expected_first)


def test_words_that_carry_the_label_are_used_and_the_dev_figures_are_the_choices() -> None:
    predictor, train, dev = trec(6)
    fit = fit_bag_of_words(predictor.model, train, dev, placement=CPU, refit=False)
    record = fit.record
    # An untrained CNN knows nothing, the questions' words a lot: the mix leans on the words.
    assert record["alpha"] > 0
    assert record["dev_accuracy_bag"] > record["dev_accuracy_cnn"] + 0.2
    # The CNN alone (alpha 0, beta 1) is on the grid, so the chosen mix is never worse on dev.
    assert record["dev_log_loss"] <= record["dev_log_loss_cnn"]
    labels = predictor.info.labels
    predicted = predictor.classify([d.document.text for d in dev])
    accuracy = np.mean([p.label == labels[d.label or 0] for p, d in zip(predicted, dev, strict=True)])
    # Without the refit on train and dev, the model is the chosen mix the dev figures describe.
    assert accuracy == pytest.approx(record["dev_accuracy"], abs=1e-5)  # rounded in the record
    # ... and the dev logits it hands on for later choices are that mix's.
    assert np.mean(fit.dev_logits.argmax(axis=1) == fit.dev_targets) == pytest.approx(accuracy)
    assert record["refit_docs"] is None
    assert [(t["weighting"], t["C"]) for t in record["trials"]] == [
        (w, c) for w in WEIGHTINGS for c in C_GRID
    ]


def test_without_labelled_dev_rows_the_words_stay_off(caplog: pytest.LogCaptureFixture) -> None:
    predictor, train, dev = trec(2)
    unlabelled = [Example(d.document.text, None, "a summary.") for d in dev]
    stage = fit_bag_stage(predictor.model, predictor, train, unlabelled, predictor.info.labels, CPU)
    assert stage is None
    assert predictor.model.words is not None and not predictor.model.words.weight.any()
    assert "no labelled dev rows" in caplog.text
