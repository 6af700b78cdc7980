"""The bag of words' own stage: after the CNN has trained, a logistic regression over the documents'
TF-IDF terms is fit on its own and then weighed against the CNN on dev.

Trained together with the CNN, the linear term learned little: the CNN fits the training set within
a few epochs, early stopping ends the run, and the term's weights are still far from their optimum
(on MR and SST-2 it moved dev accuracy by noise). Fit alone, the regression is a convex problem
that scikit-learn solves to its optimum, with its L2 strength chosen on dev. The two are then a
product of experts,

    class logits = beta * CNN logits + alpha * (W . bag + b),

with (weighting, C, alpha, beta) the choice from the grids below with the lowest dev log loss. The
regression is then refit with the chosen weighting and C on train and dev together, as a grid
search refits its best setting: dev was needed to choose, and its rows are a tenth more data for
the final weights (BENCHMARKS.md has the dev-only check). The dev figures the stage reports are the
chosen fit's, before the refit.
The weighting is the bag as it is or scaled term by term by naive Bayes log-count ratios (Wang &
Manning 2012, the NBSVM features): with p a class's document counts per term (how many of its
training documents hold the term) plus one, and q the same over the other classes' documents,
r = log(p / sum p) - log(q / sum q). Scaling x by r and fitting weights w is the same linear model as
weights w * r over x, so either way the weights fold into the model unchanged. Two classes need one
ratio and one regression; more classes get one regression per class, each against the rest over its
own ratios.

Multi-label models get one binary regression per label over its own ratios (one against the rest,
as for classes), the experts' product is taken per label's logit, and the log loss is the sigmoid's,
averaged over documents and labels; accuracy becomes micro-F1 at probability 0.5.

Log loss rather than accuracy: on a small or easy dev set many settings tie on accuracy, and the
loss also calibrates the confidences the model reports. The grids are bounded, so a dev set that
the experts separate perfectly cannot drive the weights to infinity. alpha = 0 (the CNN alone) is one
of the choices.

The weights go into the model itself (alpha W into `model.words`, beta and the intercept into the
classifier): the saved model is the same network as before the stage, and serving needs nothing new.
"""

import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from joblib import Parallel, delayed
from scipy.sparse import csr_matrix, vstack
from scipy.special import log_softmax

from textcnn.features import Batch, Document, collate
from textcnn.model import TextCNN
from training.bag_regression import nb_ratios, regression
from training.device import Placement

logger = logging.getLogger(__name__)

# Inverse L2 strengths of the regression (scikit-learn's C: larger fits the training set closer).
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# Weights of the bag's and the CNN's logits in the product of experts.
ALPHA_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
# The CNN early-stopped on dev accuracy is often overconfident, so beta reaches well below 1.
BETA_GRID = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0)
# The bag as it is, and scaled by naive Bayes log-count ratios.
WEIGHTINGS = ("tfidf", "nb")
_CHUNK = 256  # documents per forward pass while reading features


class LabelledDocument(Protocol):
    """A training document as this stage needs it (training.encoding.TrainingDocument)."""

    @property
    def document(self) -> Document: ...

    @property
    def label(self) -> int | None: ...
    @property
    def labels(self) -> tuple[int, ...] | None: ...


@dataclass(frozen=True)
class BagFit:
    record: dict[str, Any]  # what was chosen and the dev figures, for metrics.json
    # The chosen combination's class logits on dev, before the refit saw dev (docs, classes): what
    # later choices made on dev (a multi-label model's thresholds) must read.
    dev_logits: np.ndarray
    dev_targets: np.ndarray  # classes (docs,), or for multi-label the (docs, labels) boolean matrix


