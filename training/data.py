"""Loading labelled documents through Hugging Face `datasets`, with clear errors for bad input.

A source is a local file (.jsonl/.json/.csv/.parquet, optionally .gz), a folder written by
`Dataset.save_to_disk`, or a hub dataset name. Rows carry a text and optionally a label and a
reference summary (a string, or a list of sentences).
"""

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textcnn.errors import InputError

logger = logging.getLogger(__name__)

_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class DataError(InputError):
    """A dataset cannot be used: missing file or field, wrong types, or no usable rows."""


@dataclass(frozen=True)
class Fields:
    """Column names in the source data."""

    text: str = "text"
    label: str = "label"
    summary: str = "summary"


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None = None
    summary: str | None = None  # reference summary, sentences separated by newlines


def load_examples(
    source: str, *, fields: Fields = Fields(), split: str = "train", config: str | None = None
) -> list[Example]:
    """Read every usable row of `source`. Raises DataError when nothing usable remains."""
    rows = _load_rows(source, split=split, config=config)
    columns = set(rows.column_names)
    if fields.text not in columns:
        raise DataError(
            f"{source}: no {fields.text!r} field (columns: {sorted(columns)}); "
            "name the text column with --text-field"
        )
    examples: list[Example] = []
    skipped = 0
    for number, row in enumerate(rows, start=1):
        example = _example(row, fields, columns, where=f"{source} row {number}")
        if example is None:
            skipped += 1
        else:
            examples.append(example)
    if skipped:
        logger.warning("%s: skipped %d rows with an empty text", source, skipped)
    if not examples:
        raise DataError(f"{source}: no usable rows (every {fields.text!r} is empty or missing)")
    if not any(e.label is not None or e.summary is not None for e in examples):
        raise DataError(
            f"{source}: no row has a {fields.label!r} or {fields.summary!r} to learn "
            "from; map your columns with --label-field / --summary-field"
        )
    return examples


def holdout(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Split off a seeded `fraction` of the examples (at least one) as a dev set."""
    if not 0 < fraction < 1:
        raise DataError(f"dev fraction must be in (0, 1), got {fraction}")
    if len(examples) < 2:
        raise DataError("need at least two examples to hold out a dev set; pass --dev")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    cut = max(1, round(fraction * len(examples)))
    dev = sorted(order[:cut])
    train = sorted(order[cut:])
    return [examples[i] for i in train], [examples[i] for i in dev]


def stream_rows(source: str, *, split: str = "train", config: str | None = None) -> Iterator[dict[str, Any]]:
    """The rows of `source` one at a time, never all in memory: files and hub datasets through
    datasets' streaming mode (read and decompressed in blocks), save_to_disk folders memory-mapped.
    Raises DataError, also for a file that turns out unreadable part way through."""
    rows = _load_rows(source, split=split, config=config, streaming=True)
    try:
        yield from rows
    except Exception as error:  # datasets raises many unrelated types for unreadable input
        raise DataError(f"{source}: cannot be read as a dataset: {error}") from error


def _load_rows(source: str, *, split: str, config: str | None, streaming: bool = False) -> Any:
    import datasets  # heavy; imported only when data is actually loaded

    path = Path(source)
    try:
        if path.is_dir():
            loaded = datasets.load_from_disk(str(path))
            return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        if path.exists():
            suffixes = [s.lower() for s in path.suffixes]
            if suffixes and suffixes[-1] in {".gz", ".bz2", ".xz", ".zst"}:
                suffixes = suffixes[:-1]
            builder = _BUILDERS.get(suffixes[-1] if suffixes else "")
            if builder is None:
                raise DataError(
                    f"{source}: unknown file type; use .jsonl, .json, .csv or .parquet (optionally gzipped)"
                )
            if path.stat().st_size == 0:
                raise DataError(f"{source}: the file is empty")
            return datasets.load_dataset(builder, data_files=str(path), split="train", streaming=streaming)
        if path.suffix or source.startswith((".", "/")):
            raise DataError(f"{source}: no such file")
        return datasets.load_dataset(source, config, split=split, streaming=streaming)
    except DataError:
        raise
    except Exception as error:  # datasets raises many unrelated types for unreadable input
        raise DataError(f"{source}: cannot be read as a dataset: {error}") from error


def _example(row: dict[str, Any], fields: Fields, columns: set[str], *, where: str) -> Example | None:
    text = row[fields.text]
    if text is None:
        return None
    if not isinstance(text, str):
        raise DataError(f"{where}: {fields.text!r} must be a string, got {type(text).__name__}")
    if not text.strip():
        return None
    label = row[fields.label] if fields.label in columns else None
    if label is not None and not isinstance(label, str | int | bool):
        raise DataError(
            f"{where}: {fields.label!r} must be a string or an integer, got {type(label).__name__}"
        )
    summary = row[fields.summary] if fields.summary in columns else None
    if isinstance(summary, list):
        if not all(isinstance(s, str) for s in summary):
            raise DataError(f"{where}: {fields.summary!r} must be a string or a list of strings")
        summary = "\n".join(summary)
    elif summary is not None and not isinstance(summary, str):
        raise DataError(
            f"{where}: {fields.summary!r} must be a string or a list of strings, got {type(summary).__name__}"
        )
    return Example(
        text=text,
        label=None if label is None else str(label),
        summary=summary if summary and summary.strip() else None,
    )
