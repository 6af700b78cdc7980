"""What a run leaves behind and shows: metrics.jsonl, plots linked from the card, label counts,
the written-back config, the summary table; bf16 autocast on the CPU; --config files."""

import json
import shlex
import subprocess
from dataclasses import fields, replace
from pathlib import Path

import pytest

from textcnn import DEFAULT_MODEL_DIR, Predictor, artifact
from training import config_file, report
from training.cli import parse_args
from training.run_config import CONFIG_VERSION, TrainConfig, field_types
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
    settings = (bbc_model_dir / "training.toml").read_text()
    assert settings.startswith(f"config_version = {CONFIG_VERSION}\n")
    read = config_file.read(bbc_model_dir / "training.toml", field_types(), version=CONFIG_VERSION)
    written = TrainConfig(**read)
    assert written.fused_adam and written.group_by_length and not written.resume


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


def test_retired_settings_read_at_the_value_that_stayed(tmp_path: Path) -> None:
    """Settings files written before some settings were retired hold them at the kept value."""
    (tmp_path / "run.toml").write_text('optimizer = "adam"\noracle_targets = "binary"\nepochs = 3\n')
    config = parse_args(["--config", str(tmp_path / "run.toml"), "--train", "t", "--out", "m"])
    assert config.epochs == 3 and not hasattr(config, "optimizer")


def test_a_newer_settings_version_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run.toml").write_text(f"config_version = {CONFIG_VERSION + 1}\n")
    with pytest.raises(SystemExit):
        parse_args(["--config", str(tmp_path / "run.toml"), "--train", "t", "--out", "m"])
    assert f"config_version {CONFIG_VERSION + 1} is not one this textcnn reads" in capsys.readouterr().err


def _paths_resolved(config: TrainConfig) -> TrainConfig:
    resolved = {
        name: str(Path(getattr(config, name) or "").resolve())
        for name in ("train", "dev", "test", "examples")
    }
    return replace(config, **resolved)


def test_the_default_model_settings_card_and_make_target_are_one_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped model's training.toml, its card's command and `make default-model` repeat one run."""
    root = DEFAULT_MODEL_DIR.parent.parent
    monkeypatch.chdir(root)  # the card and the Makefile name paths from the repository root
    out = ["--out", str(tmp_path / "rebuilt")]
    from_file = parse_args(["--config", str(DEFAULT_MODEL_DIR / config_file.FILENAME), *out])
    card = (DEFAULT_MODEL_DIR / "README.md").read_text()
    command = next(line for line in card.splitlines() if "python -m training.train --train" in line)
    from_card = parse_args([*shlex.split(command)[3:], *out])
    recipe = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "default-model", "PYTHON=python"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    from_make = parse_args([*shlex.split(recipe.replace("\\\n", " "))[3:], *out])
    same = [_paths_resolved(replace(c, overwrite=False)) for c in (from_file, from_card, from_make)]
    assert same[0] == same[1] == same[2]
    # The recipe is the training defaults: its flags only name the data, the model and its card.
    named = {"train", "dev", "test", "out", "name", "description", "examples", "threads", "overwrite"}
    defaults = TrainConfig(train="", out="")
    changed = {f.name for f in fields(TrainConfig) if getattr(from_make, f.name) != getattr(defaults, f.name)}
    assert changed <= named, changed - named


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
