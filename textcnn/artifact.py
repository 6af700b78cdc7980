"""The model directory: everything needed to predict, checked strictly on load.

Layout (format version 1):
    config.json       config version (textcnn.config.CONFIG_VERSION), architecture (ModelConfig),
                      name, label names, default summary length, the summary choices learned on
                      dev, and for a multi-label model each label's threshold
    vocab.json        the token list, ids in order
    model.safetensors the state_dict
    manifest.json     format version and the sha256 of every other file
plus any files the trainer adds (metrics.json, training.toml, README.md), also in the manifest.
Optional, read only by the demo page:
    README.md         the model card; its first paragraph after the title says what the model is for
    examples.json     texts to try the model on: a JSON list of {"title": str, "text": str} objects,
                      each with an optional "source": str
"""

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from textcnn.config import CONFIG_VERSION, ModelConfig, ModelInfo, SummaryLength
from textcnn.errors import ModelLoadError
from textcnn.model import TextCNN
from textcnn.selection import SELECTION_RULES
from textcnn.vocab import Vocabulary

FORMAT_VERSION = 1
CONFIG = "config.json"
# What a version-1 config.json (textcnn.config.CONFIG_VERSION) meant by lacking these: made before
# they were learned on dev, a model blocked trigrams, ranked by probability and was single-label.
VERSION_1_INFO_ABSENT: dict[str, Any] = {"block_trigrams": True, "selection": "probability", "thresholds": []}
VOCAB = "vocab.json"
WEIGHTS = "model.safetensors"
MANIFEST = "manifest.json"
REQUIRED = (CONFIG, VOCAB, WEIGHTS)
CARD = "README.md"
EXAMPLES = "examples.json"


def save(
    directory: str | Path,
    model: TextCNN,
    vocab: Vocabulary,
    info: ModelInfo,
    extra_files: Mapping[str, str] | None = None,
) -> Path:
    """Write a complete model directory (created if needed) and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "config_version": CONFIG_VERSION,
        "name": info.name,
        "labels": list(info.labels),
        "summary_length": asdict(info.summary_length),
        "block_trigrams": info.block_trigrams,
        "selection": info.selection,
        "thresholds": list(info.thresholds),
        "model": model.config.to_dict(),
    }
    (directory / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (directory / VOCAB).write_text(json.dumps(list(vocab.tokens), ensure_ascii=False), encoding="utf-8")
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS), metadata={"format_version": str(FORMAT_VERSION)})
    (directory / WEIGHTS).chmod(0o644)  # safetensors writes owner-only; the model is meant to be shared
    for name, text in (extra_files or {}).items():
        (directory / name).write_text(text, encoding="utf-8")
    files = [*REQUIRED, *sorted(extra_files or {})]
    manifest = {
        "format_version": FORMAT_VERSION,
        "files": {n: _sha256(directory / n) for n in files},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return directory


def load(directory: str | Path) -> tuple[TextCNN, Vocabulary, ModelInfo]:
    """Rebuild the model (in eval mode), its vocabulary and info from a model directory.

    Raises ModelLoadError naming the file at fault and how to fix it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(
            f"model directory {directory} does not exist; pass a directory "
            "written by `python -m training.train --out DIR`"
        )
    manifest = _read_json(directory, MANIFEST)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelLoadError(
            f"{directory / MANIFEST}: format version {version!r} is not supported "
            f"by this textcnn (reads version {FORMAT_VERSION}); upgrade textcnn or "
            "retrain the model"
        )
    hashes = manifest.get("files")
    if not isinstance(hashes, dict) or not set(REQUIRED) <= set(hashes):
        raise ModelLoadError(
            f"{directory / MANIFEST} must list {list(REQUIRED)}; the directory is "
            "incomplete, retrain or copy it again"
        )
    for name, expected in hashes.items():
        path = directory / name
        if not path.is_file():
            raise ModelLoadError(f"{path} is missing; copy the whole model directory again")
        if _sha256(path) != expected:
            raise ModelLoadError(
                f"{path} does not match its sha256 in {MANIFEST}: the file was "
                "changed or truncated; copy the model directory again"
            )
    config, info = _read_config(directory)
    tokens = _read_json(directory, VOCAB)
    try:
        vocab = Vocabulary(tokens)
    except (TypeError, ValueError) as error:
        raise ModelLoadError(f"{directory / VOCAB} is not a valid vocabulary: {error}") from error
    if len(vocab) != config.vocab_size:
        raise ModelLoadError(
            f"{directory / VOCAB} has {len(vocab)} tokens but the model expects {config.vocab_size}"
        )
    model = TextCNN(config)
    try:
        model.load_state_dict(load_file(str(directory / WEIGHTS)), strict=True)
    except (SafetensorError, RuntimeError, OSError) as error:
        raise ModelLoadError(
            f"{directory / WEIGHTS} does not fit the architecture in {CONFIG}: {error}"
        ) from error
    return model.eval(), vocab, info


