"""The bag of words' regression (training/bag_stage.py has the whole stage): naive Bayes ratios
and an L2 logistic regression over sparse bags, in numpy, SciPy and scikit-learn only.

The stage fits its grid in worker processes, and a worker imports the module of the function it
runs: without torch here, a worker starts in about half the time (torch alone took 2.7 s to import
on the 2-core machine, as long as scikit-learn's linear models).
"""

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression


def nb_ratios(x: csr_matrix, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Naive Bayes log-count ratios (terms,) per class as training/bag_stage.py defines them, one row for two
    classes (the second's) and one per class for more."""
    present = (x > 0).astype(np.float64)
    rows = []
    for k in _ratio_classes(num_classes):
        inside = 1.0 + np.asarray(present[labels == k].sum(axis=0)).ravel()
        outside = 1.0 + np.asarray(present[labels != k].sum(axis=0)).ravel()
        rows.append(np.log(inside / inside.sum()) - np.log(outside / outside.sum()))
    return np.vstack(rows)


def regression(
    x: csr_matrix, labels: np.ndarray, num_classes: int, c: float, ratios: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (classes, terms) and biases (classes,) of the regression over the bags, or over the
    bags scaled by `ratios` (folded back into the weights).

    Only the terms that occur in `x` are fit: a term that never occurs has no gradient but its L2
    penalty's, so its weight stays at 0 either way, and leaving it out makes L-BFGS's own work
    (linear in the number of weights) smaller: many word-pair slots hold no pair of the training set.
    """
    num_terms, present = x.shape[1], np.flatnonzero(x.getnnz(axis=0))
    x = x[:, present]
    if ratios is None:
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
    return _class_weights(weight, intercept, num_classes)


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
