"""bfloat16 autocast gives the float32 labels, the float32 summary sentences up to near-ties, and
scores within 1e-2.

On a CPU without native bfloat16 torch emulates it (slowly) and the service stays in float32, but
the numbers can still be checked here.
"""

import json
from pathlib import Path

import pytest

from textcnn.predict import Predictor


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
