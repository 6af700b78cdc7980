import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcnn.config import SummaryLength
from textcnn.errors import InputError
from textcnn.selection import LengthLimit, resolve_length, select_sentences


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


@given(sentence_words, st.integers(1, 20), st.one_of(st.none(), st.integers(1, 40)), st.data())
def test_summary_is_an_ordered_subset_within_its_bound(
    words: list[list[str]], k: int, max_words: int | None, data: st.DataObject
) -> None:
    scores = data.draw(st.lists(st.floats(0, 1), min_size=len(words), max_size=len(words)))
    chosen = select_sentences(scores, words, LengthLimit(k, max_words))
    assert chosen == sorted(set(chosen))
    assert all(0 <= i < len(words) for i in chosen)
    assert len(chosen) <= k
    if max_words is not None:
        assert sum(len(words[i]) for i in chosen) <= max_words
