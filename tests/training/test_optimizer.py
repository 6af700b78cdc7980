"""The optimizer: frozen weights (static tables, the bag of words before its stage) are left out."""

import pytest

from tests.textcnn.test_bag_of_words import words_model
from textcnn.model import TextCNN
from training.cli import parse_args
from training.run_config import TrainConfig
from training.trainer import make_optimizer


def model(embedding_mode: str = "non-static") -> TextCNN:
    return words_model(embedding_mode=embedding_mode)


@pytest.mark.parametrize("fused", [True, False])
def test_frozen_weights_are_left_out_and_the_settings_reach_adam(fused: bool) -> None:
    network = model("static")
    assert network.words is not None
    network.words.weight.requires_grad_(False)  # as training does until the bag-of-words stage
    config = TrainConfig("train.jsonl", "out", lr=0.002, fused_adam=fused)
    [group] = make_optimizer(config, network).param_groups
    assert group["lr"] == 0.002 and group["fused"] is fused
    trained = {id(p) for p in group["params"]}
    assert id(network.words.weight) not in trained
    assert all(id(p) not in trained for p in network.encoder.parameters() if not p.requires_grad)
    assert trained == {id(p) for p in network.parameters() if p.requires_grad}


def test_word_pairs_come_with_the_bag_of_words() -> None:
    base = ["--train", "train.jsonl", "--out", "out"]
    default = parse_args(base)
    assert default.bag_of_words and default.word_pair_buckets > 0
    assert parse_args([*base, "--word-pair-buckets", "64"]).word_pair_buckets == 64
    assert not parse_args([*base, "--no-bag-of-words"]).bag_of_words  # the pairs go with it
    with pytest.raises(SystemExit):
        parse_args([*base, "--word-pair-buckets", "-1"])
