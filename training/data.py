"""Loading labelled documents through Hugging Face `datasets`, with clear errors for bad input.

A source is a local file (.jsonl/.json/.csv/.parquet, optionally .gz), a folder written by
`Dataset.save_to_disk`, or a Hugging Face hub dataset: `owner/name`, or any hub name as `hub:name`.
A bare name that is neither a file nor a folder is refused rather than looked up on the hub, where a
misspelt file name would wait on the network and fail with a page of warnings. Rows carry a text and
optionally a label and a reference summary (a string, or a list of sentences). A label that is a list
(or a string split by `Fields.label_separator`) makes the row multi-label: it carries every label in
the list, and an empty list is a row to which no label applies.

Local files are streamed, never converted: `datasets.load_dataset` would keep an Arrow copy of every
file it reads under the user's cache, which grows with each new or edited file.

Local .jsonl and .csv files are read line by line once before `datasets` sees them, so that invalid
UTF-8, NUL bytes, a truncated last line or a column that first appears late are reported with the
file, the line and what is wrong (datasets reports them, if at all, without a line); so are a CSV
with a header and no rows, and a .gz file that is not gzip or is cut short. A document over
MAX_TEXT_CHARACTERS is refused naming its row: one such text would take the trainer's memory with it.
"""

import gzip
import itertools
import json
import logging
import random
import tomllib
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from textcnn import artifact
from textcnn.errors import InputError

logger = logging.getLogger(__name__)

_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
# Far above any news article or review (a long article is some 30,000 characters), and far below what
# exhausts a trainer: padding, activations and the sentence graph grow with the longest document.
MAX_TEXT_CHARACTERS = 1_000_000
# datasets' JSON builder reads the columns from its first block; a field first seen later fails it.
_SCHEMA_BYTES = 10 * 2**20
HUB_PREFIX = "hub:"


class DataError(InputError):
    """A dataset cannot be used: missing file or field, wrong types, or no usable rows."""


@dataclass(frozen=True)
class Fields:
    """Column names in the source data."""

    text: str = "text"
    label: str = "label"  # where the data has no such column but has "labels", that one
    summary: str = "summary"
    # Splits each label string into several labels (multi-label data in a CSV, e.g. "grain|wheat").
    label_separator: str | None = None


