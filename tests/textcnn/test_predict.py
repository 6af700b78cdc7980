"""Predictor on a small model trained on real BBC articles: save, reload, batching, edge inputs."""

import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from textcnn import InputError, Predictor
from textcnn.config import ModelConfig, ModelInfo
from textcnn.features import Document, collate, prepare
from textcnn.model import TextCNN
from textcnn.predict import Scores
from textcnn.vocab import Vocabulary
from textcnn.word_ids import WordIds


@pytest.fixture(scope="module")
def predictor(bbc_model_dir: Path) -> Predictor:
    return Predictor.load(bbc_model_dir)


@pytest.fixture(scope="module")
def train_rows(data_dir: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (data_dir / "bbc_train.jsonl").read_text().splitlines()]


def test_fits_its_training_articles(predictor: Predictor, train_rows: list[dict[str, str]]) -> None:
    predicted = [c.label for c in predictor.classify([r["text"] for r in train_rows])]
    accuracy = sum(p == r["label"] for p, r in zip(predicted, train_rows, strict=True)) / len(train_rows)
    assert accuracy >= 0.9


def test_reload_gives_identical_predictions(
    predictor: Predictor, bbc_model_dir: Path, tmp_path: Path, train_rows: list[dict[str, str]]
) -> None:
    copy = shutil.copytree(bbc_model_dir, tmp_path / "copy")
    again = Predictor.load(copy)
    texts = [r["text"] for r in train_rows[:10]]
    assert again.classify(texts) == predictor.classify(texts)
    assert again.summarize(texts) == predictor.summarize(texts)


def test_batched_equals_one_by_one(predictor: Predictor, train_rows: list[dict[str, str]]) -> None:
    texts = [r["text"] for r in train_rows[:7]] + ["", "One line only"]
    batched = predictor.classify(texts)
    single = [predictor.classify([t])[0] for t in texts]
    for b, s in zip(batched, single, strict=True):
        assert b.label == s.label
        assert b.confidence == pytest.approx(s.confidence, abs=1e-5)
    batched_summaries = predictor.summarize(texts, max_sentences=3)
    for text, summary in zip(texts, batched_summaries, strict=True):
        [alone] = predictor.summarize([text], max_sentences=3)
        assert [s.index for s in summary.sentences] == [s.index for s in alone.sentences]
        assert [s.score for s in summary.sentences] == pytest.approx(
            [s.score for s in alone.sentences], abs=1e-5
        )


def test_passes_of_sorted_documents_answer_in_input_order(
    predictor: Predictor, train_rows: list[dict[str, str]]
) -> None:
    # Passes group documents by sentence count; two to a pass, the order differs from the input's.
    small = Predictor(
        predictor.model, predictor.vocab, predictor.info, batch_size=2, inference=predictor.inference
    )
    texts = ["One line only", *(r["text"] for r in train_rows[:5]), "", "Two lines.\nHere."]
    documents = small.prepare(texts)
    assert sorted(range(len(texts)), key=lambda i: len(documents[i].spans)) != list(range(len(texts)))
    passes = small.scores(documents)
    for document, scores in zip(documents, passes, strict=True):
        [alone] = small.scores([document])
        assert scores.class_probs == pytest.approx(alone.class_probs, abs=1e-5)
        assert scores.sentence_probs == pytest.approx(alone.sentence_probs, abs=1e-5)


def test_summary_sentences_are_exact_slices(predictor: Predictor, train_rows: list[dict[str, str]]) -> None:
    text = train_rows[0]["text"]
    [summary] = predictor.summarize([text], ratio=0.5)
    assert summary.sentences
    for sentence in summary.sentences:
        assert text[sentence.start : sentence.end] == sentence.text


@pytest.mark.parametrize("text", ["", "   \n ", "word", "Two words", "x" * 5000, "a. " * 2000])
def test_edge_inputs_have_defined_results(predictor: Predictor, text: str) -> None:
    [classification] = predictor.classify([text])
    assert classification.label in predictor.info.labels
    [summary] = predictor.summarize([text], max_sentences=2)
    assert len(summary.sentences) <= (0 if not text.strip() else 2)


def test_bad_arguments_raise_input_error(predictor: Predictor) -> None:
    with pytest.raises(InputError):
        predictor.summarize(["a b c."], max_sentences=0)
    with pytest.raises(InputError):
        predictor.summarize(["a b c."], ratio=1.5)
    with pytest.raises(InputError):
        predictor.summarize(["a b c."], ratio=0.5, max_words=3)
    with pytest.raises(InputError, match="selection must be one of"):
        predictor.summarize(["a b c."], selection="longest")
    with pytest.raises(InputError):
        predictor.classify(["a"], top_k=0)
    with pytest.raises(InputError):
        predictor.classify("not a list")


def test_document_padding_does_not_change_outputs() -> None:
    """A document scores the same alone and beside a longer one (sentence and token padding)."""
    torch.manual_seed(0)
    texts = ["Stocks fell. Banks rose sharply today.", "A much longer text.\nWith lines. " * 8]
    vocab = Vocabulary.build([t.lower().split() for t in texts])
    model = TextCNN(ModelConfig(vocab_size=len(vocab), num_classes=3, summarize=True)).eval()
    docs = [prepare(t, WordIds(vocab, lowercase=True), max_tokens=100) for t in texts]
    with torch.no_grad():
        alone = model(collate(docs[:1]))
        together = model(collate(docs))
    assert alone.class_logits is not None and together.class_logits is not None
    assert alone.sentence_logits is not None and together.sentence_logits is not None
    torch.testing.assert_close(alone.class_logits[0], together.class_logits[0])
    torch.testing.assert_close(alone.sentence_logits[0], together.sentence_logits[0, :2])


