"""How every command ends on a library error: one line saying what was wrong, and exit status 1."""

from collections.abc import Iterator
from contextlib import contextmanager

from textcnn.errors import TextCNNError


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn a TextCNNError raised inside (unusable data, a damaged model directory, a missing GPU)
    into `error: <message>` on stderr and exit status 1, without a traceback. Also a decorator:
    every command's `main` wears it."""
    try:
        yield
    except TextCNNError as error:
        raise SystemExit(f"error: {error}") from None
