"""The model card's learning curves: the kept epoch marked, the legend beside the data."""

from pathlib import Path
from typing import Any

import pytest

from training import plots

HISTORY = [
    {"epoch": e, "train_loss": 1 / e, "dev_accuracy": 0.8 + 0.01 * e, "dev_rouge1": 0.7 + 0.01 * e}
    for e in range(1, 6)
]


def test_the_kept_epoch_is_marked_and_the_legend_sits_beside_the_curves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved: list[Any] = []
    save = plots._save

    def keep(figure: Any, target: Path) -> Path:
        figure.canvas.draw()
        saved.append(
            (
                [
                    [line.get_xdata()[0] for line in axis.get_lines() if line.get_linestyle() == "--"]
                    for axis in figure.axes
                ],
                figure.axes[1].get_legend().get_window_extent().x0,
                figure.axes[1].get_window_extent().x1,
                [t.get_text() for t in figure.axes[1].get_legend().get_texts()],
            )
        )
        return save(figure, target)

    monkeypatch.setattr(plots, "_save", keep)
    written = plots.learning_curves(HISTORY, tmp_path, best_epoch=3)
    assert written.is_file() and written.stat().st_size > 1000
    [(marks, legend_left, axes_right, names)] = saved
    assert marks == [[3], [3]]  # on the loss and on the dev axes
    assert legend_left >= axes_right  # outside the plotting area
    assert names == ["accuracy", "rouge1", "kept epoch"]
