"""Text -> tensors: sentence splitting, tokenization and id lookup, then batching for the model."""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from textcnn.sentences import Span, split_sentences
from textcnn.tokenize import tokenize
from textcnn.vocab import PAD_ID, Vocabulary


@dataclass(frozen=True)
class Document:
    """A text with its sentences (character spans) and each sentence's token ids (truncated)."""

    text: str
    spans: tuple[Span, ...]
    token_ids: tuple[tuple[int, ...], ...]

    def sentence(self, index: int) -> str:
        span = self.spans[index]
        return self.text[span.start : span.end]


def prepare(text: str, vocab: Vocabulary, *, lowercase: bool, max_tokens: int) -> Document:
    """Split and encode one text. Blank text gives a document with no sentences."""
    spans = tuple(split_sentences(text))
    token_ids = tuple(
        tuple(vocab.encode(tokenize(text[s.start : s.end], lowercase=lowercase)[:max_tokens]))
        for s in spans
    )
    return Document(text, spans, token_ids)


@dataclass(frozen=True)
class Batch:
    """Sentences of several documents, flattened so one encoder pass covers them all.

    `sentence_index` says where each flattened sentence sits in the (documents, max_sentences) grid.
    """

    token_ids: torch.Tensor  # (n_sentences, time) long
    lengths: torch.Tensor  # (n_sentences,) long
    sentence_index: torch.Tensor  # (n_sentences,) long, doc * max_sentences + position
    sentence_mask: torch.Tensor  # (n_docs, max_sentences) bool

    @property
    def num_docs(self) -> int:
        return self.sentence_mask.shape[0]

    @property
    def max_sentences(self) -> int:
        return self.sentence_mask.shape[1]


def collate(documents: Sequence[Document]) -> Batch:
    """Pad the documents' sentences into one Batch. Documents without sentences stay all-masked."""
    counts = [len(d.token_ids) for d in documents]
    max_sentences = max([1, *counts])
    sentences = [ids for d in documents for ids in d.token_ids]
    time = max([1, *(len(ids) for ids in sentences)])
    token_ids = torch.full((len(sentences), time), PAD_ID, dtype=torch.long)
    for row, ids in enumerate(sentences):
        token_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    lengths = torch.tensor([len(ids) for ids in sentences], dtype=torch.long)
    sentence_index = torch.tensor(
        [doc * max_sentences + pos for doc, n in enumerate(counts) for pos in range(n)],
        dtype=torch.long,
    )
    sentence_mask = torch.arange(max_sentences)[None, :] < torch.tensor(counts)[:, None]
    return Batch(token_ids, lengths, sentence_index, sentence_mask)
