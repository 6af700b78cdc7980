"""What a run tells people: per-epoch metrics.jsonl, label counts, the confusion matrix and the
summary table printed at the end."""

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

METRICS_LOG = "metrics.jsonl"
IMBALANCE_RATIO = 3.0  # largest class over smallest beyond which a run says so


def start_log(out: str | Path, history: Sequence[Mapping[str, Any]]) -> Path:
    """(Re)write metrics.jsonl with the epochs done so far: none for a new run, the checkpoint's for
    a resumed one, so a resume never leaves duplicate or half-finished epochs in it."""
    target = Path(out) / METRICS_LOG
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps(dict(r)) + "\n" for r in history), encoding="utf-8")
    return target


def append_log(out: str | Path, record: Mapping[str, Any]) -> None:
    with (Path(out) / METRICS_LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(dict(record)) + "\n")


def label_counts(labels: Iterable[str | None]) -> dict[str, int]:
    """Documents per label, most frequent first; unlabelled documents are not counted."""
    return dict(Counter(label for label in labels if label is not None).most_common())


def imbalance(counts: Mapping[str, int]) -> float | None:
    """Largest class count over the smallest, or None without two classes."""
    return max(counts.values()) / min(counts.values()) if len(counts) > 1 else None


def confusion(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """matrix[i][j]: documents of label i predicted as label j."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g]][index[p]] += 1
    return matrix


def summary_table(metrics: Mapping[str, Any], out: str | Path) -> str:
    """Epochs with loss and dev metrics (best marked), then where the model went."""
    history = metrics["history"]
    columns = ["epoch", *[k for k in history[0] if k != "epoch"]] if history else ["epoch"]
    rows = [
        [("*" if r["epoch"] == metrics["best_epoch"] else " ") + str(r["epoch"])]
        + [f"{r[c]:.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns[1:]]
        for r in history
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(
        f"best epoch {metrics['best_epoch']} (*), {metrics['train_docs']} train / {metrics['dev_docs']} "
        f"dev docs, {metrics['train_seconds']} s; model in {out}"
    )
    return "\n".join(lines)
