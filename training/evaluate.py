"""Measure a model directory on a dataset; prints one JSON object on stdout.

    python -m training.evaluate --model runs/bbc --data data/bbc_news_summary/test.jsonl

Keys: n_docs; with labels, accuracy and macro_f1 (for a multi-label model: micro_f1, macro_f1,
samples_f1, subset_accuracy and hamming_loss over label sets, training/multilabel.py); with
summaries, rouge1, rouge2, rougeLsum of the model's summaries and the same for a lead3 baseline
(first three sentences by the same splitter).
Every figure is a fraction in [0, 1], as in the model directory's metrics.json and the service's
/v1/model. ROUGE is Google's rouge-score F1 with stemming; Lsum joins sentences with newlines.

The text, label and summary columns default to those the model was trained with (its
training.json). A label the model never learned cannot be predicted and is refused, unless
--unknown-labels skips those rows or scores them as errors; either way their count is reported.
A multi-label model scores them by default: with many rare labels, some are bound to miss the
training split, and each stays in the gold set as a label the model misses.
"""

import argparse
import json
import logging
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rouge_score import rouge_scorer

from textcnn.predict import Predictor
from textcnn.sentences import split_sentences
from training import flags, multilabel
from training.data import DataError, Example, Fields, label_set, load_examples, model_fields
from training.exits import one_line_errors

ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")
UNKNOWN_LABELS = ("refuse", "skip", "score")
FIGURES = {"accuracy", "macro_f1", "micro_f1", "samples_f1", "subset_accuracy", "hamming_loss", *ROUGE_TYPES}


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--data", required=True, help="file, save_to_disk folder or hub dataset name")
    parser.add_argument("--split", default="test", help="split of a hub dataset (default: test)")
    parser.add_argument("--dataset-config")
    for kind in ("text", "label", "summary"):
        parser.add_argument(f"--{kind}-field", help=f"{kind} column (default: the model's training data's)")
    parser.add_argument(
        "--unknown-labels",
        choices=UNKNOWN_LABELS,
        help="rows whose label the model never learned: refuse the data, skip the rows, or score "
        "them as errors (default: refuse; score for a multi-label model)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help="multi-label models: choose every label at this probability instead of the thresholds "
        "learned on dev",
    )
    add_length_flags(parser)
    args = parser.parse_args(argv)
    flags.check(parser, vars(args), flags.SUMMARY_LENGTH)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    predictor = Predictor.load(args.model)
    recorded = model_fields(args.model)
    examples = load_examples(
        args.data,
        fields=Fields(
            args.text_field or recorded.text,
            args.label_field or recorded.label,
            args.summary_field or recorded.summary,
            recorded.label_separator,
        ),
        split=args.split,
        config=args.dataset_config,
    )
    result = evaluate(
        predictor,
        examples,
        max_sentences=args.max_sentences,
        ratio=args.ratio,
        max_words=args.max_words,
        unknown_labels=args.unknown_labels,
        threshold=args.threshold,
    )
    print(json.dumps(as_fractions(result)))


def add_length_flags(parser: argparse.ArgumentParser) -> None:
    """--max-sentences / --ratio / --max-words, one at most, as the API's summary length."""
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--max-sentences", type=int, help="summary length in sentences")
    length.add_argument("--ratio", type=float, help="summary length as a share of the sentences, in (0, 1]")
    length.add_argument("--max-words", type=int, help="summary length in words")


class UnknownLabels(DataError):
    """Rows carry labels the model never learned."""


def as_fractions(result: dict[str, Any]) -> dict[str, Any]:
    """The evaluate() result with its figures x 100 turned into fractions (counts unchanged)."""
    fractions: dict[str, Any] = {}
    for key, value in result.items():
        if key == "lead3":
            value = as_fractions(value)
        elif key in FIGURES:
            value = round(value / 100, 4)
        fractions[key] = value
    return fractions


def evaluate(
    predictor: Predictor,
    examples: Sequence[Example],
    *,
    max_sentences: int | None = None,
    ratio: float | None = None,
    max_words: int | None = None,
    unknown_labels: str | None = "score",
    threshold: float | None = None,
) -> dict[str, Any]:
    """The metrics, figures x 100 (the tables' unit; main prints them as fractions). Labels the
    model never learned are counted in `unknown_labels` and, by `unknown_labels`, scored as errors,
    skipped, or refused with UnknownLabels (None: refused, or scored for a multi-label model).
    `threshold` replaces a multi-label model's learned thresholds."""
    result: dict[str, Any] = {"n_docs": len(examples)}
    labelled = [e for e in examples if e.labelled]
    if unknown_labels is None:
        unknown_labels = "score" if predictor.multi_label else "refuse"
    if predictor.can_classify and labelled:
        known = set(predictor.info.labels)
        unknown = Counter(x for e in labelled for x in label_set(e) if x not in known)
        if unknown:
            if unknown_labels == "refuse":
                raise UnknownLabels(
                    f"{sum(unknown.values())} of {len(labelled)} labelled rows have labels the model "
                    f"never learned: {dict(sorted(unknown.items()))} (it knows {sorted(known)}); check "
                    "--label-field, or pass --unknown-labels skip (leave them out) or score (count them "
                    "wrong)"
                )
            result["unknown_labels"] = dict(sorted(unknown.items()))
            if unknown_labels == "skip":
                labelled = [e for e in labelled if set(label_set(e)) <= known]
    if predictor.can_classify and labelled and predictor.multi_label:
        chosen = predictor.classify([e.text for e in labelled], threshold=threshold)
        result.update(multilabel.figures([c.labels or {} for c in chosen], [label_set(e) for e in labelled]))
    elif predictor.can_classify and labelled:
        predicted = [c.label for c in predictor.classify([e.text for e in labelled])]
        gold = [e.label or "" for e in labelled]
        result["accuracy"] = round(
            100 * statistics.fmean(p == g for p, g in zip(predicted, gold, strict=True)), 2
        )
        result["macro_f1"] = round(100 * macro_f1(predicted, gold), 2)
    summarized = [e for e in examples if e.summary is not None]
    if predictor.can_summarize and summarized:
        texts = [e.text for e in summarized]
        references = [_lines(e.summary or "") for e in summarized]
        summaries = predictor.summarize(texts, max_sentences=max_sentences, ratio=ratio, max_words=max_words)
        result.update(rouge([[s.text for s in summary.sentences] for summary in summaries], references))
        leads = [[text[s.start : s.end] for s in split_sentences(text)[:3]] for text in texts]
        result["lead3"] = rouge(leads, references)
    return result


def rouge(candidates: Sequence[Sequence[str]], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE F1 x 100 of sentence lists against newline-joined references."""
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for candidate, reference in zip(candidates, references, strict=True):
        scores = scorer.score(reference, "\n".join(candidate))
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    return {name: round(100 * total / max(1, len(references)), 2) for name, total in totals.items()}


def macro_f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Unweighted mean F1 over the labels that occur in gold or predictions."""
    scores = []
    for label in sorted(set(gold) | set(predicted)):
        tp = sum(p == g == label for p, g in zip(predicted, gold, strict=True))
        fp = sum(p == label != g for p, g in zip(predicted, gold, strict=True))
        fn = sum(g == label != p for p, g in zip(predicted, gold, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return statistics.fmean(scores)


def _lines(summary: str) -> str:
    """The reference with one sentence per line, as ROUGE-Lsum expects."""
    return "\n".join(summary[s.start : s.end] for s in split_sentences(summary))


if __name__ == "__main__":
    main()
