import gzip
import json
import re
from pathlib import Path

import pytest

from training import data
from training.data import DataError, Example, Fields, holdout, load_examples, stream_rows


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_reads_labels_summaries_and_lists(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"text": "A b c.", "label": 1, "summary": ["A b c."]},
            {"text": "D e f.", "label": 0, "summary": None},
            {"text": "  ", "label": 1},
        ],
    )
    examples = load_examples(source)
    assert [(e.text, e.label, e.summary) for e in examples] == [
        ("A b c.", "1", "A b c."),
        ("D e f.", "0", None),
    ]


def test_csv_parquet_and_field_mapping(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("body,category\nHello there.,greeting\nBye now.,farewell\n")
    examples = load_examples(str(tmp_path / "d.csv"), fields=Fields(text="body", label="category"))
    assert [e.label for e in examples] == ["greeting", "farewell"]
    import datasets

    datasets.Dataset.from_dict({"text": ["x y", "z"], "label": ["a", "b"]}).to_parquet(
        str(tmp_path / "d.parquet")
    )
    assert len(load_examples(str(tmp_path / "d.parquet"))) == 2


def test_gzipped_real_data() -> None:
    examples = load_examples("data/bbc_news_summary/train.jsonl.gz")
    assert len(examples) == 1781
    assert all(e.label and e.summary for e in examples)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"body": "x", "label": "a"}], "no 'text' field"),
        ([{"text": "", "label": "a"}, {"text": None, "label": "b"}], "no usable rows"),
        ([{"text": "x"}], "no row has a 'label' or 'summary'"),
        ([{"text": 5, "label": "a"}], "'text' must be a string"),
        ([{"text": "x", "label": {"a": 1}}], "'label' must be a string, an integer or a list of them"),
    ],
)
def test_clear_errors(tmp_path: Path, rows: list[dict[str, object]], message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_examples(write_jsonl(tmp_path / "d.jsonl", rows))


def test_empty_missing_and_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_examples(str(tmp_path / "empty.jsonl"))
    with pytest.raises(DataError, match="no such file"):
        load_examples(str(tmp_path / "missing.jsonl"))
    (tmp_path / "d.txt").write_text("hello")
    with pytest.raises(DataError, match="unknown file type"):
        load_examples(str(tmp_path / "d.txt"))


def test_holdout_is_seeded_and_disjoint(tmp_path: Path) -> None:
    examples = load_examples(
        write_jsonl(tmp_path / "d.jsonl", [{"text": f"t{i}", "label": "a"} for i in range(50)])
    )
    train, dev = holdout(examples, 0.1, seed=3)
    assert len(dev) == 5 and len(train) == 45
    assert {e.text for e in train}.isdisjoint(e.text for e in dev)
    assert holdout(examples, 0.1, seed=3) == (train, dev)


def test_save_to_disk_folders(tmp_path: Path) -> None:
    import datasets

    table = datasets.Dataset.from_dict({"text": ["one two", "three"], "label": ["a", "b"]})
    table.save_to_disk(str(tmp_path / "plain"))
    assert [e.label for e in load_examples(str(tmp_path / "plain"))] == ["a", "b"]
    datasets.DatasetDict({"train": table, "test": table.select([1])}).save_to_disk(str(tmp_path / "dict"))
    assert [e.text for e in load_examples(str(tmp_path / "dict"), split="test")] == ["three"]


def test_gzipped_csv_and_bad_summary_type(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "d.csv.gz").write_bytes(gzip.compress(b"text,label\nHello.,x\nBye.,y\n"))
    assert [e.label for e in load_examples(str(tmp_path / "d.csv.gz"))] == ["x", "y"]
    with pytest.raises(DataError, match=r"row 1: 'summary' must be a string or a list of strings, got int"):
        load_examples(write_jsonl(tmp_path / "s.jsonl", [{"text": "x", "summary": 3}]))


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "broken.jsonl").write_text('{"text": "fine", "label": "a"}\n{"text": \n')
    with pytest.raises(DataError, match=r"broken\.jsonl line 2: not valid JSON"):
        load_examples(str(tmp_path / "broken.jsonl"))


