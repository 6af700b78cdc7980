"""Multi-label benchmark: trained models against TF-IDF + one-vs-rest LinearSVC, and their speed.

    python -m benchmarks.multilabel --data data/reuters_multilabel --seeds 1 2 3 --work runs/ml \
        --out runs/multilabel.json

`--data` is a folder with `train.*`, `dev.*` and `test.*`, rows with a `labels` list. Each seed
trains the defaults (`training.train` with no recipe flags; options after `--` are passed on) into
`--work/seed-S`, or `--models` names model directories trained already. Every model is measured on
test once by training.evaluate, at the thresholds it learned on dev and at a fixed 0.5; its dev
figures are those training recorded, before the bag-of-words stage refit on dev.

The baseline is TF-IDF word 1-2-grams (sublinear) with one LinearSVC per label, C chosen by dev
micro-F1 and then measured once on test. Both are scored by the same function
(training.multilabel.figures); a gold label that training never saw stays in the gold set as a miss.

Speed: for the first model and its single-label twin (the same weights read through a softmax, no
thresholds), in one run, so the cost of multi-label serving is their ratio: library classification
docs/s on the test texts, and `/classify` requests/s and p50 of `python -m service` on loopback at
concurrency 1 and 32 (one test text per request, `--duration` seconds each); medians of `--repeats`
runs, the two models taking turns.
"""

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.serving_benchmark import load, server
from textcnn import artifact
from textcnn.lookup import install
from textcnn.model import TextCNN
from textcnn.predict import Predictor
from training import multilabel
from training.cli import parse_args
from training.data import Example, label_set, load_examples
from training.evaluate import evaluate
from training.exits import one_line_errors
from training.train import train

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
FIGURES = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    args_list = sys.argv[1:] if argv is None else list(argv)
    extra = args_list[args_list.index("--") + 1 :] if "--" in args_list else []
    mine = args_list[: args_list.index("--")] if "--" in args_list else args_list
    parser = argparse.ArgumentParser(prog="python -m benchmarks.multilabel", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder with train.*, dev.*, test.*")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seeds", type=int, nargs="+", help="train the defaults with these seeds")
    source.add_argument("--models", type=Path, nargs="+", help="model directories trained already")
    parser.add_argument("--work", type=Path, default=Path("runs/multilabel"), help="where --seeds trains")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the speed measurement")
    parser.add_argument("--duration", type=float, default=3, help="seconds of load per HTTP run")
    parser.add_argument("--out", type=Path, help="JSON file for every figure")
    args = parser.parse_args(mine)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    splits = {name: _split(args.data, name) for name in ("train", "dev", "test")}
    examples = {name: load_examples(str(path)) for name, path in splits.items()}
    models = args.models or [
        train(
            parse_args(
                [
                    "--train",
                    str(splits["train"]),
                    "--dev",
                    str(splits["dev"]),
                    "--out",
                    str(args.work / f"seed-{seed}"),
                    "--seed",
                    str(seed),
                    "--overwrite",
                    "--quiet",
                    *extra,
                ]
            )
        )
        for seed in args.seeds
    ]
    result: dict[str, Any] = {
        "data": str(args.data),
        "models": [measure_model(Path(m), examples) for m in models],
        "baseline": baseline(examples),
        "speed": speed(Path(models[0]), [e.text for e in examples["test"]], args.repeats, args.duration),
    }
    print(markdown_table(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def _split(folder: Path, name: str) -> Path:
    found = sorted(folder.glob(f"{name}.*"))
    if not found:
        raise SystemExit(f"error: --data {folder} has no {name}.* file")
    return found[0]


def measure_model(directory: Path, examples: dict[str, list[Example]]) -> dict[str, Any]:
    """training.evaluate's figures on test, at the learned thresholds and at 0.5; and dev micro-F1
    at both as training measured it (metrics.json): the bag-of-words stage refits on dev, so the
    saved model's own dev figures describe data it has seen."""
    predictor = Predictor.load(directory)
    chosen = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))["thresholds"]
    record: dict[str, Any] = {
        "model": str(directory),
        "dev_learned": {"micro_f1": round(100 * chosen["dev_micro_f1"], 2)},
        "dev_0.5": {"micro_f1": round(100 * chosen["dev_micro_f1_at_0.5"], 2)},
        "global_threshold": chosen["global"],
        "own_thresholds": chosen["own_thresholds"],
    }
    for name, threshold in (("learned", None), ("0.5", 0.5)):
        figures = evaluate(predictor, examples["test"], unknown_labels="score", threshold=threshold)
        record[f"test_{name}"] = {k: figures[k] for k in FIGURES}
    return record


