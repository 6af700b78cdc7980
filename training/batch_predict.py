"""Batch prediction for corpora of any size: stream documents through a model into JSONL.

    python -m training.batch_predict --model runs/bbc --data corpus.jsonl.gz --out predictions.jsonl

Input is anything training reads (JSONL/JSON/CSV/Parquet, gzipped too, a save_to_disk folder, a hub
dataset with --split); it is streamed and handled --chunk-size documents at a time, so memory stays
flat however large the corpus. One output line per input row, in input order:

    {"row": 0, "id": ..., "label": "sport", "confidence": 0.97, "summary": ["..."], "sentences": [0]}

`row` counts input rows from 0, in the output and in error messages alike. `id` is copied from
--id-field when the input has it; label/confidence with --task classify or both, summary/sentences
(indices of the chosen sentences) with summarize or both. A multi-label model adds `labels`, the
labels chosen at its thresholds with their probabilities, highest first
(`"labels": {"grain": 0.91, "wheat": 0.62}`, maybe empty). The text column defaults to the one the
model was trained on. The output appears only when every row is written: a failed run leaves no
file (and an older output where it was).

A corpus across many machines or processes: `--shard I/N` predicts the rows whose index mod N is I
into `<--out>.shard-I-of-N`, and `--merge N --out <--out>` interleaves the N shard files back into
input order, the same bytes one unsharded run writes:

    python -m training.batch_predict --model runs/bbc --data corpus.jsonl.gz --out preds.jsonl --shard 0/4
    ...                                                                                   --shard 3/4
    python -m training.batch_predict --merge 4 --out preds.jsonl
"""

import argparse
import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from textcnn.predict import BATCH_SIZE, Predictor
from training import flags
from training.data import DataError, model_fields, stream_rows
from training.evaluate import add_length_flags
from training.exits import one_line_errors

logger = logging.getLogger(__name__)

TASKS = ("both", "classify", "summarize")


@dataclass(frozen=True)
class Shard:
    """The rows whose index mod `count` is `index`."""

    index: int = 0
    count: int = 1

    def path(self, out: str | Path) -> Path:
        """Where this shard's lines go: beside --out, named for the shard."""
        return Path(f"{out}.shard-{self.index}-of-{self.count}")

    def receipt(self, out: str | Path) -> Path:
        """Written after the shard's lines, so its presence says the shard finished."""
        return Path(f"{self.path(out)}.done")

    def rows(self, total: int) -> int:
        """How many of `total` input rows are this shard's."""
        return max(0, math.ceil((total - self.index) / self.count))


def parse_shard(text: str) -> Shard:
    """`I/N` with 0 <= I < N; argparse's type for --shard."""
    index, slash, count = text.partition("/")
    try:
        shard = Shard(int(index), int(count)) if slash else None
    except ValueError:
        shard = None
    if shard is None or not 0 <= shard.index < shard.count:
        raise argparse.ArgumentTypeError(f"must be I/N with 0 <= I < N, such as 0/4; got {text!r}")
    return shard


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.batch_predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", help="model directory (required unless --merge)")
    parser.add_argument("--data", help="file, save_to_disk folder or hub dataset (required unless --merge)")
    parser.add_argument("--out", required=True, help="JSONL file to write ('-' for stdout)")
    parser.add_argument("--task", choices=TASKS, default="both", help="both: whatever the model can do")
    parser.add_argument("--split", default="train", help="split of a hub dataset or save_to_disk folder")
    parser.add_argument("--dataset-config")
    parser.add_argument("--text-field", help="text column (default: the model's training data's)")
    parser.add_argument("--id-field", default="id")
    parser.add_argument("--chunk-size", type=int, default=512, help="documents in memory at a time")
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="documents per forward pass (at most)"
    )
    add_length_flags(parser)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument(
        "--shard",
        type=parse_shard,
        help="I/N: predict only rows whose index mod N is I, into <--out>.shard-I-of-N",
    )
    parser.add_argument("--merge", type=int, metavar="N", help="merge the N shard files of --out into --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.merge is not None:
        if args.model or args.data or args.shard:
            parser.error("--merge takes only --out: it joins the shard files a --shard run wrote")
        flags.check(parser, vars(args), {"merge": flags.AT_LEAST_1})
        merged = merge(args.out, args.merge)
        logger.info("merged %d rows from %d shards into %s", merged, args.merge, args.out)
        return
    for required in ("model", "data"):
        if not getattr(args, required):
            parser.error(f"--{required} is required (unless --merge)")
    if args.shard and args.out == "-":
        parser.error("--shard writes <--out>.shard-I-of-N; give --out a file, not '-'")
    flags.check(
        parser,
        vars(args),
        {"chunk_size": flags.AT_LEAST_1, "batch_size": flags.AT_LEAST_1, "threads": flags.AT_LEAST_1}
        | flags.SUMMARY_LENGTH,
    )
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    shard = args.shard or Shard()
    target = shard.path(args.out) if args.shard else args.out
    started = time.perf_counter()
    predictor = Predictor.load(args.model, batch_size=args.batch_size)
    rows = stream_rows(args.data, split=args.split, config=args.dataset_config)
    with _output(target) as out:
        count, total = predict(
            predictor,
            rows,
            out,
            task=args.task,
            text_field=args.text_field or model_fields(args.model).text,
            id_field=args.id_field,
            chunk_size=args.chunk_size,
            max_sentences=args.max_sentences,
            ratio=args.ratio,
            max_words=args.max_words,
            shard=shard,
            progress=not args.quiet,
            source=args.data,
        )
    if args.shard:
        _write_receipt(shard, args.out, count, total)
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
    ratio: float | None = None,
    max_words: int | None = None,
    shard: Shard = Shard(),
    progress: bool = False,
    source: str = "input",
) -> tuple[int, int]:
    """Write one JSON line per row of `shard` to `out`, `chunk_size` rows at a time; returns the
    rows written and the rows read. Raises UnsupportedTaskError for a task the model lacks,
    InputError for a bad summary length, and DataError for a row without a string text."""
    classify = task in {"both", "classify"} and (predictor.can_classify or task == "classify")
    summarize = task in {"both", "summarize"} and (predictor.can_summarize or task == "summarize")
    count = 0
    read = 0

    def numbered() -> Iterator[tuple[int, dict[str, Any]]]:
        """This shard's rows with their input index; every row is read, to count them all."""
        nonlocal read
        for number, row in enumerate(rows):
            read = number + 1
            if number % shard.count == shard.index:
                yield number, row

    with tqdm(unit=" docs", disable=not progress, desc="predict") as bar:
        for chunk in _chunks(numbered(), chunk_size):
            texts = [_text(row, text_field, f"{source} row {number}") for number, row in chunk]
            labels = predictor.classify(texts) if classify else None
            summaries = (
                predictor.summarize(texts, max_sentences=max_sentences, ratio=ratio, max_words=max_words)
                if summarize
                else None
            )
            for i, (number, row) in enumerate(chunk):
                record: dict[str, Any] = {"row": number}
                if id_field in row:
                    record["id"] = row[id_field]
                if labels is not None:
                    record |= {"label": labels[i].label, "confidence": round(labels[i].confidence, 5)}
                    if labels[i].labels is not None:
                        record["labels"] = {k: round(p, 5) for k, p in (labels[i].labels or {}).items()}
                if summaries is not None:
                    chosen = summaries[i].sentences
                    record |= {"summary": [s.text for s in chosen], "sentences": [s.index for s in chosen]}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += len(chunk)
            bar.update(len(chunk))
    return count, read