def fit_bag_of_words(
    model: TextCNN,
    train: Sequence[LabelledDocument],
    dev: Sequence[LabelledDocument],
    *,
    placement: Placement,
    weightings: Sequence[str] = WEIGHTINGS,
    refit: bool = True,
) -> BagFit:
    """Fit `model.words` (and rescale the classifier) as the module docstring says; the model must
    have a bag of words whose weights are still zero. Returns what was chosen and the dev figures of
    the CNN alone, the regression alone and both, for metrics.json. `refit=False` keeps the chosen
    regression as fit on train alone."""
    assert model.words is not None and model.classifier is not None
    assert not model.words.weight.any(), "the bag of words is fit once, after the CNN"
    started = time.perf_counter()
    multi = model.config.multi_label
    train = [d for d in train if (d.labels if multi else d.label) is not None]
    dev = [d for d in dev if (d.labels if multi else d.label) is not None]
    num_classes = model.config.num_classes
    x_train = _bags(model, train, placement)
    y_train = _targets(train, num_classes, multi)
    x_dev, cnn_dev = _bags(model, dev, placement), _cnn_logits(model, dev, placement)
    y_dev = _targets(dev, num_classes, multi)
    metric = "micro_f1" if multi else "accuracy"

    ratios = {w: nb_ratios(x_train, y_train, num_classes) if w == "nb" else None for w in weightings}
    best: tuple[float, dict[str, Any], np.ndarray, np.ndarray] | None = None  # loss, trial, weights
    trials = []
    grid = [(weighting, c) for weighting in ratios for c in C_GRID]
    # The fits are independent and single-threaded: one process per thread the run was given.
    fits = Parallel(n_jobs=torch.get_num_threads())(
        delayed(regression)(x_train, y_train, num_classes, c, ratios[weighting]) for weighting, c in grid
    )
    for (weighting, c), (weight, bias) in zip(grid, fits, strict=True):
        bag_dev = x_dev @ weight.T + bias  # (dev docs, classes)
        loss, alpha, beta = min(
            (_log_loss(beta * cnn_dev + alpha * bag_dev, y_dev), alpha, beta)
            for alpha in ALPHA_GRID
            for beta in BETA_GRID
        )
        trials.append(
            {
                "weighting": weighting,
                "C": c,
                f"bag_dev_{metric}": round(_accuracy(bag_dev, y_dev), 5),
                "dev_log_loss": round(loss, 5),
                "alpha": alpha,
                "beta": beta,
            }
        )
        logger.info("bag of words: %s", trials[-1])
        if best is None or loss < best[0]:
            best = (loss, trials[-1], weight, bias)
    assert best is not None
    loss, chosen, weight, bias = best
    alpha, beta = chosen["alpha"], chosen["beta"]
    combined = beta * cnn_dev + alpha * (x_dev @ weight.T + bias)
    if refit:
        x_all, y_all = vstack([x_train, x_dev], format="csr"), np.concatenate([y_train, y_dev])
        ratio = nb_ratios(x_all, y_all, num_classes) if chosen["weighting"] == "nb" else None
        weight, bias = regression(x_all, y_all, num_classes, chosen["C"], ratio)
    device = model.classifier.bias.device
    with torch.no_grad():
        model.words.weight.copy_(torch.as_tensor(alpha * weight, dtype=torch.float32, device=device))
        model.classifier.weight.mul_(beta)
        model.classifier.bias.mul_(beta).add_(
            torch.as_tensor(alpha * bias, dtype=torch.float32, device=device)
        )
    record = {
        "weighting": chosen["weighting"],
        "C": chosen["C"],
        "alpha": alpha,
        "beta": beta,
        f"dev_{metric}_cnn": round(_accuracy(cnn_dev, y_dev), 5),
        f"dev_{metric}_bag": chosen[f"bag_dev_{metric}"],
        f"dev_{metric}": round(_accuracy(combined, y_dev), 5),
        "dev_log_loss_cnn": round(_log_loss(cnn_dev, y_dev), 5),
        "dev_log_loss": round(loss, 5),
        "refit_docs": len(train) + len(dev) if refit else None,
        "trials": trials,
        "seconds": round(time.perf_counter() - started, 2),
    }
    logger.info(
        "bag of words: %s, C %g, alpha %g, beta %g; dev %s %.4f (CNN alone %.4f, words alone %.4f)"
        + ("; refit on train and dev" if refit else ""),
        record["weighting"],
        record["C"],
        alpha,
        beta,
        metric.replace("_", "-"),
        record[f"dev_{metric}"],
        record[f"dev_{metric}_cnn"],
        record[f"dev_{metric}_bag"],
    )
    return BagFit(record, combined, y_dev)


def _targets(documents: Sequence[LabelledDocument], num_classes: int, multi: bool) -> np.ndarray:
    """Each document's class (docs,), or for multi-label its labels as a (docs, labels) boolean matrix."""
    if not multi:
        return np.array([d.label for d in documents])
    matrix = np.zeros((len(documents), num_classes), dtype=bool)
    for i, d in enumerate(documents):
        matrix[i, list(d.labels or ())] = True
    return matrix


def _batches(
    model: TextCNN, documents: Sequence[LabelledDocument], placement: Placement
) -> Iterator[tuple[int, Batch]]:
    """The documents in chunks, each with the index of its first document, in eval mode and on the
    placement's device."""
    model.eval()
    with torch.inference_mode(), placement.compute():
        for start in range(0, len(documents), _CHUNK):
            yield start, placement.to(collate([d.document for d in documents[start : start + _CHUNK]]))


def _bags(model: TextCNN, documents: Sequence[LabelledDocument], placement: Placement) -> csr_matrix:
    """The documents' bags as a sparse (docs, terms) matrix."""
    rows, terms, weights = [], [], []
    for start, batch in _batches(model, documents, placement):
        bag = model.bag_of_words(batch)
        rows.append(bag.doc.cpu().numpy() + start)
        terms.append(bag.term.cpu().numpy())
        weights.append(bag.weight.float().cpu().numpy())
    return csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(terms))),
        shape=(len(documents), model.num_terms),
    )


def _cnn_logits(model: TextCNN, documents: Sequence[LabelledDocument], placement: Placement) -> np.ndarray:
    """The class logits (docs, classes); the bag's weights are still zero, so they are the CNN's alone."""
    logits = []
    for _, batch in _batches(model, documents, placement):
        output = model(batch, score_sentences=False)
        assert output.class_logits is not None
        logits.append(output.class_logits.float().cpu().numpy())
    return np.concatenate(logits).astype(np.float64)


def _log_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of the softmax; for multi-label `labels`, of each label's sigmoid."""
    if labels.ndim == 2:
        signs = np.where(labels, 1.0, -1.0)
        return float(np.logaddexp(0.0, -signs * logits).mean()) if len(labels) else math.nan
    log_probs = log_softmax(logits, axis=1)
    return float(-log_probs[np.arange(len(labels)), labels].mean()) if len(labels) else math.nan


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy; for multi-label `labels`, micro-F1 of the labels at probability 0.5 (logit 0)."""
    if labels.ndim == 2:
        chosen = logits >= 0
        found = int((chosen & labels).sum())
        return 2 * found / max(1, int(chosen.sum() + labels.sum()))
    return float((logits.argmax(axis=1) == labels).mean()) if len(labels) else math.nan
