"""A run's data: the train and dev examples of the task it trains, its labels and their counts."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from training import report
from training.data import DataError, Example, Fields, as_multi_label, holdout, label_set, load_examples
from training.run_config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunData:
    columns: Fields
    train: list[Example]
    dev: list[Example]
    labels: tuple[str, ...]  # sorted; empty for a summarizer alone
    multi_label: bool
    counts: dict[str, dict[str, int]]  # "train" and "dev": documents per label
    summarize: bool  # some training rows have a summary


def read_run_data(config: TrainConfig) -> RunData:
    """Read --train and --dev (or hold dev out of train), keep the rows of --task, and find the labels.
    Raises DataError for data no model can be trained on."""
    columns = Fields(config.text_field, config.label_field, config.summary_field, config.label_separator)

    def read(source: str, split: str) -> list[Example]:
        return load_examples(source, fields=columns, split=split, config=config.dataset_config)

    train = read(config.train, config.train_split)
    if config.dev:
        dev = read(config.dev, config.dev_split)
    else:
        train, dev = holdout(train, config.dev_fraction, config.seed)
    train = for_task(train, config.task, config.train)
    dev = for_task(dev, config.task, config.dev or config.train)
    multi_label = config.multi_label or any(e.labels is not None for e in [*train, *dev])
    if multi_label:
        train, dev = as_multi_label(train), as_multi_label(dev)
    labels, dev = labels_and_dev(train, dev, multi_label, config.train)
    counts = {
        "train": report.label_counts(label for e in train for label in label_set(e)),
        "dev": report.label_counts(label for e in dev for label in label_set(e)),
    }
    summarize = any(e.summary is not None for e in train)
    return RunData(columns, train, dev, labels, multi_label, counts, summarize)


def for_task(examples: Sequence[Example], task: str, source: str) -> list[Example]:
    """The rows `--task` trains on: all of them for auto; for classify (summarize) the labelled
    (summarized) rows without their summaries (labels). Raises DataError when none is left."""
    if task == "auto":
        return list(examples)
    if task == "classify":
        keep, kept = "label", [replace(e, summary=None) for e in examples if e.labelled]
    else:
        kept = [replace(e, label=None, labels=None) for e in examples if e.summary is not None]
        keep = "summary"
    if not kept:
        raise DataError(f"{source}: --task {task} needs rows with a {keep}, and none has one")
    return kept


def labels_and_dev(
    train: Sequence[Example], dev: Sequence[Example], multi_label: bool, source: str
) -> tuple[tuple[str, ...], list[Example]]:
    """The labels the training data holds, and the dev rows to judge them by. Raises DataError for a
    single label (a classifier needs two; a multi-label model one) and, for exclusive labels, for
    dev labels training never saw. Multi-label dev rows keep only the labels training has, with a
    warning: a rare topic may miss the training split, and no model could choose it."""
    labels = tuple(sorted({label for e in train for label in label_set(e)}))
    if len(labels) == 1 and not multi_label:
        raise DataError(
            f"{source}: every labelled row has the label {labels[0]!r}; "
            "classification needs at least two classes"
        )
    if multi_label and not labels and any(e.labelled for e in train):
        raise DataError(f"{source}: every row's list of labels is empty; there is nothing to learn")
    unseen = sorted({label for e in dev for label in label_set(e)} - set(labels))
    if unseen and not multi_label:
        raise DataError(f"dev labels {unseen} never occur in the training data")
    if unseen:
        rows = sum(any(x in unseen for x in label_set(e)) for e in dev)
        logger.warning(
            "dev labels %s never occur in the training data: left out of %d dev rows (no model "
            "trained on this data can choose them)",
            unseen,
            rows,
        )
        known = set(labels)
        dev = [
            e if e.labels is None else replace(e, labels=tuple(x for x in e.labels if x in known))
            for e in dev
        ]
    return labels, list(dev)
