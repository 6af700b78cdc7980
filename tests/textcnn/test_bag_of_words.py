"""The bag-of-words term and the max+mean pooling: computed by hand, batch-invariant, saved and
loaded with the model, and explained exactly."""

import math
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from textcnn import Predictor, artifact
from textcnn.bag import pair_term
from textcnn.config import ModelConfig, ModelInfo
from textcnn.explain import explain_classification
from textcnn.features import Document, collate, prepare
from textcnn.model import TextCNN
from textcnn.vocab import PAD, UNK, Vocabulary
from textcnn.word_ids import WordIds

VOCAB = Vocabulary([PAD, UNK, "goal", "win", "vote", "."])
WORD_IDS = WordIds(VOCAB, lowercase=True)


def words_model(**changes: Any) -> TextCNN:
    """A tiny classifier over VOCAB with a bag of words and hand-set word IDFs; `changes` to its
    ModelConfig."""
    config = ModelConfig(
        len(VOCAB), 2, False, embedding_dim=4, filter_widths=(1, 2), num_filters=3, bag_of_words=True
    )
    model = TextCNN(replace(config, **changes))
    with torch.no_grad():
        model.token_idf.copy_(torch.tensor([0.0, 0.0, 1.0, 2.0, 0.5, 0.0]))
    return model


def model_with_words() -> TextCNN:
    model = words_model().eval()
    with torch.no_grad():
        assert model.words is not None
        model.words.weight.copy_(torch.tensor([[0.0, 0.0, 3.0, 1.0, -2.0, 0.0], [0.0] * 6]))
    return model


def test_the_bag_is_sublinear_tf_idf_of_unit_length() -> None:
    model = model_with_words()
    document = prepare("Goal goal win. Vote.", WORD_IDS, max_tokens=100)
    [bag] = model.bag_of_words(collate([document])).dense(1, len(VOCAB))
    # goal twice (idf 1), win once (idf 2), vote once (idf 0.5); "." has idf 0
    expected = torch.tensor([0.0, 0.0, math.log(3), 2 * math.log(2), 0.5 * math.log(2), 0.0])
    assert torch.allclose(bag, expected / expected.norm(), atol=1e-6)
    [empty] = model.bag_of_words(collate([prepare("", WORD_IDS, max_tokens=100)])).dense(1, len(VOCAB))
    assert torch.equal(empty, torch.zeros(len(VOCAB)))


def test_the_words_add_to_the_class_logits_the_same_alone_or_in_a_batch() -> None:
    model = model_with_words()
    texts = ["Goal goal win.", "Vote. Vote. Win win win goal.", "."]
    documents = [prepare(t, WORD_IDS, max_tokens=100) for t in texts]
    with torch.inference_mode():
        together = model(collate(documents)).class_logits
        alone = torch.cat([model(collate([d])).class_logits for d in documents])  # type: ignore[misc]
        assert together is not None and model.classifier is not None
        cnn_only = model.classifier(model.pool(*_sentences(model, documents)))
    assert torch.allclose(together, alone, atol=1e-6)
    bags = model.bag_of_words(collate(documents)).dense(len(documents), len(VOCAB))
    words = bags @ model.words.weight.T  # type: ignore[union-attr]
    assert torch.allclose(together, cnn_only + words, atol=1e-6)


def test_frozen_zero_words_are_skipped_and_trainable_ones_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    documents = [prepare(t, WORD_IDS, max_tokens=100) for t in ["Goal win.", "Vote."]]
    model = words_model().train()  # dropout on: a skipped bag must not draw from its generator either
    assert model.words is not None
    batch = collate(documents)
    read: list[int] = []
    bag_of_words = model.bag_of_words
    monkeypatch.setattr(model, "bag_of_words", lambda b: read.append(1) or bag_of_words(b))
    model.words.weight.requires_grad_(False)  # as before the bag's own stage: frozen at zero
    document = model.pool(*_sentences(model, documents))
    torch.manual_seed(0)
    skipped = model.class_logits(batch, document)
    torch.manual_seed(0)
    assert model.classifier is not None
    assert skipped is not None and torch.equal(skipped, model.classifier(model.dropout(document)))
    assert not read
    model.words.weight.requires_grad_(True)  # zero but trained: the term must stay in the graph
    model.class_logits(batch, document)
    assert read


def _sentences(model: TextCNN, documents: list[Document]) -> tuple[torch.Tensor, torch.Tensor]:
    batch = collate(documents)
    grid = torch.zeros(batch.num_docs * batch.max_sentences, model.output_dim)
    for bucket in batch.buckets:
        grid[bucket.grid_index] = model.encoder(bucket.token_ids, bucket.lengths)
    return grid.view(batch.num_docs, batch.max_sentences, -1), batch.sentence_mask


