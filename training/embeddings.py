"""Initial word vectors: Kim's uniform random init, or word2vec trained in-domain with gensim."""

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from textcnn.vocab import PAD_ID, Vocabulary

logger = logging.getLogger(__name__)

UNIFORM_RANGE = 0.25  # Kim (2014): unknown words ~ U[-a, a], a chosen to match word2vec's variance


def train_word2vec(
    sentences: Iterable[Sequence[str]], *, dim: int, seed: int, epochs: int = 5
) -> dict[str, np.ndarray]:
    """Skip-gram vectors for every token of `sentences` (one worker, so a seed repeats exactly)."""
    from gensim.models import Word2Vec

    corpus = [list(s) for s in sentences]
    model = Word2Vec(
        corpus,
        vector_size=dim,
        window=5,
        min_count=1,
        sg=1,
        negative=5,
        epochs=epochs,
        seed=seed,
        workers=1,
    )
    return {word: model.wv[word] for word in model.wv.index_to_key}


def embedding_matrix(
    vocab: Vocabulary, dim: int, seed: int, vectors: dict[str, np.ndarray] | None = None
) -> tuple[torch.Tensor, float]:
    """A (len(vocab), dim) matrix: known vectors where given, U[-0.25, 0.25] elsewhere, zeros for
    padding. Also returns the share of the vocabulary that had a vector."""
    generator = torch.Generator().manual_seed(seed)
    matrix = (torch.rand(len(vocab), dim, generator=generator) * 2 - 1) * UNIFORM_RANGE
    found = 0
    for index, token in enumerate(vocab.tokens):
        if vectors is not None and token in vectors:
            matrix[index] = torch.tensor(np.asarray(vectors[token]), dtype=torch.float32)
            found += 1
    matrix[PAD_ID] = 0
    coverage = found / max(1, len(vocab) - 2)
    if vectors is not None:
        logger.info("pretrained vectors cover %.1f%% of the vocabulary", 100 * coverage)
    return matrix, coverage
