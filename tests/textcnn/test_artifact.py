"""Loading is strict: every damaged model directory fails with a message naming the file."""

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from textcnn import DEFAULT_MODEL_DIR, ModelLoadError, Predictor, artifact
from textcnn.config import CONFIG_VERSION, ModelConfig, ModelInfo
from textcnn.model import TextCNN
from textcnn.vocab import Vocabulary


@pytest.fixture
def model_copy(bbc_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bbc_model_dir, tmp_path / "model"))


def test_complete_directory_loads(model_copy: Path) -> None:
    assert Predictor.load(model_copy).info.name == "bbc-small"
    assert {p.name for p in model_copy.iterdir()} >= {
        "config.json",
        "vocab.json",
        "model.safetensors",
        "manifest.json",
        "metrics.json",
        "training.toml",
        "README.md",
    }


def test_flipped_byte_in_weights(model_copy: Path) -> None:
    weights = model_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"model.safetensors does not match its sha256"):
        Predictor.load(model_copy)


def test_missing_vocabulary(model_copy: Path) -> None:
    (model_copy / "vocab.json").unlink()
    with pytest.raises(ModelLoadError, match=r"vocab.json is missing"):
        Predictor.load(model_copy)


def test_newer_format(model_copy: Path) -> None:
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"format version 99 is not supported"):
        Predictor.load(model_copy)


def test_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match=r"manifest.json is missing"):
        Predictor.load(tmp_path)
    with pytest.raises(ModelLoadError, match=r"does not exist"):
        Predictor.load(tmp_path / "nowhere")


def test_corrupt_json(model_copy: Path) -> None:
    (model_copy / "manifest.json").write_text("{broken")
    with pytest.raises(ModelLoadError, match=r"manifest.json is not valid JSON"):
        Predictor.load(model_copy)


def test_learned_selection_settings_round_trip(bbc_model_dir: Path, tmp_path: Path) -> None:
    model, vocab, info = artifact.load(bbc_model_dir)
    for block in (True, False):
        saved = artifact.save(tmp_path / str(block), model, vocab, replace(info, block_trigrams=block))
        assert Predictor.load(saved).info.block_trigrams is block
    for rule in ("probability", "expected-f1"):
        saved = artifact.save(tmp_path / rule, model, vocab, replace(info, selection=rule))
        assert Predictor.load(saved).info.selection == rule


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_filters", "100", "num_filters must be int"),
        ("embedding_dim", 10**7, r"embedding_dim must be in \[1, 4096\]"),
        ("dropout", -1, r"dropout must be in \[0, 1\)"),
        ("lowercase", 1, "lowercase must be bool"),
        ("filter_widths", [3, 1000], "filter_widths must be at most 64"),
    ],
)
def test_a_hand_edited_config_fails_naming_the_field(
    model_copy: Path, field: str, value: object, message: str
) -> None:
    model = model_copy
    config = json.loads((model / "config.json").read_text())
    config["model"][field] = value
    (model / "config.json").write_text(json.dumps(config))
    manifest = json.loads((model / "manifest.json").read_text())  # as if edited on purpose
    manifest["files"]["config.json"] = hashlib.sha256((model / "config.json").read_bytes()).hexdigest()
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=message):
        Predictor.load(model)


def _rewrite_config(model: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change config.json and its sha256 in the manifest, as an older textcnn would have written it."""
    config = json.loads((model / "config.json").read_text())
    edit(config)
    (model / "config.json").write_text(json.dumps(config))
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["files"]["config.json"] = hashlib.sha256((model / "config.json").read_bytes()).hexdigest()
    (model / "manifest.json").write_text(json.dumps(manifest))


def test_a_directory_from_before_config_versions_loads_as_it_was_made(tmp_path: Path) -> None:
    """Version 1 (no config_version): a key it lacks is a setting the model was made without."""
    vocab = Vocabulary(["<pad>", "<unk>", "bank", "rates", "rose", "fell", "."])
    config = ModelConfig(vocab_size=len(vocab), num_classes=2, summarize=True, embedding_dim=8, num_filters=4)
    torch.manual_seed(0)
    model = TextCNN(config)  # narrow, max-pooled, no centrality: what the absent keys meant
    directory = artifact.save(tmp_path / "old", model, vocab, ModelInfo(name="old", labels=("a", "b")))
    text = "Bank rates rose. Rates fell."
    made = Predictor.load(directory)
    expected = made.classify([text])[0].scores

    def as_version_1(written: dict[str, Any]) -> None:
        del written["config_version"], written["selection"], written["thresholds"]
        for key in ("embedding_mode", "wide_convolution", "document_pooling", "graph_centrality"):
            del written["model"][key]
        del written["model"]["multi_label"]

    _rewrite_config(directory, as_version_1)
    old = Predictor.load(directory)
    assert old.model.config == config and old.info.selection == "probability"
    assert old.classify([text])[0].scores == expected


def test_a_versioned_config_must_be_whole_and_not_newer(model_copy: Path) -> None:
    _rewrite_config(model_copy, lambda config: config["model"].pop("wide_convolution"))
    with pytest.raises(ModelLoadError, match=r"keys \['wide_convolution'\] are missing \(config_version 2\)"):
        Predictor.load(model_copy)
    _rewrite_config(model_copy, lambda config: config.update(config_version=3))
    with pytest.raises(ModelLoadError, match="config_version 3 is not supported by this textcnn"):
        Predictor.load(model_copy)


def test_the_shipped_model_is_a_current_directory() -> None:
    """The default model is rebuilt by today's code (make default-model): a whole current config."""
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert config["config_version"] == CONFIG_VERSION
    assert not Predictor.load(DEFAULT_MODEL_DIR).multi_label
