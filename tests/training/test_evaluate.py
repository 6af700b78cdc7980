"""Evaluate reads the model directory's columns, refuses labels it never learned, and reports
fractions as metrics.json and /v1/model do."""

import json
import re
from pathlib import Path

import pytest

from textcnn import Predictor
from training.batch_predict import main as predict_main
from training.data import load_examples
from training.evaluate import evaluate, main
from training.run_config import TrainConfig
from training.train import train


@pytest.fixture(scope="module")
def renamed_model(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path]:
    """A tiny TREC classifier trained on columns named question/kind, and that training file."""
    folder = tmp_path_factory.mktemp("renamed")
    rows = [json.loads(line) for line in (data_dir / "trec_train.jsonl").read_text().splitlines()]
    source = folder / "questions.jsonl"
    source.write_text("".join(json.dumps({"question": r["text"], "kind": r["label"]}) + "\n" for r in rows))
    config = TrainConfig(
        train=str(source),
        out=str(folder / "model"),
        text_field="question",
        label_field="kind",
        embedding_mode="rand",
        embedding_dim=16,
        num_filters=8,
        min_freq=1,
        epochs=2,
        patience=2,
        quiet=True,
    )
    return train(config), source


def evaluated(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    main(list(args))
    printed: dict[str, object] = json.loads(capsys.readouterr().out)
    return printed


def test_the_columns_come_from_the_model_directory(
    renamed_model: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model, source = renamed_model
    metrics = evaluated(capsys, "--model", str(model), "--data", str(source))
    assert metrics["n_docs"] == 300
    with pytest.raises(SystemExit, match=re.escape("no 'text' field (columns: ['kind', 'question'])")):
        main(["--model", str(model), "--data", str(source), "--text-field", "text"])


def test_figures_are_fractions_of_the_percent_tables(
    bbc_model_dir: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(data_dir / "bbc_dev.jsonl")
    printed = evaluated(capsys, "--model", str(bbc_model_dir), "--data", data)
    percent = evaluate(Predictor.load(bbc_model_dir), load_examples(data))
    for key in ("accuracy", "macro_f1", "rouge1", "rouge2", "rougeLsum"):
        assert printed[key] == round(percent[key] / 100, 4)
    lead3 = printed["lead3"]
    assert isinstance(lead3, dict) and lead3["rouge1"] == round(percent["lead3"]["rouge1"] / 100, 4)
    dev_accuracy = json.loads((bbc_model_dir / "metrics.json").read_text())["dev"]["dev_accuracy"]
    assert 0 < dev_accuracy <= 1 and 0 < float(str(printed["accuracy"])) <= 1  # one unit


def test_labels_the_model_never_learned_are_refused_skipped_or_scored(
    bbc_model_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.loads(line) for line in (data_dir / "bbc_dev.jsonl").read_text().splitlines()]
    for row in rows[:5]:
        row["label"] = "weather"
    source = tmp_path / "d.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["--model", str(bbc_model_dir), "--data", str(source)]
    with pytest.raises(
        SystemExit, match=r"^error: 5 of 20 labelled rows have labels the model never learned: "
    ):
        main(common)
    skipped = evaluated(capsys, *common, "--unknown-labels", "skip")
    scored = evaluated(capsys, *common, "--unknown-labels", "score")
    assert skipped["unknown_labels"] == scored["unknown_labels"] == {"weather": 5}
    known = evaluated(capsys, "--model", str(bbc_model_dir), "--data", str(data_dir / "bbc_dev.jsonl"))
    predictor = Predictor.load(bbc_model_dir)
    right = sum(
        c.label == r["label"]
        for c, r in zip(predictor.classify([r["text"] for r in rows]), rows, strict=True)
    )
    assert skipped["accuracy"] == round(right / 15, 4)
    assert scored["accuracy"] == round(right / 20, 4)
    assert "unknown_labels" not in known


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--ratio", "0"], "--ratio must be in (0, 1], got 0.0"),
        (["--max-sentences", "-1"], "--max-sentences must be at least 1, got -1"),
    ],
)
def test_a_bad_summary_length_gets_one_line(
    bbc_model_dir: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], said: str
) -> None:
    with pytest.raises(SystemExit):
        main(["--model", str(bbc_model_dir), "--data", str(data_dir / "bbc_dev.jsonl"), *flags])
    assert capsys.readouterr().err.splitlines()[-1].endswith(said)


def test_predict_reads_the_model_s_text_column_too(renamed_model: tuple[Path, Path], tmp_path: Path) -> None:
    model, source = renamed_model
    out = tmp_path / "preds.jsonl"
    predict_main(["--model", str(model), "--data", str(source), "--out", str(out), "--quiet"])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    texts = [json.loads(line)["question"] for line in source.read_text().splitlines()]
    assert [line["label"] for line in lines] == [c.label for c in Predictor.load(model).classify(texts)]
