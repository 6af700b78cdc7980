"""Initial word vectors: Kim's uniform random init, vectors trained in-domain with gensim, or a
pretrained vector file read through gensim.

In-domain vectors are Word2Vec (skip-gram or CBOW) or FastText, trained on the training texts plus
any unlabelled text. FastText also answers for words it never saw, from their character n-grams.
Pretrained files: word2vec binary or text, GloVe text (no header line), fastText `.vec`, or a file
saved by gensim (`KeyedVectors.save`, or a whole Word2Vec/FastText model). They are a training
input only: the model directory keeps the resulting embedding table, never the vector file.
"""

import gzip
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textcnn.sentences import split_sentences
from textcnn.tokenize import tokenize
from textcnn.vocab import PAD_ID, Vocabulary
from training.data import DataError

logger = logging.getLogger(__name__)

UNIFORM_RANGE = 0.25  # Kim (2014): unknown words ~ U[-a, a], a chosen to match word2vec's variance
TRAINERS = ("word2vec", "cbow", "fasttext")  # word2vec is skip-gram, as in Mikolov et al. (2013)
# What --vectors may name (training/distill.py reads the sentence-transformers).
VECTORS_EXPECTED = (
    "expected a word-vector file (word2vec .bin or text, GloVe, fastText .vec, gensim) "
    "or a sentence-transformer (a folder, or an installed package that ships one)"
)


class WordVectors:
    """Word -> vector lookup over gensim KeyedVectors."""

    def __init__(self, keyed: Any, source: str) -> None:
        self.keyed = keyed
        self.source = source
        # FastText keeps character n-gram buckets; without them it is a plain table.
        self.subwords = bool(getattr(keyed, "bucket", 0))

    @property
    def dim(self) -> int:
        return int(self.keyed.vector_size)

    def __len__(self) -> int:
        return len(self.keyed.key_to_index)

    def get(self, word: str) -> np.ndarray | None:
        """The word's vector; None when the table has none (and no subword of it is known)."""
        if word in self.keyed.key_to_index:
            return np.asarray(self.keyed[word])
        if self.subwords:
            vector = np.asarray(self.keyed[word])
            if np.any(vector):
                return vector
        return None


@dataclass(frozen=True)
class Coverage:
    """How much of the vocabulary, and of the training tokens, had a vector."""

    vocabulary: float
    tokens: float

    def as_dict(self) -> dict[str, float]:
        return {"vocabulary": round(self.vocabulary, 4), "tokens": round(self.tokens, 4)}


def train_vectors(
    sentences: Iterable[Sequence[str]], *, method: str, dim: int, seed: int, epochs: int = 5
) -> WordVectors:
    """Vectors for every token of `sentences` (one worker, so a seed repeats exactly).

    method: word2vec (skip-gram), cbow or fasttext (skip-gram with character 3-6-grams)."""
    from gensim.models import FastText, Word2Vec

    if method not in TRAINERS:
        raise ValueError(f"unknown vector trainer {method!r}; use one of {TRAINERS}")
    corpus = [list(s) for s in sentences]
    options: dict[str, Any] = dict(
        vector_size=dim, window=5, min_count=1, negative=5, epochs=epochs, seed=seed, workers=1
    )
    if method == "fasttext":
        model = FastText(corpus, sg=1, min_n=3, max_n=6, **options)
    else:
        model = Word2Vec(corpus, sg=int(method == "word2vec"), **options)
    return WordVectors(model.wv, f"{method} trained in-domain")


def load_vectors(path: str | Path) -> WordVectors:
    """Read a pretrained vector file, telling the format from the file itself.

    `.bin` (optionally gzipped) is word2vec binary; a text file whose first line is two integers is
    word2vec text or fastText `.vec`, any other text file GloVe; anything else must be a file saved
    by gensim. Raises DataError when the file is missing or unreadable."""
    from gensim.models import KeyedVectors
    from gensim.utils import SaveLoad

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: {VECTORS_EXPECTED}")
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in {".gz", ".bz2"}]
    try:
        if suffixes[-1:] == [".bin"]:
            keyed = KeyedVectors.load_word2vec_format(str(path), binary=True)
        elif _is_text(path):
            header = _first_line(path).split()
            no_header = not (len(header) == 2 and all(part.isdigit() for part in header))
            keyed = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=no_header)
        else:
            loaded = SaveLoad.load(str(path))
            keyed = getattr(loaded, "wv", loaded)
            if not isinstance(keyed, KeyedVectors):
                raise DataError(f"{path}: a gensim file, but neither KeyedVectors nor a model with .wv")
    except DataError:
        raise
    except Exception as error:  # gensim and pickle raise many unrelated types for bad input
        raise DataError(f"{path}: cannot be read as word vectors: {error}") from error
    vectors = WordVectors(keyed, str(path))
    logger.info("loaded %d %d-d vectors from %s", len(vectors), vectors.dim, path)
    return vectors


def read_unlabeled(path: str | Path, *, lowercase: bool) -> Iterator[list[str]]:
    """The tokenized sentences of a plain text file (optionally gzipped), one document per line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such unlabelled text file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            for span in split_sentences(line):
                tokens = tokenize(line[span.start : span.end], lowercase=lowercase)
                if tokens:
                    yield tokens


def embedding_matrix(
    vocab: Vocabulary,
    dim: int,
    seed: int,
    vectors: WordVectors | dict[str, np.ndarray] | None = None,
    token_counts: Counter[str] | None = None,
) -> tuple[torch.Tensor, Coverage]:
    """A (len(vocab), dim) matrix: known vectors where given, U[-0.25, 0.25] elsewhere (Kim's init
    for words without a vector), zeros for padding. Also returns the coverage: the share of the
    vocabulary with a vector and, given `token_counts`, the share of those tokens with one."""
    generator = torch.Generator().manual_seed(seed)
    matrix = (torch.rand(len(vocab), dim, generator=generator) * 2 - 1) * UNIFORM_RANGE
    found: set[str] = set()
    if vectors is not None:
        for index, token in enumerate(vocab.tokens[2:], start=2):
            vector = vectors.get(token)
            if vector is not None:
                matrix[index] = torch.tensor(np.asarray(vector), dtype=torch.float32)
                found.add(token)
    matrix[PAD_ID] = 0
    counts = token_counts or Counter()
    total = sum(counts.values())
    coverage = Coverage(
        vocabulary=len(found) / max(1, len(vocab) - 2),
        tokens=sum(c for t, c in counts.items() if t in found) / total if total else 0.0,
    )
    if vectors is not None:
        logger.info(
            "vectors cover %.1f%% of the vocabulary and %.1f%% of the training tokens",
            100 * coverage.vocabulary,
            100 * coverage.tokens,
        )
    return matrix, coverage


def _is_text(path: Path) -> bool:
    try:
        _first_line(path)
    except UnicodeDecodeError:
        return False
    return True


def _first_line(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.readline(1 << 16)
