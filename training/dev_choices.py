"""What dev decides after joint training: the bag-of-words stage, a multi-label model's thresholds,
trigram blocking and the sentence-ranking rule; and the dev figures they are judged by."""

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from textcnn.model import TextCNN
from textcnn.predict import Predictor, Summary
from textcnn.selection import SELECTION_RULES
from training import multilabel, report
from training.bag_stage import BagFit, fit_bag_of_words
from training.data import Example
from training.device import Placement
from training.encoding import TrainingDocument, training_document
from training.rouge import rouge12

logger = logging.getLogger(__name__)


def dev_confusion(predictor: Predictor, dev: Sequence[Example]) -> dict[str, Any] | None:
    """The dev confusion matrix of the classifier as it is, or None without labelled dev rows."""
    labelled = [e for e in dev if e.label is not None]
    if not predictor.can_classify or predictor.multi_label or not labelled:
        return None
    labels = list(predictor.info.labels)
    predicted = [c.label for c in predictor.classify([e.text for e in labelled])]
    return {
        "labels": labels,
        "matrix": report.confusion([e.label or "" for e in labelled], predicted, labels),
    }


def fit_bag_stage(
    model: TextCNN,
    predictor: Predictor,
    documents: Sequence[TrainingDocument],
    dev: Sequence[Example],
    labels: Sequence[str],
    placement: Placement,
) -> BagFit | None:
    """The bag of words' stage (training/bag_stage.py) on the labelled dev rows; without any, the
    model stays the CNN alone (nothing could weigh the two)."""
    labelled = [e for e in dev if e.labelled]
    if not labelled:
        logger.warning("no labelled dev rows to weigh the bag of words against the CNN; it stays off")
        return None
    index = {label: i for i, label in enumerate(labels)}
    dev_documents = [
        training_document(d, e, index, None)
        for d, e in zip(predictor.prepare([e.text for e in labelled]), labelled, strict=True)
    ]
    return fit_bag_of_words(model, documents, dev_documents, placement=placement)


def dev_probabilities(predictor: Predictor, labelled: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    """A multi-label model's probabilities on labelled dev rows and their gold labels, both
    (docs, labels)."""
    scores = predictor.scores(predictor.prepare([e.text for e in labelled]), sentences=False)
    probabilities = np.array([s.class_probs for s in scores])
    gold = np.array([[label in (e.labels or ()) for label in predictor.info.labels] for e in labelled])
    return probabilities, gold


def learn_thresholds(
    predictor: Predictor, dev: Sequence[Example], bag_fit: BagFit | None
) -> tuple[list[float], dict[str, Any] | None]:
    """A multi-label model's thresholds (training/multilabel.py) and their record, from the dev
    probabilities the model gives; where the bag-of-words stage refit on dev, from its chosen
    combination before the refit, which is the model as dev has not seen it. Without labelled dev
    rows, every label keeps the default threshold."""
    labels = predictor.info.labels
    if bag_fit is not None:
        probabilities, gold = 1 / (1 + np.exp(-bag_fit.dev_logits)), bag_fit.dev_targets
    else:
        labelled = [e for e in dev if e.labels is not None]
        if not labelled:
            default = multilabel.DEFAULT_THRESHOLD
            logger.warning("no labelled dev rows to learn thresholds on; all stay at %g", default)
            return [default] * len(labels), None
        probabilities, gold = dev_probabilities(predictor, labelled)
    thresholds, record = multilabel.learn_thresholds(probabilities, gold)
    logger.info(
        "thresholds: %d of %d labels their own, the rest %g; dev micro-F1 %.4f (%.4f at 0.5)",
        record["own_thresholds"],
        len(labels),
        record["global"],
        record["dev_micro_f1"],
        record["dev_micro_f1_at_0.5"],
    )
    return thresholds, record


def rouge1_sum(summaries: Sequence[Summary], examples: Sequence[Example]) -> float:
    """Sum of the fast ROUGE-1 F1 of each summary against its example's reference."""
    return sum(rouge12(s.text, e.summary or "")[0] for s, e in zip(summaries, examples, strict=True))


def dev_rouge1(predictor: Predictor, dev: Sequence[Example]) -> float:
    """Mean fast ROUGE-1 F1 of the default-length summaries of the dev documents with a reference."""
    summarized = [e for e in dev if e.summary is not None]
    return rouge1_sum(predictor.summarize([e.text for e in summarized]), summarized) / len(summarized)


def learn_blocking(predictor: Predictor, dev: Sequence[Example]) -> bool:
    """Keep trigram blocking unless dev summaries score better without it: it guards against
    repeats, but where summary sentences share a phrase (often a repeated name) it rejects the
    right ones."""
    summarized = [e for e in dev if e.summary is not None]
    if not predictor.can_summarize or not summarized:
        return True
    texts = [e.text for e in summarized]
    scores = {
        block: rouge1_sum(predictor.summarize(texts, block_trigrams=block), summarized) / len(summarized)
        for block in (True, False)
    }
    logger.info("dev ROUGE-1 with trigram blocking %.4f, without %.4f", scores[True], scores[False])
    return scores[True] >= scores[False]


def learn_selection(predictor: Predictor, dev: Sequence[Example]) -> str:
    """The ranking rule (textcnn.selection) with the higher dev ROUGE-1, averaged over summaries of
    three sentences and of the model's default length: a rule must serve short summaries as well as
    the default one. Ties keep `probability`."""
    summarized = [e for e in dev if e.summary is not None]
    if not predictor.can_summarize or not summarized:
        return "probability"
    texts = [e.text for e in summarized]
    scores = {
        rule: sum(
            rouge1_sum(predictor.summarize(texts, max_sentences=k, selection=rule), summarized)
            for k in (3, None)
        )
        / (2 * len(summarized))
        for rule in SELECTION_RULES
    }
    logger.info("dev ROUGE-1 (3 sentences and default length) by selection rule: %s", scores)
    return max(SELECTION_RULES, key=lambda rule: (scores[rule], rule == "probability"))
