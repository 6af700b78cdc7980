"""The serving benchmark's model-free server answers in the shape of the real model's scores."""

from pathlib import Path

from benchmarks.model_free_server import constant_scores
from textcnn.predict import Predictor

ARTICLE = "Shares rose on Monday. The bank said profits doubled.\nAnalysts expect more."


def test_constant_scores_have_the_models_shape(bbc_model_dir: Path) -> None:
    predictor = Predictor.load(bbc_model_dir)
    documents = predictor.prepare([ARTICLE, ""])
    real = predictor.scores(documents)
    fake = constant_scores(predictor, documents)
    for r, f in zip(real, fake, strict=True):
        assert r.class_probs is not None and f.class_probs is not None
        assert len(f.class_probs) == len(r.class_probs)
        assert abs(sum(f.class_probs) - 1) < 1e-9
        assert r.sentence_probs is not None and f.sentence_probs is not None
        assert len(f.sentence_probs) == len(r.sentence_probs)
    assert all(f.sentence_probs is None for f in constant_scores(predictor, documents, sentences=False))
