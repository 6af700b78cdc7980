"""The optimizer: the bag of words learns at its own rate, static tables not at all."""

import pytest
import torch

from tests.textcnn.test_bag_of_words import VOCAB, words_model
from textcnn.features import collate, prepare
from textcnn.model import TextCNN
from training.train import TrainConfig, make_optimizer, parse_args


def model(embedding_mode: str = "non-static") -> TextCNN:
    return words_model(embedding_mode=embedding_mode)


def test_the_first_adam_step_moves_the_words_by_the_scaled_rate() -> None:
    torch.manual_seed(0)
    network = model()
    config = TrainConfig("train.jsonl", "out", lr=1e-3, bag_of_words_lr_scale=10.0)
    optimizer = make_optimizer(config, network)
    assert network.words is not None and network.classifier is not None
    words, classifier = network.words.weight.detach().clone(), network.classifier.weight.detach().clone()
    batch = collate(
        [prepare(text, VOCAB, lowercase=True, max_tokens=10) for text in ("goal win.", "vote vote.")]
    )
    logits = network(batch).class_logits
    assert logits is not None
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    optimizer.step()
    # Adam's first step moves every weight with a gradient by the learning rate, whatever the
    # gradient's size.
    assert (network.words.weight - words).abs().max().item() == pytest.approx(1e-2, rel=1e-3)
    assert (network.classifier.weight - classifier).abs().max().item() == pytest.approx(1e-3, rel=1e-3)


@pytest.mark.parametrize(("optimizer", "base"), [("adam", 1e-3), ("adadelta", 1.0)])
def test_static_tables_are_left_out_and_the_rates_follow_the_optimizer(optimizer: str, base: float) -> None:
    network = model("static")
    config = TrainConfig("train.jsonl", "out", optimizer=optimizer, bag_of_words_lr_scale=30.0)
    groups = make_optimizer(config, network).param_groups
    assert network.words is not None
    assert [g["lr"] for g in groups] == [base, pytest.approx(30 * base)]
    assert groups[1]["params"] == [network.words.weight]
    trained = {id(p) for g in groups for p in g["params"]}
    assert all(id(p) not in trained for p in network.encoder.parameters() if not p.requires_grad)
    assert trained == {id(p) for p in network.parameters() if p.requires_grad}


def test_the_scale_must_be_positive() -> None:
    base = ["--train", "train.jsonl", "--out", "out", "--bag-of-words"]
    assert parse_args([*base, "--bag-of-words-lr-scale", "3"]).bag_of_words_lr_scale == 3.0
    for bad in ("0", "-1", "ten"):
        with pytest.raises(SystemExit):
            parse_args([*base, "--bag-of-words-lr-scale", bad])


def test_word_pairs_need_the_bag_of_words() -> None:
    base = ["--train", "train.jsonl", "--out", "out"]
    assert parse_args([*base, "--bag-of-words", "--word-pair-buckets", "64"]).word_pair_buckets == 64
    for bad in ([*base, "--word-pair-buckets", "64"], [*base, "--bag-of-words", "--word-pair-buckets", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
