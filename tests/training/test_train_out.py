"""The trainer's command line: every bad number refused up front with its flag, an existing --out
never overwritten by accident, a failed run leaving no half-written model, a resumable and
repeatable record of the run, and a finished run saying where the model went."""

import json
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

import training.model_card
import training.plots
import training.trainer
from textcnn import Predictor, artifact
from training import checkpoint, config_file
from training.cli import main, parse_args
from training.data import load_examples
from training.evaluate import as_fractions, evaluate
from training.interrupt import Interrupted
from training.run_config import CONFIG_VERSION, TrainConfig, field_types
from training.train import train
from training.workspace import work_folder


def tiny(data_dir: Path, out: Path, **changes: Any) -> TrainConfig:
    """Two short epochs over 300 TREC questions: a classifier in seconds."""
    config = TrainConfig(
        train=str(data_dir / "trec_train.jsonl"),
        out=str(out),
        embedding_mode="rand",
        embedding_dim=8,
        num_filters=4,
        min_freq=1,
        epochs=2,
        patience=2,
        batch_size=32,
        seed=3,
        quiet=True,
    )
    return replace(config, **changes)


def refused(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        parse_args(args)
    assert stop.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--lr", "-1"], "--lr must be above 0, got -1.0"),
        (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
        (["--patience", "0"], "--patience must be at least 1, got 0"),
        (["--filter-widths", "3", "0"], "--filter-widths must be at least 1, got [3, 0]"),
        (["--embedding-dim", "0"], "--embedding-dim must be in [1, 4096], got 0"),
        (["--num-filters", "100000"], "--num-filters must be in [1, 4096], got 100000"),
        (["--filter-widths", "80"], "--filter-widths must be at most 64, got 80"),
        (["--dev-fraction", "1"], "--dev-fraction must be in (0, 1), got 1.0"),
        (["--min-freq", "0"], "--min-freq must be at least 1, got 0"),
        (["--max-steps", "0"], "--max-steps must be at least 1, got 0"),
        (["--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
        (["--summary-weight", "nan"], "--summary-weight must be at least 0, got nan"),
    ],
)
def test_every_bad_number_gets_one_line_with_its_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], said: str
) -> None:
    assert refused(capsys, ["--train", "t.jsonl", "--out", str(tmp_path / "m"), *flags]).endswith(said)


def test_a_bad_number_in_a_config_file_names_its_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run.toml").write_text('train = "t.jsonl"\nout = "m"\nbatch_size = 0\n')
    assert refused(capsys, ["--config", str(tmp_path / "run.toml")]).endswith(
        "--batch-size must be at least 1, got 0"
    )


