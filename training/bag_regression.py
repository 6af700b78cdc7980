"""The bag of words' regression (training/bag_stage.py has the whole stage): naive Bayes ratios
and an L2 logistic regression over sparse bags, in numpy, SciPy and scikit-learn only.

The stage fits its grid in worker processes, and a worker imports the module of the function it
runs: without torch here, a worker starts in about half the time (torch alone took 2.7 s to import
on the 2-core machine, as long as scikit-learn's linear models).
"""

import math

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression


def nb_ratios(x: csr_matrix, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Naive Bayes log-count ratios (terms,) per class as training/bag_stage.py defines them, one row for two
    classes (the second's) and one per class for more. `labels`: one class per document, or for
    multi-label data a (docs, labels) boolean matrix, which gets one row per label."""
    present = (x > 0).astype(np.float64)
    rows = []
    for members in _members(labels, num_classes):
        inside = 1.0 + np.asarray(present[members].sum(axis=0)).ravel()
        outside = 1.0 + np.asarray(present[~members].sum(axis=0)).ravel()
        rows.append(np.log(inside / inside.sum()) - np.log(outside / outside.sum()))
    return np.vstack(rows)


def regression(
    x: csr_matrix, labels: np.ndarray, num_classes: int, c: float, ratios: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (classes, terms) and biases (classes,) of the regression over the bags, or over the
    bags scaled by `ratios` (folded back into the weights). Multi-label `labels` (docs, labels)
    get one regression per label, its weights and bias that label's logit.

    Only the terms that occur in `x` are fit: a term that never occurs has no gradient but its L2
    penalty's, so its weight stays at 0 either way, and leaving it out makes L-BFGS's own work
    (linear in the number of weights) smaller: many word-pair slots hold no pair of the training set.
    """
    num_terms, present = x.shape[1], np.flatnonzero(x.getnnz(axis=0))
    x = x[:, present]
    if labels.ndim == 2:  # multi-label: one logit per label already
        coef, intercept = _one_vs_rest(x, labels, c, None if ratios is None else ratios[:, present])
    elif ratios is None:
        fit = LogisticRegression(C=c, max_iter=2000).fit(x, labels)
        coef, intercept = fit.coef_, fit.intercept_
    else:
        # One class against the rest per ratio; for two classes that is the second class's log-odds.
        ratios = ratios[:, present]
        regressions = [
            LogisticRegression(C=c, max_iter=2000).fit(x.multiply(ratio).tocsr(), labels == k)
            for k, ratio in zip(_ratio_classes(num_classes), ratios, strict=True)
        ]
        coef = np.vstack([r.coef_[0] * ratio for r, ratio in zip(regressions, ratios, strict=True)])
        intercept = np.array([r.intercept_[0] for r in regressions])
    weight = np.zeros((coef.shape[0], num_terms))
    weight[:, present] = coef
    return (weight, intercept) if labels.ndim == 2 else _class_weights(weight, intercept, num_classes)


def _one_vs_rest(
    x: csr_matrix, labels: np.ndarray, c: float, ratios: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-label data: one binary regression per label column of `labels` (docs, labels), each
    over the bags scaled by its own ratios where given. A label on every document (or on none)
    has nothing to separate: its weights stay 0 and its bias is the smoothed log-odds of its rate."""
    coef = np.zeros((labels.shape[1], x.shape[1]))
    intercept = np.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        members = labels[:, k]
        scaled = x if ratios is None else x.multiply(ratios[k]).tocsr()
        if members.all() or not members.any():
            rate = (members.sum() + 0.5) / (len(members) + 1.0)
            intercept[k] = math.log(rate / (1 - rate))
            continue
        fit = LogisticRegression(C=c, max_iter=2000).fit(scaled, members)
        coef[k] = fit.coef_[0] * (1.0 if ratios is None else ratios[k])
        intercept[k] = fit.intercept_[0]
    return coef, intercept


def _members(labels: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """Boolean document masks, one per naive Bayes ratio: per label for multi-label data."""
    if labels.ndim == 2:
        return [labels[:, k] for k in range(labels.shape[1])]
    return [labels == k for k in _ratio_classes(num_classes)]


def _ratio_classes(num_classes: int) -> list[int]:
    """The classes that get their own naive Bayes ratio: the second of two, else every class."""
    return [1] if num_classes == 2 else list(range(num_classes))


def _class_weights(
    coef: np.ndarray, intercept: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """One row of weights and one bias per class. scikit-learn gives two classes one row z for the
    second class's log-odds; logits (-z/2, z/2) have the same softmax."""
    if num_classes == 2:
        return np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    return coef, intercept
