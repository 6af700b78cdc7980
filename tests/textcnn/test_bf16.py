"""bfloat16 autocast gives the float32 labels, the float32 summary sentences up to near-ties, and
scores within 1e-2; the model itself runs under autocast as it is, with no hook on its encoder.

On a CPU without native bfloat16 torch emulates it (slowly) and the service stays in float32, but
the numbers can still be checked here.
"""

import json
from pathlib import Path

import pytest
import torch

from textcnn.config import ModelConfig
from textcnn.features import collate, prepare
from textcnn.model import TextCNN
from textcnn.predict import Predictor
from textcnn.vocab import Vocabulary
from textcnn.word_ids import WordIds


@pytest.fixture(scope="module")
def pair(bbc_model_dir: Path) -> tuple[Predictor, Predictor]:
    return Predictor.load(bbc_model_dir), Predictor.load(bbc_model_dir, bf16=True)


@pytest.fixture(scope="module")
def articles(data_dir: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (data_dir / "bbc_dev.jsonl").read_text().splitlines()[:8]]


def test_bf16_classifies_like_float32(pair: tuple[Predictor, Predictor], articles: list[str]) -> None:
    fp32, bf16 = pair
    for a, b in zip(fp32.classify(articles), bf16.classify(articles), strict=True):
        assert a.label == b.label
        assert [b.scores[label] for label in a.scores] == pytest.approx(list(a.scores.values()), abs=1e-2)


def test_bf16_summarizes_like_float32(pair: tuple[Predictor, Predictor], articles: list[str]) -> None:
    fp32, bf16 = pair
    everything = fp32.scores(fp32.prepare(articles))
    for scores, a, b in zip(everything, fp32.summarize(articles), bf16.summarize(articles), strict=True):
        probs = scores.sentence_probs
        assert probs is not None
        picked_a, picked_b = {s.index for s in a.sentences}, {s.index for s in b.sentences}
        # Only a near-tie may flip: sentences swapped in or out score alike in float32.
        swapped = [probs[i] for i in picked_a ^ picked_b]
        assert not swapped or max(swapped) - min(swapped) <= 1e-2
        ours = {s.index: s.score for s in b.sentences}
        for sentence in a.sentences:
            if sentence.index in ours:
                assert ours[sentence.index] == pytest.approx(sentence.score, abs=1e-2)


def test_the_model_runs_under_bf16_autocast_close_to_float32(articles: list[str]) -> None:
    # The convolution (not the lookup tables, which answer in float32) so that the encoder's output
    # really is bfloat16; both heads, the mean pooling and the bag of words all read it.
    words = sorted({w for a in articles for w in a.lower().split()})
    vocab = Vocabulary(["<pad>", "<unk>", *words])
    config = ModelConfig(
        vocab_size=len(vocab),
        num_classes=3,
        summarize=True,
        embedding_dim=16,
        num_filters=8,
        context_dim=16,
        document_pooling="max+mean",
        graph_centrality=True,
        bag_of_words=True,
    )
    torch.manual_seed(0)
    model = TextCNN(config).eval()
    batch = collate([prepare(a, WordIds(vocab, lowercase=True), max_tokens=100) for a in articles])
    with torch.inference_mode():
        full = model(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bucket = batch.buckets[0]
            assert model.encoder(bucket.token_ids, bucket.lengths).dtype == torch.bfloat16
            half = model(batch)
    assert full.class_logits is not None and half.class_logits is not None
    assert full.sentence_logits is not None and half.sentence_logits is not None
    torch.testing.assert_close(half.class_logits.float(), full.class_logits, atol=2e-2, rtol=0)
    mask = batch.sentence_mask
    torch.testing.assert_close(
        half.sentence_logits.float()[mask], full.sentence_logits[mask], atol=2e-2, rtol=0
    )
