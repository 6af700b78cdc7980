"""Would a tenth more training data, or an ensemble of seeds, lift the classifier? Dev data only.

    python -m benchmarks.headroom_check --data data/trec --seeds 1 2 3 4 \
        --out runs/headroom-trec.json -- --batch-size 50 --threads 1 --epochs 15 --patience 2 \
        --cased --bag-of-words --word-pair-buckets 262144

The benchmark's first split (benchmarks.classification.plan with `--split-seed`; the first fold when it
cross-validates) gives train rows and dev rows. The dev rows are only ever scored; test rows are
never read. For each seed, the train rows are cut into train' and dev' (a seeded 10%, for early
stopping and the words stage), and two models are trained in Kim's embedding mode `--mode` (`rand`
by default) with the options after `--`, as the benchmark trains them: one on all of train', one on
train' less another seeded tenth. Their difference is what a tenth more data gives, which is what
retraining on train and dev together would add. The models on all of train' are then ensembled: the
mean of their class log-probabilities, over every subset of k of the seeds. Prints and writes every
model's dev accuracy, the mean gain of the extra tenth and each ensemble size's mean accuracy.
"""

import argparse
import itertools
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.classification import plan, resolve_sources, run_config, write_examples
from textcnn.config import EMBEDDING_MODES
from textcnn.predict import Predictor
from training.cli import parse_args
from training.data import Example, Fields, holdout
from training.exits import one_line_errors
from training.train import train


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4])
    parser.add_argument("--split-seed", type=int, default=1, help="the benchmark split's seed")
    parser.add_argument("--mode", default="rand", choices=EMBEDDING_MODES, help="Kim's embedding mode")
    parser.add_argument("--out", type=Path, required=True)
    args = sys.argv[1:] if argv is None else list(argv)
    own, training_args = parser.parse_known_args([a for a in args if a != "--"])
    base = parse_args(["--train", "-", "--out", "-", "--quiet", *training_args])

    fields = Fields(base.text_field, base.label_field)
    _, splits = plan(resolve_sources(own.data), fields, [own.split_seed], 10, 1, "fold", base.dev_fraction)
    split = splits[0]
    gold = np.array([e.label for e in split.dev])
    # One column order for every model: a seed's rows may lack a rare class that another's hold.
    classes = sorted({e.label for e in split.train if e.label is not None})
    rows: list[dict[str, float]] = []
    gains: list[float] = []
    log_probs: dict[tuple[str, int], np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="textcnn-headroom-") as scratch:
        for seed in own.seeds:
            # Holdout seeds of their own, apart from the benchmark's split seeds.
            inner_train, inner_dev = holdout(split.train, base.dev_fraction, 100 + seed)
            less, _ = holdout(inner_train, 0.1, 200 + seed)
            accuracy = {}
            for name, rows_used in (("all", inner_train), ("less", less)):
                where = Path(scratch) / f"{name}-{seed}"
                train_file = write_examples(rows_used, where / "train.jsonl")
                dev_file = write_examples(inner_dev, where / "dev.jsonl")
                config = run_config(base, train_file, dev_file, where / "model", mode=own.mode, seed=seed)
                log_probs[name, seed] = _log_probs(train(config), split.dev, classes)
                accuracy[name] = _accuracy(classes, log_probs[name, seed], gold)
            gains.append(accuracy["all"] - accuracy["less"])
            rows.append({"seed": seed, "train_docs": len(inner_train), "less_docs": len(less), **accuracy})
            print(json.dumps(rows[-1]), flush=True)
    ensembles = {
        k: round(
            statistics.fmean(
                _accuracy(classes, np.mean([log_probs["all", s] for s in subset], axis=0), gold)
                for subset in itertools.combinations(own.seeds, k)
            ),
            2,
        )
        for k in range(1, len(own.seeds) + 1)
    }
    summary = {
        "data": own.data,
        "split_seed": own.split_seed,
        "mode": own.mode,
        "train_docs": len(split.train),
        "dev_docs": len(split.dev),
        "train_config": training_args,
        "runs": rows,
        "tenth_more_gain": round(statistics.fmean(gains), 2),
        "tenth_more_gain_std": round(statistics.stdev(gains), 2) if len(gains) > 1 else 0.0,
        "ensemble_accuracy": ensembles,
    }
    print(f"a tenth more data: {summary['tenth_more_gain']:+} ± {summary['tenth_more_gain_std']} points")
    by_size = ", ".join(f"k={k} {accuracy}" for k, accuracy in ensembles.items())
    print(f"mean dev accuracy of ensembles of k seeds: {by_size}")
    own.out.parent.mkdir(parents=True, exist_ok=True)
    own.out.write_text(json.dumps(summary, indent=2) + "\n")


def _log_probs(model_dir: Path, rows: Sequence[Example], classes: Sequence[str]) -> np.ndarray:
    """The model's class log-probabilities (rows, classes) on `rows`; a class it never saw gets
    probability 0 (floored to keep the logarithm finite)."""
    predictor = Predictor.load(model_dir)
    results = predictor.classify([e.text for e in rows], top_k=len(predictor.info.labels))
    return np.log(np.array([[r.scores.get(c, 0.0) for c in classes] for r in results]) + 1e-12)


def _accuracy(classes: Sequence[str], log_probs: np.ndarray, gold: np.ndarray) -> float:
    return round(100 * float(np.mean(np.array(classes)[log_probs.argmax(axis=1)] == gold)), 2)


if __name__ == "__main__":
    main()
