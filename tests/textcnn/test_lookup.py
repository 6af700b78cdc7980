import json
import logging
from pathlib import Path

import pytest
import torch

from textcnn.config import EMBEDDING_MODES, ModelConfig
from textcnn.encoder import KimEncoder
from textcnn.lookup import LookupEncoder, install, table_bytes
from textcnn.model import TextCNN
from textcnn.predict import DEFAULT_MODEL_DIR, Predictor
from textcnn.vocab import PAD_ID


def trained_like(mode: str, wide: bool, widths: tuple[int, ...] = (1, 3, 5)) -> KimEncoder:
    """An encoder with random weights everywhere, the padding row included (the lookup must add
    what the convolution adds for padding, whatever that row holds)."""
    torch.manual_seed(0)
    encoder = KimEncoder(
        40, embedding_dim=6, filter_widths=widths, num_filters=4, embedding_mode=mode, wide=wide
    )
    with torch.no_grad():
        for parameter in encoder.parameters():
            parameter.normal_()
    return encoder.eval()


def padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    time = max(1, *(len(r) for r in rows))
    ids = torch.tensor([r + [PAD_ID] * (time - len(r)) for r in rows])
    return ids, torch.tensor([len(r) for r in rows])


# Empty, one token, shorter than the widest filter, exactly as wide, longer.
ROWS = [[], [7], [3, 9], [5, 6, 7, 8, 9], list(range(2, 30))]
# Only short sequences: fewer window starts than the widest filter, where torch lays out the
# windows' rows with the starts innermost.
SHORT_ROWS = [[], [7], [3, 9]]


@pytest.mark.parametrize("mode", EMBEDDING_MODES)
@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("widths", [(1, 3, 5), (4,), (2, 3)])
@pytest.mark.parametrize("rows", [ROWS, SHORT_ROWS])
def test_lookup_equals_convolution(
    mode: str, wide: bool, widths: tuple[int, ...], rows: list[list[int]]
) -> None:
    convolution = trained_like(mode, wide, widths)
    lookup = LookupEncoder(convolution)
    ids, lengths = padded(rows)
    with torch.inference_mode():
        expected, expected_starts = convolution.forward_with_positions(ids, lengths)
        features, starts = lookup.forward_with_positions(ids, lengths)
        plain = lookup(ids, lengths)
    torch.testing.assert_close(features, expected, rtol=0, atol=1e-5)
    # One bag for every width: the zero rows that pad the narrower widths' bags add nothing.
    assert torch.equal(plain, features)
    assert torch.equal(starts, expected_starts)  # the same windows win: explanations point alike
    assert features[0].abs().sum() == 0  # the empty sequence encodes to zeros


def test_lookup_masks_padding_like_the_convolution() -> None:
    # A huge padding response must never win the max-pool on either path.
    convolution = trained_like("rand", wide=True)
    with torch.no_grad():
        convolution.embedding.weight[PAD_ID] = 100.0
    lookup = LookupEncoder(convolution)
    ids, lengths = padded([[4], [4, 5, 6, 7, 8, 9, 10]])
    with torch.inference_mode():
        torch.testing.assert_close(lookup(ids, lengths), convolution(ids, lengths), rtol=1e-5, atol=1e-4)
        alone = lookup(ids[:1, :1], lengths[:1])
        torch.testing.assert_close(alone, lookup(ids, lengths)[:1], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_tables_are_half_the_size_and_close(dtype: torch.dtype) -> None:
    convolution = trained_like("non-static", wide=True)
    full, half = LookupEncoder(convolution), LookupEncoder(convolution, dtype)
    assert half.table_bytes * 2 == full.table_bytes == table_bytes(convolution, torch.float32)
    assert half.table_dtype == dtype
    ids, lengths = padded(ROWS)
    with torch.inference_mode():
        out = half(ids, lengths)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, full(ids, lengths), rtol=0.02, atol=0.1)


def test_install_falls_back_to_the_convolution_under_a_tiny_budget(caplog: pytest.LogCaptureFixture) -> None:
    model = TextCNN(
        ModelConfig(vocab_size=50, num_classes=2, summarize=False, embedding_dim=8, num_filters=4)
    )
    encoder = model.encoder
    with caplog.at_level(logging.INFO, logger="textcnn.lookup"):
        choice = install(model, budget_mb=0.001)
    assert choice.path == "convolution" and choice.table_bytes == (50 * 12 + 1) * 4 * 4
    assert model.encoder is encoder
    assert "convolution" in caplog.text and "budget" in caplog.text
    choice = install(model, budget_mb=1, dtype="bfloat16")
    assert choice.path == "lookup" and choice.table_bytes == (50 * 12 + 1) * 4 * 2
    assert isinstance(model.encoder, LookupEncoder)
    with pytest.raises(ValueError, match="dtype"):
        install(model, dtype="int8")


def test_predictor_load_serves_the_same_predictions_as_the_convolution(
    bbc_model_dir: Path, data_dir: Path
) -> None:
    texts = [json.loads(line)["text"] for line in (data_dir / "bbc_dev.jsonl").read_text().splitlines()][:12]
    lookup = Predictor.load(bbc_model_dir)
    convolution = Predictor.load(bbc_model_dir, table_budget_mb=0)
    assert lookup.inference.path == "lookup" and convolution.inference.path == "convolution"
    for a, b in zip(
        lookup.scores(lookup.prepare(texts)), convolution.scores(convolution.prepare(texts)), strict=True
    ):
        assert a.class_probs is not None and b.class_probs is not None
        assert max(abs(x - y) for x, y in zip(a.class_probs, b.class_probs, strict=True)) < 1e-5
    same = zip(lookup.summarize(texts), convolution.summarize(texts), strict=True)
    assert all([s.index for s in a.sentences] == [s.index for s in b.sentences] for a, b in same)


def test_the_shipped_model_loads_with_tables() -> None:
    predictor = Predictor.load(DEFAULT_MODEL_DIR)
    assert predictor.inference.path == "lookup"
    assert predictor.inference.table_bytes == table_bytes(predictor.model.encoder, torch.float32)
