"""Explanations: computed by hand on a tiny network, exact on a trained one, spans that point at the
right characters of real BBC articles, and n-grams whose removal lowers the class score."""

import json
import math
import statistics
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from textcnn import InputError, Predictor
from textcnn.config import ModelConfig, ModelInfo
from textcnn.explain import PARTS, explain_classification, explain_sentences
from textcnn.model import TextCNN
from textcnn.tokenize import tokenize, tokenize_with_offsets
from textcnn.vocab import PAD, UNK, Vocabulary
from training.run_config import TrainConfig
from training.train import train


@pytest.fixture(scope="module")
def predictor(bbc_model_dir: Path) -> Predictor:
    return Predictor.load(bbc_model_dir)


@pytest.fixture(scope="module")
def confident(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """A classifier trained hard enough to be sure of itself (the shared multi-task model's class
    probabilities stay near uniform, where removing any n-gram moves a logit by noise)."""
    config = TrainConfig(
        train=str(data_dir / "bbc_train.jsonl"),
        dev=str(data_dir / "bbc_dev.jsonl"),
        out=str(tmp_path_factory.mktemp("models") / "confident"),
        task="classify",
        bag_of_words=False,  # the n-grams' attribution is the CNN's; the bag would drown it out
        embedding_mode="rand",
        embedding_dim=32,
        num_filters=16,
        min_freq=1,
        epochs=15,
        patience=15,
        batch_size=8,
        lr=1e-2,
        # Narrow: in a wide model, cutting an n-gram at a sentence's end makes new windows over the
        # new end and its padding, which can fire harder than the cut one did; the removal test
        # below is about the attribution, not that edge effect.
        wide_convolution=False,
        quiet=True,
    )
    return Predictor.load(train(config))


@pytest.fixture(scope="module")
def articles(data_dir: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (data_dir / "bbc_dev.jsonl").read_text().splitlines()]


def test_one_filter_network_by_hand() -> None:
    # One embedding dimension, one unigram filter: the feature is relu(max over tokens of embedding),
    # and only "goal" has a non-zero embedding, so it wins the feature and carries the whole logit.
    vocab = Vocabulary([PAD, UNK, "late", "goal", "wins", "it", "."])
    config = ModelConfig(
        len(vocab), 2, True, embedding_dim=1, filter_widths=(1,), num_filters=1, context_dim=2
    )
    model = TextCNN(config)
    with torch.no_grad():
        model.encoder.embedding.weight.zero_()
        model.encoder.embedding.weight[vocab.encode(["goal"])[0]] = 1.5
        model.encoder.convs[0].weight.fill_(2.0)
        model.encoder.convs[0].bias.zero_()
        assert model.classifier is not None
        model.classifier.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model.classifier.bias.copy_(torch.tensor([0.25, 0.0]))
    predictor = Predictor(model, vocab, ModelInfo("hand", ("sport", "other")))
    text = "½ late GOAL wins it."  # NFKC makes "½" three characters: offsets must map back

    [sport] = explain_classification(predictor, [text])
    assert (sport.label, sport.bias, sport.logit) == ("sport", 0.25, pytest.approx(3.25))
    [goal] = sport.ngrams
    assert (goal.text, goal.start, goal.end, goal.tokens) == ("GOAL", 7, 11, ("goal",))
    assert (goal.contribution, goal.features, goal.sentence) == (pytest.approx(3.0), 1, 0)
    assert sport.probability == pytest.approx(1 / (1 + math.exp(-3.25 - 3.0)))  # softmax of 3.25, -3

    [other] = explain_classification(predictor, [text], label="other")
    assert other.logit == pytest.approx(-3.0)
    assert other.ngrams == ()  # its only feature counts against "other": nothing positive to show


def test_a_wide_window_over_the_sentence_start_shows_its_tokens_by_hand() -> None:
    # One bigram filter that reads only its second token, wide: "goal" opens the text, so the window
    # that wins is (padding, "goal"), which starts before the first token; the n-gram is "Goal" alone.
    vocab = Vocabulary([PAD, UNK, "goal", "wins", "it", "."])
    config = ModelConfig(
        len(vocab), 2, False, embedding_dim=1, filter_widths=(2,), num_filters=1, wide_convolution=True
    )
    model = TextCNN(config)
    with torch.no_grad():
        model.encoder.embedding.weight.zero_()
        model.encoder.embedding.weight[vocab.encode(["goal"])[0]] = 1.5
        model.encoder.convs[0].weight.copy_(torch.tensor([[[0.0, 2.0]]]))
        model.encoder.convs[0].bias.zero_()
        assert model.classifier is not None
        model.classifier.weight.copy_(torch.tensor([[1.0], [0.0]]))
        model.classifier.bias.zero_()
    predictor = Predictor(model, vocab, ModelInfo("hand", ("sport", "other")))

    [sport] = explain_classification(predictor, ["Goal wins it."])
    [goal] = sport.ngrams
    assert (goal.text, goal.start, goal.end, goal.tokens) == ("Goal", 0, 4, ("goal",))
    assert goal.contribution == pytest.approx(3.0)


def test_mean_pooling_shares_are_split_over_sentences_by_hand() -> None:
    # max+mean pooling, one unigram filter = the embedding: "goal" (2.0) and "win" (1.0) are the only
    # non-zero tokens. Sentence features are 2.0, 1.0 and 0.0: the document vector is [max 2.0,
    # mean 1.0]. Class weights [1, 3]: "goal" carries 1 * 2.0 + 3 * 2.0 / 3 = 4.0, "win" 3 * 1.0 / 3.
    vocab = Vocabulary([PAD, UNK, "a", "goal", "win", "dull", "."])
    config = ModelConfig(
        len(vocab),
        2,
        False,
        embedding_dim=1,
        filter_widths=(1,),
        num_filters=1,
        document_pooling="max+mean",
    )
    model = TextCNN(config)
    with torch.no_grad():
        model.encoder.embedding.weight.zero_()
        model.encoder.embedding.weight[vocab.encode(["goal"])[0]] = 2.0
        model.encoder.embedding.weight[vocab.encode(["win"])[0]] = 1.0
        model.encoder.convs[0].weight.fill_(1.0)
        model.encoder.convs[0].bias.zero_()
        assert model.classifier is not None
        model.classifier.weight.copy_(torch.tensor([[1.0, 3.0], [0.0, 0.0]]))
        model.classifier.bias.zero_()
    predictor = Predictor(model, vocab, ModelInfo("hand", ("sport", "other")))

    [sport] = explain_classification(predictor, ["A goal.\n\nA win.\n\nA dull."])
    assert sport.logit == pytest.approx(5.0)
    goal, win = sport.ngrams
    assert (goal.text, goal.sentence, goal.features) == ("goal", 0, 2)  # the max and its mean share
    assert goal.contribution == pytest.approx(4.0)
    assert (win.text, win.sentence, win.features) == ("win", 1, 1)
    assert win.contribution == pytest.approx(1.0)
    assert sport.bias + goal.contribution + win.contribution == pytest.approx(sport.logit)


def test_probabilities_and_scores_are_the_models(predictor: Predictor, articles: list[str]) -> None:
    texts = [*articles[:6], "", "One line only"]
    for explained, predicted in zip(
        explain_classification(predictor, texts), predictor.classify(texts), strict=True
    ):
        assert explained.label == predicted.label
        assert explained.probability == pytest.approx(predicted.confidence, abs=1e-6)
    for sentences, summary in zip(
        explain_sentences(predictor, texts), predictor.summarize(texts, max_sentences=3), strict=True
    ):
        for chosen in summary.sentences:
            assert sentences[chosen.index].score == pytest.approx(chosen.score, abs=1e-6)


def test_sentence_parts_add_up_to_the_logit(predictor: Predictor, articles: list[str]) -> None:
    [sentences] = explain_sentences(predictor, [articles[0]])
    assert [s.index for s in sentences] == list(range(len(sentences))) and len(sentences) > 5
    for s in sentences:
        assert list(s.parts) == list(PARTS)
        assert s.bias + sum(s.parts.values()) == pytest.approx(s.logit, abs=1e-5)
        assert s.score == pytest.approx(1 / (1 + math.exp(-s.logit)))


def test_spans_point_at_the_ngrams(predictor: Predictor, articles: list[str]) -> None:
    documents = predictor.prepare(articles)
    explained = explain_classification(predictor, articles, top_n=10)
    for article, document, explanation in zip(articles, documents, explained, strict=True):
        assert len(explanation.ngrams) == 10
        contributions = [n.contribution for n in explanation.ngrams]
        assert contributions == sorted(contributions, reverse=True) and contributions[-1] > 0
        for ngram in explanation.ngrams:
            assert article[ngram.start : ngram.end] == ngram.text
            assert tokenize(ngram.text, lowercase=predictor.model.config.lowercase) == list(ngram.tokens)
            assert 1 <= len(ngram.tokens) <= max(predictor.model.config.filter_widths)
            sentence = document.spans[ngram.sentence]
            assert sentence.start <= ngram.start < ngram.end <= sentence.end
    for article, document, sentences in zip(
        articles, documents, explain_sentences(predictor, articles), strict=True
    ):
        for s in sentences:
            span = document.spans[s.index]
            for ngram in s.ngrams:
                assert ngram.sentence == s.index and ngram.contribution > 0
                assert article[ngram.start : ngram.end] == ngram.text
                assert span.start <= ngram.start < ngram.end <= span.end


@pytest.mark.slow
def test_removing_the_top_ngram_lowers_the_class_score(confident: Predictor, articles: list[str]) -> None:
    top_drops, last_drops, probability_drops = [], [], []
    for article in articles:
        [before] = explain_classification(confident, [article], top_n=200)
        top_cut, last_cut = (
            article[: n.start] + article[n.end :] for n in (before.ngrams[0], before.ngrams[-1])
        )
        for cut, drops in ((top_cut, top_drops), (last_cut, last_drops)):
            [after] = explain_classification(confident, [cut], label=before.label)
            drops.append(before.logit - after.logit)
        [classified] = confident.classify([top_cut])
        probability_drops.append(before.probability - classified.scores[before.label])
    # Cutting an n-gram also joins the text around it into new windows, and one of those can fire
    # harder than the cut one did, so an article may rise; the attribution must hold for nearly all,
    # and cutting the top n-gram must typically cost far more than cutting the lowest-ranked one.
    assert sum(d > 0 for d in top_drops) >= 0.85 * len(articles), top_drops
    assert sum(d > 0 for d in probability_drops) >= 0.85 * len(articles), probability_drops
    typical_last = statistics.median(abs(d) for d in last_drops)
    assert statistics.median(top_drops) > 5 * typical_last, (top_drops, last_drops)


def test_a_requested_label_is_explained(predictor: Predictor, articles: list[str]) -> None:
    explained = explain_classification(predictor, articles[:4], label="sport", top_n=3)
    assert [e.label for e in explained] == ["sport"] * 4
    for article, e in zip(articles[:4], explained, strict=True):
        assert [n.contribution > 0 for n in e.ngrams] == [True] * 3
        assert all(article[n.start : n.end] == n.text for n in e.ngrams)


@pytest.mark.parametrize("text", ["", "   ", "one", "🙂 東京 مرحبا"])
def test_edge_texts(predictor: Predictor, text: str) -> None:
    [explained] = explain_classification(predictor, [text])
    assert all(text[n.start : n.end] == n.text for n in explained.ngrams)
    if not text.strip():
        assert explained.ngrams == () and explained.logit == pytest.approx(explained.bias)
        assert explain_sentences(predictor, [text]) == [()]


def test_bad_arguments(predictor: Predictor) -> None:
    with pytest.raises(InputError, match="unknown label 'weather'"):
        explain_classification(predictor, ["text"], label="weather")
    with pytest.raises(InputError, match="top_n"):
        explain_classification(predictor, ["text"], top_n=0)
    with pytest.raises(InputError, match="top_n"):
        explain_sentences(predictor, ["text"], top_n=0)


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("Ｔｏｋｙｏ ﬁnance", ["Ｔｏｋｙｏ", "ﬁnance"]),
        ("½ cafe\u0301!", ["½", "½", "½", "cafe\u0301", "!"]),
        ("ΟΔΟΣ \u1100\u1161\u11a8", ["ΟΔΟΣ", "\u1100\u1161\u11a8"]),
        ("Shares fell 5% (£600m).", ["Shares", "fell", "5", "%", "(", "£", "600m", ")", "."]),
    ],
)
def test_token_offsets_survive_normalization(text: str, spans: list[str]) -> None:
    tokens = tokenize_with_offsets(text)
    assert [t.text for t in tokens] == tokenize(text)
    assert [text[t.start : t.end] for t in tokens] == spans


@given(st.text(max_size=60))
def test_token_offsets_match_tokenize(text: str) -> None:
    tokens = tokenize_with_offsets(text)
    assert [t.text for t in tokens] == tokenize(text)
    assert all(0 <= t.start < t.end <= len(text) for t in tokens)
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)
