"""The bag of terms beside the CNN: a document's words and adjacent word pairs as a sparse, unit-length
sublinear TF-IDF vector.

Terms are numbered words first (their vocabulary ids), then word pairs hashed into `pair_buckets`
slots after them, so a model's term space has vocab_size + pair_buckets entries. Pairs never cross a
sentence boundary. Hashing keeps the pair space fixed in size without a second vocabulary; the few
pairs that share a slot share a weight.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from textcnn.features import Tokens

_PAIR_MULTIPLIER = 1_000_003  # odd and above any vocabulary size: (first, second) -> distinct integers

Ids = TypeVar("Ids", int, torch.Tensor)


def pair_term(first: Ids, second: Ids, vocab_size: int, pair_buckets: int) -> Ids:
    """The term id of the word pair (first, second): vocabulary ids, as ints or tensors alike."""
    return vocab_size + (first * _PAIR_MULTIPLIER + second) % pair_buckets


def document_terms(
    sentences: Sequence[Sequence[int]], vocab_size: int, pair_buckets: int
) -> list[tuple[int, int, int, int]]:
    """Where the terms of one document occur, given its sentences' token ids: (sentence, first
    token, tokens, term id) once per occurrence, its words and then its word pairs."""
    places = [(s, t, 1, i) for s, ids in enumerate(sentences) for t, i in enumerate(ids)]
    if pair_buckets:
        places += [
            (s, t, 2, pair_term(ids[t], ids[t + 1], vocab_size, pair_buckets))
            for s, ids in enumerate(sentences)
            for t in range(len(ids) - 1)
        ]
    return places


def token_terms(tokens: Tokens, vocab_size: int, pair_buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The terms of a batch's tokens (Batch.tokens): every term id once per occurrence, flat, and
    beside it the grid index of the sentence it occurs in."""
    terms, owners = [tokens.ids], [tokens.sentence]
    if pair_buckets:
        # Tokens are flat sentence by sentence: neighbours of one sentence make a pair.
        both = tokens.sentence[1:] == tokens.sentence[:-1]
        terms.append(pair_term(tokens.ids[:-1][both], tokens.ids[1:][both], vocab_size, pair_buckets))
        owners.append(tokens.sentence[1:][both])
    return torch.cat(terms), torch.cat(owners)


@dataclass(frozen=True)
class SparseBag:
    """Non-zero entries of a batch of bags: entry i is `weight[i]` for term `term[i]` of document
    `doc[i]`; each document's weights have unit length."""

    doc: torch.Tensor  # (nnz,) long
    term: torch.Tensor  # (nnz,) long
    weight: torch.Tensor  # (nnz,) float

    def dense(self, num_docs: int, num_terms: int) -> torch.Tensor:
        """The bags as a (num_docs, num_terms) matrix."""
        return torch.zeros(num_docs, num_terms).index_put_((self.doc, self.term), self.weight)


def tfidf(
    doc: torch.Tensor,
    term: torch.Tensor,
    idf: Callable[[torch.Tensor], torch.Tensor],
    num_terms: int,
    num_docs: int,
) -> SparseBag:
    """Bags from term occurrences (document and term id of each, (occurrences,)), with `idf` giving
    the IDF of term ids below `num_terms`: log(1 + count) x idf, scaled to unit length per document
    (a document without weighted terms stays empty)."""
    keys, counts = torch.unique(doc * num_terms + term, return_counts=True)
    doc, term = keys // num_terms, keys % num_terms
    term_idf = idf(term)
    weight = torch.log1p(counts.to(term_idf.dtype)) * term_idf
    norm = torch.zeros(num_docs, dtype=term_idf.dtype).index_add_(0, doc, weight * weight).sqrt()
    return SparseBag(doc, term, weight / norm[doc].clamp(min=1e-6))
