"""The multi-task network: one Kim encoder shared by a document classifier and a sentence scorer."""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textcnn.config import ModelConfig
from textcnn.encoder import KimEncoder
from textcnn.features import Batch


@dataclass(frozen=True)
class ModelOutput:
    class_logits: torch.Tensor | None  # (n_docs, num_classes)
    sentence_logits: torch.Tensor | None  # (n_docs, max_sentences); meaningless where masked


class SentenceScorer(nn.Module):
    """Scores each sentence for the summary from what it says and where it stands in its document.

    Inputs per sentence: its context vector from a BiGRU over the document's sentence vectors (what
    it says relative to its neighbours), the document vector (what the whole text is about), a learned
    position embedding, and its relative position in the document.
    """

    def __init__(self, config: ModelConfig, sentence_dim: int) -> None:
        super().__init__()
        self.max_positions = config.max_positions
        self.context = nn.GRU(sentence_dim, config.context_dim, batch_first=True, bidirectional=True)
        self.position = nn.Embedding(config.max_positions, config.position_dim)
        in_dim = 2 * config.context_dim + sentence_dim + config.position_dim + 1
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, config.context_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.context_dim, 1),
        )

    def forward(
        self, sentences: torch.Tensor, document: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """sentences: (docs, max_sents, dim); document: (docs, dim); mask: (docs, max_sents) bool.
        Returns logits (docs, max_sents)."""
        docs, max_sents, _ = sentences.shape
        counts = mask.sum(dim=1)  # (docs,)
        # Packing keeps padding out of the backward direction; empty documents get length 1 of zeros.
        packed = pack_padded_sequence(
            sentences, counts.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        context, _ = pad_packed_sequence(
            self.context(packed)[0], batch_first=True, total_length=max_sents
        )  # (docs, max_sents, 2 * context_dim)
        positions = torch.arange(max_sents, device=sentences.device)  # (max_sents,)
        position = self.position(positions.clamp(max=self.max_positions - 1))  # (max_sents, pos_dim)
        relative = positions[None, :] / counts.clamp(min=1)[:, None]  # (docs, max_sents)
        features = torch.cat(
            [
                context,
                document[:, None, :].expand(docs, max_sents, -1),
                position[None, :, :].expand(docs, -1, -1),
                relative.unsqueeze(2).to(sentences.dtype),
            ],
            dim=2,
        )  # (docs, max_sents, in_dim)
        return self.mlp(features).squeeze(2)


class TextCNN(nn.Module):
    """Encodes every sentence once; the document vector is the max over its sentence vectors.

    For a one-sentence text the document vector is exactly Kim's CNN feature vector, and in general
    it is max-over-time pooling over all n-grams that do not cross a sentence boundary.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = KimEncoder(
            config.vocab_size, config.embedding_dim, config.filter_widths, config.num_filters
        )
        self.output_dim = self.encoder.output_dim
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = (
            nn.Linear(self.output_dim, config.num_classes) if config.num_classes else None
        )
        self.scorer = SentenceScorer(config, self.output_dim) if config.summarize else None

    def forward(self, batch: Batch) -> ModelOutput:
        encoded = self.encoder(batch.token_ids, batch.lengths)  # (n_sentences, dim)
        grid = encoded.new_zeros(batch.num_docs * batch.max_sentences, self.output_dim)
        grid[batch.sentence_index] = encoded
        sentences = grid.view(batch.num_docs, batch.max_sentences, self.output_dim)
        # Features are >= 0 after ReLU, so the zero rows of padding never win this max either.
        document = sentences.amax(dim=1)  # (docs, dim)
        class_logits = None
        if self.classifier is not None:
            class_logits = self.classifier(self.dropout(document))
        sentence_logits = None
        if self.scorer is not None:
            sentence_logits = self.scorer(
                self.dropout(sentences), self.dropout(document), batch.sentence_mask
            )
        return ModelOutput(class_logits, sentence_logits)
