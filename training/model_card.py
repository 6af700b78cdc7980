"""The model directory's README.md: what the model is, how it was trained, its dev and test figures,
and the command that repeats the run."""

import shlex
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textcnn.config import ModelConfig, ModelInfo
from training import plots, report
from training.run_config import TrainConfig

SELECTION_TEXT = {"probability": "probability", "expected-f1": "expected ROUGE-1 F1 (`expected-f1`)"}


def render(
    info: ModelInfo,
    model_config: ModelConfig,
    config: TrainConfig,
    metrics: dict[str, Any],
    command: str,
    figures: Sequence[str],
) -> str:
    tasks = [
        t
        for t, on in [
            ("classification", model_config.num_classes > 0),
            ("extractive summarization", model_config.summarize),
        ]
        if on
    ]
    dev_scores = ", ".join(f"{k.removeprefix('dev_')} {v:.4f}" for k, v in metrics["dev"].items())
    dev_source = config.dev or f"{config.dev_fraction:.0%} held out of train"
    length = info.summary_length
    coverage = metrics["embedding_coverage"]
    filters = f"filters {list(model_config.filter_widths)} x {model_config.num_filters}"
    if model_config.wide_convolution:
        filters = "wide " + filters
    words = ", plus a TF-IDF bag-of-words regression in the class logits" if model_config.bag_of_words else ""
    if model_config.word_pair_buckets:
        words += f" (words and adjacent word pairs in {model_config.word_pair_buckets} hashed slots)"
    centrality = (
        ";\n  the sentence scorer sees each sentence's TextRank-style graph centrality"
        if model_config.graph_centrality
        else ""
    )
    summary = (
        f"""
- Default summary length: {length.ratio:.0%} of the sentences, at most {length.max_sentences};
  trigram blocking {"on" if info.block_trigrams else "off (dev ROUGE was higher without it)"};
  sentences ranked by {SELECTION_TEXT[info.selection]}, the rule with the higher dev ROUGE-1{centrality}"""
        if model_config.summarize
        else ""
    )
    labels = f"\n- Labels: {', '.join(info.labels)}" if info.labels else ""
    refit = metrics.get("bag_stage", {}).get("refit_docs")
    stage_note = " (the bag-of-words stage's, before its refit on train and dev)"
    notes = {"dev_accuracy": stage_note} if refit else {}
    if "thresholds" in metrics:
        notes["dev_micro_f1"] = " (at the thresholds learned on dev)"
    served = ", ".join(
        f"{k.removeprefix('dev_')} {v:.4f}{notes.get(k, '')}" for k, v in metrics["served_dev"].items()
    )
    kind = "multi-task " if len(tasks) > 1 else ""
    description = (
        config.description or f"A {kind}Kim (2014) CNN trained with textcnn for {' and '.join(tasks)}."
    )
    return f"""# {info.name}

{textwrap.fill(" ".join(description.split()), width=100)}

- Training data: `{config.train}` ({metrics["train_docs"]} documents)
- Dev data: `{dev_source}` ({metrics["dev_docs"]} documents){labels}{summary}
- Architecture: {model_config.embedding_dim}-d embeddings, Kim's `{model_config.embedding_mode}` mode
  (vectors: {metrics["vectors"] or "none, uniform random init"}; they cover {coverage["vocabulary"]:.1%}
  of the vocabulary and {coverage["tokens"]:.1%} of the training tokens),
  {filters}, `{model_config.document_pooling}` pooling of sentence
  vectors into the document vector{words},
  vocabulary {metrics["vocab_size"]} tokens
- Dev figures of this model: {served}
- Joint training's best dev epoch {metrics["best_epoch"]} (the CNN before the stages below): {dev_scores}\
{_bag_stage_line(metrics)}{_thresholds_line(metrics)}{_scorer_stage_line(metrics)}{_test_line(metrics)}
- Trained in {metrics["train_seconds"]} s ({metrics["processes"]} process(es), {metrics["device"]},
  {metrics["precision"]})
{_label_table(metrics["label_counts"])}{_figure_links(figures, confusion_before=bool(refit))}
Per-epoch metrics: `{report.METRICS_LOG}`. Reproduce with:

    {_repeat(command) or "python -m training.train ..."}

or, from any folder, `python -m training.train --config DIR/training.toml --out NEW_DIR` (its
paths are relative to this directory).
Measure on a test set with `python -m training.evaluate --model DIR --data TEST_FILE`.
"""


