"""Training documents: each example prepared as the model reads it, with its label indices and its
sentence targets from the ROUGE oracle; and what is counted over them (term IDF, summary length)."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from textcnn.bag import document_terms
from textcnn.config import SummaryLength
from textcnn.features import Document
from textcnn.predict import Predictor
from textcnn.vocab import PAD_ID, UNK_ID
from training.data import Example
from training.oracle import cached_oracle_selections


@dataclass(frozen=True)
class TrainingDocument:
    document: Document
    label: int | None
    targets: (
        tuple[float, ...] | None
    )  # > 0 for oracle sentences (1 for every oracle pick); None without a summary
    labels: tuple[int, ...] | None = None  # a multi-label document's label indices (maybe none)

    @property
    def labelled(self) -> bool:
        return self.label is not None or self.labels is not None


def encode_documents(
    examples: Sequence[Example],
    predictor: Predictor,
    labels: Sequence[str],
    cache_dir: Path | None,
) -> list[TrainingDocument]:
    documents = predictor.prepare([e.text for e in examples])
    summarized = [(d, e.summary) for d, e in zip(documents, examples, strict=True) if e.summary is not None]
    selections = iter(
        cached_oracle_selections(
            [([d.sentence(i) for i in range(len(d.spans))], summary) for d, summary in summarized],
            cache_dir,
        )
    )
    label_index = {label: i for i, label in enumerate(labels)}
    encoded = []
    for example, document in zip(examples, documents, strict=True):
        targets = None
        if example.summary is not None:
            targets = sentence_targets(next(selections), len(document.spans))
        encoded.append(training_document(document, example, label_index, targets))
    return encoded


def training_document(
    document: Document, example: Example, index: dict[str, int], targets: tuple[float, ...] | None
) -> TrainingDocument:
    """The example's label (or a multi-label example's labels) as indices into the model's labels;
    a multi-label row leaves out labels not in `index` (unseen in training)."""
    label = None if example.label is None else index[example.label]
    labels = None if example.labels is None else tuple(index[x] for x in example.labels if x in index)
    return TrainingDocument(document, label, targets, labels)


def sentence_targets(picks: Sequence[int], num_sentences: int) -> tuple[float, ...]:
    """Targets for a document's sentences from the oracle's picks: 1 for a pick, 0 elsewhere."""
    picked = set(picks)
    return tuple(1.0 if i in picked else 0.0 for i in range(num_sentences))


def corpus_idf(documents: Sequence[Document], vocab_size: int, pair_buckets: int) -> torch.Tensor:
    """log((N + 1) / (df + 1)) per term (textcnn.bag: words, then word-pair slots) over N training
    documents; 0 for pad and unk."""
    frequency = torch.zeros(vocab_size + pair_buckets)
    for document in documents:
        terms = {term for *_, term in document_terms(document.token_ids, vocab_size, pair_buckets)}
        frequency[sorted(terms)] += 1
    idf = torch.log((len(documents) + 1) / (frequency + 1))
    idf[[PAD_ID, UNK_ID]] = 0
    return idf


def learn_summary_length(documents: Sequence[TrainingDocument]) -> SummaryLength:
    """Median share of oracle sentences, capped at the 90th percentile of their count."""
    picks = [(sum(t > 0 for t in d.targets), len(d.targets)) for d in documents if d.targets]
    if not picks:
        return SummaryLength()
    ratio = statistics.median(k / n for k, n in picks)
    cap = float(np.percentile([k for k, _ in picks], 90))
    return SummaryLength(ratio=round(ratio, 4), max_sentences=max(1, math.ceil(cap)))
