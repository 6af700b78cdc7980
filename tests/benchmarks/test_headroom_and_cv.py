"""The dev-only headroom check and the cross-validation of linear models (benchmarks/)."""

import json
from pathlib import Path

import pytest

from benchmarks import headroom_check, linear_cv


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_headroom_check_trains_both_sizes_and_an_ensemble_of_one_is_the_model(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "headroom.json"
    headroom_check.main(
        ["--data", str(data_dir / "trec_train.jsonl"), "--seeds", "1", "2", "--out", str(out), "--",
         "--embedding-mode", "rand", "--embedding-dim", "16", "--num-filters", "8", "--epochs", "2",
         "--min-freq", "1", "--threads", "1"]
    )  # fmt: skip
    result = json.loads(out.read_text())
    # One file without a test split is cross-validated: the first of ten folds holds 30 of the 300.
    assert (result["train_docs"], result["dev_docs"]) == (243, 27)
    assert [run["seed"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert run["train_docs"] == 243 - 24  # less the inner dev's tenth
        assert run["less_docs"] == run["train_docs"] - 22
        assert 0 <= run["less"] <= 100 and 0 <= run["all"] <= 100
    # An ensemble of one seed is that seed's own model, so its mean is the models' mean accuracy.
    mean_single = sum(run["all"] for run in result["runs"]) / 2
    assert result["ensemble_accuracy"]["1"] == pytest.approx(mean_single, abs=0.01)
    assert set(result["ensemble_accuracy"]) == {"1", "2"}
    gain = sum(run["all"] - run["less"] for run in result["runs"]) / 2
    assert result["tenth_more_gain"] == pytest.approx(gain, abs=0.01)


def test_linear_cv_reads_train_and_dev_only(tmp_path: Path) -> None:
    # Two classes told apart by one word; the test split would contradict every training row.
    rows = [{"text": f"{word} item {i}", "label": word} for i in range(20) for word in ("apple", "pear")]
    _write(tmp_path / "data" / "train.jsonl", rows[:32])
    _write(tmp_path / "data" / "dev.jsonl", rows[32:])
    flipped = [{"text": r["text"], "label": "pear" if r["label"] == "apple" else "apple"} for r in rows]
    _write(tmp_path / "data" / "test.jsonl", flipped)
    _write(tmp_path / "data" / "all.jsonl", rows + flipped)  # all the splits, test among them
    out = tmp_path / "cv.json"
    linear_cv.main(["--data", str(tmp_path / "data"), "--folds", "4", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["splits"] == ["train", "dev"] and result["rows"] == 40
    assert set(result["accuracy"].values()) == {100.0}


def test_linear_cv_groups_share_a_fold(tmp_path: Path) -> None:
    # Each group holds two copies of one text, labelled alike; a class word occurs in no other group.
    # Split apart, a copy would teach its twin's unique word; kept together, that word is unseen.
    rows = []
    for i in range(12):
        label = "a" if i % 2 else "b"
        rows += [{"text": f"unique{i}", "label": label, "group": f"g{i}"}] * 2
    _write(tmp_path / "data" / "all.jsonl", rows)
    out, data = tmp_path / "cv.json", str(tmp_path / "data")
    linear_cv.main(["--data", data, "--group-field", "group", "--folds", "3", "--out", str(out)])
    grouped = json.loads(out.read_text())["accuracy"]
    linear_cv.main(["--data", data, "--folds", "3", "--out", str(out)])
    ungrouped = json.loads(out.read_text())["accuracy"]
    assert max(grouped.values()) <= 60.0  # only the class prior is left to learn
    assert max(ungrouped.values()) > max(grouped.values())
