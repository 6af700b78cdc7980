"""The multi-task network: one Kim encoder shared by a document classifier and a sentence scorer."""

from dataclasses import dataclass

import torch
from torch import nn

from textcnn.config import ModelConfig
from textcnn.encoder import KimEncoder
from textcnn.features import Batch


@dataclass(frozen=True)
class ModelOutput:
    class_logits: torch.Tensor | None  # (n_docs, num_classes)
    sentence_logits: torch.Tensor | None  # (n_docs, max_sentences); meaningless where masked


class SentenceScorer(nn.Module):
    """Scores each sentence for the summary from what it says and where it stands in its document.

    Inputs per sentence: a context vector from two convolutions over the document's sequence of
    sentence vectors (what it says next to its neighbours, five sentences wide), the document vector
    (what the whole text is about), a learned position embedding and its relative position.
    Padding sentences are zero vectors, exactly like the convolutions' own zero padding, so a
    document scores the same alone or in a batch.
    """

    def __init__(self, config: ModelConfig, sentence_dim: int) -> None:
        super().__init__()
        self.max_positions = config.max_positions
        self.context = nn.Sequential(
            nn.Conv1d(sentence_dim, config.context_dim, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv1d(config.context_dim, config.context_dim, kernel_size=3, padding=1),
            nn.ReLU(),
        )
        self.position = nn.Embedding(config.max_positions, config.position_dim)
        in_dim = sentence_dim + config.context_dim + sentence_dim + config.position_dim + 1
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, config.context_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.context_dim, 1),
        )

    def forward(self, sentences: torch.Tensor, document: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """sentences: (docs, max_sents, dim), zero where masked; document: (docs, dim);
        mask: (docs, max_sents) bool. Returns logits (docs, max_sents)."""
        docs, max_sents, _ = sentences.shape
        context = self.context(sentences.transpose(1, 2)).transpose(1, 2)  # (docs, max_sents, context)
        context = context * mask.unsqueeze(2).to(context.dtype)
        counts = mask.sum(dim=1)  # (docs,)
        positions = torch.arange(max_sents, device=sentences.device)  # (max_sents,)
        position = self.position(positions.clamp(max=self.max_positions - 1))  # (max_sents, pos_dim)
        relative = positions[None, :] / counts.clamp(min=1)[:, None]  # (docs, max_sents)
        features = torch.cat(
            [
                sentences,
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
        self.classifier = nn.Linear(self.output_dim, config.num_classes) if config.num_classes else None
        self.scorer = SentenceScorer(config, self.output_dim) if config.summarize else None

    def forward(self, batch: Batch) -> ModelOutput:
        grid = self.encoder.embedding.weight.new_zeros(batch.num_docs * batch.max_sentences, self.output_dim)
        for bucket in batch.buckets:
            grid[bucket.grid_index] = self.encoder(bucket.token_ids, bucket.lengths)  # (n, dim)
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
