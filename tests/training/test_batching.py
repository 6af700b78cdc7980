"""An epoch's batches: every document once, of similar length when grouped, in random order."""

import random

import pytest

from training.batching import epoch_order, padded_length
from training.cli import parse_args


def chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


@pytest.mark.parametrize("count", [0, 1, 7, 50, 503])
def test_every_document_is_in_the_epoch_once(count: int) -> None:
    draw = random.Random(count)
    lengths = [draw.randint(1, 60) for _ in range(count)]
    for grouped in (True, False):
        order = epoch_order(lengths, 10, random.Random(1), group_by_length=grouped)
        assert sorted(order) == list(range(count))


def test_grouped_batches_span_neighbouring_lengths_and_only_the_last_is_short() -> None:
    draw = random.Random(3)
    lengths = [draw.randint(1, 60) for _ in range(503)]
    batches = chunks(epoch_order(lengths, 10, random.Random(1)), 10)
    assert [len(b) for b in batches] == [10] * 50 + [3]
    # One pool holds all 503: its sorted lengths, cut in tens, are the batches' lengths.
    ranked = sorted(lengths)
    expected = sorted((ranked[i], ranked[min(i + 9, 502)]) for i in range(0, 503, 10))
    assert sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches) == expected


def test_batch_order_and_membership_are_random() -> None:
    draw = random.Random(4)
    lengths = [draw.randint(1, 30) for _ in range(400)]
    first = epoch_order(lengths, 10, random.Random(1))
    assert first == epoch_order(lengths, 10, random.Random(1))  # seeded: resumable
    second = epoch_order(lengths, 10, random.Random(2))
    assert first != second
    batch_lengths = [max(lengths[i] for i in b) for b in chunks(first, 10)]
    assert batch_lengths != sorted(batch_lengths)  # the batches are shuffled, not in length order
    # Among documents of one length, which share a batch is the shuffle's draw.
    assert {frozenset(b) for b in chunks(first, 10)} != {frozenset(b) for b in chunks(second, 10)}


def test_ungrouped_order_is_a_plain_shuffle() -> None:
    expected = list(range(30))
    random.Random(6).shuffle(expected)
    assert epoch_order([5] * 30, 4, random.Random(6), group_by_length=False) == expected


def test_the_flag_turns_grouping_off() -> None:
    base = ["--train", "train.jsonl", "--out", "out"]
    assert parse_args(base).group_by_length
    assert not parse_args([*base, "--random-batches"]).group_by_length


def test_a_document_groups_by_its_longest_sentence() -> None:
    # Its batch's sentences are padded to the longest, so that is what should match across a batch.
    assert padded_length([(4, 5, 6), (7,), (8, 9)]) == 3
    assert padded_length([]) == 0
