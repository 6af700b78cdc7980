import json
from pathlib import Path

import pytest

from training.data import DataError, Fields, holdout, load_examples


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
        ([{"text": "x", "label": [1]}], "'label' must be a string or an integer"),
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
