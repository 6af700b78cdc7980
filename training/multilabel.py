"""Multi-label figures over label sets, and the per-label thresholds chosen by them on dev.

A multi-label model gives each label a probability; a label is chosen where its probability reaches
its threshold. Each label's threshold is the one with the best dev F1 for that label. A label with
fewer than MIN_POSITIVES dev documents cannot be judged that way (one document moves its F1 by tens
of points), so it takes the one threshold with the best micro-F1 over all labels.
"""

import statistics
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

# The candidate thresholds, in steps fine enough for any dev set of a few hundred documents.
GRID = tuple(round(t, 2) for t in np.arange(0.01, 1.0, 0.01))
MIN_POSITIVES = 5
DEFAULT_THRESHOLD = 0.5  # before any are learned: a label is chosen where it is more likely than not

LabelSets = Sequence[Collection[str]]


def grid_counts(probabilities: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Micro-F1's counts at every GRID threshold, (3, thresholds): labels found, labels chosen, and
    the gold labels (the same in each column); sums of them over parts of a dev set add up."""
    found, chosen = _per_label_counts(probabilities, gold)
    return np.stack([found.sum(axis=0), chosen.sum(axis=0), np.full(len(GRID), gold.sum())]).astype(float)


def _per_label_counts(probabilities: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label and GRID threshold (labels, thresholds): gold labels found, labels chosen. One
    threshold at a time, so memory stays that of the probabilities."""
    found = np.zeros((gold.shape[1], len(GRID)))
    chosen = np.zeros((gold.shape[1], len(GRID)))
    for j, threshold in enumerate(GRID):
        above = probabilities >= threshold
        found[:, j] = (above & gold).sum(axis=0)
        chosen[:, j] = above.sum(axis=0)
    return found, chosen


def best_micro_f1(counts: np.ndarray) -> float:
    """The best micro-F1 over the GRID thresholds, from grid_counts."""
    found, chosen, actual = counts
    return float((2 * found / np.maximum(1, chosen + actual)).max())


def learn_thresholds(probabilities: np.ndarray, gold: np.ndarray) -> tuple[list[float], dict[str, Any]]:
    """One threshold per label column from dev `probabilities` (docs, labels) and the `gold`
    (docs, labels) boolean matrix; and a record for metrics.json: the global threshold, how many
    labels have their own, and dev micro-F1 at 0.5 and at the learned thresholds."""
    grid = np.array(GRID)
    found, predicted = _per_label_counts(probabilities, gold)  # (labels, thresholds)
    positives = gold.sum(axis=0)  # (labels,)
    micro = 2 * found.sum(axis=0) / np.maximum(1, predicted.sum(axis=0) + positives.sum())  # (thresholds,)
    overall = float(grid[_best(micro, grid, DEFAULT_THRESHOLD)])
    thresholds = []
    for k in range(gold.shape[1]):
        if positives[k] < MIN_POSITIVES:
            thresholds.append(overall)
            continue
        f1 = 2 * found[k] / np.maximum(1, predicted[k] + positives[k])
        thresholds.append(float(grid[_best(f1, grid, overall)]))
    record = {
        "global": overall,
        "own_thresholds": int((positives >= MIN_POSITIVES).sum()),
        "min_positives": MIN_POSITIVES,
        "dev_micro_f1_at_0.5": round(_micro_f1(probabilities >= DEFAULT_THRESHOLD, gold), 5),
        "dev_micro_f1": round(_micro_f1(probabilities >= np.array(thresholds), gold), 5),
    }
    return thresholds, record


def _best(scores: np.ndarray, grid: np.ndarray, near: float) -> int:
    """The index of the best score; among ties, the threshold nearest `near`."""
    ties = np.flatnonzero(scores == scores.max())
    return int(ties[np.argmin(np.abs(grid[ties] - near))])


def _micro_f1(chosen: np.ndarray, gold: np.ndarray) -> float:
    return float(2 * (chosen & gold).sum() / max(1, int(chosen.sum() + gold.sum())))


def figures(predicted: LabelSets, gold: LabelSets) -> dict[str, float]:
    """micro_f1, macro_f1, samples_f1, subset_accuracy and hamming_loss, x 100.

    macro_f1 averages over the labels that occur in gold or predictions (F1 is undefined for the
    others); samples_f1 averages each document's F1, 1 where both sets are empty; hamming_loss is
    the share of (document, label) decisions that are wrong, over those same labels.
    """
    pairs = [(set(p), set(g)) for p, g in zip(predicted, gold, strict=True)]
    labels = sorted(set().union(*(p | g for p, g in pairs)))
    found = sum(len(p & g) for p, g in pairs)
    chosen = sum(len(p) for p, _ in pairs)
    actual = sum(len(g) for _, g in pairs)
    per_label = []
    for label in labels:
        tp = sum(label in p and label in g for p, g in pairs)
        fp = sum(label in p and label not in g for p, g in pairs)
        fn = sum(label in g and label not in p for p, g in pairs)
        per_label.append(2 * tp / (2 * tp + fp + fn))
    samples = [2 * len(p & g) / (len(p) + len(g)) if p or g else 1.0 for p, g in pairs]
    wrong = sum(len(p ^ g) for p, g in pairs)
    return {
        "micro_f1": round(100 * 2 * found / max(1, chosen + actual), 2),
        "macro_f1": round(100 * statistics.fmean(per_label), 2) if per_label else 0.0,
        "samples_f1": round(100 * statistics.fmean(samples), 2) if samples else 0.0,
        "subset_accuracy": round(100 * statistics.fmean(p == g for p, g in pairs), 2) if pairs else 0.0,
        "hamming_loss": round(100 * wrong / max(1, len(pairs) * len(labels)), 2),
    }
