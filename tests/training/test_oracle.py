from training.encoding import sentence_targets
from training.oracle import oracle_selection
from training.rouge import rouge12


def test_recovers_an_extractive_reference() -> None:
    sentences = [
        "The cat sat on the mat.",
        "Stocks fell sharply in Tokyo.",
        "It was raining.",
        "The bank raised interest rates.",
    ]
    reference = "Stocks fell sharply in Tokyo. The bank raised interest rates."
    assert sorted(oracle_selection(sentences, reference)) == [1, 3]


def test_picks_come_in_the_order_chosen_the_most_covering_first() -> None:
    sentences = [
        "Rates rose.",
        "The central bank raised interest rates by half a point on Thursday.",
        "Markets were calm.",
    ]
    reference = "The central bank raised interest rates by half a point on Thursday. Rates rose."
    assert oracle_selection(sentences, reference) == [1, 0]


def test_abstractive_reference_picks_the_closest_sentence() -> None:
    sentences = [
        "Weather was mild on Sunday.",
        "The central bank lifted rates to 5%.",
        "Fans cheered the team.",
    ]
    assert oracle_selection(sentences, "Bank lifts rates to five percent") == [1]


def test_stops_when_adding_would_lower_the_score() -> None:
    sentences = ["Stocks fell sharply in Tokyo.", "Stocks fell sharply in Tokyo again today."]
    assert oracle_selection(sentences, "Stocks fell sharply in Tokyo.") == [0]


def test_no_overlap_and_empty_inputs() -> None:
    assert oracle_selection(["Alpha beta."], "gamma delta") == []
    assert oracle_selection([], "anything") == []
    assert oracle_selection(["Alpha beta."], "") == []


def test_fast_rouge_matches_hand_computation() -> None:
    r1, r2 = rouge12("the cat sat", "the cat ran")
    assert r1 == 2 / 3  # 2 of 3 unigrams on each side
    assert r2 == 1 / 2  # "the cat" of two bigrams on each side


def test_every_pick_is_a_positive_target() -> None:
    assert sentence_targets([3, 0, 1], 5) == (1.0, 1.0, 0.0, 1.0, 0.0)
    assert sentence_targets([2], 3) == (0.0, 0.0, 1.0)
    assert sentence_targets([], 2) == (0.0, 0.0)
