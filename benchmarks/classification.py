"""Classification benchmark: Kim's embedding modes over several seeds, beside a TF-IDF baseline.

    python -m benchmarks.classification --data data/mr --seeds 1 2 3 --out runs/bench-mr.json

The protocol follows the data. With a test split (a folder holding `train.*` and `test.*`, and
maybe `dev.*`/`validation.*`, or those files named one by one), every run trains on train, stops
early on dev (a seeded 10% of train when there is none) and is measured once on test. Without one
(a folder with `all.*` or `train.*` alone, or a single file), it is k-fold cross-validation over the
`--fold-field` column when the rows have one, else over seeded stratified folds; each fold's dev set
is a seeded 10% of the other folds. Rows are read as classification only (summaries are ignored).

Each run goes through `training.train.train` and `training.evaluate.evaluate` with the training
defaults, in the default embedding mode unless `--modes` names others; every option after `--` (or
not known here) is a `python -m training.train` option and applies to every run. The
baseline, TF-IDF word 1-2-grams + logistic regression with C chosen on the same dev set, sees the
same train/dev/test rows. Prints a Markdown table of mean ± std over seeds (each seed's figure is
its mean over folds) and writes every run to `--out` as JSON, after each run.
"""

import argparse
import json
import logging
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from textcnn.config import EMBEDDING_MODES
from textcnn.predict import Predictor
from textcnn.tokenize import tokenize
from training.cli import parse_args
from training.data import DataError, Example, Fields, holdout, load_examples
from training.evaluate import evaluate, macro_f1
from training.exits import one_line_errors
from training.run_config import DEFAULT_MODE, TrainConfig
from training.train import train

logger = logging.getLogger("benchmarks.classification")

BASELINE = "tfidf+logreg"
SPLIT_NAMES = {
    "train": "train",
    "dev": "dev",
    "validation": "dev",
    "valid": "dev",
    "test": "test",
    "all": "all",
}
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
BASELINE_C = (0.1, 1.0, 10.0, 100.0)