def merge(out: str | Path, count: int) -> int:
    """Interleave the `count` shard files of `out` into `out` in input order; returns the rows.
    Raises DataError, writing nothing, for a shard that is missing, unfinished, changed or from
    another input."""
    shards = [Shard(i, count) for i in range(count)]
    receipts = [_read_receipt(shard, out) for shard in shards]
    totals = {receipt["input_rows"] for receipt in receipts}
    if len(totals) > 1:
        raise DataError(
            f"the shards of {out} were run over inputs of different sizes ({sorted(totals)} rows); "
            "run every shard again over the same --data"
        )
    total = totals.pop()
    files = [shard.path(out).open("r", encoding="utf-8") for shard in shards]
    try:
        with _output(str(out)) as merged:
            for row in range(total):
                line = files[row % count].readline()
                if not line.startswith((f'{{"row": {row},', f'{{"row": {row}}}')):
                    raise DataError(
                        f"{shards[row % count].path(out)}: expected row {row}, found {line[:40]!r}"
                    )
                merged.write(line)
    finally:
        for file in files:
            file.close()
    return total


def _chunks(
    rows: Iterable[tuple[int, dict[str, Any]]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
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


@contextlib.contextmanager
def _output(target: str | Path) -> Iterator[TextIO]:
    """A file that appears at `target` only when the block finishes: written beside it under a
    temporary name and renamed, so a reader never sees half a file. '-' is stdout."""
    if str(target) == "-":
        yield sys.stdout
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            yield file
        os.chmod(temporary, 0o644)  # mkstemp's owner-only mode; predictions are meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_receipt(shard: Shard, out: str, rows: int, total: int) -> None:
    receipt = {
        "shard": shard.index,
        "of": shard.count,
        "rows": rows,
        "input_rows": total,
        "sha256": _sha256(shard.path(out)),
    }
    with _output(shard.receipt(out)) as file:
        file.write(json.dumps(receipt) + "\n")


def _read_receipt(shard: Shard, out: str | Path) -> dict[str, Any]:
    path, receipt_path = shard.path(out), shard.receipt(out)
    name = f"shard {shard.index}/{shard.count} of {out}"
    if not path.is_file():
        raise DataError(
            f"{name} is missing: {path} does not exist; run it with --shard {shard.index}/{shard.count}"
        )
    if not receipt_path.is_file():
        raise DataError(f"{name} did not finish: {receipt_path} does not exist; run the shard again")
    try:
        receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
        rows, total, digest = int(receipt["rows"]), int(receipt["input_rows"]), str(receipt["sha256"])
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{receipt_path} is not a shard receipt ({error}); run the shard again") from None
    if digest != _sha256(path) or rows != shard.rows(total):
        raise DataError(f"{path} is incomplete or changed since its shard finished; run the shard again")
    return {"rows": rows, "input_rows": total}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    main()