def _read_config(directory: Path) -> tuple[ModelConfig, ModelInfo]:
    """config.json's architecture and model info, read by its config_version. Raises ModelLoadError."""
    raw = _read_json(directory, CONFIG)
    version = raw.get("config_version", 1) if isinstance(raw, dict) else None
    if not isinstance(version, int) or version not in range(1, CONFIG_VERSION + 1):
        raise ModelLoadError(
            f"{directory / CONFIG}: config_version {version!r} is not supported by this textcnn (reads "
            f"1 to {CONFIG_VERSION}); upgrade textcnn or retrain the model"
        )
    if version == 1:  # written before versions: learned later, these were absent
        raw = {**VERSION_1_INFO_ABSENT, **raw}
    try:
        config = ModelConfig.from_dict(raw["model"], version)
        info = ModelInfo(
            name=str(raw["name"]),
            labels=tuple(str(label) for label in raw["labels"]),
            summary_length=SummaryLength(**raw["summary_length"]),
            block_trigrams=raw["block_trigrams"],
            selection=raw["selection"],
            thresholds=tuple(float(t) for t in raw["thresholds"]),
        )
        if not isinstance(info.block_trigrams, bool):
            raise TypeError("block_trigrams must be true or false")
        if info.selection not in SELECTION_RULES:
            raise ValueError(f"selection must be one of {list(SELECTION_RULES)}, got {info.selection!r}")
    except (KeyError, TypeError, ValueError) as error:
        raise ModelLoadError(f"{directory / CONFIG} is not a valid model config: {error}") from error
    if len(info.labels) != config.num_classes:
        raise ModelLoadError(
            f"{directory / CONFIG}: {len(info.labels)} labels for a model with {config.num_classes} classes"
        )
    expected = len(info.labels) if config.multi_label else 0
    if len(info.thresholds) != expected or not all(0 <= t <= 1 for t in info.thresholds):
        raise ModelLoadError(
            f"{directory / CONFIG}: a {'multi' if config.multi_label else 'single'}-label model needs "
            f"{expected} thresholds in [0, 1], one per label; it has {list(info.thresholds)}"
        )
    return config, info


def read_extra(directory: str | Path, name: str) -> Any:
    """Return a JSON file the trainer added (e.g. metrics.json), or None if it is absent."""
    path = Path(directory) / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def card_description(directory: str | Path) -> str | None:
    """The model card's first paragraph after its title, on one line; None without a card or one."""
    path = Path(directory) / CARD
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    body = [line.strip() for line in lines if not line.startswith("#")]
    paragraph = " ".join(itertools.takewhile(bool, itertools.dropwhile(lambda line: not line, body)))
    return paragraph or None


def read_examples(directory: str | Path) -> list[dict[str, str]]:
    """The texts of examples.json (see the layout above); [] when the directory has none.

    Raises ModelLoadError if the file is not that layout.
    """
    path = Path(directory) / EXAMPLES
    return examples_file(path) if path.is_file() else []


def examples_file(path: Path) -> list[dict[str, str]]:
    """The texts of an examples file at `path`, in examples.json's layout. Raises ModelLoadError
    if it is not valid JSON in that layout, FileNotFoundError if it is missing."""
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path} is not valid JSON ({error})") from error
    fields = {"title", "text", "source"}
    if not isinstance(examples, list) or not all(
        isinstance(e, dict)
        and {"title", "text"} <= set(e) <= fields
        and all(isinstance(value, str) for value in e.values())
        for e in examples
    ):
        raise ModelLoadError(
            f'{path} must be a list of {{"title": str, "text": str, "source": str (optional)}} objects'
        )
    return examples


def _read_json(directory: Path, name: str) -> Any:
    path = directory / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing; copy the whole model directory again") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path} is not valid JSON ({error}); copy the model directory again") from error


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(directory: str | Path) -> str:
    """A short model version: the first 12 hex digits of the weights' sha256 in the manifest."""
    manifest = _read_json(Path(directory), MANIFEST)
    return str(manifest["files"][WEIGHTS])[:12]