@dataclass(frozen=True)
class Split:
    """One train/dev/test split: a fold of cross-validation or the dataset's own split."""

    seed: int
    fold: int | None
    train: list[Example]
    dev: list[Example]
    test: list[Example]


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.classification",
        allow_abbrev=False,  # --seed is a training option, not short for --seeds
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", nargs="+", required=True, help="a dataset folder, or its split files")
    parser.add_argument(
        "--modes", nargs="+", default=[DEFAULT_MODE], choices=EMBEDDING_MODES, help="Kim's modes to run"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--folds", type=int, default=10, help="folds when cross-validating")
    parser.add_argument("--max-folds", type=int, help="run only the first N folds (a quicker estimate)")
    parser.add_argument("--fold-field", default="fold")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("--dev-only", action="store_true", help="never touch test data: for tuning")
    parser.add_argument("--out", help="JSON file for every run and the summary")
    parser.add_argument("--name", help="dataset name in the table (default: the folder's name)")
    own, training_args = parser.parse_known_args([a for a in args if a != "--"])
    base = parse_args(["--train", "-", "--out", "-", "--quiet", *training_args])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("gensim", "training", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    result = benchmark(
        own.data,
        base,
        modes=own.modes,
        seeds=own.seeds,
        folds=own.folds,
        max_folds=own.max_folds,
        fold_field=own.fold_field,
        baseline=own.baseline,
        dev_only=own.dev_only,
        out=Path(own.out) if own.out else None,
        name=own.name,
        command="python -m benchmarks.classification " + shlex.join(args),
    )
    print(markdown_table(result))


def benchmark(
    data: Sequence[str],
    base: TrainConfig,
    *,
    modes: Sequence[str],
    seeds: Sequence[int],
    folds: int = 10,
    max_folds: int | None = None,
    fold_field: str = "fold",
    baseline: bool = True,
    dev_only: bool = False,
    out: Path | None = None,
    name: str | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Run every (seed, split, mode) and the baseline; returns (and saves to `out`) the runs and
    their summary. Raises DataError for unusable data."""
    started = time.perf_counter()
    sources = resolve_sources(data)
    fields = Fields(base.text_field, base.label_field)
    protocol, planned = plan(sources, fields, seeds, folds, max_folds, fold_field, base.dev_fraction)
    result: dict[str, Any] = {
        "dataset": name or _dataset_name(data),
        "data": {k: str(v) for k, v in sources.items()},
        "protocol": protocol,
        "command": command,
        "machine": machine(),
        "train_config": asdict(base),
        "modes": list(modes),
        "seeds": list(seeds),
        "dev_only": dev_only,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="textcnn-bench-") as scratch:
        for split in planned:
            where = Path(scratch) / f"seed{split.seed}-fold{split.fold}"
            train_file, dev_file = (
                write_examples(split.train, where / "train.jsonl"),
                write_examples(split.dev, where / "dev.jsonl"),
            )
            for mode in modes:
                config = run_config(base, train_file, dev_file, where / mode, mode=mode, seed=split.seed)
                result["runs"].append(_run_model(config, split, dev_only))
                _log_run(result["runs"][-1])
                _save(result, started, out)
            if baseline:
                result["runs"].append(run_baseline(split, lowercase=base.lowercase, dev_only=dev_only))
                _log_run(result["runs"][-1])
            _save(result, started, out)
    result["summary"] = summarize(result["runs"])
    _save(result, started, out)
    return result


def resolve_sources(data: Sequence[str]) -> dict[str, Path]:
    """Map split names (train, dev, test, all) to files. A folder is searched for files named after
    the splits; a single file is the whole dataset."""
    paths = [Path(p).expanduser() for p in data]
    if len(paths) == 1 and paths[0].is_dir():
        paths = sorted(p for p in paths[0].iterdir() if p.is_file() and _split_name(p) is not None)
    elif len(paths) == 1 and paths[0].is_file():
        return {"all": paths[0]}
    sources: dict[str, Path] = {}
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        split = _split_name(path)
        if split is None:
            raise DataError(f"{path}: name split files train/dev/test/all (e.g. train.jsonl)")
        if split in sources:
            # A folder may hold one split twice (train.jsonl and train.jsonl.gz): same data.
            logger.info("%s: also found %s; using the first", sources[split], path)
            continue
        sources[split] = path
    if "test" in sources and "train" not in sources:
        raise DataError("a test split needs a train split next to it")
    if "test" not in sources and "all" not in sources:
        if "train" not in sources:
            raise DataError(f"no train, test or all split among {[str(p) for p in paths]}")
        sources = {"all": sources["train"]}
    return sources


def run_config(
    base: TrainConfig, train_file: Path, dev_file: Path, out: Path, *, mode: str, seed: int
) -> TrainConfig:
    """One run's settings: `base` on these files (written by write_examples), classification only,
    in embedding mode `mode`, quiet. The cache stays on: without summaries it holds only distilled
    word vectors, which depend on the words alone."""
    return replace(
        base,
        train=str(train_file),
        dev=str(dev_file),
        out=str(out),
        text_field="text",
        label_field="label",
        summary_field=Fields.summary,  # write_examples writes no summaries: classification only
        embedding_mode=mode,
        seed=seed,
        name=f"bench-{mode}",
        quiet=True,
    )


def plan(
    sources: dict[str, Path],
    fields: Fields,
    seeds: Sequence[int],
    folds: int,
    max_folds: int | None,
    fold_field: str,
    dev_fraction: float,
) -> tuple[str, list[Split]]:
    """The protocol in words and every split to run, seed by seed."""
    if "test" in sources:
        train_rows = _labelled(load_examples(str(sources["train"]), fields=fields))
        test = _labelled(load_examples(str(sources["test"]), fields=fields))
        if "dev" in sources:
            dev = _labelled(load_examples(str(sources["dev"]), fields=fields))
            return "train/dev/test", [Split(seed, None, train_rows, dev, test) for seed in seeds]
        protocol = f"train/dev/test, dev a seeded {dev_fraction:.0%} of train"
        return protocol, [Split(seed, None, *holdout(train_rows, dev_fraction, seed), test) for seed in seeds]
    rows, assignment, described = _fold_assignment(sources["all"], fields, fold_field, folds)
    names = sorted(set(assignment), key=_fold_order)
    ran = names[:max_folds]
    protocol = f"{len(names)}-fold cross-validation over {described}"
    protocol += f", dev a seeded {dev_fraction:.0%} of the other folds"
    if len(ran) < len(names):
        protocol += f"; only the first {len(ran)} folds run"
    planned = []
    for seed in seeds:
        for number, fold in enumerate(ran):
            rest = [e for e, f in zip(rows, assignment, strict=True) if f != fold]
            test = [e for e, f in zip(rows, assignment, strict=True) if f == fold]
            planned.append(Split(seed, number, *holdout(rest, dev_fraction, seed * 1000 + number), test))
    return protocol, planned


def tfidf_vectorizer(*, lowercase: bool) -> Any:
    """The baseline's unfitted scikit-learn TfidfVectorizer: word 1-2-grams of the project's tokens,
    sublinear tf."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        tokenizer=lambda text: tokenize(text, lowercase=lowercase),
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, 2),
        sublinear_tf=True,
    )


def run_baseline(split: Split, *, lowercase: bool, dev_only: bool = False) -> dict[str, Any]:
    """TF-IDF word 1-2-grams (sublinear tf) + one-vs-rest logistic regression (liblinear); C picked
    on dev from BASELINE_C."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    started = time.perf_counter()
    vectorizer = tfidf_vectorizer(lowercase=lowercase)
    x_train = vectorizer.fit_transform([e.text for e in split.train])
    y_train = [e.label for e in split.train]
    x_dev = vectorizer.transform([e.text for e in split.dev])
    best: tuple[float, float, Any] | None = None
    for c in BASELINE_C:
        model = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear")).fit(x_train, y_train)
        accuracy = statistics.fmean(
            p == e.label for p, e in zip(model.predict(x_dev), split.dev, strict=True)
        )
        if best is None or accuracy > best[0]:
            best = (accuracy, c, model)
    assert best is not None
    record = _record(BASELINE, split, dev_accuracy=100 * best[0])
    record["C"] = best[1]
    if not dev_only:
        predicted = [str(p) for p in best[2].predict(vectorizer.transform([e.text for e in split.test]))]
        gold = [e.label or "" for e in split.test]
        record["accuracy"] = round(
            100 * statistics.fmean(p == g for p, g in zip(predicted, gold, strict=True)), 2
        )
        record["macro_f1"] = round(100 * macro_f1(predicted, gold), 2)
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def summarize(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per system: mean ± std over seeds of each seed's mean over folds, plus run counts and times."""
    by_system: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        by_system[run["system"]][run["seed"]].append(run)
    rows = []
    for system, by_seed in by_system.items():
        row: dict[str, Any] = {
            "system": system,
            "seeds": len(by_seed),
            "runs": sum(map(len, by_seed.values())),
        }
        for metric in ("accuracy", "macro_f1", "dev_accuracy"):
            per_seed = [
                statistics.fmean(r[metric] for r in seed_runs)
                for seed_runs in by_seed.values()
                if all(metric in r for r in seed_runs)
            ]
            if per_seed:
                row[metric] = round(statistics.fmean(per_seed), 2)
                row[metric + "_std"] = round(statistics.stdev(per_seed), 2) if len(per_seed) > 1 else 0.0
        row["seconds_per_run"] = round(
            statistics.median(r["seconds"] for s in by_seed.values() for r in s), 1
        )
        coverages = [r["coverage"]["tokens"] for s in by_seed.values() for r in s if r.get("coverage")]
        if coverages:
            row["token_coverage"] = round(statistics.fmean(coverages), 4)
        rows.append(row)
    return rows


def markdown_table(result: dict[str, Any]) -> str:
    header = f"{result['dataset']} ({result['protocol']}; seeds {result['seeds']})"
    lines = [
        header,
        "",
        "| system | runs | test accuracy | test macro-F1 | dev accuracy | s/run |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:

        def cell(metric: str, row: dict[str, Any] = row) -> str:
            return f"{row[metric]:.2f} ± {row[metric + '_std']:.2f}" if metric in row else "–"

        lines.append(
            f"| {row['system']} | {row['runs']} | {cell('accuracy')} | {cell('macro_f1')} "
            f"| {cell('dev_accuracy')} | {row['seconds_per_run']} |"
        )
    lines.append("")
    lines.append(f"wall time {result['wall_seconds']} s on {result['machine']['description']}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "cores": cores,
        "python": platform.python_version(),
        "description": f"{cpu}, {cores} cores",
    }


def _run_model(config: TrainConfig, split: Split, dev_only: bool) -> dict[str, Any]:
    started = time.perf_counter()
    directory = train(config)
    metrics = json.loads((directory / "metrics.json").read_text())
    # The bag-of-words stage changes the classifier after the best epoch was chosen.
    dev_accuracy = metrics.get("bag_stage", metrics["dev"])["dev_accuracy"]
    record = _record(config.embedding_mode, split, dev_accuracy=100 * dev_accuracy)
    record.update(
        best_epoch=metrics["best_epoch"],
        epochs=len(metrics["history"]),
        coverage=metrics["embedding_coverage"] if metrics["vectors"] else None,
        train_seconds=metrics["train_seconds"],
    )
    if "bag_stage" in metrics:
        stage = metrics["bag_stage"]
        record["bag_stage"] = {k: v for k, v in stage.items() if k != "trials"}
    if not dev_only:
        measured = evaluate(Predictor.load(directory), split.test)
        record.update(accuracy=measured["accuracy"], macro_f1=measured["macro_f1"])
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def _record(system: str, split: Split, *, dev_accuracy: float) -> dict[str, Any]:
    return {
        "system": system,
        "seed": split.seed,
        "fold": split.fold,
        "train_docs": len(split.train),
        "dev_docs": len(split.dev),
        "test_docs": len(split.test),
        "dev_accuracy": round(dev_accuracy, 2),
    }


def _fold_assignment(
    source: Path, fields: Fields, fold_field: str, folds: int
) -> tuple[list[Example], list[str], str]:
    """The labelled rows and each one's fold: the `fold_field` column where every labelled row has
    one, else seeded stratified folds (round robin over a shuffled order within each label)."""
    rows = [replace(e, summary=None) for e in load_examples(str(source), fields=fields)]
    try:
        # The fold column read as if it were the label gives each row's fold, row for row.
        fold_rows = load_examples(str(source), fields=Fields(fields.text, fold_field))
    except DataError:
        fold_rows = []
    keep = [i for i, e in enumerate(rows) if e.label is not None]
    if fold_rows and all(fold_rows[i].label is not None for i in keep):
        return [rows[i] for i in keep], [str(fold_rows[i].label) for i in keep], f"the {fold_field!r} field"
    labelled = [rows[i] for i in keep]
    if not labelled:
        raise DataError(f"{source}: no row has a {fields.label!r} to classify")
    order = list(range(len(labelled)))
    random.Random(13).shuffle(order)
    order.sort(key=lambda i: str(labelled[i].label))  # stable: shuffled within each label
    assignment = [""] * len(labelled)
    for position, index in enumerate(order):
        assignment[index] = str(position % folds)
    return labelled, assignment, "seeded stratified folds"


def _fold_order(name: str) -> tuple[int, str]:
    return (int(name), name) if name.lstrip("-").isdigit() else (sys.maxsize, name)


def _labelled(examples: Sequence[Example]) -> list[Example]:
    """The labelled rows, without their summaries: the benchmark measures classification only."""
    labelled = [replace(e, summary=None) for e in examples if e.label is not None]
    if not labelled:
        raise DataError("no labelled rows to classify")
    return labelled


def write_examples(examples: Sequence[Example], path: Path) -> Path:
    """The examples as JSON Lines of text and label, the rows a training run reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps({"text": example.text, "label": example.label}) + "\n")
    return path


def _split_name(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        name = name.removesuffix(suffix)
    stem, dot, extension = name.rpartition(".")
    if not dot or "." + extension not in DATA_SUFFIXES:
        return None
    return SPLIT_NAMES.get(stem)


def _dataset_name(data: Sequence[str]) -> str:
    path = Path(data[0])
    return path.name if path.is_dir() else path.parent.name or path.stem


def _log_run(run: dict[str, Any]) -> None:
    shown = {k: run[k] for k in ("system", "seed", "fold", "dev_accuracy", "accuracy", "seconds") if k in run}
    logger.info("run %s", shown)


def _save(result: dict[str, Any], started: float, out: Path | None) -> None:
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
