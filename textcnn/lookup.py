"""Lookup inference: the trained convolution as precomputed tables, for prediction only.

Once training is over the embeddings are fixed, and a convolution is linear in them. For filter
width w and offset k within its window, the table row `T_w[k * V + v] = E[v] · W_w[:, :, k]ᵀ`
(V the vocabulary, E the summed channels' embeddings) is what token v at offset k adds to every
filter's response (offset 0's rows also hold the bias). A window's response is then the sum of w
rows: one `embedding_bag(mode="sum")` over the token windows of every width, the widths' tables
stacked in one, instead of a product over the embedding dimension, exact up to float rounding.
Training keeps the convolution (its embeddings move); `install` swaps the encoder of a model loaded
for prediction when the tables fit a budget.
"""

import logging
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from textcnn.encoder import KimEncoder
from textcnn.model import TextCNN
from textcnn.vocab import PAD_ID

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
    """A KimEncoder whose responses come from tables. `forward_with_positions` (explanations) runs the
    encoder's own masking and max-pooling over them; `forward` pools every width in one lookup of
    its own, to the same features. Built from a trained encoder, whose modules it shares (the
    embeddings stay for callers that read them, e.g. for their dtype)."""

    table: torch.Tensor  # (vocab * sum(filter_widths) + 1, filters): every width's rows, the zero row last
    columns: torch.Tensor  # (widths, widest) long: where each width's offset starts in the table
    beyond: torch.Tensor  # (widths, widest) bool: the offsets a width does not have (the zero row)
    widths: torch.Tensor  # (widths,) long: filter_widths

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
        widest = max(self.filter_widths)
        blocks, start = [], 0
        # columns[i, k]: the table row where the block of width i, offset k starts; the zero row for
        # the offsets a width does not have.
        columns = torch.full((len(self.filter_widths), widest), -1)
        with torch.no_grad():
            embeddings = self.embed(torch.arange(vocab)).float()  # (vocab, embedding_dim)
            for i, (width, conv) in enumerate(zip(self.filter_widths, self.convs, strict=True)):
                assert isinstance(conv, nn.Conv1d) and conv.bias is not None
                weight = conv.weight.float()  # (filters, embedding_dim, width)
                block = torch.einsum("ve,fek->kvf", embeddings, weight)  # (width, vocab, filters)
                # Every window reads exactly one row at offset 0: the bias lives there.
                block[0] += conv.bias.float()
                blocks.append(block.reshape(width * vocab, -1))  # rows start + k * vocab + v
                columns[i, :width] = start + torch.arange(width) * vocab
                start += width * vocab
            # One row of zeros last: what a window that may not start reads, and what the offsets
            # beyond a narrower width's read (see `forward`).
            blocks.append(blocks[0].new_zeros(1, blocks[0].shape[1]))
            table = torch.cat(blocks).to(dtype).contiguous()
        beyond = columns < 0  # (widths, widest): the offsets beyond each width
        columns[beyond] = start  # the zero row
        self.register_buffer("table", table, persistent=False)
        self.register_buffer("columns", columns, persistent=False)
        self.register_buffer("beyond", beyond, persistent=False)
        self.register_buffer("widths", torch.tensor(self.filter_widths), persistent=False)

    @property
    def table_bytes(self) -> int:
        return self.table.nbytes

    @property
    def table_dtype(self) -> torch.dtype:
        return self.table.dtype

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """KimEncoder.forward's features, from one `embedding_bag` over the windows of every width.

        Each width has a window at every start of the narrowest; its bag holds the widest width's
        count of rows, those beyond its own width the zero row. A window that may not start reads
        only the zero row, so its response is 0 where the convolution's is -inf; every sequence
        with a token has a window that may start, and ReLU(max(S ∪ {0})) = ReLU(max(S)), so the
        features are the same. Adding zeros leaves each window's sum as it was, and one call in place
        of one per width is fewer hand-backs of the GIL between torch calls: the serving threads
        wait for each."""
        token_ids = self._pad(token_ids)
        n, widest, narrowest = token_ids.shape[0], max(self.filter_widths), min(self.filter_widths)
        # (n, positions, widest): a wider window past the last start of the narrowest reads padding,
        # and may not start anyway.
        windows = F.pad(token_ids, (0, widest - narrowest), value=PAD_ID).unfold(1, widest, 1)
        positions = windows.shape[1]
        rows = windows[:, None] + self.columns[None, :, None]  # (n, widths, positions, widest)
        unread = self._invalid_windows(positions, lengths)[..., None] | self.beyond[:, None]
        rows.masked_fill_(unread, self.table.shape[0] - 1)
        summed = F.embedding_bag(rows.reshape(-1, widest), self.table, mode="sum")
        # The max is exact in any dtype, so half tables convert after it.
        pooled = summed.view(n, len(self.filter_widths), positions, -1).amax(dim=2).float()
        return self._features(pooled.view(n, self.output_dim), lengths)

    def _invalid_windows(self, positions: int, lengths: torch.Tensor) -> torch.Tensor:
        """(n, widths, positions) bool: `_invalid_starts` of every filter width at once."""
        starts = torch.arange(positions)
        if self.margin:
            first_start = self.margin - self.widths + 1  # (widths,)
            last_start = lengths + self.margin - 1  # (n,)
            return (starts < first_start[:, None])[None] | (starts > last_start[:, None])[:, None]
        last_start = (lengths[:, None] - self.widths).clamp(min=0)  # (n, widths)
        return starts > last_start[:, :, None]

    def _responses(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Each filter width's responses, (n, num_filters, positions), -inf where a window may not
        start: the same tensor KimEncoder's convolution gives, up to rounding."""
        token_ids = self._pad(token_ids)
        n = token_ids.shape[0]
        masked = []
        for i, width in enumerate(self.filter_widths):
            windows = token_ids.unfold(1, width, 1) + self.columns[i, :width]  # (n, positions, width)
            positions = windows.shape[1]
            # Half tables sum in their own dtype; the max runs in float32.
            summed = F.embedding_bag(windows.reshape(n * positions, width), self.table, mode="sum")
            responses = summed.view(n, positions, -1).float()  # (n, positions, filters)
            # (n, num_filters, positions), filters innermost in memory like the channels-last convolution
            masked.append(self._mask(responses.transpose(1, 2), width, lengths))
        return masked


def table_bytes(encoder: KimEncoder, dtype: torch.dtype) -> int:
    """What the tables of `encoder` take in `dtype`: a row of filters for every vocabulary entry at
    every offset of every width, and the zero row."""
    vocab = encoder.embedding.num_embeddings
    filters = encoder.output_dim // len(encoder.filter_widths)
    rows = vocab * sum(encoder.filter_widths) + 1
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
