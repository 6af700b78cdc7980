"""What a run leaves behind and shows: metrics.jsonl, plots linked from the card, label counts,
the written-back config, the summary table; bf16 autocast on the CPU; --config files."""

import json
from pathlib import Path

import pytest

from textcnn import DEFAULT_MODEL_DIR, Predictor, artifact
from training import config_file, report
from training.cli import parse_args
from training.run_config import TrainConfig, field_types
from training.train import train


def test_model_directory_reports_the_run(bbc_model_dir: Path) -> None:
    metrics = artifact.read_extra(bbc_model_dir, "metrics.json")
    lines = (bbc_model_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == metrics["history"]
    for name in ("learning_curves.png", "confusion_matrix.png"):
        assert (bbc_model_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (bbc_model_dir / "README.md").read_text()
    assert "![learning curves](learning_curves.png)" in card
    assert "![confusion matrix](confusion_matrix.png)" in card
    assert "| business | 12 | 4 |" in card  # documents per label, train and dev
    assert metrics["label_counts"]["train"] == dict.fromkeys(
        ["business", "entertainment", "politics", "sport", "tech"], 12
    )
    confusion = metrics["dev_confusion"]["matrix"]
    assert sum(map(sum, confusion)) == 20
    best = max(metrics["history"], key=lambda h: h["dev_score"])
    assert sum(confusion[i][i] for i in range(5)) / 20 == pytest.approx(best["dev_accuracy"])
    written = config_file.read(bbc_model_dir / "training.toml", field_types())
    assert TrainConfig(**written) == TrainConfig(**artifact.read_extra(bbc_model_dir, "training.json"))


def test_summary_table_marks_the_best_epoch(bbc_model_dir: Path) -> None:
    metrics = artifact.read_extra(bbc_model_dir, "metrics.json")
    table = report.summary_table(metrics, bbc_model_dir).splitlines()
    assert table[0].split() == ["epoch", "train_loss", "dev_accuracy", "dev_rouge1", "dev_score"]
    assert len(table) == len(metrics["history"]) + 2
    assert table[metrics["best_epoch"]].split()[0] == f"*{metrics['best_epoch']}"


def test_imbalance_and_counts() -> None:
    counts = report.label_counts(["a", "b", "a", None, "a"])
    assert counts == {"a": 3, "b": 1}
    assert report.imbalance(counts) == 3.0
    assert report.imbalance({"a": 5}) is None


def test_config_file_then_flags(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(
        'train = "t.jsonl"\ndev = "d.jsonl"\nout = "m"\ntrain-split = "x"\nepochs = 4\nlr = 1\n'
        "filter_widths = [2, 3]\n"
    )
    (tmp_path / "d.jsonl").write_text("{}\n")
    config = parse_args(["--config", str(tmp_path / "run.toml"), "--epochs", "7"])
    # relative paths are read from the file's folder where they are there; others stay as written
    assert (config.dev, config.out) == (str(tmp_path / "d.jsonl"), str(tmp_path / "m"))
    assert (config.train, config.train_split) == ("t.jsonl", "x")
    assert (config.epochs, config.lr, config.filter_widths) == (7, 1, [2, 3])  # the flag wins


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs = 3\nbogus = 1\n", "unknown settings ['bogus']"),
        ('epochs = "three"\n', "epochs must be int"),
        ("quiet = 1\n", "quiet must be bool"),
        ("epochs = \n", "Invalid value"),
        ('oracle_targets = "ranked"\n', "oracle_targets = 'ranked' is no longer supported; only 'binary'"),
        ('optimizer = "adadelta"\n', "optimizer = 'adadelta' is no longer supported; only 'adam'"),
    ],
)
def test_bad_config_files(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run.toml").write_text(text)
    with pytest.raises(SystemExit):
        parse_args(["--config", str(tmp_path / "run.toml"), "--train", "t", "--out", "m"])
    assert message in capsys.readouterr().err


def test_the_default_model_settings_still_read_with_their_retired_keys(tmp_path: Path) -> None:
    """Model directories written before some settings were retired hold them at the kept value."""
    shipped = DEFAULT_MODEL_DIR / config_file.FILENAME
    assert 'oracle_targets = "binary"' in shipped.read_text()
    config = parse_args(["--config", str(shipped), "--out", str(tmp_path / "rebuilt")])
    assert (config.embedding_mode, config.batch_size, config.lr) == ("non-static", 32, 1e-3)


def test_train_and_out_may_come_from_either(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--train", "t.jsonl"])
    assert "--out is required (as a flag or in --config)" in capsys.readouterr().err


@pytest.mark.slow
def test_bf16_autocast_trains_on_cpu(tmp_path: Path, data_dir: Path) -> None:
    """The GPU precision path (autocast to bfloat16) exercised where no GPU is available."""
    out = train(
        TrainConfig(
            train=str(data_dir / "bbc_train.jsonl"),
            out=str(tmp_path / "bf16"),
            embedding_mode="rand",
            embedding_dim=16,
            num_filters=8,
            context_dim=8,
            min_freq=1,
            max_steps=4,
            batch_size=8,
            device="cpu",
            precision="bf16",
            quiet=True,
        )
    )
    assert artifact.read_extra(out, "metrics.json")["precision"] == "bf16"
    predictor = Predictor.load(out)  # float32 weights, usable without autocast
    assert predictor.can_classify and predictor.can_summarize
    assert len(predictor.summarize(["One sentence here. And a second one."])) == 1
