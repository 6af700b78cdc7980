"""Predictor: a loaded model directory answering batches of texts."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from textcnn import artifact
from textcnn.config import ModelInfo
from textcnn.errors import InputError, UnsupportedTaskError
from textcnn.features import Document, collate, prepare
from textcnn.model import ModelOutput, TextCNN
from textcnn.selection import resolve_length, select_sentences
from textcnn.vocab import Vocabulary

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"


@dataclass(frozen=True)
class Classification:
    label: str
    confidence: float
    scores: dict[str, float]  # label -> probability, highest first (top_k of them when asked)


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


class Predictor:
    """Classifies and summarizes lists of texts with one model; safe to share between threads."""

    def __init__(self, model: TextCNN, vocab: Vocabulary, info: ModelInfo, *, batch_size: int = 32) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.info = info
        self.batch_size = batch_size

    @classmethod
    def load(cls, directory: str | Path = DEFAULT_MODEL_DIR, *, batch_size: int = 32) -> "Predictor":
        """Load a model directory; raises ModelLoadError if it is missing or damaged."""
        return cls(*artifact.load(directory), batch_size=batch_size)

    @property
    def can_classify(self) -> bool:
        return self.model.classifier is not None

    @property
    def can_summarize(self) -> bool:
        return self.model.scorer is not None

    def prepare(self, texts: Sequence[str]) -> list[Document]:
        """Split and encode texts the way this model was trained."""
        if isinstance(texts, str):
            raise InputError("pass a list of texts, not a single string")
        config = self.model.config
        return [
            prepare(t, self.vocab, lowercase=config.lowercase, max_tokens=config.max_sentence_tokens)
            for t in texts
        ]

    def classify(self, texts: Sequence[str], *, top_k: int | None = None) -> list[Classification]:
        """One Classification per text. `top_k` keeps that many labels in `scores`."""
        if not self.can_classify:
            raise UnsupportedTaskError("this model was trained without labels and cannot classify")
        if top_k is not None and top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        results = []
        for _, output in self._forward(self.prepare(texts)):
            assert output.class_logits is not None
            for probs in torch.softmax(output.class_logits, dim=1).tolist():
                ranked = sorted(zip(self.info.labels, probs, strict=True), key=lambda p: -p[1])
                results.append(Classification(ranked[0][0], ranked[0][1], dict(ranked[:top_k])))
        return results

    def summarize(
        self,
        texts: Sequence[str],
        *,
        max_sentences: int | None = None,
        ratio: float | None = None,
        max_words: int | None = None,
        block_trigrams: bool | None = None,
    ) -> list[Summary]:
        """One extractive Summary per text, at most one length setting; the model's learned
        default length otherwise. `block_trigrams` defaults to what training chose for the model.
        Raises InputError for a bad length setting."""
        if not self.can_summarize:
            raise UnsupportedTaskError("this model was trained without summaries and cannot summarize")
        resolve_length(
            1,
            self.info.summary_length,
            max_sentences=max_sentences,
            ratio=ratio,
            max_words=max_words,
        )  # validate once, before any work
        if block_trigrams is None:
            block_trigrams = self.info.block_trigrams
        results = []
        for documents, output in self._forward(self.prepare(texts)):
            assert output.sentence_logits is not None
            for document, logits in zip(
                documents, torch.sigmoid(output.sentence_logits).tolist(), strict=True
            ):
                count = len(document.spans)
                limit = resolve_length(
                    count,
                    self.info.summary_length,
                    max_sentences=max_sentences,
                    ratio=ratio,
                    max_words=max_words,
                )
                words = [document.sentence(i).lower().split() for i in range(count)]
                chosen = select_sentences(logits[:count], words, limit, block_trigrams=block_trigrams)
                results.append(
                    Summary(
                        tuple(
                            SummarySentence(
                                i,
                                document.sentence(i),
                                logits[i],
                                document.spans[i].start,
                                document.spans[i].end,
                            )
                            for i in chosen
                        )
                    )
                )
        return results

    def _forward(self, documents: list[Document]) -> Iterator[tuple[list[Document], ModelOutput]]:
        with torch.inference_mode():
            for start in range(0, len(documents), self.batch_size):
                chunk = documents[start : start + self.batch_size]
                yield chunk, self.model(collate(chunk))
