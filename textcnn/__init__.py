"""textcnn: document classification and extractive summarization with a multi-task Kim CNN.

Importing this package pulls in torch but never fastapi, pydantic, datasets or gensim.
"""

from textcnn import artifact
from textcnn.errors import InputError, LimitExceeded, ModelLoadError, TextCNNError, UnsupportedTaskError
from textcnn.explain import (
    ClassExplanation,
    NGram,
    SentenceExplanation,
    explain_classification,
    explain_labels,
    explain_sentences,
)
from textcnn.features import Document
from textcnn.lookup import DEFAULT_BUDGET_MB
from textcnn.predict import (
    DEFAULT_MODEL_DIR,
    Classification,
    Predictor,
    Scorer,
    Scores,
    Summary,
    SummarySentence,
    bf16_supported,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BUDGET_MB",
    "DEFAULT_MODEL_DIR",
    "ClassExplanation",
    "Classification",
    "Document",
    "InputError",
    "LimitExceeded",
    "ModelLoadError",
    "NGram",
    "Predictor",
    "Scorer",
    "Scores",
    "SentenceExplanation",
    "Summary",
    "SummarySentence",
    "TextCNNError",
    "UnsupportedTaskError",
    "__version__",
    "artifact",
    "bf16_supported",
    "explain_classification",
    "explain_labels",
    "explain_sentences",
]