def test_model_shapes() -> None:
    config = ModelConfig(vocab_size=20, num_classes=4, summarize=True, num_filters=5, filter_widths=(2, 3))
    model = TextCNN(config).eval()
    assert model.output_dim == 10
    vocab = Vocabulary(["<pad>", "<unk>"])
    docs = [
        prepare(t, WordIds(vocab, lowercase=True), max_tokens=100)
        for t in ["The cat sat. The dog ran away.", "", "Fine."]
    ]
    out = model(collate(docs))
    assert out.class_logits is not None and out.class_logits.shape == (3, 4)
    assert out.sentence_logits is not None and out.sentence_logits.shape == (3, 2)


def test_classifier_only_model_refuses_to_summarize() -> None:
    from textcnn import UnsupportedTaskError

    vocab = Vocabulary(["<pad>", "<unk>"])
    model = TextCNN(ModelConfig(vocab_size=2, num_classes=2, summarize=False))
    predictor = Predictor(model, vocab, ModelInfo("c", ("a", "b")))
    with pytest.raises(UnsupportedTaskError):
        predictor.summarize(["x"])


def test_trigram_blocking_follows_the_model_and_the_caller(predictor: Predictor) -> None:
    # The second and third sentences share "the central bank"; blocking keeps only one of them.
    text = (
        "Markets rose sharply on Monday.\n"
        "Traders said the central bank would cut rates.\n"
        "Analysts expect the central bank to act in March."
    )
    blocked = replace(predictor.info, block_trigrams=True)
    unblocked = replace(predictor.info, block_trigrams=False)
    [with_blocking] = Predictor(predictor.model, predictor.vocab, blocked).summarize([text], max_sentences=3)
    [without] = Predictor(predictor.model, predictor.vocab, unblocked).summarize([text], max_sentences=3)
    assert len(with_blocking.sentences) == 2
    assert [s.index for s in without.sentences] == [0, 1, 2]
    [forced] = Predictor(predictor.model, predictor.vocab, unblocked).summarize(
        [text], max_sentences=3, block_trigrams=True
    )
    assert forced == with_blocking


def test_scores_are_one_per_document_and_sentence(
    predictor: Predictor, train_rows: list[dict[str, str]]
) -> None:
    documents = predictor.prepare([train_rows[0]["text"], "", "One line only"])
    scores = predictor.scores(documents)
    assert [len(s.sentence_probs or ()) for s in scores] == [len(d.spans) for d in documents]
    assert all(s.class_probs is not None and sum(s.class_probs) == pytest.approx(1) for s in scores)
    [classification] = predictor.classify([train_rows[0]["text"]])
    assert scores[0].class_probs is not None
    assert classification.confidence == pytest.approx(max(scores[0].class_probs), abs=1e-6)


def test_a_pluggable_scorer_serves_classify_and_summarize(
    predictor: Predictor, train_rows: list[dict[str, str]]
) -> None:
    texts = [r["text"] for r in train_rows[:3]]
    calls: list[tuple[int, bool]] = []

    def counting(documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]:
        calls.append((len(documents), sentences))
        return predictor.scores(documents, sentences=sentences)

    routed = predictor.with_scorer(counting)
    assert routed.classify(texts) == predictor.classify(texts)
    assert routed.summarize(texts) == predictor.summarize(texts)
    assert calls == [(3, False), (3, True)]  # classification never runs the sentence scorer
    assert (routed.model, routed.batch_size, routed.inference) == (
        predictor.model,
        predictor.batch_size,
        predictor.inference,
    )
    assert predictor.scorer == predictor.scores  # the original keeps its own passes


def test_a_repeated_document_is_scored_once_and_answered_alike(
    predictor: Predictor, train_rows: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = train_rows[0]["text"], train_rows[1]["text"]
    forward = predictor.model.forward
    rows: list[int] = []

    def counting(inputs: Any, **options: Any) -> Any:
        rows.append(inputs.num_docs)
        return forward(inputs, **options)

    monkeypatch.setattr(predictor.model, "forward", counting)
    summaries = predictor.summarize([first, second, first, first])
    labels = predictor.classify([first, second, first])
    assert rows == [2, 2]  # the distinct documents only
    assert summaries[0] == summaries[2] == summaries[3] and labels[0] == labels[2]
    assert summaries[:2] == predictor.summarize([first, second])  # the very pass the distinct ones get


def test_scores_without_sentences_skip_the_scorer_and_keep_the_class_probabilities(
    predictor: Predictor, train_rows: list[dict[str, str]]
) -> None:
    documents = predictor.prepare([r["text"] for r in train_rows[:4]])
    full = predictor.scores(documents)
    labels_only = predictor.scores(documents, sentences=False)
    assert all(s.sentence_probs is None for s in labels_only)
    assert all(s.sentence_probs is not None for s in full)
    for a, b in zip(full, labels_only, strict=True):
        assert a.class_probs == pytest.approx(b.class_probs, abs=1e-6)


def test_documents_over_the_sentence_limit_are_refused(predictor: Predictor) -> None:
    from textcnn.errors import LimitExceeded

    limited = Predictor(predictor.model, predictor.vocab, predictor.info, max_sentences=3)
    assert len(limited.classify(["One. Two. Three."])) == 1
    with pytest.raises(LimitExceeded, match="document 1 has 4 sentences, over the limit of 3"):
        limited.summarize(["Fine.", "One. Two. Three. Four."])