def test_a_model_with_words_and_mean_pooling_saves_and_loads(tmp_path: Path) -> None:
    config = ModelConfig(
        len(VOCAB), 2, True, embedding_dim=4, num_filters=3, bag_of_words=True, document_pooling="max+mean"
    )
    model = TextCNN(config).eval()
    with torch.no_grad():
        model.token_idf.uniform_(0, 2)
        assert model.words is not None
        model.words.weight.normal_()
    info = ModelInfo("words", ("sport", "politics"))
    artifact.save(tmp_path / "m", model, VOCAB, info)
    texts = ["Goal win. Vote vote.", "Win."]
    before = Predictor(model, VOCAB, info)
    # The convolution, as before saving: the lookup tables agree only up to float rounding
    # (tests/textcnn/test_lookup.py).
    after = Predictor.load(tmp_path / "m", table_budget_mb=0)
    assert after.model.config == config
    assert before.classify(texts) == after.classify(texts)
    assert before.summarize(texts) == after.summarize(texts)


def test_word_contributions_are_shared_by_occurrences_and_add_up() -> None:
    model = model_with_words()
    with torch.no_grad():  # the CNN part says nothing: all of the logit is the words'
        model.encoder.embedding.weight.zero_()
        for conv in model.encoder.convs:
            conv.bias.zero_()
        assert model.classifier is not None
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.5, 0.0]))
    predictor = Predictor(model, VOCAB, ModelInfo("words", ("sport", "politics")))
    [sport] = explain_classification(predictor, ["Goal goal win. Vote."], label="sport")
    norm = math.sqrt(math.log(3) ** 2 + (2 * math.log(2)) ** 2 + (0.5 * math.log(2)) ** 2)
    goal, win = 3 * math.log(3) / norm, 2 * math.log(2) / norm  # vote's term is negative
    assert sport.logit == pytest.approx(0.5 + goal + win - 2 * 0.5 * math.log(2) / norm, abs=1e-5)
    assert [(n.text, n.sentence, n.features) for n in sport.ngrams] == [
        ("Goal", 0, 1),
        ("goal", 0, 1),
        ("win", 0, 1),
    ]
    assert [n.contribution for n in sport.ngrams] == pytest.approx([goal / 2, goal / 2, win])


PAIR_BUCKETS = 7


def model_with_pairs() -> TextCNN:
    model = words_model(word_pair_buckets=PAIR_BUCKETS).eval()
    with torch.no_grad():
        model.pair_idf.copy_(torch.arange(1.0, PAIR_BUCKETS + 1))
        assert model.words is not None
        model.words.weight.normal_()
    return model


def test_word_pairs_join_the_bag_within_sentences_only() -> None:
    model = model_with_pairs()
    # ids: goal 2, win 3, vote 4, "." 5; the sentences are "goal win ." and "vote ."
    expected = torch.zeros(len(VOCAB) + PAIR_BUCKETS)
    expected[[2, 3, 4]] = torch.tensor([1.0, 2.0, 0.5]) * math.log(2)
    size = len(VOCAB)
    # never (5, 4): it would cross the sentence end; pairs that share a slot count together
    slots = Counter(pair_term(a, b, size, PAIR_BUCKETS) for a, b in [(2, 3), (3, 5), (4, 5)])
    for slot, count in slots.items():
        expected[slot] = (slot - size + 1) * math.log1p(count)
    bag = model.bag_of_words(collate([prepare("Goal win.\nVote.", WORD_IDS, max_tokens=100)]))
    assert torch.allclose(bag.dense(1, len(expected))[0], expected / expected.norm(), atol=1e-6)


def test_pair_terms_agree_as_ints_and_tensors() -> None:
    firsts, seconds = torch.tensor([2, 3, 4, 0]), torch.tensor([3, 5, 5, 1])
    as_tensor = pair_term(firsts, seconds, 6, PAIR_BUCKETS)
    as_ints = [pair_term(int(a), int(b), 6, PAIR_BUCKETS) for a, b in zip(firsts, seconds, strict=True)]
    assert as_tensor.tolist() == as_ints
    assert all(6 <= t < 6 + PAIR_BUCKETS for t in as_ints)


def test_a_model_with_word_pairs_saves_loads_and_explains_exactly(tmp_path: Path) -> None:
    model = model_with_pairs()
    with torch.no_grad():  # the CNN part says nothing and every term counts for the class
        model.encoder.embedding.weight.zero_()
        for conv in model.encoder.convs:
            conv.bias.zero_()
        assert model.classifier is not None and model.words is not None
        model.classifier.weight.zero_()
        model.words.weight.uniform_(0.1, 1.0)
    info = ModelInfo("pairs", ("sport", "politics"))
    artifact.save(tmp_path / "m", model, VOCAB, info)
    loaded = Predictor.load(tmp_path / "m")
    assert torch.equal(loaded.model.pair_idf, model.pair_idf)
    texts = ["Goal win. Vote vote.", "Win goal goal."]
    assert Predictor(model, VOCAB, info).classify(texts) == loaded.classify(texts)
    for explanation in explain_classification(loaded, texts, label="sport", top_n=1000):
        total = explanation.bias + sum(n.contribution for n in explanation.ngrams)
        assert total == pytest.approx(explanation.logit, abs=1e-5)
        assert any(len(n.tokens) == 2 for n in explanation.ngrams)  # the word pairs' windows