def test_hub_names_pass_config_and_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network here: the hub call is replaced, the code path up to it is the real one."""
    import datasets

    calls = []

    def fake_load_dataset(name: str, config: str | None, *, split: str, streaming: bool) -> datasets.Dataset:
        calls.append((name, config, split, streaming))
        return datasets.Dataset.from_dict({"text": ["a b"], "label": [2]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert load_examples("hub:ag_news", split="train[:10]", config="default")[0].label == "2"
    assert list(stream_rows("nyu-mll/glue", split="validation", config="sst2")) == [
        {"text": "a b", "label": 2}
    ]
    assert calls == [
        ("ag_news", "default", "train[:10]", False),
        ("nyu-mll/glue", "sst2", "validation", True),
    ]


def test_stream_rows_reads_gzip_lazily_and_reports_bad_files(tmp_path: Path) -> None:
    rows = stream_rows("data/bbc_news_summary/train.jsonl.gz")
    first = next(rows)
    assert {"id", "text", "label", "summary"} <= set(first)
    assert 1 + sum(1 for _ in rows) == 1781
    (tmp_path / "broken.jsonl").write_text('{"text": "fine"}\n{"text": \n')
    with pytest.raises(DataError, match="line 2: not valid JSON"):
        list(stream_rows(str(tmp_path / "broken.jsonl")))
    with pytest.raises(DataError, match="no such file"):
        list(stream_rows(str(tmp_path / "missing.jsonl")))


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"text": "a", "label": "x"}\n{"text": "b\xff", "label": "y"}\n', "line 2: invalid UTF-8"),
        (b'{"text": "a", "label": "x"}\n{"text": "b\x00", "label": "y"}\n', "line 2: a NUL byte"),
        (
            b'{"text": "a", "label": "x"}\n{"text": "b", "lab',
            "line 2: not valid JSON (the last line, cut short?)",
        ),
        (
            b'{"text": "a", "label": "x"}\n{"text": "b", "label": 3}\n',
            "row 2: label 3 is of type int, but row 1",
        ),
    ],
)
def test_a_bad_training_file_names_the_file_the_line_and_the_fault(
    tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^{re.escape(str(path))} {re.escape(said)}"):
        load_examples(str(path))


def test_a_column_first_seen_after_the_schema_bytes_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "_SCHEMA_BYTES", 10)
    path = tmp_path / "late.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y", "topic": "z"}\n')
    with pytest.raises(DataError, match=r"late\.jsonl line 2: field\(s\) \['topic'\] first appear here"):
        load_examples(str(path))


def test_a_huge_document_is_refused_naming_its_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MAX_TEXT_CHARACTERS", 100)
    source = write_jsonl(
        tmp_path / "d.jsonl", [{"text": "a b.", "label": "x"}, {"text": "w " * 60, "label": "y"}]
    )
    with pytest.raises(DataError, match=r"row 2: 'text' has 120 characters, over the limit of 100; split"):
        load_examples(source)


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("header.csv", b"text,label\n", "a header line and no rows"),
        ("blank.jsonl", b"\n\n", "no rows, only blank lines"),
        ("plain.jsonl.gz", b'{"text": "a", "label": "x"}\n', "not a gzip file, though its name ends in .gz"),
        ("plain.json.gz", b'[{"text": "a", "label": "x"}]', "not a gzip file, though its name ends in .gz"),
        (
            "cut.csv.gz",
            gzip.compress(b"text,label\n" + b"Hello there.,x\n" * 200)[:60],
            "the file is cut short",
        ),
    ],
)
def test_a_file_with_no_rows_or_broken_gzip_says_so(
    tmp_path: Path, name: str, content: bytes, said: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: .*{re.escape(said)}"):
        load_examples(str(path))


def test_a_misspelt_label_or_summary_field_lists_the_columns(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", [{"body": "A b.", "topic": "x", "gist": "A b."}])
    with pytest.raises(
        DataError,
        match=re.escape(
            "no 'topc' field (columns: ['body', 'gist', 'topic']); name the label column with --label-field"
        ),
    ):
        load_examples(source, fields=Fields(text="body", label="topc", summary="gist"))
    with pytest.raises(DataError, match=r"no 'gst' field .* name the summary column with --summary-field"):
        load_examples(source, fields=Fields(text="body", label="topic", summary="gst"))
    # the default names may be absent: the tasks follow the columns there are
    assert load_examples(source, fields=Fields(text="body", label="topic")) == [Example("A b.", "x")]


def test_a_bare_name_is_not_looked_up_on_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the hub was asked")

    monkeypatch.setattr(datasets, "load_dataset", no_network)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(
        DataError,
        match=re.escape(
            "my_train: neither a file nor a folder; for a Hugging Face hub dataset write hub:my_train"
        ),
    ):
        load_examples("my_train")
    with pytest.raises(DataError, match=r"^data/train: no such file or folder$"):
        list(stream_rows("data/train"))


def test_rows_with_an_empty_label_are_counted_not_kept_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "d.csv").write_text("text,label\nHello.,a\nBye.,\nSee you.,b\nLater.,\n")
    assert load_examples(str(tmp_path / "d.csv")) == [Example("Hello.", "a"), Example("See you.", "b")]
    assert "d.csv: skipped 2 rows with neither a 'label' nor a 'summary' (first: row 2)" in caplog.text
    caplog.clear()
    source = write_jsonl(
        tmp_path / "mixed.jsonl",
        [{"text": "A.", "label": "x", "summary": "A."}, {"text": "B.", "label": "", "summary": "B."}],
    )
    assert [e.label for e in load_examples(source)] == ["x", None]
    assert "mixed.jsonl: 1 rows have no 'label' (first: row 2); they train only the summarizer" in caplog.text


def test_local_files_leave_no_arrow_copy_in_the_datasets_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    (tmp_path / "d.csv").write_text("text,label\nHello.,a\n")
    assert len(load_examples(str(data_dir / "bbc_dev.jsonl"))) == 20
    assert len(load_examples(str(tmp_path / "d.csv"))) == 1
    assert list((tmp_path / "cache").rglob("*.arrow")) == []