def model_fields(model_dir: str | Path) -> Fields:
    """The column names the model in `model_dir` was trained with (its training.toml, or the
    training.json of directories written before it was the one settings file), so that evaluating or
    predicting on data shaped like its training data needs no field flags; the defaults for a model
    directory without either."""
    settings = Path(model_dir) / "training.toml"
    if not settings.is_file():
        recorded = artifact.read_extra(model_dir, "training.json") or {}
    else:
        try:
            recorded = tomllib.loads(settings.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise DataError(f"{settings}: {error}") from error
    defaults = Fields()
    return Fields(
        text=str(recorded.get("text_field", defaults.text)),
        label=str(recorded.get("label_field", defaults.label)),
        summary=str(recorded.get("summary_field", defaults.summary)),
        label_separator=recorded.get("label_separator"),
    )


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None = None
    summary: str | None = None  # reference summary, sentences separated by newlines
    labels: tuple[str, ...] | None = None  # a multi-label row's labels (maybe none); label is then None

    @property
    def labelled(self) -> bool:
        """Whether the row trains a classifier: it has a label, or a (maybe empty) list of them."""
        return self.label is not None or self.labels is not None


def load_examples(
    source: str, *, fields: Fields = Fields(), split: str = "train", config: str | None = None
) -> list[Example]:
    """Read every usable row of `source`. Raises DataError when nothing usable remains, or for a
    field named other than its default that the data does not have."""
    loaded = _load_rows(source, split=split, config=config, streaming=_is_local_file(source))
    rows = _read(loaded, source)
    first = next(rows, None)
    # a streamed CSV names its columns only in its rows, and every row has all of them
    columns = set(loaded.column_names or (first or {}))
    fields = _label_column(fields, columns)
    _check_fields(source, fields, columns)
    examples: list[Example] = []
    numbers: list[int] = []  # each example's row number
    skipped = 0
    label_kinds: dict[type, int] = {}  # the type of each row's label, and the first row with it
    for number, row in enumerate(itertools.chain([] if first is None else [first], rows), start=1):
        where = f"{source} row {number}"
        example = _example(row, fields, columns, where=where)
        if example is None:
            skipped += 1
            continue
        if example.label is not None and fields.label_separator is None:
            kind = type(row[fields.label])
            label_kinds.setdefault(kind, number)
            if len(label_kinds) > 1:
                other = next(k for k in label_kinds if k is not kind)
                raise DataError(
                    f"{where}: label {row[fields.label]!r} is of type {kind.__name__}, but row "
                    f"{label_kinds[other]} has a label of type {other.__name__}; mixed types would train as "
                    "different classes ('1' and 1), so give every label one type"
                )
        examples.append(example)
        numbers.append(number)
    if skipped:
        logger.warning("%s: skipped %d rows with an empty text", source, skipped)
    if not examples:
        raise DataError(f"{source}: no usable rows (every {fields.text!r} is empty or missing)")
    if any(e.labels is not None for e in examples):
        examples = as_multi_label(examples)
    usable = [e for e in examples if e.labelled or e.summary is not None]
    if not usable:
        raise DataError(
            f"{source}: no row has a {fields.label!r} or {fields.summary!r} to learn from "
            f"(columns: {sorted(columns)}); map your columns with --label-field / --summary-field"
        )
    _warn_partial(source, fields, examples, numbers, labelled=bool(label_kinds))
    return usable


def _label_column(fields: Fields, columns: set[str]) -> Fields:
    """`fields` reading a "labels" column where the default "label" is absent, the usual name of
    multi-label data's column."""
    if fields.label == Fields.label and Fields.label not in columns and "labels" in columns:
        return replace(fields, label="labels")
    return fields


def as_multi_label(examples: Sequence[Example]) -> list[Example]:
    """The examples with every single label turned into a list of one, as multi-label rows."""
    return [replace(e, label=None, labels=(e.label,)) if e.label is not None else e for e in examples]


def label_set(example: Example) -> tuple[str, ...]:
    """A multi-label row's labels, or a single-label row's label as one; () for neither."""
    if example.labels is not None:
        return example.labels
    return () if example.label is None else (example.label,)


def _check_fields(source: str, fields: Fields, columns: set[str]) -> None:
    """Raise DataError for a text field the data lacks, or a label or summary field named on purpose
    (not its default) that the data lacks: without it that task would silently not train."""
    named = [(fields.text, "text", "--text-field")]
    named += [
        (name, kind, flag)
        for name, default, kind, flag in (
            (fields.label, Fields.label, "label", "--label-field"),
            (fields.summary, Fields.summary, "summary", "--summary-field"),
        )
        if name != default
    ]
    for name, kind, flag in named:
        if name not in columns:
            raise DataError(
                f"{source}: no {name!r} field (columns: {sorted(columns)}); "
                f"name the {kind} column with {flag}"
            )


def _warn_partial(
    source: str, fields: Fields, examples: Sequence[Example], numbers: Sequence[int], *, labelled: bool
) -> None:
    """Say how many rows learn nothing and are skipped, and, in a labelled dataset, how many have no
    label and so train only the summarizer; each with its first row."""
    empty = [n for n, e in zip(numbers, examples, strict=True) if not e.labelled and e.summary is None]
    if empty:
        logger.warning(
            "%s: skipped %d rows with neither a %r nor a %r (first: row %d)",
            source,
            len(empty),
            fields.label,
            fields.summary,
            empty[0],
        )
    summary_only = [n for n, e in zip(numbers, examples, strict=True) if not e.labelled and e.summary]
    if labelled and summary_only:
        logger.warning(
            "%s: %d rows have no %r (first: row %d); they train only the summarizer",
            source,
            len(summary_only),
            fields.label,
            summary_only[0],
        )


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
    yield from _read(_load_rows(source, split=split, config=config, streaming=True), source)


def _read(rows: Iterable[dict[str, Any]], source: str) -> Iterator[dict[str, Any]]:
    try:
        yield from rows
    except Exception as error:  # datasets raises many unrelated types for unreadable input
        raise DataError(f"{source}: cannot be read as a dataset: {error}") from error


def _is_local_file(source: str) -> bool:
    return not source.startswith(HUB_PREFIX) and Path(source).is_file()


def _load_rows(source: str, *, split: str, config: str | None, streaming: bool = False) -> Any:
    import datasets  # heavy; imported only when data is actually loaded

    path = Path(source)
    try:
        if source.startswith(HUB_PREFIX):
            return datasets.load_dataset(source[len(HUB_PREFIX) :], config, split=split, streaming=streaming)
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
            if path.suffix.lower() == ".gz" or suffixes[-1] in {".jsonl", ".csv"}:
                _check_file(path, kind=suffixes[-1])
            return datasets.load_dataset(builder, data_files=str(path), split="train", streaming=streaming)
        if _hub_form(source):
            return datasets.load_dataset(source, config, split=split, streaming=streaming)
        if path.suffix or source.startswith((".", "/")) or len(path.parts) > 1:
            raise DataError(f"{source}: no such file or folder")
        raise DataError(
            f"{source}: neither a file nor a folder; for a Hugging Face hub dataset write "
            f"{HUB_PREFIX}{source} (or owner/name)"
        )
    except DataError:
        raise
    except Exception as error:  # datasets raises many unrelated types for unreadable input
        raise DataError(f"{source}: cannot be read as a dataset: {error}") from error


def _hub_form(source: str) -> bool:
    """Whether a name that is not on disk reads as the hub's owner/name (its owner no local folder)."""
    owner, slash, name = source.partition("/")
    return bool(
        slash
        and owner
        and name
        and "/" not in name
        and not source.startswith(".")
        and not Path(owner).exists()
        and not Path(source).suffix
    )


def _check_file(path: Path, *, kind: str) -> None:
    """Raise DataError for a .gz file that is not gzip or is cut short, and for .jsonl and .csv (see
    _check_lines) the line of the first fault."""
    try:
        with gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb") as lines:
            if kind in {".jsonl", ".csv"}:
                _check_lines(path, lines, json_lines=kind == ".jsonl")
            else:
                while lines.read(1 << 20):
                    pass
    except gzip.BadGzipFile:
        raise DataError(f"{path}: not a gzip file, though its name ends in .gz") from None
    except EOFError:
        raise DataError(f"{path}: the gzip data ends early: the file is cut short; copy it again") from None
    except (OSError, zlib.error) as error:
        raise DataError(f"{path}: the gzip data is damaged ({error}); copy it again") from None


def _check_lines(path: Path, lines: Iterable[bytes], *, json_lines: bool) -> None:
    """Raise DataError naming the line of the first invalid UTF-8, NUL byte, and for JSON lines the
    first line that is not a whole object or brings a column after the bytes the schema comes from;
    and for a file with no rows (a CSV with only its header)."""
    columns: set[str] | None = None
    read = 0
    filled = 0  # lines that are not blank
    for number, raw in enumerate(lines, start=1):
        where = f"{path} line {number}"
        read += len(raw)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{where}: invalid UTF-8 at byte {error.start} of the line") from None
        if "\x00" in line:
            raise DataError(f"{where}: a NUL byte at character {line.index(chr(0))}; remove it")
        if not line.strip():
            continue
        filled += 1
        if not json_lines:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            ending = "" if raw.endswith(b"\n") else " (the last line, cut short?)"
            raise DataError(f"{where}: not valid JSON{ending}: {error.msg} at column {error.colno}") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: a JSON {type(row).__name__}, not an object with fields")
        if columns is None or read < _SCHEMA_BYTES:
            columns = (columns or set()) | set(row)  # datasets takes the schema from these bytes
        elif new := sorted(set(row) - columns):
            raise DataError(
                f"{where}: field(s) {new} first appear here, after the first "
                f"{_SCHEMA_BYTES // 2**20} MiB that fix the columns; give the first line every "
                "field (null where it has no value)"
            )
    if json_lines and not filled:
        raise DataError(f"{path}: no rows, only blank lines")
    if not json_lines and filled < 2:
        raise DataError(f"{path}: a header line and no rows")


def _example(row: dict[str, Any], fields: Fields, columns: set[str], *, where: str) -> Example | None:
    text = row[fields.text]
    if text is None:
        return None
    if not isinstance(text, str):
        raise DataError(f"{where}: {fields.text!r} must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARACTERS:
        raise DataError(
            f"{where}: {fields.text!r} has {len(text)} characters, over the limit of "
            f"{MAX_TEXT_CHARACTERS}; split the document into smaller ones"
        )
    if not text.strip():
        return None
    label = row[fields.label] if fields.label in columns else None
    labels = None
    if fields.label_separator is not None and fields.label in columns and label is None:
        label = ""  # with a separator, an empty cell is a row to which no label applies
    if isinstance(label, str) and fields.label_separator is not None:
        label = label.split(fields.label_separator)
    if isinstance(label, list):
        labels = _label_list(label, fields.label, where)
        label = None
    if isinstance(label, str) and not label.strip():
        label = None  # an empty CSV cell or "" is a missing label, never a class named ""
    if label is not None and not isinstance(label, str | int | bool):
        raise DataError(
            f"{where}: {fields.label!r} must be a string, an integer or a list of them, "
            f"got {type(label).__name__}"
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
        labels=labels,
    )


def _label_list(values: list[Any], field: str, where: str) -> tuple[str, ...]:
    """A multi-label row's labels: each a string or an integer; blanks dropped, repeats once."""
    labels: dict[str, None] = {}
    for value in values:
        if isinstance(value, str | int) and not isinstance(value, bool):
            if str(value).strip():
                labels[str(value).strip()] = None
        else:
            raise DataError(
                f"{where}: {field!r} lists a {type(value).__name__}; "
                "each label must be a string or an integer"
            )
    return tuple(labels)
