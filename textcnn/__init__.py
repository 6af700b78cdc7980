"""textcnn: document classification and extractive summarization with a multi-task Kim CNN.

Importing this package pulls in torch but never fastapi, pydantic, datasets or gensim.
"""

from textcnn.errors import InputError, ModelLoadError, TextCNNError, UnsupportedTaskError
from textcnn.predict import (
    DEFAULT_MODEL_DIR,
    Classification,
    Predictor,
    Summary,
    SummarySentence,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL_DIR",
    "Classification",
    "InputError",
    "ModelLoadError",
    "Predictor",
    "Summary",
    "SummarySentence",
    "TextCNNError",
    "UnsupportedTaskError",
    "__version__",
]
