"""Does sharing the encoder help? Train classification-only, summarization-only and joint models on
the same data and seeds, then measure each once on the test split.

    python -m benchmarks.ablation --train data/bbc_news_summary/train.jsonl.gz \
        --dev data/bbc_news_summary/dev.jsonl --test data/bbc_news_summary/test.jsonl \
        --seeds 13 14 15 --out runs/ablation

Every run selects its epoch on dev only. Prints a Markdown table of mean +- std over the seeds and
writes every run's numbers to OUT/ablation.json. Works on any data whose rows carry both a label
and a summary.
"""

import argparse
import json
import logging
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textcnn.predict import Predictor
from training.data import Fields, load_examples
from training.evaluate import evaluate
from training.exits import one_line_errors
from training.run_config import TrainConfig
from training.train import train

TASKS = {"joint": "auto", "classification only": "classify", "summarization only": "summarize"}
METRICS = ("accuracy", "macro_f1", "rouge1", "rouge2", "rougeLsum")


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ablation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--train", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True, help="folder for the models and ablation.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    runs = ablate(
        args.train, args.dev, args.test, Path(args.out), args.seeds, args.epochs, args.patience, args.threads
    )
    print(table(runs))


def ablate(
    train_data: str,
    dev_data: str,
    test_data: str,
    out: Path,
    seeds: Sequence[int],
    epochs: int,
    patience: int,
    threads: int | None = None,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Train and test every task setting with every seed; returns one record per run. `settings` are
    further TrainConfig fields, the same for every run."""
    test = load_examples(test_data, fields=Fields(), split="test")
    runs = []
    for task, trains in TASKS.items():
        for seed in seeds:
            directory = out / f"{task.replace(' ', '-')}-{seed}"
            config = TrainConfig(
                train=train_data,
                dev=dev_data,
                out=str(directory),
                seed=seed,
                epochs=epochs,
                patience=patience,
                threads=threads,
                quiet=True,
                task=trains,
                **settings,
            )
            train(config)
            metrics = json.loads((directory / "metrics.json").read_text())
            scores = evaluate(Predictor.load(directory), test)
            runs.append(
                {
                    "task": task,
                    "seed": seed,
                    "best_epoch": metrics["best_epoch"],
                    **{k: scores[k] for k in METRICS if k in scores},
                }
            )
            out.mkdir(parents=True, exist_ok=True)
            (out / "ablation.json").write_text(json.dumps(runs, indent=2) + "\n")
    return runs


def table(runs: Sequence[dict[str, Any]]) -> str:
    """Mean +- std per task over its seeds; a dash where the task has no such metric."""
    lines = ["| training | seeds | " + " | ".join(METRICS) + " |", "|---|---|" + "---|" * len(METRICS)]
    for task in TASKS:
        mine = [r for r in runs if r["task"] == task]
        if not mine:
            continue
        cells = []
        for metric in METRICS:
            values = [r[metric] for r in mine if metric in r]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.fmean(values):.2f} ± {spread:.2f}" if values else "–")
        lines.append(f"| {task} | {len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
