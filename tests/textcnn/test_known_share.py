"""The known-token share: how much of a document the model's vocabulary covers, counted by hand."""

import json
from pathlib import Path

import pytest

from textcnn.features import Document
from textcnn.predict import DEFAULT_MODEL_DIR, Predictor, known_token_share
from textcnn.sentences import Span
from textcnn.vocab import UNK_ID

TEST_SPLIT = Path(__file__).parents[2] / "data" / "bbc_news_summary" / "test.jsonl"
GERMAN = (
    "Die Bundesregierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer Energien beschlossen."
)
# README's other text unlike the training data: English, but not news.
RECIPE = (
    "Cream the butter and sugar until pale, beat in the eggs one at a time, then fold in the flour and "
    "bake for 25 minutes at 180C."
)


def test_share_counts_unknown_ids_over_all_tokens() -> None:
    document = Document("a b c. d e", (Span(0, 6), Span(7, 10)), ((5, UNK_ID, 7), (UNK_ID, 9)))
    assert known_token_share(document) == pytest.approx(3 / 5)


def test_no_tokens_is_a_share_of_zero() -> None:
    assert known_token_share(Document("", (), ())) == 0.0


@pytest.fixture(scope="module")
def default_model() -> Predictor:
    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip("the default model is not in this checkout")
    return Predictor.load(DEFAULT_MODEL_DIR)


def test_classify_reports_the_share_the_vocabulary_knows(default_model: Predictor) -> None:
    article = json.loads(TEST_SPLIT.read_text().splitlines()[0])["text"]
    texts = [article, GERMAN, "", RECIPE]
    results = default_model.classify(texts)
    expected = []
    for document in default_model.prepare(texts):
        ids = [i for sentence in document.token_ids for i in sentence]
        expected.append(sum(i != UNK_ID for i in ids) / len(ids) if ids else 0.0)
    assert [r.known_token_share for r in results] == pytest.approx(expected)
    # A BBC article is mostly known words; German is mostly unknown to a model trained on English news.
    assert results[0].known_token_share > 0.9
    assert results[1].known_token_share < 0.5
    # A recipe is English, mostly known words, but fewer than news.
    assert results[1].known_token_share < results[3].known_token_share < results[0].known_token_share
