"""Does refitting the words regression on train and dev, after dev chose its C, help? Dev data only.

    python -m benchmarks.refit_check --data data/trec --seeds 1 2 3 --out runs/refit-trec.json

For each of the benchmark's own splits (benchmarks.classification.plan), the split's train rows are cut
again into train' (90%) and dev' (10%): C is chosen on dev', and the regression fit on train' alone
is compared with the same C refit on train' and dev' together, both scored on the split's dev rows,
which neither saw. Test rows are never read. The regression is over the benchmark baseline's TF-IDF
word 1-2-grams (benchmarks.classification.tfidf_vectorizer), a stand-in for the bag-of-words stage's own
(training/bag_stage.py). Prints and writes each split's two dev accuracies and the mean gain.
"""

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from benchmarks.classification import plan, resolve_sources, tfidf_vectorizer
from training.bag_stage import C_GRID
from training.data import Example, Fields, holdout
from training.exits import one_line_errors


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--max-folds", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    _, splits = plan(resolve_sources(args.data), Fields(), args.seeds, 10, args.max_folds, "fold", 0.1)
    rows, gains = [], []
    for split in splits:
        inner_train, inner_dev = holdout(split.train, 0.1, 99 + split.seed)
        vectorizer = tfidf_vectorizer(lowercase=False).fit([e.text for e in split.train])
        c = max(C_GRID, key=lambda c: _accuracy(vectorizer, inner_train, inner_dev, c))
        train_only = _accuracy(vectorizer, inner_train, split.dev, c)
        refit = _accuracy(vectorizer, inner_train + inner_dev, split.dev, c)
        gains.append(refit - train_only)
        row = {"seed": split.seed, "fold": split.fold, "C": c, "train_only": train_only, "refit": refit}
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {
        "data": args.data,
        "splits": rows,
        "mean_gain": round(statistics.fmean(gains), 2),
        "std_gain": round(statistics.stdev(gains), 2) if len(gains) > 1 else 0.0,
    }
    print(f"mean gain {summary['mean_gain']} ± {summary['std_gain']} over {len(rows)} splits")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")


def _accuracy(
    vectorizer: TfidfVectorizer, fit_on: list[Example], scored_on: list[Example], c: float
) -> float:
    """Dev accuracy (%) on `scored_on` of the regression fit on `fit_on` with inverse strength c."""
    regression = LogisticRegression(C=c, max_iter=2000)
    regression.fit(vectorizer.transform([e.text for e in fit_on]), [e.label for e in fit_on])
    predicted = regression.predict(vectorizer.transform([e.text for e in scored_on]))
    return 100 * float(np.mean(predicted == np.array([e.label for e in scored_on])))


if __name__ == "__main__":
    main()
