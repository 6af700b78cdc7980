"""Lookup inference: the trained convolution as precomputed tables, for prediction only.

Once training is over the embeddings are fixed, and a convolution is linear in them. For filter
width w and offset k within its window, the row `E[v] · W_w[:, :, k]ᵀ` (E the summed channels'
embeddings) is what token v at offset k adds to every filter's response (offset 0's rows also hold
the bias). A window's response is then the sum of w rows: one `embedding_bag(mode="sum")` over the
token windows of every width, from one table of every width's rows, instead of a product over the
embedding dimension, exact up to float rounding.
Training keeps the convolution (its embeddings move); `install` swaps the encoder of a model loaded
for prediction when the tables fit a budget.
"""

import contextlib
import logging
import mmap
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from textcnn.encoder import KimEncoder
from textcnn.model import TextCNN
from textcnn.vocab import PAD_ID

TABLE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
HUGE_PAGE_BYTES = 2 << 20  # x86-64 and arm64 with 4 KiB base pages
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

    # (vocab * sum(filter_widths) + 1, filters): token v's rows for every width and offset together
    # (the rows a window reads are then near those of the windows beside it), the zero row last.
    table: torch.Tensor
    columns: torch.Tensor  # (widths, widest) long: each width's offsets among a token's rows
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
        offsets = sum(self.filter_widths)
        filters = self.output_dim // len(self.filter_widths)
        widths = torch.tensor(self.filter_widths)
        firsts = widths.cumsum(0) - widths  # where each width's rows start among a token's
        # columns[i, k]: the row, among one token's, of width i at offset k; `forward` reads the zero
        # row instead at the offsets a width does not have (`beyond`).
        columns = firsts[:, None] + torch.arange(widest)
        beyond = torch.arange(widest) >= widths[:, None]
        # One row of zeros last: what a window that may not start reads, and what the offsets beyond
        # a narrower width's read (see `forward`).
        table = _huge_page_tensor((vocab * offsets + 1, filters), dtype)
        table[-1] = 0
        # Float32 tables take the product in place; half ones round once, after the bias.
        in_place = dtype == torch.float32
        rows = table[:-1] if in_place else torch.empty(vocab * offsets, filters)
        with torch.no_grad():
            embeddings = self.embed(torch.arange(vocab)).float()  # (vocab, embedding_dim)
            weights, biases = [], []
            for conv in self.convs:
                assert isinstance(conv, nn.Conv1d) and conv.bias is not None
                # (width * filters, embedding_dim): offset k's filters in block k
                weights.append(conv.weight.float().permute(2, 0, 1).flatten(0, 1))
                biases.append(conv.bias.float())
            # Every token's rows at once, written where they stay: no table-sized temporary.
            torch.mm(embeddings, torch.cat(weights).T, out=rows.view(vocab, offsets * filters))
            by_token = rows.view(vocab, offsets, filters)  # row v * offsets + column
            for first, bias in zip(firsts.tolist(), biases, strict=True):
                # Every window reads exactly one row at offset 0: the bias lives there.
                by_token[:, first] += bias
            if not in_place:
                table[:-1] = rows
        self.offsets = offsets  # rows per token: one per offset of every width
        self.register_buffer("table", table, persistent=False)
        self.register_buffer("columns", columns, persistent=False)
        self.register_buffer("beyond", beyond, persistent=False)
        self.register_buffer("widths", widths, persistent=False)

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
        # (n, widths, positions, widest): token v's row for an offset is v * offsets + its column
        rows = torch.add(self.columns[None, :, None], windows[:, None], alpha=self.offsets)
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
            # (n, positions, width)
            windows = torch.add(self.columns[i, :width], token_ids.unfold(1, width, 1), alpha=self.offsets)
            positions = windows.shape[1]
            # Half tables sum in their own dtype; the max runs in float32.
            summed = F.embedding_bag(windows.reshape(n * positions, width), self.table, mode="sum")
            responses = summed.view(n, positions, -1).float()  # (n, positions, filters)
            # (n, num_filters, positions), filters innermost in memory like the channels-last convolution
            masked.append(self._mask(responses.transpose(1, 2), width, lengths))
        return masked


def _huge_page_tensor(shape: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialized tensor whose memory the kernel is asked to back with huge pages (Linux's
    transparent huge pages), where it can be; plain memory elsewhere. Lookups land anywhere in a
    table of many megabytes, and with small pages most row reads also miss the address cache."""
    size = shape[0] * shape[1] * dtype.itemsize
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is None or size < HUGE_PAGE_BYTES:
        return torch.empty(shape, dtype=dtype)
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    with contextlib.suppress(OSError):  # a kernel without huge pages: the memory still serves
        memory.madvise(advice)
    return torch.frombuffer(memory, dtype=dtype).view(shape)  # the tensor keeps `memory` open


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
