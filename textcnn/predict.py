"""Predictor: a loaded model directory answering batches of texts.

Work is split in three so that a server can share forward passes between requests: `prepare`
(split, tokenize, look up ids), `scores` (forward passes, batch in, batch out), and turning scores
into classifications or summaries. `classify` and `summarize` run all three.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from textcnn import artifact
from textcnn.config import ModelInfo
from textcnn.errors import InputError, LimitExceeded, UnsupportedTaskError
from textcnn.features import Document, collate, passes, prepare
from textcnn.lookup import DEFAULT_BUDGET_MB, Inference, describe, install
from textcnn.model import TextCNN
from textcnn.selection import SELECTION_RULES, resolve_length, select_sentences
from textcnn.vocab import UNK_ID, Vocabulary
from textcnn.word_ids import WordIds

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"
# A forward pass's documents, and its sentence slots (documents x the most sentences among them,
# what the sentence grid pads to). A pass makes a few hundred torch calls whatever its size, so
# larger passes spread that cost; the scorer, salience and graph work grow with the grid, and the
# slot bound keeps one long document from padding a pass of short ones and bounds a pass's memory.
BATCH_SIZE = 128
PASS_SLOTS = 4096

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scores:
    """What the model says about one document."""

    class_probs: tuple[float, ...] | None  # one per label; None when the model does not classify
    sentence_probs: tuple[float, ...] | None  # one per sentence; None when it does not summarize


class Scorer(Protocol):
    """How forward passes run: one Scores per document. `sentences=False` may leave out the sentence
    probabilities (a classification needs only the encoder and the classifier)."""

    def __call__(self, documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]: ...


@dataclass(frozen=True)
class Classification:
    label: str  # the most probable label
    confidence: float
    scores: dict[str, float]  # label -> probability, highest first (top_k of them when asked)
    # The share of the document's tokens (as the model reads them) that the vocabulary knows; the rest
    # all read as one unknown token, so a low share says the text is unlike the training data.
    known_token_share: float
    # Multi-label models: the labels whose probability reaches their threshold, highest first (may
    # be empty); None for single-label models.
    labels: dict[str, float] | None = None


def chosen_labels(
    ranked: Sequence[tuple[str, float]],
    thresholds: dict[str, float],
    *,
    at_least_one: bool = False,
) -> dict[str, float]:
    """The (label, probability) pairs of `ranked` (highest first) at or above their label's
    threshold; with `at_least_one`, the most probable label when none is."""
    chosen = {label: p for label, p in ranked if p >= thresholds[label]}
    if at_least_one and not chosen and ranked:
        chosen = dict(ranked[:1])
    return chosen


def known_token_share(document: Document) -> float:
    """The share of the tokens the model reads that are in its vocabulary; 0.0 for no tokens."""
    total = document.num_tokens
    unknown = sum(ids.count(UNK_ID) for ids in document.token_ids)
    return (total - unknown) / total if total else 0.0


@dataclass(frozen=True)
class SummarySentence:
    index: int  # position among the document's sentences
    text: str
    score: float  # probability that the sentence belongs in the summary
    start: int  # character offsets into the submitted text
    end: int


@dataclass(frozen=True)
class Summary:
    sentences: tuple[SummarySentence, ...]  # in document order

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


def bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); elsewhere torch emulates
    it, slower than float32."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


class Predictor:
    """Classifies and summarizes lists of texts with one model; safe to share between threads.

    `batch_size` caps the documents of one forward pass (PASS_SLOTS its sentence grid).
    `max_sentences` refuses longer documents (LimitExceeded) before any model work. `bf16` runs
    convolutions and matmuls under bfloat16 autocast. `scorer` is how `classify` and `summarize` run
    forward passes: `self.scores` by default; a server may route them through a micro-batcher that
    shares passes between requests (see `with_scorer`). `inference` says how the encoder runs
    (textcnn.lookup): `load` installs lookup tables; a model passed in directly keeps its encoder.
    """

    def __init__(
        self,
        model: TextCNN,
        vocab: Vocabulary,
        info: ModelInfo,
        *,
        batch_size: int = BATCH_SIZE,
        max_sentences: int | None = None,
        bf16: bool = False,
        inference: Inference | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        self.model = model.eval()
        self.inference = describe(model.encoder) if inference is None else inference
        self.vocab = vocab
        self.info = info
        self.batch_size = batch_size
        self.max_sentences = max_sentences
        self.bf16 = bf16
        self.scorer: Scorer = self.scores if scorer is None else scorer
        self.word_ids = WordIds(vocab, lowercase=model.config.lowercase)

    @classmethod
    def load(
        cls,
        directory: str | Path = DEFAULT_MODEL_DIR,
        *,
        batch_size: int = BATCH_SIZE,
        max_sentences: int | None = None,
        bf16: bool = False,
        table_budget_mb: float = DEFAULT_BUDGET_MB,
        table_dtype: str = "float32",
    ) -> "Predictor":
        """Load a model directory with its encoder as lookup tables where they fit in
        `table_budget_mb` of `table_dtype` (textcnn.lookup.install), the convolution otherwise.
        Raises ModelLoadError if the directory is missing or damaged, ValueError for a bad table
        setting."""
        model, vocab, info = artifact.load(directory)
        inference = install(model, budget_mb=table_budget_mb, dtype=table_dtype)
        return cls(
            model,
            vocab,
            info,
            batch_size=batch_size,
            max_sentences=max_sentences,
            bf16=bf16,
            inference=inference,
        )

    def with_scorer(self, scorer: Scorer) -> "Predictor":
        """A predictor of the same model and settings whose `classify` and `summarize` run their
        forward passes through `scorer`, which may call this predictor's `scores`; this one is left
        as it is."""
        return Predictor(
            self.model,
            self.vocab,
            self.info,
            batch_size=self.batch_size,
            max_sentences=self.max_sentences,
            bf16=self.bf16,
            inference=self.inference,
            scorer=scorer,
        )

    @property
    def can_classify(self) -> bool:
        return self.model.classifier is not None

    @property
    def can_summarize(self) -> bool:
        return self.model.scorer is not None

    def prepare(self, texts: Sequence[str]) -> list[Document]:
        """Split and encode texts the way this model was trained. Raises LimitExceeded for a
        document over `max_sentences`."""
        if isinstance(texts, str):
            raise InputError("pass a list of texts, not a single string")
        config = self.model.config
        documents = []
        for i, text in enumerate(texts):
            document = prepare(text, self.word_ids, max_tokens=config.max_sentence_tokens)
            count, limit = len(document.spans), self.max_sentences
            if limit is not None and count > limit:
                raise LimitExceeded(f"document {i} has {count} sentences, over the limit of {limit}")
            documents.append(document)
        return documents

    def scores(self, documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]:
        """Forward passes (`forward_passes`); one Scores per document. With `sentences=False` the
        sentence scorer does not run and `sentence_probs` is None. A document given more than once is
        scored once: a batched pass may round a row differently by its place in the batch, and copies
        must get the very same scores."""
        # Keyed by text, whose hash Python caches, rather than by the whole document; a copy is
        # still compared in full before it shares scores.
        first: dict[str, int] = {}
        source = []
        for i, document in enumerate(documents):
            j = first.setdefault(document.text, i)
            source.append(j if j == i or documents[j] == document else i)
        distinct = sorted(set(source))
        if len(distinct) < len(documents):
            once = self.scores([documents[i] for i in distinct], sentences=sentences)
            scored = dict(zip(distinct, once, strict=True))
            return [scored[j] for j in source]
        results: dict[int, Scores] = {}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            for indexes in self.forward_passes(documents):
                chunk = [documents[i] for i in indexes]
                output = self.model(collate(chunk), score_sentences=sentences)
                # One conversion to Python per pass, not per document.
                classes = (
                    None
                    if output.class_logits is None
                    else self.model.class_probabilities(output.class_logits.float()).tolist()
                )
                probs = (
                    None
                    if output.sentence_logits is None
                    else output.sentence_logits.float().sigmoid().tolist()
                )
                for row, (i, document) in enumerate(zip(indexes, chunk, strict=True)):
                    results[i] = Scores(
                        None if classes is None else tuple(classes[row]),
                        None if probs is None else tuple(probs[row][: len(document.spans)]),
                    )
        return [results[i] for i in range(len(documents))]

    def forward_passes(self, documents: Sequence[Document]) -> list[list[int]]:
        """The indexes of `documents` in each forward pass `scores` makes: at most `batch_size`
        documents and PASS_SLOTS sentence slots each."""
        # Documents of similar sentence counts share a pass: the sentence grid pads every document
        # to the longest in its pass, and the scorer's work grows with the grid.
        order = sorted(range(len(documents)), key=lambda i: len(documents[i].spans))
        ordered = [documents[i] for i in order]
        return [[order[j] for j in group] for group in passes(ordered, self.batch_size, PASS_SLOTS)]

    @property
    def multi_label(self) -> bool:
        return self.model.config.multi_label

    def classify(
        self,
        texts: Sequence[str],
        *,
        top_k: int | None = None,
        threshold: float | None = None,
        at_least_one: bool = False,
    ) -> list[Classification]:
        """One Classification per text. `top_k` keeps that many labels in `scores`. For multi-label
        models, `threshold` replaces every label's learned threshold and `at_least_one` keeps the
        most probable label when none reaches its threshold; single-label models refuse both."""
        if not self.can_classify:
            raise UnsupportedTaskError("this model was trained without labels and cannot classify")
        if top_k is not None and top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        if not self.multi_label and (threshold is not None or at_least_one):
            raise InputError("threshold and at_least_one apply to multi-label models, not this one")
        if threshold is not None and not 0 <= threshold <= 1:
            raise InputError(f"threshold must be in [0, 1], got {threshold}")
        labels = self.info.labels
        thresholds = dict(zip(labels, self.info.thresholds, strict=True)) if self.multi_label else {}
        if threshold is not None:
            thresholds = dict.fromkeys(labels, threshold)
        documents = self.prepare(texts)
        results = []
        for document, scores in zip(documents, self.scorer(documents, sentences=False), strict=True):
            assert scores.class_probs is not None
            ranked = sorted(zip(labels, scores.class_probs, strict=True), key=lambda p: -p[1])
            chosen = chosen_labels(ranked, thresholds, at_least_one=at_least_one) if thresholds else None
            results.append(
                Classification(
                    ranked[0][0], ranked[0][1], dict(ranked[:top_k]), known_token_share(document), chosen
                )
            )
        return results

    def summarize(
        self,
        texts: Sequence[str],
        *,
        max_sentences: int | None = None,
        ratio: float | None = None,
        max_words: int | None = None,
        block_trigrams: bool | None = None,
        selection: str | None = None,
    ) -> list[Summary]:
        """One extractive Summary per text, at most one length setting; the model's learned
        default length otherwise. `block_trigrams` and `selection` (textcnn.selection.SELECTION_RULES)
        default to what training chose for the model.
        Raises InputError for a bad length setting or selection rule."""
        if not self.can_summarize:
            raise UnsupportedTaskError("this model was trained without summaries and cannot summarize")
        if selection is not None and selection not in SELECTION_RULES:
            raise InputError(f"selection must be one of {list(SELECTION_RULES)}, got {selection!r}")
        resolve_length(
            1,
            self.info.summary_length,
            max_sentences=max_sentences,
            ratio=ratio,
            max_words=max_words,
        )  # validate once, before any work
        if block_trigrams is None:
            block_trigrams = self.info.block_trigrams
        documents = self.prepare(texts)
        results = []
        for document, scores in zip(documents, self.scorer(documents), strict=True):
            probs = scores.sentence_probs
            assert probs is not None
            count = len(document.spans)
            limit = resolve_length(
                count,
                self.info.summary_length,
                max_sentences=max_sentences,
                ratio=ratio,
                max_words=max_words,
            )
            words = [document.sentence(i).lower().split() for i in range(count)]
            chosen = select_sentences(
                probs,
                words,
                limit,
                block_trigrams=block_trigrams,
                rule=selection or self.info.selection,
                reference_share=self.info.summary_length.ratio,
            )
            results.append(
                Summary(
                    tuple(
                        SummarySentence(
                            i, document.sentence(i), probs[i], document.spans[i].start, document.spans[i].end
                        )
                        for i in chosen
                    )
                )
            )
        return results
