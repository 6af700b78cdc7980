"""Batch prediction for corpora of any size: stream documents through a model into JSONL.

    python -m training.predict --model runs/bbc --data corpus.jsonl.gz --out predictions.jsonl

Input is anything training reads (JSONL/JSON/CSV/Parquet, gzipped too, a save_to_disk folder, a hub
dataset with --split); it is streamed and handled --chunk-size documents at a time, so memory stays
flat however large the corpus. One output line per input row, in input order:

    {"row": 0, "id": ..., "label": "sport", "confidence": 0.97, "summary": ["..."], "sentences": [0]}

`id` is copied from --id-field when the input has it; label/confidence with --task classify or
both, summary/sentences (indices of the chosen sentences) with summarize or both.
"""

import argparse
import contextlib
import itertools
import json
import logging
import resource
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from textcnn.errors import TextCNNError
from textcnn.predict import Predictor
from training.data import DataError, stream_rows

logger = logging.getLogger("training.predict")

TASKS = ("both", "classify", "summarize")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--data", required=True, help="file, save_to_disk folder or hub dataset name")
    parser.add_argument("--out", required=True, help="JSONL file to write ('-' for stdout)")
    parser.add_argument("--task", choices=TASKS, default="both", help="both: whatever the model can do")
    parser.add_argument("--split", default="train", help="split of a hub dataset or save_to_disk folder")
    parser.add_argument("--dataset-config")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--id-field", default="id")
    parser.add_argument("--chunk-size", type=int, default=512, help="documents in memory at a time")
    parser.add_argument("--batch-size", type=int, default=32, help="documents per forward pass")
    parser.add_argument("--max-sentences", type=int, help="summary length (default: the model's)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.chunk_size < 1 or args.batch_size < 1:
        parser.error("--chunk-size and --batch-size must be at least 1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    try:
        predictor = Predictor.load(args.model, batch_size=args.batch_size)
        rows = stream_rows(args.data, split=args.split, config=args.dataset_config)
        with _open(args.out) as out:
            count = predict(
                predictor,
                rows,
                out,
                task=args.task,
                text_field=args.text_field,
                id_field=args.id_field,
                chunk_size=args.chunk_size,
                max_sentences=args.max_sentences,
                progress=not args.quiet,
                source=args.data,
            )
    except TextCNNError as error:
        raise SystemExit(f"error: {error}") from None
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    logger.info(
        "%d documents in %.1f s (%.1f docs/s), peak RSS %.0f MiB", count, seconds, count / seconds, peak
    )


def predict(
    predictor: Predictor,
    rows: Iterable[dict[str, Any]],
    out: TextIO,
    *,
    task: str = "both",
    text_field: str = "text",
    id_field: str = "id",
    chunk_size: int = 512,
    max_sentences: int | None = None,
    progress: bool = False,
    source: str = "input",
) -> int:
    """Write one JSON line per row to `out`, `chunk_size` rows at a time; returns the row count.
    Raises UnsupportedTaskError for a task the model lacks and DataError for a row without a string text."""
    classify = task in {"both", "classify"} and (predictor.can_classify or task == "classify")
    summarize = task in {"both", "summarize"} and (predictor.can_summarize or task == "summarize")
    count = 0
    with tqdm(unit=" docs", disable=not progress, desc="predict") as bar:
        for chunk in _chunks(rows, chunk_size):
            texts = [_text(row, text_field, f"{source} row {count + i + 1}") for i, row in enumerate(chunk)]
            labels = predictor.classify(texts) if classify else None
            summaries = predictor.summarize(texts, max_sentences=max_sentences) if summarize else None
            for i, row in enumerate(chunk):
                record: dict[str, Any] = {"row": count + i}
                if id_field in row:
                    record["id"] = row[id_field]
                if labels is not None:
                    record |= {"label": labels[i].label, "confidence": round(labels[i].confidence, 5)}
                if summaries is not None:
                    chosen = summaries[i].sentences
                    record |= {"summary": [s.text for s in chosen], "sentences": [s.index for s in chosen]}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += len(chunk)
            bar.update(len(chunk))
    return count


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _text(row: dict[str, Any], field: str, where: str) -> str:
    """A row's text; a missing or null text predicts as the empty text, which has defined results."""
    text = row.get(field)
    if text is None:
        if field not in row:
            raise DataError(f"{where}: no {field!r} field (fields: {sorted(row)}); name it with --text-field")
        return ""
    if not isinstance(text, str):
        raise DataError(f"{where}: {field!r} must be a string, got {type(text).__name__}")
    return text


def _open(target: str) -> contextlib.AbstractContextManager[TextIO]:
    if target == "-":
        return contextlib.nullcontext(sys.stdout)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    return open(target, "w", encoding="utf-8")


if __name__ == "__main__":
    main()
