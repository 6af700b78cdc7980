"""Word tokenization and text normalization, shared by training and prediction.

Normalization is Unicode NFKC (folds full-width forms, ligatures and compatibility characters),
then optional lower-casing. Tokens are runs of word characters (letters, digits, underscore in any
script) that may be joined by an inner apostrophe, hyphen, period or comma ("don't", "e-mail",
"U.S", "3.5", "10,000"), or single non-space symbols ("$", "!", "£").
"""

import re
import unicodedata
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+(?:['’.,\-]\w+)*|[^\w\s]")


def normalize(text: str, *, lowercase: bool) -> str:
    """Return `text` in the form the vocabulary is built on."""
    text = unicodedata.normalize("NFKC", text)
    return text.lower() if lowercase else text


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    """Split `text` into word and symbol tokens after normalization. Never raises on a str."""
    return split_normalized(normalize(text, lowercase=lowercase))


def split_normalized(text: str) -> list[str]:
    """The tokens of `text` that `normalize` has already given. No token holds whitespace."""
    return _TOKEN.findall(text)


@dataclass(frozen=True, slots=True)
class Token:
    """A token as `tokenize` gives it, and the span `text[start:end]` it was read from."""

    text: str
    start: int
    end: int


def tokenize_with_offsets(text: str, *, lowercase: bool = True) -> list[Token]:
    """The tokens of `tokenize(text)`, in order, each with its character span in the original `text`.

    Normalization may change lengths ("ﬁ" -> "fi", "½" -> "1⁄2", "e" + combining accent -> "é"), so
    the text is cut into pieces that normalize independently (a character without a combining class
    and the marks after it, joined with its neighbour wherever normalizing the two together differs),
    and every normalized character maps back to the whole piece it came from. A token that starts or
    ends inside an expanded piece therefore spans that whole piece. Never raises on a str.
    """
    pieces = _pieces(text)
    owner: list[int] = []  # for each character of the normalized text, the index of its piece
    for i, (start, end) in enumerate(pieces):
        owner.extend([i] * len(normalize(text[start:end], lowercase=lowercase)))
    normalized = normalize(text, lowercase=lowercase)
    if len(owner) != len(normalized):
        # The pieces failed to normalize independently (not known to happen): one piece is exact.
        pieces, owner = [(0, len(text))], [0] * len(normalized)
    return [
        Token(m.group(), pieces[owner[m.start()]][0], pieces[owner[m.end() - 1]][1])
        for m in _TOKEN.finditer(normalized)
    ]


def _pieces(text: str) -> list[tuple[int, int]]:
    """Cut `text` into (start, end) pieces whose NFKC forms concatenate to the NFKC form of `text`."""
    pieces: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i < len(text) and unicodedata.combining(text[i]):
            continue
        if pieces and not _independent(text[pieces[-1][0] : start], text[start:i]):
            pieces[-1] = (pieces[-1][0], i)
        else:
            pieces.append((start, i))
        start = i
    return pieces


def _independent(left: str, right: str) -> bool:
    if left.isascii() and right.isascii():  # ASCII is its own NFKC form and never composes
        return True
    nfkc = unicodedata.normalize
    return nfkc("NFKC", left + right) == nfkc("NFKC", left) + nfkc("NFKC", right)
