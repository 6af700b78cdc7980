"""Text -> tensors: sentence splitting, tokenization and id lookup, then batching for the model."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from textcnn.sentences import Span, split_sentences
from textcnn.vocab import PAD_ID
from textcnn.word_ids import WordIds


@dataclass(frozen=True)
class Document:
    """A text with its sentences (character spans) and each sentence's token ids (truncated)."""

    text: str
    spans: tuple[Span, ...]
    token_ids: tuple[tuple[int, ...], ...]

    def sentence(self, index: int) -> str:
        span = self.spans[index]
        return self.text[span.start : span.end]

    @property
    def num_tokens(self) -> int:
        """The tokens the model convolves: every sentence's, after its truncation."""
        return sum(len(ids) for ids in self.token_ids)


def prepare(text: str, word_ids: WordIds, *, max_tokens: int) -> Document:
    """Split and encode one text, each sentence to at most `max_tokens` ids. Blank text gives a
    document with no sentences."""
    spans = tuple(split_sentences(text))
    token_ids = tuple(tuple(word_ids(text[s.start : s.end], max_tokens)) for s in spans)
    return Document(text, spans, token_ids)


@dataclass(frozen=True)
class SentenceBucket:
    """Sentences of similar length, padded together so little of the convolution is wasted."""

    token_ids: torch.Tensor  # (n, time) long, padded with PAD_ID
    lengths: torch.Tensor  # (n,) long
    grid_index: torch.Tensor  # (n,) long: doc * max_sentences + position of each sentence


@dataclass(frozen=True)
class Tokens:
    """Every token the encoder reads in a batch, once each, flat: sentence by sentence (in bucket
    order), each sentence's tokens in order."""

    ids: torch.Tensor  # (tokens,) long
    sentence: torch.Tensor  # (tokens,) long: the grid index of the token's sentence


@dataclass(frozen=True)
class Batch:
    """The sentences of several documents in length buckets, and where each sits in its document."""

    buckets: tuple[SentenceBucket, ...]
    sentence_mask: torch.Tensor  # (n_docs, max_sentences) bool

    @cached_property
    def tokens(self) -> Tokens:
        """The buckets' tokens without their padding, for the statistics that count words (the bag
        of words, salience, graph centrality): built once, however many of them read it."""
        ids, sentence = [torch.zeros(0, dtype=torch.long)], [torch.zeros(0, dtype=torch.long)]
        for bucket in self.buckets:
            valid = torch.arange(bucket.token_ids.shape[1])[None, :] < bucket.lengths[:, None]  # (n, time)
            ids.append(bucket.token_ids[valid])
            sentence.append(bucket.grid_index.repeat_interleave(bucket.lengths))
        return Tokens(torch.cat(ids), torch.cat(sentence))

    @property
    def num_docs(self) -> int:
        return self.sentence_mask.shape[0]

    @property
    def max_sentences(self) -> int:
        return self.sentence_mask.shape[1]


def passes(documents: Sequence[Document], max_documents: int, max_slots: int) -> Iterator[list[int]]:
    """The indexes of `documents`, in order, cut into forward passes of at most `max_documents`
    whose sentence grid (documents x the most sentences among them, what collate pads to) holds at
    most `max_slots` slots; a document with more sentences than that goes alone."""
    group: list[int] = []
    longest = 0
    for i, document in enumerate(documents):
        count = max(1, len(document.spans))
        if group and (len(group) == max_documents or (len(group) + 1) * max(longest, count) > max_slots):
            yield group
            group, longest = [], 0
        group.append(i)
        longest = max(longest, count)
    if group:
        yield group


def collate(documents: Sequence[Document], bucket_size: int = 128) -> Batch:
    """Batch documents: sentences sorted by length, `bucket_size` to a bucket. Documents without
    sentences stay all-masked."""
    counts = [len(d.token_ids) for d in documents]
    max_sentences = max([1, *counts])
    sentences = [
        (len(ids), doc * max_sentences + pos, ids)
        for doc, document in enumerate(documents)
        for pos, ids in enumerate(document.token_ids)
    ]
    sentences.sort(key=lambda s: s[0])
    buckets = []
    for start in range(0, len(sentences), bucket_size):
        chunk = sentences[start : start + bucket_size]
        time = max(1, chunk[-1][0])
        # One tensor from padded Python rows: a tensor per sentence cost more than the rest of collate,
        # and numpy converts rows of Python ints faster than torch.tensor does.
        padded = [ids + (PAD_ID,) * (time - length) for length, _, ids in chunk]
        buckets.append(
            SentenceBucket(
                torch.from_numpy(np.array(padded, dtype=np.int64)),
                torch.tensor([length for length, _, _ in chunk], dtype=torch.long),
                torch.tensor([index for _, index, _ in chunk], dtype=torch.long),
            )
        )
    sentence_mask = torch.arange(max_sentences)[None, :] < torch.tensor(counts)[:, None]
    return Batch(tuple(buckets), sentence_mask)
