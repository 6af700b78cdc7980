"""The scorer stage trains the sentence scorer alone: the encoder and classifier stay as they were,
and the scorer keeps the weights of its best dev epoch, or the joint ones when none beats them."""

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from textcnn import artifact
from textcnn.model import TextCNN
from textcnn.predict import Predictor
from training.data import Example
from training.dev_choices import dev_rouge1
from training.device import place
from training.encoding import TrainingDocument, encode_documents
from training.scorer_refit import refit_scorer


def _examples(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [Example(r["text"], r["label"], r["summary"]) for r in rows]


@pytest.fixture()
def setup(
    bbc_model_dir: Path, data_dir: Path
) -> tuple[TextCNN, Predictor, list[TrainingDocument], list[Example]]:
    model, vocab, info = artifact.load(bbc_model_dir)
    predictor = Predictor(model, vocab, info)
    documents = encode_documents(_examples(data_dir / "bbc_train.jsonl"), predictor, info.labels, None)
    return model, predictor, documents, _examples(data_dir / "bbc_dev.jsonl")


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _refit(
    setup: tuple[TextCNN, Predictor, list[TrainingDocument], list[Example]],
    *,
    epochs: int,
    patience: int,
    lr: float,
) -> dict[str, Any]:
    """The scorer stage on the fixture's model, scored by its dev ROUGE-1."""
    model, predictor, documents, dev = setup
    return refit_scorer(
        model,
        documents,
        dev_rouge1=lambda: dev_rouge1(predictor, dev),
        placement=place("cpu", "fp32"),
        epochs=epochs,
        patience=patience,
        batch_size=8,
        lr=lr,
        seed=1,
    )


def test_only_the_scorer_changes_and_it_keeps_its_best_dev_epoch(
    setup: tuple[TextCNN, Predictor, list[TrainingDocument], list[Example]],
) -> None:
    model, predictor, _, dev = setup
    assert model.scorer is not None and model.classifier is not None
    encoder, classifier, scorer = _state(model.encoder), _state(model.classifier), _state(model.scorer)
    stage = _refit(setup, epochs=4, patience=4, lr=3e-3)
    assert len(stage["history"]) == 4
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in encoder.items())
    assert all(torch.equal(v, model.classifier.state_dict()[k]) for k, v in classifier.items())
    # The model now holds the kept scorer: its dev ROUGE-1 is the one reported, never below the joint.
    assert dev_rouge1(predictor, dev) == pytest.approx(stage["dev_rouge1"], abs=1e-5)
    assert stage["dev_rouge1"] >= stage["dev_rouge1_joint"]
    best = max(r["dev_rouge1"] for r in stage["history"])
    if best > stage["dev_rouge1_joint"]:
        assert stage["history"][stage["kept_epoch"] - 1]["dev_rouge1"] == best
        assert any(not torch.equal(v, model.scorer.state_dict()[k]) for k, v in scorer.items())
    assert all(p.requires_grad for p in model.parameters())  # the stage leaves nothing frozen


def test_the_joint_scorer_stays_when_no_epoch_beats_it(
    setup: tuple[TextCNN, Predictor, list[TrainingDocument], list[Example]],
) -> None:
    model = setup[0]
    assert model.scorer is not None
    scorer = _state(model.scorer)
    stage = _refit(setup, epochs=5, patience=2, lr=0.0)
    assert stage["kept_epoch"] == 0
    assert len(stage["history"]) == 2  # patience ended it: equal is not better
    assert all(torch.equal(v, model.scorer.state_dict()[k]) for k, v in scorer.items())


def test_training_runs_the_stage_and_reports_it(bbc_model_dir: Path) -> None:
    metrics = artifact.read_extra(bbc_model_dir, "metrics.json")
    stage = metrics["scorer_stage"]
    assert stage["history"] and stage["dev_rouge1"] >= stage["dev_rouge1_joint"]
    assert "Scorer stage (encoder frozen)" in (bbc_model_dir / "README.md").read_text()
