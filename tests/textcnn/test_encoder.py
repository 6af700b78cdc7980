import torch
from torch import nn

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
