"""Choosing summary sentences from their scores: length controls and trigram blocking."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from textcnn.config import SummaryLength
from textcnn.errors import InputError


@dataclass(frozen=True)
class LengthLimit:
    """At most `sentences` sentences and, when set, at most `words` whitespace-separated words."""

    sentences: int
    words: int | None = None


def resolve_length(
    num_sentences: int,
    default: SummaryLength,
    *,
    max_sentences: int | None = None,
    ratio: float | None = None,
    max_words: int | None = None,
) -> LengthLimit:
    """Turn the caller's one optional length setting into a limit for a document.

    Raises InputError when more than one setting is given or a setting is out of range.
    """
    given = [
        name
        for name, value in [
            ("max_sentences", max_sentences),
            ("ratio", ratio),
            ("max_words", max_words),
        ]
        if value is not None
    ]
    if len(given) > 1:
        raise InputError(f"give at most one of max_sentences, ratio, max_words (got {given})")
    if max_sentences is not None:
        if max_sentences < 1:
            raise InputError(f"max_sentences must be at least 1, got {max_sentences}")
        return LengthLimit(max_sentences)
    if ratio is not None:
        if not 0 < ratio <= 1:
            raise InputError(f"ratio must be in (0, 1], got {ratio}")
        return LengthLimit(max(1, math.ceil(ratio * num_sentences)))
    if max_words is not None:
        if max_words < 1:
            raise InputError(f"max_words must be at least 1, got {max_words}")
        return LengthLimit(num_sentences, max_words)
    return LengthLimit(default.sentences_for(num_sentences))


def _trigrams(tokens: Sequence[str]) -> set[tuple[str, str, str]]:
    return set(zip(tokens, tokens[1:], tokens[2:], strict=False))


def select_sentences(
    scores: Sequence[float],
    tokens: Sequence[Sequence[str]],
    limit: LengthLimit,
    *,
    block_trigrams: bool = True,
) -> list[int]:
    """Pick sentence indices by descending score within `limit`; return them in document order.

    With `block_trigrams`, a sentence sharing a token trigram with one already picked is skipped
    (redundancy control as in BertSum). Under a word limit, sentences that would overflow it are
    skipped, so the result may be empty when every sentence is longer than the limit.
    """
    chosen: list[int] = []
    seen: set[tuple[str, str, str]] = set()
    words = 0
    for index in sorted(range(len(scores)), key=lambda i: (-scores[i], i)):
        if len(chosen) >= limit.sentences:
            break
        length = len(tokens[index])
        if limit.words is not None and words + length > limit.words:
            continue
        trigrams = _trigrams(tokens[index])
        if block_trigrams and trigrams & seen:
            continue
        chosen.append(index)
        seen |= trigrams
        words += length
    return sorted(chosen)