def baseline(examples: dict[str, list[Example]]) -> dict[str, Any]:
    """TF-IDF 1-2-grams + one LinearSVC per label, C chosen on dev micro-F1, test once."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    binarizer = MultiLabelBinarizer()
    y_train = binarizer.fit_transform([label_set(e) for e in examples["train"]])
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = {"train": vectorizer.fit_transform([e.text for e in examples["train"]])}
    for split in ("dev", "test"):
        x[split] = vectorizer.transform([e.text for e in examples[split]])

    def figures(fit: Any, split: str) -> dict[str, float]:
        chosen = binarizer.inverse_transform(fit.predict(x[split]))
        return multilabel.figures(chosen, [label_set(e) for e in examples[split]])

    trials = []
    for c in C_GRID:
        fit = OneVsRestClassifier(LinearSVC(C=c)).fit(x["train"], y_train)
        trials.append((figures(fit, "dev")["micro_f1"], c, fit))
    _, chosen_c, fit = max(trials, key=lambda t: t[0])
    return {
        "C": chosen_c,
        "dev_micro_f1_by_C": {c: f for f, c, _ in trials},
        "dev": figures(fit, "dev"),
        "test": figures(fit, "test"),
    }


def speed(directory: Path, texts: Sequence[str], repeats: int, duration: float) -> dict[str, Any]:
    """Library classification docs/s and HTTP /classify figures of the model and of its single-label
    twin, medians."""
    multi = Predictor.load(directory)
    if len(multi.info.labels) < 2:
        raise SystemExit("error: a single-label twin needs at least two labels")
    config = replace(multi.model.config, multi_label=False)
    twin_model = TextCNN(config)
    twin_model.load_state_dict(multi.model.state_dict())
    twin_model.eval()
    inference = install(twin_model)
    twin = Predictor(twin_model, multi.vocab, replace(multi.info, thresholds=()), inference=inference)
    rates: dict[str, list[float]] = {"multi_label": [], "single_label": []}
    pair = [("multi_label", multi), ("single_label", twin)]
    for repeat in range(repeats):
        for name, predictor in pair if repeat % 2 else pair[::-1]:  # neither always runs first
            started = time.perf_counter()
            predictor.classify(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    medians: dict[str, Any] = {
        f"{name}_docs_per_s": round(statistics.median(r), 1) for name, r in rates.items()
    }
    medians["ratio"] = round(medians["multi_label_docs_per_s"] / medians["single_label_docs_per_s"], 3)
    with tempfile.TemporaryDirectory() as folder:
        twin_dir = artifact.save(Path(folder) / "twin", twin_model, twin.vocab, twin.info)
        medians["http"] = http({"multi_label": directory, "single_label": twin_dir}, texts, repeats, duration)
    return medians


def http(
    models: dict[str, Path], texts: Sequence[str], repeats: int, duration: float
) -> dict[str, dict[str, Any]]:
    """`/classify` at concurrency 1 and 32 against a server of each model, started anew per repeat
    and in turns; medians of requests/s and p50 ms."""
    bodies = [json.dumps({"text": text}).encode() for text in texts]
    runs: dict[str, list[dict[str, Any]]] = {f"{m} c={c}": [] for m in models for c in (1, 32)}
    names = list(models)
    for repeat in range(repeats):
        for name in names if repeat % 2 else names[::-1]:
            with server({"TEXTCNN_MODEL_DIR": str(models[name])}) as (port, _):
                for concurrency in (1, 32):
                    runs[f"{name} c={concurrency}"].append(
                        asyncio.run(load(port, "/classify", bodies, concurrency, duration))
                    )
    return {
        key: {
            "requests_per_s": statistics.median(r["requests_per_s"] for r in results),
            "p50_ms": statistics.median(r["p50_ms"] for r in results),
            "statuses": results[-1]["statuses"],
        }
        for key, results in runs.items()
    }


def markdown_table(result: dict[str, Any]) -> str:
    """Mean ± std over the models beside the baseline, in percent."""

    def cell(values: Sequence[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.2f}"
        return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"

    models = result["models"]
    rows = ["| system | dev micro-F1 | " + " | ".join(f"test {k}" for k in FIGURES) + " |"]
    rows.append("|---" * (2 + len(FIGURES)) + "|")
    for name, key in (("textcnn, learned thresholds", "learned"), ("textcnn, threshold 0.5", "0.5")):
        dev = cell([m[f"dev_{key}"]["micro_f1"] for m in models])
        test = [cell([m[f"test_{key}"][k] for m in models]) for k in FIGURES]
        rows.append(f"| {name} ({len(models)} seeds) | {dev} | " + " | ".join(test) + " |")
    base = result["baseline"]
    test = [f"{base['test'][k]:.2f}" for k in FIGURES]
    rows.append(
        f"| TF-IDF + LinearSVC (C {base['C']:g} on dev) | {base['dev']['micro_f1']:.2f} | "
        + " | ".join(test)
        + " |"
    )
    speed = result["speed"]
    rows.append(
        f"\nLibrary classify: {speed['multi_label_docs_per_s']} docs/s multi-label, "
        f"{speed['single_label_docs_per_s']} single-label twin (ratio {speed['ratio']})"
    )
    for key, run in speed["http"].items():
        rows.append(f"HTTP /classify {key}: {run['requests_per_s']} req/s, p50 {run['p50_ms']} ms")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
