import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcnn.sentences import split_sentences
from textcnn.tokenize import tokenize


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def test_abbreviations_decimals_and_quotes() -> None:
    text = (
        'Mr. Smith paid $10.5bn for the U.S. firm on Monday. "It was a great deal," he said. '
        "Shares rose 3.2% to 45.6p. The U.K. economy grew."
    )
    assert sentences(text) == [
        "Mr. Smith paid $10.5bn for the U.S. firm on Monday.",
        '"It was a great deal," he said.',
        "Shares rose 3.2% to 45.6p.",
        "The U.K. economy grew.",
    ]


def test_headline_without_full_stop_and_paragraphs() -> None:
    text = "Ad sales boost Time Warner profit\n\nQuarterly profits jumped 76%.\r\nThe firm grew."
    assert sentences(text) == [
        "Ad sales boost Time Warner profit",
        "Quarterly profits jumped 76%.",
        "The firm grew.",
    ]


def test_real_bbc_paragraph() -> None:
    text = (
        'Dr. Rowan Williams said the move was "wrong". Labour\'s vote fell by 1.5m, '
        "according to Prof. Curtice at 10 p.m. on Thursday. Mrs. Thatcher was not there."
    )
    assert sentences(text) == [
        'Dr. Rowan Williams said the move was "wrong".',
        "Labour's vote fell by 1.5m, according to Prof. Curtice at 10 p.m. on Thursday.",
        "Mrs. Thatcher was not there.",
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_tokenize_normalizes_and_keeps_inner_punctuation() -> None:
    assert tokenize("Ｍr. Smith's e-mail cost $10,000.50!") == [
        "mr",
        ".",
        "smith's",
        "e-mail",
        "cost",
        "$",
        "10,000.50",
        "!",
    ]
    assert tokenize("Tokyo 東京", lowercase=False) == ["Tokyo", "東京"]


@given(st.text())
def test_splitter_offsets_are_exact_and_ordered(text: str) -> None:
    spans = split_sentences(text)
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)
        piece = text[span.start : span.end]
        assert piece == piece.strip() and piece
        previous_end = span.end


@given(st.text())
def test_tokenizer_never_raises_and_drops_only_space(text: str) -> None:
    tokens = tokenize(text)
    assert all(t and not t.isspace() for t in tokens)