def test_a_non_empty_out_is_refused_unless_overwrite(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("my notes\n")
    common = ["--train", str(data_dir / "trec_train.jsonl")]
    said = refused(capsys, [*common, "--out", str(notes)])
    assert said.endswith(
        f"--out {notes} holds files that are not a model (README.md); choose a new or empty folder"
    )
    said = refused(capsys, [*common, "--out", str(notes), "--overwrite"])
    assert "--overwrite replaces only a model directory" in said
    assert (notes / "README.md").read_text() == "my notes\n"
    model = train(tiny(data_dir, tmp_path / "model"))
    said = refused(capsys, [*common, "--out", str(model)])
    assert said.endswith(f"--out {model} holds a model; pass --overwrite to replace it")
    assert parse_args([*common, "--out", str(model), "--overwrite"]).overwrite
    (tmp_path / "file").write_text("x")
    assert refused(capsys, [*common, "--out", str(tmp_path / "file")]).endswith("is a file, not a folder")


@pytest.mark.slow
def test_overwrite_replaces_the_model_only_when_the_new_one_is_complete(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model"
    first = artifact.fingerprint(train(tiny(data_dir, out)))
    broken = training.model_card.render

    def failing(*args: Any) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(training.model_card, "render", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        train(tiny(data_dir, out, seed=4, overwrite=True))
    monkeypatch.setattr(training.model_card, "render", broken)
    assert artifact.fingerprint(out) == first  # the old model, whole and loadable
    Predictor.load(out)
    second = artifact.fingerprint(train(tiny(data_dir, out, seed=4, overwrite=True)))
    assert second != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left


@pytest.mark.slow
def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(training.trainer, "training_loss", failing)
    with pytest.raises(RuntimeError):
        train(tiny(data_dir, tmp_path / "model"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_resume_continues_a_kept_checkpoint_and_records_a_repeatable_run(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    first = train(tiny(data_dir, out, keep_checkpoint=True))
    assert checkpoint.path(first).is_file()
    kept = torch.load(checkpoint.path(first), weights_only=True)["setup"]["elapsed_seconds"]
    resumed = train(tiny(data_dir, out, epochs=3, patience=3, resume=True))
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
    # the whole run: the segment before the kept checkpoint and this one, not the last alone
    assert metrics["train_seconds"] >= kept > 0
    assert not checkpoint.path(out).exists() and not work_folder(out).exists()
    # the written settings repeat the run, not its resume, from any working directory
    written = config_file.read(out / "training.toml", field_types(), version=CONFIG_VERSION)
    assert written["resume"] is False and not (out / "training.json").exists()  # one settings file
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    repeat = parse_args(["--config", str(out / "training.toml"), "--out", "again"])
    assert Path(repeat.train).resolve() == (data_dir / "trec_train.jsonl").resolve()
    assert not repeat.resume and repeat.out == "again"
    assert "--resume" not in (out / "README.md").read_text()


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_work_folder(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    loss = training.trainer.training_loss
    calls = {"n": 0}

    def interrupting(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(signal.SIGINT)
        return loss(*args)

    monkeypatch.setattr(training.trainer, "training_loss", interrupting)
    with pytest.raises(Interrupted):
        train(tiny(data_dir, out))
    monkeypatch.undo()
    assert not out.exists() and checkpoint.path(work_folder(out)).is_file()
    args = ["--train", str(data_dir / "trec_train.jsonl"), "--out", str(out)]
    said = refused(capsys, args)
    assert said.endswith(
        "holds an unfinished run; add --resume to continue it, or --overwrite to start again"
    )
    train(tiny(data_dir, out, resume=True))
    assert Predictor.load(out).can_classify and not work_folder(out).exists()


@pytest.mark.slow
def test_a_finished_run_says_where_the_model_went_even_quietly(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    main(["--train", str(data_dir / "trec_train.jsonl"), "--out", str(out), "--embedding-mode", "rand",
          "--embedding-dim", "8", "--num-filters", "4", "--epochs", "1", "--quiet"])  # fmt: skip
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"model saved to {out}",
        f"  serve it:    TEXTCNN_MODEL_DIR={out} textcnn-serve",
        f"  evaluate it: python -m training.evaluate --model {out} --data TEST_FILE",
    ]


@pytest.mark.slow
def test_a_classifier_s_card_tells_the_figures_of_the_model_it_describes(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plotted: list[list[dict[str, Any]]] = []
    curves = training.plots.learning_curves

    def recording(history: list[dict[str, Any]], out: Path, best_epoch: int | None = None) -> Path:
        plotted.append(history)
        return curves(history, out, best_epoch)

    monkeypatch.setattr(training.plots, "learning_curves", recording)
    test = data_dir / "trec_train.jsonl"
    out = train(tiny(data_dir, tmp_path / "model", test=str(test)))
    card = (out / "README.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert card.startswith("# model\n\nA Kim (2014) CNN trained with textcnn for classification.")
    assert "summary length" not in card and "trigram" not in card
    stage = metrics["bag_stage"]
    assert metrics["served_dev"] == {"dev_accuracy": stage["dev_accuracy"]}
    assert (
        f"- Dev figures of this model: accuracy {stage['dev_accuracy']:.4f} (the bag-of-words stage's" in card
    )
    assert "The confusion matrix is the CNN's on dev before the bag-of-words stage" in card
    best = max(metrics["history"], key=lambda h: h["dev_score"])
    matrix = metrics["dev_confusion"]["matrix"]
    assert (
        round(sum(matrix[i][i] for i in range(len(matrix))) / sum(map(sum, matrix)), 5)
        == (best["dev_accuracy"])
    )
    measured = as_fractions(evaluate(Predictor.load(out), load_examples(str(test))))
    assert metrics["test"] == {"data": str(test), **measured}
    assert (
        f"- Test (`{test}`, 300 documents, measured once after training): accuracy {measured['accuracy']:.4f}"
        in card
    )
    # one line per distinct metric: dev_score only repeats dev_accuracy here
    assert plotted and all(set(r) == {"epoch", "train_loss", "dev_accuracy"} for r in plotted[0])


@pytest.mark.slow
def test_a_description_and_examples_go_into_the_model_directory(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = [{"title": "Where", "text": "Where is Boston?", "source": "TREC"}]
    (tmp_path / "examples.json").write_text(json.dumps(examples))
    description = "Answers what kind of thing a question asks for:\n a place, a person, a number."
    out = train(
        tiny(data_dir, tmp_path / "model", description=description, examples=str(tmp_path / "examples.json"))
    )
    assert artifact.card_description(out) == " ".join(description.split())
    assert artifact.read_examples(out) == examples
    assert "examples.json" in json.loads((out / artifact.MANIFEST).read_text())["files"]
    repeat = parse_args(["--config", str(out / config_file.FILENAME), "--out", str(tmp_path / "again")])
    assert Path(repeat.examples or "").resolve() == (tmp_path / "examples.json").resolve()
    assert repeat.description == description
    (tmp_path / "broken.json").write_text('[{"title": "no text"}]')
    said = refused(capsys, ["--train", "t.jsonl", "--out", "m", "--examples", str(tmp_path / "broken.json")])
    assert said.endswith(f'--examples: {tmp_path / "broken.json"} must be a list of {{"title": str, '
                         '"text": str, "source": str (optional)} objects')  # fmt: skip
    said = refused(capsys, ["--train", "t.jsonl", "--out", "m", "--examples", "missing.json"])
    assert said.endswith("--examples missing.json: no such file")
