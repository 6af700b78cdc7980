"""The library's error hierarchy: callers catch one base class, the service maps each kind to a status."""


class TextCNNError(Exception):
    """Base class of every error textcnn raises on purpose."""


class InputError(TextCNNError, ValueError):
    """The caller passed something the library cannot work with (bad length setting, wrong type)."""


class LimitExceeded(InputError):
    """An input is over a size limit the caller set, such as sentences per document."""


class UnsupportedTaskError(TextCNNError):
    """The model was not trained for the requested task (e.g. summarizing with a classifier-only model)."""


class ModelLoadError(TextCNNError):
    """A model directory is missing, incomplete, tampered with or from an unknown format version."""
