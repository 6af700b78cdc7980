"""PNG figures for the model card: learning curves and the dev confusion matrix.

matplotlib is imported inside each function with the Agg backend, so plotting needs no display and
costs nothing to runs that never plot.
"""

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"


def write_figures(history: Sequence[dict[str, Any]], metrics: dict[str, Any], out: Path) -> list[str]:
    """Write the PNGs; returns the files written. The learning curves leave out dev_score where it
    only repeats the one dev metric it averages."""
    dev_metrics = {k for record in history for k in record if k.startswith("dev_") and k != "dev_score"}
    plotted = (
        history
        if len(dev_metrics) > 1
        else [{k: v for k, v in r.items() if k != "dev_score"} for r in history]
    )
    try:
        written = [learning_curves(plotted, out, best_epoch=metrics["best_epoch"])]
        if "dev_confusion" in metrics:
            confusion = metrics["dev_confusion"]
            written.append(confusion_matrix(confusion["matrix"], confusion["labels"], out))
    except ImportError:
        logger.warning("matplotlib is not installed; no plots (pip install 'textcnn[train]')")
        return []
    return [p.name for p in written]


def learning_curves(
    history: Sequence[Mapping[str, Any]], out: str | Path, best_epoch: int | None = None
) -> Path:
    """Training loss and every dev metric per epoch, side by side, the kept epoch marked."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    figure, (loss_axis, dev_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    loss_axis.plot(epochs, [r["train_loss"] for r in history], marker="o")
    loss_axis.set(title="training loss", xlabel="epoch")
    for key in sorted({k for r in history for k in r if k.startswith("dev_")}):
        dev_axis.plot(epochs, [r.get(key) for r in history], marker="o", label=key.removeprefix("dev_"))
    dev_axis.set(title="dev", xlabel="epoch")
    for axis in (loss_axis, dev_axis):
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
        if best_epoch is not None:
            axis.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label="kept epoch")
    # Beside the axes, not over them: the curves are what the figure is for.
    dev_axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return _save(figure, Path(out) / LEARNING_CURVES)


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], out: str | Path) -> Path:
    """Counts of dev documents by true (rows) and predicted (columns) label."""
    plt = _pyplot()
    size = max(3.5, 0.6 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set(xlabel="predicted", ylabel="true", title="dev confusion matrix")
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axis.text(
                j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black"
            )
    return _save(figure, Path(out) / CONFUSION_MATRIX)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, target: Path) -> Path:
    figure.tight_layout()
    figure.savefig(target, dpi=100)
    _pyplot().close(figure)
    return target