FIGURE_NAMES = {
    "accuracy": "accuracy",
    "micro_f1": "micro-F1",
    "macro_f1": "macro-F1",
    "samples_f1": "samples-F1",
    "subset_accuracy": "subset accuracy",
    "hamming_loss": "Hamming loss",
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeLsum": "ROUGE-Lsum",
}


def _test_line(metrics: dict[str, Any]) -> str:
    test = metrics.get("test")
    if test is None:
        return ""
    figures = ", ".join(f"{name} {test[key]:.4f}" for key, name in FIGURE_NAMES.items() if key in test)
    return f"\n- Test (`{test['data']}`, {test['n_docs']} documents, measured once after training): {figures}"


def _repeat(command: str) -> str:
    """The command that repeats a run from the start: a resumed run's without its --resume."""
    return shlex.join(word for word in shlex.split(command) if word != "--resume")


def _bag_stage_line(metrics: dict[str, Any]) -> str:
    stage = metrics.get("bag_stage")
    if stage is None:
        return ""
    terms = "naive Bayes-weighted TF-IDF terms" if stage["weighting"] == "nb" else "TF-IDF terms"
    metric = "micro_f1" if "dev_micro_f1" in stage else "accuracy"
    return (
        f"\n- Bag-of-words stage: logistic regression over {terms} with C {stage['C']:g}, weighed"
        f" {stage['alpha']:g} x words + {stage['beta']:g} x CNN; dev {FIGURE_NAMES[metric]}"
        f" {stage[f'dev_{metric}']:.4f} (CNN alone {stage[f'dev_{metric}_cnn']:.4f}, words alone"
        f" {stage[f'dev_{metric}_bag']:.4f})"
    )


def _thresholds_line(metrics: dict[str, Any]) -> str:
    record = metrics.get("thresholds")
    if record is None:
        return ""
    return (
        f"\n- Thresholds learned on dev: {record['own_thresholds']} labels their own (those with at least"
        f" {record['min_positives']} dev documents), the others {record['global']:g}; dev micro-F1"
        f" {record['dev_micro_f1']:.4f} against {record['dev_micro_f1_at_0.5']:.4f} at 0.5"
    )


def _scorer_stage_line(metrics: dict[str, Any]) -> str:
    stage = metrics.get("scorer_stage")
    if stage is None:
        return ""
    if not stage["kept_epoch"]:
        return (
            f"\n- Scorer stage (encoder frozen): no epoch beat the joint scorer's dev ROUGE-1 "
            f"{stage['dev_rouge1_joint']:.4f}; the joint scorer is kept"
        )
    return (
        f"\n- Scorer stage (encoder frozen): dev ROUGE-1 {stage['dev_rouge1_joint']:.4f} -> "
        f"{stage['dev_rouge1']:.4f} (scorer epoch {stage['kept_epoch']} kept)"
    )


def _label_table(counts: dict[str, dict[str, int]]) -> str:
    """Documents per label in train and dev, with the imbalance when it is large."""
    if not counts["train"]:
        return ""
    rows = "".join(
        f"| {label} | {n} | {counts['dev'].get(label, 0)} |\n" for label, n in counts["train"].items()
    )
    ratio = report.imbalance(counts["train"])
    note = (
        f"\nThe classes are imbalanced: the largest has {ratio:.1f}x the documents of the smallest.\n"
        if ratio is not None and ratio >= report.IMBALANCE_RATIO
        else ""
    )
    return f"\n## Documents per label\n\n| label | train | dev |\n|---|---:|---:|\n{rows}{note}"


def _figure_links(figures: Sequence[str], *, confusion_before: bool = False) -> str:
    """The PNGs; `confusion_before`: the confusion matrix is the CNN's, from before a stage that
    refit on dev (after it, the dev rows are no longer held out)."""
    if not figures:
        return ""
    links = "".join(f"![{Path(f).stem.replace('_', ' ')}]({f})\n" for f in figures)
    if confusion_before and plots.CONFUSION_MATRIX in figures:
        links += (
            "\nThe confusion matrix is the CNN's on dev before the bag-of-words stage, whose refit "
            "saw the dev rows: after it, dev no longer measures the model.\n"
        )
    return "\n## Training\n\n" + links
