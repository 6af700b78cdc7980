"""The classification benchmark: which protocol each data layout gets, that test rows never reach
training or dev, and the command end to end on a small real slice."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.classification import plan, resolve_sources
from training.data import DataError, Fields

FIELDS = Fields("text", "label")
# benchmarks/ is not installed: `python -m benchmarks...` runs from the checkout.
ROOT = Path(__file__).resolve().parents[2]


def _rows(n: int, *, folds: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(n):
        row: dict[str, object] = {"text": f"document {i} says {'good' if i % 2 else 'bad'}", "label": i % 2}
        if folds:
            row["fold"] = i % 5
        row["summary"] = "a summary the benchmark must ignore"
        rows.append(row)
    return rows


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_sources_follow_the_files(tmp_path: Path) -> None:
    _write(tmp_path / "split" / "train.jsonl", _rows(10, folds=False))
    _write(tmp_path / "split" / "test.jsonl", _rows(4, folds=False))
    _write(tmp_path / "split" / "README.md", [])
    assert set(resolve_sources([str(tmp_path / "split")])) == {"train", "test"}
    single = _write(tmp_path / "cv" / "all.jsonl", _rows(10, folds=True))
    assert resolve_sources([str(single)]) == {"all": single}
    assert resolve_sources([str(tmp_path / "cv")]) == {"all": single}
    only_train = _write(tmp_path / "t" / "train.jsonl", _rows(10, folds=False))
    assert resolve_sources([str(only_train.parent)]) == {"all": only_train}
    with pytest.raises(DataError, match="name split files"):
        resolve_sources([str(tmp_path / "split" / "test.jsonl"), str(tmp_path / "split" / "README.md")])
    with pytest.raises(DataError, match="needs a train split"):
        resolve_sources([str(tmp_path / "split" / "test.jsonl")] * 2)


def test_cross_validation_over_the_fold_field(tmp_path: Path) -> None:
    source = _write(tmp_path / "all.jsonl", _rows(50, folds=True))
    protocol, splits = plan({"all": source}, FIELDS, [1, 2], 10, None, "fold", 0.1)
    assert protocol.startswith("5-fold cross-validation over the 'fold' field")
    assert len(splits) == 10 and [s.seed for s in splits] == [1] * 5 + [2] * 5
    for split in splits:
        test = {e.text for e in split.test}
        assert len(test) == 10 and {int(t.split()[1]) % 5 for t in test} == {split.fold}
        assert not test & {e.text for e in split.train + split.dev}
        assert len(split.dev) == 4 and len(split.train) == 36
        assert all(e.summary is None for e in split.train)  # classification only
    assert {e.text for e in splits[0].dev} != {e.text for e in splits[5].dev}  # dev follows the seed


def test_seeded_stratified_folds_without_a_fold_field(tmp_path: Path) -> None:
    source = _write(tmp_path / "all.jsonl", _rows(40, folds=False))
    protocol, splits = plan({"all": source}, FIELDS, [1], 4, 2, "fold", 0.1)
    assert "seeded stratified folds" in protocol and "only the first 2 folds" in protocol
    assert len(splits) == 2
    for split in splits:
        assert len(split.test) == 10
        assert sorted(e.label for e in split.test) == ["0"] * 5 + ["1"] * 5


def test_a_test_split_is_used_as_is_and_dev_held_out_of_train(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.jsonl", _rows(30, folds=False))
    test = _write(tmp_path / "test.jsonl", _rows(6, folds=False))
    protocol, splits = plan({"train": train, "test": test}, FIELDS, [1, 2, 3], 10, None, "fold", 0.1)
    assert protocol.startswith("train/dev/test, dev a seeded 10% of train")
    assert [(len(s.train), len(s.dev), len(s.test), s.fold) for s in splits] == [(27, 3, 6, None)] * 3


@pytest.mark.slow
def test_benchmark_command_end_to_end(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.classification",
        "--data",
        str(data_dir / "trec_train.jsonl"),
        "--modes",
        "rand",
        "multichannel",
        "--seeds",
        "1",
        "2",
        "--folds",
        "5",
        "--max-folds",
        "2",
        "--out",
        str(out),
        "--",
        "--embedding-dim",
        "16",
        "--num-filters",
        "8",
        "--epochs",
        "2",
        "--min-freq",
        "1",
        "--embeddings",
        "fasttext",
        "--bag-of-words",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    saved = json.loads(out.read_text())
    assert len(saved["runs"]) == 2 * 2 * 3  # seeds x folds x (two modes + baseline)
    assert {r["system"] for r in saved["runs"]} == {"rand", "multichannel", "tfidf+logreg"}
    assert all(r["test_docs"] == 60 and 0 <= r["accuracy"] <= 100 for r in saved["runs"])
    summary = {row["system"]: row for row in saved["summary"]}
    assert summary["multichannel"]["runs"] == 4 and summary["multichannel"]["seeds"] == 2
    assert summary["multichannel"]["token_coverage"] > 0.5
    assert "token_coverage" not in summary["rand"]
    assert summary["tfidf+logreg"]["accuracy"] > 40  # 6 classes: far above chance
    assert saved["train_config"]["embeddings"] == "fasttext"
    # Each model's dev accuracy is the final model's, after the bag-of-words stage.
    models = [r for r in saved["runs"] if r["system"] != "tfidf+logreg"]
    assert all(r["dev_accuracy"] == round(100 * r["bag_stage"]["dev_accuracy"], 2) for r in models)
    assert "| multichannel | 4 |" in result.stdout and "wall time" in result.stdout
