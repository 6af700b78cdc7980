"""The Kim (2014) n-gram CNN: embeddings -> Conv1d per filter width -> masked max-over-time -> ReLU.

It encodes each sentence independently; the model pools sentence vectors into document vectors.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from textcnn.vocab import PAD_ID


class KimEncoder(nn.Module):
    """Maps padded token ids to one feature vector per sequence.

    Each feature is the largest response of one filter to any n-gram of the sequence. Positions whose
    window starts past the sequence's end are masked out before the max, so padding never wins; a
    sequence shorter than a filter is zero-padded to the filter's width and an empty sequence encodes
    to zeros.

    `wide`: the convolution also reads the windows that hang over either end of the sequence, as in
    Kim's own code, which pads every sentence with zero vectors (the widest filter's width less one
    at each end). An n-gram at the start or the end of a sentence ("What is" opening a question) is
    then a feature of its own; windows of padding alone stay masked.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        filter_widths: Sequence[int],
        num_filters: int,
        embedding_mode: str = "non-static",
        wide: bool = False,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        # Kim's embedding modes. static: the (pretrained) table is frozen. multichannel: a frozen
        # and a tuned copy are two input channels; each filter is applied to both and the results
        # added, and since convolution is linear, conv(x1) + conv(x2) = conv(x1 + x2) up to the bias
        # (added once either way), so summing the two tables' vectors before one convolution is an
        # exact and cheaper implementation. rand and non-static: one tuned table.
        self.static_embedding: nn.Embedding | None = None
        if embedding_mode == "static":
            self.embedding.weight.requires_grad_(False)
        elif embedding_mode == "multichannel":
            self.static_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
            self.static_embedding.weight.requires_grad_(False)
        self.filter_widths = tuple(filter_widths)
        self.margin = max(self.filter_widths) - 1 if wide else 0  # padding before the first token
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, num_filters, w) for w in self.filter_widths)
        self.output_dim = num_filters * len(self.filter_widths)

    def embed(self, token_ids: torch.Tensor) -> torch.Tensor:
        """token_ids: (n, time) long. Returns (n, time, embedding_dim): the sum of the channels."""
        x = self.embedding(token_ids)
        if self.static_embedding is not None:
            x = x + self.static_embedding(token_ids)
        return x

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """token_ids: (n, time) long, padded with PAD_ID; lengths: (n,) long. Returns (n, output_dim)."""
        pooled = [responses.amax(dim=2) for responses in self._responses(token_ids, lengths)]
        return self._features(torch.cat(pooled, dim=1), lengths)

    def forward_with_positions(
        self, token_ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Like forward, plus where each feature came from, for explanations: (features, starts), both
        (n, output_dim); starts[i, j] is the first token of the window that won feature j's max-pool
        (its width is the filter width of j's block), below 0 for a wide window that begins in the
        padding before the sequence. The features equal forward's."""
        best = [responses.max(dim=2) for responses in self._responses(token_ids, lengths)]
        starts = torch.cat([b.indices for b in best], dim=1) - self.margin  # (n, output_dim)
        return self._features(torch.cat([b.values for b in best], dim=1), lengths), starts

    def _responses(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Each filter width's responses, (n, num_filters, positions), -inf where a window may not start."""
        token_ids = self._pad(token_ids)
        # Channels-last: each convolution runs as a 2-D one of height 1 over (n, embedding_dim, 1,
        # time) with the embedding dimension innermost in memory, which is the embedding's own
        # layout (no copy). oneDNN's channels-last kernels run the model's length buckets faster than
        # Conv1d's channels-first ones (docs/experiments.md), and the max over time then reads rows
        # of filters.
        x = self.embed(token_ids).transpose(1, 2).unsqueeze(2)  # (n, embedding_dim, 1, time)
        masked = []
        for width, conv in zip(self.filter_widths, self.convs, strict=True):
            assert isinstance(conv, nn.Conv1d)  # holds the (filters, embedding_dim, width) weights
            weight = conv.weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
            # (n, num_filters, time - width + 1), time-major in memory
            responses = F.conv2d(x, weight, conv.bias).squeeze(2)
            masked.append(self._mask(responses, width, lengths))
        return masked

    def _pad(self, token_ids: torch.Tensor) -> torch.Tensor:
        """token_ids (n, time) padded to the widest filter and, when wide, by the margin at each end."""
        shortfall = max(self.filter_widths) - token_ids.shape[1]
        if shortfall > 0:
            token_ids = F.pad(token_ids, (0, shortfall), value=PAD_ID)
        if self.margin:
            token_ids = F.pad(token_ids, (self.margin, self.margin), value=PAD_ID)
        return token_ids

    def _mask(self, responses: torch.Tensor, width: int, lengths: torch.Tensor) -> torch.Tensor:
        """responses (n, num_filters, positions) of windows `width` wide over `_pad`'s ids, set to
        -inf in place where a window may not start."""
        invalid = self._invalid_starts(responses.shape[2], width, lengths)
        # In place: the responses are the caller's own tensor, and the convolution's gradient
        # needs its input, not its output.
        return responses.masked_fill_(invalid[:, None, :], float("-inf"))

    def _invalid_starts(self, positions: int, width: int, lengths: torch.Tensor) -> torch.Tensor:
        """(n, positions) bool: True where a window `width` wide over `_pad`'s ids may not start."""
        starts = torch.arange(positions, device=lengths.device)
        if self.margin:  # windows that hold at least one token
            first_start = self.margin - width + 1
            last_start = lengths + self.margin - 1  # (n,)
        else:  # windows inside the sequence (one, from 0, when it is shorter than the filter)
            first_start = 0
            last_start = (lengths - width).clamp(min=0)
        return (starts[None, :] < first_start) | (starts[None, :] > last_start[:, None])

    def _features(self, pooled: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The max-pooled responses of every width, (n, output_dim), as features: ReLU, and zero for an
        empty sequence."""
        features = torch.relu(pooled)
        return features * (lengths > 0).unsqueeze(1).to(features.dtype)
