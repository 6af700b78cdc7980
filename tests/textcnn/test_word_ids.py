import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcnn.sentences import split_sentences
from textcnn.tokenize import tokenize
from textcnn.vocab import UNK_ID, Vocabulary
from textcnn.word_ids import LONGEST_CHUNK, WordIds

BBC_TEST = Path(__file__).parents[2] / "data" / "bbc_news_summary" / "test.jsonl"
VOCAB = Vocabulary(["<pad>", "<unk>", "the", "e-mail", "don't", "3.5", "$", "!", "ﬁ", "fi", "a", "İ", "i̇"])


def reference(vocab: Vocabulary, text: str, *, lowercase: bool) -> list[int]:
    return vocab.encode(tokenize(text, lowercase=lowercase))


@pytest.mark.parametrize("lowercase", [True, False])
@given(text=st.text())
def test_same_ids_as_tokenize_then_encode(lowercase: bool, text: str) -> None:
    word_ids = WordIds(VOCAB, lowercase=lowercase)
    expected = reference(VOCAB, text, lowercase=lowercase)
    assert word_ids(text) == expected
    assert word_ids(text) == expected  # again, from the cache
    assert word_ids(text, 2) == expected[:2]


@pytest.mark.parametrize(
    "text",
    [
        "The e-mail!",
        "THE\u00a0E-MAIL",  # a no-break space is whitespace to both
        "a\u00a8the",  # NFKC turns the diaeresis into a space and a combining mark
        "ＴＨＥ ﬁ $3.5",  # full-width letters and a ligature fold under NFKC
        "İ i\u0307",  # lower-casing may leave text NFKC would change again
        "don't\u2028the\x1cthe",  # line and file separators
    ],
)
@pytest.mark.parametrize("lowercase", [True, False])
def test_normalization_and_whitespace_edges(text: str, lowercase: bool) -> None:
    assert WordIds(VOCAB, lowercase=lowercase)(text) == reference(VOCAB, text, lowercase=lowercase)


def test_the_cache_stays_bounded_and_answers_the_same_when_full() -> None:
    word_ids = WordIds(VOCAB, lowercase=True, capacity=3)
    text = "the a the e-mail don't ! the a"
    for _ in range(3):
        assert word_ids(text) == reference(VOCAB, text, lowercase=True)
        assert len(word_ids._chunks) <= 3
    long = "x" * (LONGEST_CHUNK + 1)
    assert word_ids(long) == [UNK_ID]
    assert long not in word_ids._chunks


def test_same_ids_on_real_news() -> None:
    texts = [json.loads(line)["text"] for line in BBC_TEST.read_text().splitlines()[:40]]
    sentences = [text[s.start : s.end] for text in texts for s in split_sentences(text)]
    vocab = Vocabulary.build(tokenize(s) for s in sentences[::2])
    word_ids = WordIds(vocab, lowercase=True)
    assert [word_ids(s) for s in sentences] == [reference(vocab, s, lowercase=True) for s in sentences]
