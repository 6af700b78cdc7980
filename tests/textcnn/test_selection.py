import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcnn.config import SummaryLength
from textcnn.errors import InputError
from textcnn.selection import SELECTION_RULES, LengthLimit, resolve_length, select_sentences


def test_top_scores_in_document_order() -> None:
    words = [["a"], ["b"], ["c"], ["d"]]
    assert select_sentences([0.1, 0.9, 0.3, 0.8], words, LengthLimit(2)) == [1, 3]


def test_trigram_blocking_skips_repeats() -> None:
    words = [
        ["the", "bank", "raised", "rates"],
        ["the", "bank", "raised", "rates", "again"],
        ["other", "news"],
    ]
    assert select_sentences([0.9, 0.8, 0.1], words, LengthLimit(2)) == [0, 2]
    assert select_sentences([0.9, 0.8, 0.1], words, LengthLimit(2), block_trigrams=False) == [0, 1]


def test_word_limit_skips_sentences_that_overflow() -> None:
    words = [["w"] * 10, ["w"] * 3, ["w"] * 4]
    assert select_sentences([0.9, 0.8, 0.7], words, LengthLimit(3, 8), block_trigrams=False) == [
        1,
        2,
    ]
    assert select_sentences([0.9], [["w"] * 10], LengthLimit(1, 5)) == []


def test_expected_f1_prefers_a_long_likely_sentence_to_a_short_likelier_one() -> None:
    words = [["w"] * 2, ["w"] * 20, ["w"] * 10]
    scores = [0.9, 0.8, 0.1]
    # reference expected to hold half of the 32 words: L = 16. One sentence: {0} scores
    # 0.9 * 2 / (2 + 16) = 0.10, {1} 0.8 * 20 / (20 + 16) = 0.44, {2} 0.1 * 10 / 26 = 0.04.
    assert select_sentences(scores, words, LengthLimit(1)) == [0]
    expected = select_sentences(scores, words, LengthLimit(1), rule="expected-f1", reference_share=0.5)
    assert expected == [1]
    # Two: {0, 1} scores 17.8 / 38 = 0.47, above {1, 2} (17 / 46) and {0, 2} (2.8 / 28).
    assert select_sentences(scores, words, LengthLimit(2), rule="expected-f1", reference_share=0.5) == [0, 1]


def test_expected_f1_is_probability_under_a_word_budget_and_keeps_blocking() -> None:
    words = [["w"] * 2, ["w"] * 20, ["w"] * 10]
    budget = LengthLimit(3, 12)
    assert select_sentences([0.9, 0.8, 0.1], words, budget, rule="expected-f1") == [0, 2]
    repeats = [["the", "bank", "cut", "rates"], ["the", "bank", "cut", "rates", "again", "and", "again"]]
    chosen = select_sentences([0.5, 0.9], repeats, LengthLimit(2), rule="expected-f1", reference_share=0.5)
    assert chosen == [1]  # the other sentence repeats its trigrams


def test_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="rule must be one of"):
        select_sentences([0.5], [["w"]], LengthLimit(1), rule="random")


def test_resolve_length() -> None:
    default = SummaryLength(ratio=0.4, max_sentences=5)
    assert resolve_length(20, default) == LengthLimit(5)
    assert resolve_length(5, default) == LengthLimit(2)
    assert resolve_length(0, default) == LengthLimit(1)
    assert resolve_length(10, default, ratio=0.25) == LengthLimit(3)
    assert resolve_length(10, default, max_words=50) == LengthLimit(10, 50)
    assert resolve_length(10, default, max_sentences=3) == LengthLimit(3)
    for bad in [
        {"max_sentences": 0},
        {"ratio": 0.0},
        {"ratio": 1.01},
        {"max_words": -1},
        {"ratio": 0.5, "max_words": 3},
    ]:
        with pytest.raises(InputError):
            resolve_length(10, default, **bad)  # type: ignore[arg-type]


sentence_words = st.lists(st.lists(st.sampled_from("abcde"), min_size=1, max_size=6), max_size=15)


@given(
    sentence_words,
    st.integers(1, 20),
    st.one_of(st.none(), st.integers(1, 40)),
    st.sampled_from(SELECTION_RULES),
    st.data(),
)
def test_summary_is_an_ordered_subset_within_its_bound(
    words: list[list[str]], k: int, max_words: int | None, rule: str, data: st.DataObject
) -> None:
    scores = data.draw(st.lists(st.floats(0, 1), min_size=len(words), max_size=len(words)))
    chosen = select_sentences(scores, words, LengthLimit(k, max_words), rule=rule, reference_share=0.4)
    assert chosen == sorted(set(chosen))
    assert all(0 <= i < len(words) for i in chosen)
    assert len(chosen) <= k
    if max_words is not None:
        assert sum(len(words[i]) for i in chosen) <= max_words
