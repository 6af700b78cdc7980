"""Lookup inference: the trained convolution as precomputed tables, for prediction only.

Once training is over the embeddings are fixed, and a convolution is linear in them. For filter
width w and offset k within its window, the table row `T_w[k * V + v] = E[v] · W_w[:, :, k]ᵀ`
(V the vocabulary, E the summed channels' embeddings) is what token v at offset k adds to every
filter's response (offset 0's rows also hold the bias). A window's response is then the sum of w
rows: one `embedding_bag(mode="sum")` per width over the token windows instead of a product over
the embedding dimension, exact up to float rounding. Training keeps the convolution (its embeddings
move); `install` swaps the encoder of a model loaded for prediction when the tables fit a budget.
"""

import logging
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from textcnn.encoder import KimEncoder
from textcnn.model import TextCNN

TABLE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_BUDGET_MB = 256.0  # the default model's float32 tables fit with room for a larger vocabulary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inference:
    """How a predictor's encoder runs: `lookup` tables (of `table_bytes` in `table_dtype`) or the
    `convolution`; for the convolution, `table_bytes` is what the tables would have taken."""

    path: str
    table_dtype: str
    table_bytes: int


class LookupEncoder(KimEncoder):
    """A KimEncoder whose responses come from tables; features, masks, max-pooling and
    `forward_with_positions` are the encoder's own code. Built from a trained encoder, whose modules
    it shares (the embeddings stay for callers that read them, e.g. for their dtype)."""

    def __init__(self, encoder: KimEncoder, dtype: torch.dtype = torch.float32) -> None:
        # Not KimEncoder.__init__: that would allocate fresh weights; this encoder reuses the trained ones.
        nn.Module.__init__(self)
        self.embedding = encoder.embedding
        self.static_embedding = encoder.static_embedding
        self.filter_widths = encoder.filter_widths
        self.margin = encoder.margin
        self.convs = encoder.convs
        self.output_dim = encoder.output_dim
        vocab = self.embedding.num_embeddings
        with torch.no_grad():
            embeddings = self.embed(torch.arange(vocab)).float()  # (vocab, embedding_dim)
            for width, conv in zip(self.filter_widths, self.convs, strict=True):
                assert isinstance(conv, nn.Conv1d) and conv.bias is not None
                weight = conv.weight.float()  # (filters, embedding_dim, width)
                table = torch.einsum("ve,fek->kvf", embeddings, weight)  # (width, vocab, filters)
                # Every window reads exactly one row at offset 0: the bias lives there.
                table[0] += conv.bias.float()
                table = table.reshape(width * vocab, -1)  # rows k * vocab + v
                # One row of zeros last: what a window that may not start reads (see `forward`).
                table = torch.cat([table, table.new_zeros(1, table.shape[1])])
                self.register_buffer(f"table_{width}", table.to(dtype).contiguous(), persistent=False)
                self.register_buffer(
                    f"offsets_{width}", torch.arange(width) * vocab, persistent=False
                )  # (width,)

    @property
    def table_bytes(self) -> int:
        return sum(self._table(w).nbytes for w in self.filter_widths)

    @property
    def table_dtype(self) -> torch.dtype:
        return self._table(self.filter_widths[0]).dtype

    def _table(self, width: int) -> torch.Tensor:
        table = getattr(self, f"table_{width}")
        assert isinstance(table, torch.Tensor)
        return table

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """KimEncoder.forward's features, without masking the responses. A window that may not start
        reads only the zero row, so its response is 0 where the convolution's is -inf; every
        sequence with a token has a window that may start, and ReLU(max(S ∪ {0})) = ReLU(max(S)), so
        the features are the same. Masking a handful of window ids costs far less than masking
        every filter's response, and the max runs over rows of filters."""
        token_ids = self._pad(token_ids)
        n = token_ids.shape[0]
        pooled = []
        for width in self.filter_widths:
            windows = self._windows(token_ids, width)  # (n, positions, width)
            positions = windows.shape[1]
            invalid = self._invalid_starts(positions, width, lengths)
            table = self._table(width)
            windows = windows.masked_fill(invalid[:, :, None], table.shape[0] - 1)
            summed = F.embedding_bag(windows.view(n * positions, width), table, mode="sum")
            # The max is exact in any dtype, so half tables convert after it.
            pooled.append(summed.view(n, positions, -1).amax(dim=1).float())
        return self._features(pooled, lengths)

    def _responses(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Each filter width's responses, (n, num_filters, positions), -inf where a window may not
        start: the same tensor KimEncoder's convolution gives, up to rounding."""
        token_ids = self._pad(token_ids)
        n = token_ids.shape[0]
        masked = []
        for width in self.filter_widths:
            windows = self._windows(token_ids, width)
            positions = windows.shape[1]
            # Half tables sum in their own dtype; the max runs in float32.
            summed = F.embedding_bag(windows.reshape(n * positions, width), self._table(width), mode="sum")
            responses = summed.view(n, positions, -1).float()  # (n, positions, filters)
            # (n, num_filters, positions), filters innermost in memory like the channels-last convolution
            masked.append(self._mask(responses.transpose(1, 2), width, lengths))
        return masked

    def _windows(self, token_ids: torch.Tensor, width: int) -> torch.Tensor:
        """(n, positions, width) table rows of every window `width` wide over padded `token_ids`."""
        offsets = getattr(self, f"offsets_{width}")
        return (token_ids.unfold(1, width, 1) + offsets).contiguous()


def table_bytes(encoder: KimEncoder, dtype: torch.dtype) -> int:
    """What the tables of `encoder` take in `dtype`: a row of filters for every vocabulary entry at
    every offset of every width, and each width's zero row."""
    vocab = encoder.embedding.num_embeddings
    filters = encoder.output_dim // len(encoder.filter_widths)
    rows = vocab * sum(encoder.filter_widths) + len(encoder.filter_widths)
    return rows * filters * dtype.itemsize


def install(model: TextCNN, *, budget_mb: float = DEFAULT_BUDGET_MB, dtype: str = "float32") -> Inference:
    """Give `model` (loaded for prediction, not for training) a LookupEncoder when its tables fit in
    `budget_mb` megabytes (10**6 bytes) of `dtype` (a TABLE_DTYPES key), and keep the convolution
    otherwise. Logs and returns the choice. Raises ValueError for an unknown dtype or a negative
    budget."""
    if dtype not in TABLE_DTYPES:
        raise ValueError(f"table dtype must be one of {list(TABLE_DTYPES)}, got {dtype!r}")
    if budget_mb < 0:
        raise ValueError(f"the table budget must be at least 0 MB, got {budget_mb}")
    encoder = model.encoder
    size = table_bytes(encoder, TABLE_DTYPES[dtype])
    if size > budget_mb * 1e6:
        logger.info(
            "encoder: convolution (lookup tables of %.1f MB in %s exceed the %.1f MB budget)",
            size / 1e6,
            dtype,
            budget_mb,
        )
        return Inference("convolution", dtype, size)
    model.encoder = LookupEncoder(encoder, TABLE_DTYPES[dtype])
    logger.info("encoder: lookup tables, %.1f MB in %s", size / 1e6, dtype)
    return Inference("lookup", dtype, size)


def describe(encoder: KimEncoder) -> Inference:
    """The Inference of an encoder as it is now (a convolution's table_bytes in float32)."""
    if isinstance(encoder, LookupEncoder):
        return Inference("lookup", str(encoder.table_dtype).removeprefix("torch."), encoder.table_bytes)
    return Inference("convolution", "float32", table_bytes(encoder, torch.float32))
