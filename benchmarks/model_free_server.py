"""`python -m service` with its forward passes replaced by constant scores, for the serving benchmark.

Everything else is the real server: parsing, validation, middlewares, the gate, micro-batching,
splitting, tokenizing and answering. Its requests/s is what the server's own per-request work allows
on this machine before the model adds anything, the HTTP ceiling `/classify` is measured against.
Benchmark tooling only; it answers with made-up probabilities.
"""

from collections.abc import Sequence

from service.__main__ import main
from textcnn.features import Document
from textcnn.predict import Predictor, Scores


def constant_scores(
    self: Predictor, documents: Sequence[Document], *, sentences: bool = True
) -> list[Scores]:
    """Uniform class probabilities and sentence probabilities of one half, shaped like the model's."""
    labels = len(self.info.labels) if self.can_classify else 0
    classes = tuple([1 / labels] * labels) if labels else None
    return [
        Scores(classes, tuple([0.5] * len(d.spans)) if sentences and self.can_summarize else None)
        for d in documents
    ]


if __name__ == "__main__":
    Predictor.scores = constant_scores  # type: ignore[method-assign]
    main()
