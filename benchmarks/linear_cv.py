"""Cross-validated accuracy of linear bag-of-words models on a dataset's train and dev rows together.

    python -m benchmarks.linear_cv --data data/bbc_news_summary --group-field dup_group \
        --out runs/linear-cv-bbc.json

How hard is a test split? Its few hundred rows give one draw; k-fold cross-validation over the train
and dev rows gives the same models' accuracy on ten times as many. Test rows are never read: compare
the result with the models' test accuracy from the benchmark (its TF-IDF baseline) or the literature.
Rows sharing a `--group-field` value (e.g. exact duplicates) stay in one fold. The models, on the
TF-IDF word 1-2-grams of the benchmark's baseline (benchmarks.classification.tfidf_vectorizer):
scikit-learn's LinearSVC (C = 1) and the words stage's regression (training/bag_regression.py),
plain and with naive Bayes scaling, at each C of training.bag_stage.C_GRID.
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.svm import LinearSVC

from benchmarks.classification import resolve_sources, tfidf_vectorizer
from training.bag_regression import nb_ratios, regression
from training.bag_stage import C_GRID
from training.data import Fields, load_examples
from training.exits import one_line_errors


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--group-field", help="rows with the same value share a fold")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--cased", action="store_true", help="keep letter case")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    sources = resolve_sources(args.data)
    # A folder's all.* may hold its test rows too: it is read only where there is no train split.
    names: list[str] = [name for name in ("train", "dev") if name in sources] or ["all"]
    texts, labels, groups = [], [], []
    for name in names:
        rows = load_examples(str(sources[name]), fields=Fields("text", "label"))
        # The group column read as if it were the label: a row without one is a group of its own.
        grouped = (
            load_examples(str(sources[name]), fields=Fields("text", args.group_field))
            if args.group_field
            else [None] * len(rows)
        )
        for number, (row, group) in enumerate(zip(rows, grouped, strict=True)):
            if row.label is not None:
                texts.append(row.text)
                labels.append(row.label)
                groups.append(group.label if group and group.label else f"{name}-{number}")
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])

    correct: dict[str, int] = {}
    folds = StratifiedGroupKFold(args.folds, shuffle=True, random_state=0)
    for train_index, test_index in folds.split(texts, y, groups):
        vectorizer = tfidf_vectorizer(lowercase=not args.cased)
        x_train = vectorizer.fit_transform([texts[i] for i in train_index])
        x_test = vectorizer.transform([texts[i] for i in test_index])
        y_train, y_test = y[train_index], y[test_index]
        predictions = {"LinearSVC C=1": LinearSVC(C=1.0).fit(x_train, y_train).predict(x_test)}
        for weighting in ("tfidf", "nb"):
            ratios = nb_ratios(x_train, y_train, len(classes)) if weighting == "nb" else None
            for c in C_GRID:
                weight, bias = regression(x_train, y_train, len(classes), c, ratios)
                predictions[f"words stage {weighting} C={c:g}"] = (x_test @ weight.T + bias).argmax(axis=1)
        for model, predicted in predictions.items():
            correct[model] = correct.get(model, 0) + int(np.sum(predicted == y_test))

    accuracy = {model: round(100 * right / len(y), 2) for model, right in correct.items()}
    for model, value in accuracy.items():
        print(f"{model}: {value} ({len(y) - correct[model]} of {len(y)} wrong)")
    summary = {"data": args.data, "splits": names, "rows": len(y), "folds": args.folds, "accuracy": accuracy}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
