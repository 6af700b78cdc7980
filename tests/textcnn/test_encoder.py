import torch
from torch import nn
from torch.nn import functional as F

from textcnn.config import ModelConfig
from textcnn.encoder import KimEncoder


def constant_encoder(width: int = 2, vocab_size: int = 5) -> KimEncoder:
    """One filter of one width whose response to a window is the sum of its token values."""
    encoder = KimEncoder(vocab_size, embedding_dim=1, filter_widths=[width], num_filters=1)
    with torch.no_grad():
        encoder.embedding.weight.copy_(torch.arange(vocab_size, dtype=torch.float).unsqueeze(1))
        conv = encoder.convs[0]
        assert isinstance(conv, nn.Conv1d)
        conv.weight.fill_(1.0)
        conv.bias.fill_(-1.0)
    return encoder


def test_output_shape_and_dim() -> None:
    encoder = KimEncoder(50, embedding_dim=8, filter_widths=[3, 4, 5], num_filters=7)
    out = encoder(torch.randint(1, 50, (6, 11)), torch.full((6,), 11))
    assert encoder.output_dim == 21
    assert out.shape == (6, 21)


def test_forward_by_hand() -> None:
    # embedding(id) = id; window sum - 1; tokens [2, 4, 1]: windows 6-1=5 and 5-1=4 -> max 5.
    out = constant_encoder()(torch.tensor([[2, 4, 1]]), torch.tensor([3]))
    assert out.tolist() == [[5.0]]


def test_relu_applies_after_the_max() -> None:
    encoder = constant_encoder()
    with torch.no_grad():
        encoder.convs[0].bias.fill_(-100.0)  # type: ignore[union-attr]
    assert encoder(torch.tensor([[2, 4, 1]]), torch.tensor([3])).tolist() == [[0.0]]


def test_padding_never_wins() -> None:
    encoder = constant_encoder()
    with torch.no_grad():
        encoder.convs[0].weight.fill_(-1.0)  # type: ignore[union-attr]
        encoder.convs[0].bias.fill_(10.0)  # type: ignore[union-attr]
    # Real windows: 10-(3+4)=3; a window over padding (id 0) would score 10-(4+0)=6 and win if unmasked.
    padded = encoder(torch.tensor([[3, 4, 0, 0]]), torch.tensor([2]))
    unpadded = encoder(torch.tensor([[3, 4]]), torch.tensor([2]))
    assert padded.tolist() == unpadded.tolist() == [[3.0]]


def test_padding_invariance_random_weights() -> None:
    torch.manual_seed(0)
    encoder = KimEncoder(30, embedding_dim=6, filter_widths=[2, 3, 5], num_filters=4).eval()
    ids = torch.randint(2, 30, (1, 7))
    alone = encoder(ids, torch.tensor([7]))
    padded = encoder(torch.cat([ids, torch.zeros(1, 9, dtype=torch.long)], dim=1), torch.tensor([7]))
    torch.testing.assert_close(alone, padded)


def test_shorter_than_widest_filter_and_empty() -> None:
    encoder = KimEncoder(10, embedding_dim=4, filter_widths=[3, 4, 5], num_filters=2)
    out = encoder(torch.tensor([[3, 0], [0, 0]]), torch.tensor([1, 0]))
    assert out.shape == (2, 6)
    assert torch.isfinite(out).all()
    assert out[1].abs().sum() == 0  # an empty sequence encodes to zeros


def test_wide_windows_hang_over_the_ends_by_hand() -> None:
    encoder = constant_encoder()
    wide = KimEncoder(5, embedding_dim=1, filter_widths=[2], num_filters=1, wide=True)
    wide.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        for model in (encoder, wide):
            model.convs[0].weight.fill_(-1.0)  # type: ignore[union-attr]
            model.convs[0].bias.fill_(10.0)  # type: ignore[union-attr]
    # Tokens [2, 4, 1] then batch padding. Narrow: 10-6=4, 10-5=5. Wide adds [pad, 2] -> 8 and
    # [1, pad] -> 9; [pad, pad] would score 10 and must stay masked.
    ids, lengths = torch.tensor([[2, 4, 1, 0, 0]]), torch.tensor([3])
    assert encoder(ids, lengths).tolist() == [[5.0]]
    assert wide(ids, lengths).tolist() == [[9.0]]
    _, starts = wide.forward_with_positions(ids, lengths)
    assert starts.tolist() == [[2]]  # the window [1, pad] starts at the third token
    with torch.no_grad():  # the response is now 10 less the window's first token: [pad, 2] wins
        wide.convs[0].weight.copy_(torch.tensor([[[-1.0, 0.0]]]))  # type: ignore[union-attr]
    assert wide.forward_with_positions(ids, lengths)[1].tolist() == [[-1]]  # before the first token


def test_wide_matches_zero_padding_each_sentence_by_its_filter_width() -> None:
    # Reference: each sentence alone, zero vectors (width - 1) at both ends, a plain Conv1d, max, ReLU.
    torch.manual_seed(0)
    encoder = KimEncoder(30, embedding_dim=6, filter_widths=[2, 3, 5], num_filters=4, wide=True).eval()
    lengths = [7, 1, 3, 0]
    ids = torch.zeros(len(lengths), 9, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(1, 30, (length,))
    out = encoder(ids, torch.tensor(lengths))
    for row, length in enumerate(lengths):
        expected = torch.zeros(encoder.output_dim)
        if length:
            x = encoder.embedding(ids[row, :length]).T.unsqueeze(0)  # (1, dim, length)
            expected = torch.cat(
                [
                    torch.relu(F.conv1d(F.pad(x, (w - 1, w - 1)), conv.weight, conv.bias).amax(dim=2)[0])
                    for w, conv in zip(encoder.filter_widths, encoder.convs, strict=True)
                    if isinstance(conv, nn.Conv1d)
                ]
            )
        torch.testing.assert_close(out[row], expected)


def test_wide_convolution_is_off_in_older_configs() -> None:
    older = ModelConfig.from_dict({"vocab_size": 10, "num_classes": 2, "summarize": False}, version=1)
    assert not older.wide_convolution
