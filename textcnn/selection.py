"""Choosing summary sentences from their scores: length controls, trigram blocking and the ranking rule.

Two rules rank the sentences (SELECTION_RULES):

- `probability`: the most probable summary sentences first.
- `expected-f1`: the sentences that maximize the expected ROUGE-1 F1 of the summary. A sentence of
  l words with probability p is expected to bring p * l reference words, and the reference is
  expected to hold `reference_share` of the document's words (L), so a set S scores
  sum(p * l) / (sum(l) + L). For a fixed number of sentences the best S is found by Dinkelbach's
  method: rank by l * (p - λ), take the top, set λ to the set's score, repeat until λ stops
  rising. Short summaries gain most: probability alone fills three sentences with short likely
  ones, where a long likely one covers more of the reference. Under a word budget both rules are
  the same, since the value per word of a sentence is its probability.
"""

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


SELECTION_RULES = ("probability", "expected-f1")
_MAX_ROUNDS = 20  # Dinkelbach's λ settles in a few rounds; the cap only guards against cycling


def _trigrams(tokens: Sequence[str]) -> set[tuple[str, str, str]]:
    return set(zip(tokens, tokens[1:], tokens[2:], strict=False))


def select_sentences(
    scores: Sequence[float],
    tokens: Sequence[Sequence[str]],
    limit: LengthLimit,
    *,
    block_trigrams: bool = True,
    rule: str = "probability",
    reference_share: float = 0.3,
) -> list[int]:
    """Pick sentence indices within `limit` by `rule` (SELECTION_RULES; `scores` are probabilities
    for `expected-f1`, which reads `reference_share`); return them in document order.

    With `block_trigrams`, a sentence sharing a token trigram with one already picked is skipped
    (redundancy control as in BertSum). Under a word limit, sentences that would overflow it are
    skipped, so the result may be empty when every sentence is longer than the limit.
    """
    if rule not in SELECTION_RULES:
        raise ValueError(f"rule must be one of {SELECTION_RULES}, got {rule!r}")
    by_score = _take(sorted(range(len(scores)), key=lambda i: (-scores[i], i)), tokens, limit, block_trigrams)
    if rule == "probability" or limit.words is not None:
        return sorted(by_score)
    lengths = [len(t) for t in tokens]
    expected_reference = reference_share * sum(lengths)

    def expected_f1(chosen: list[int]) -> float:  # up to the factor 2
        covered = sum(scores[i] * lengths[i] for i in chosen)
        return covered / max(sum(lengths[i] for i in chosen) + expected_reference, 1e-9)

    best, best_value = by_score, expected_f1(by_score)
    level = 0.0  # λ: with 0 the ranking is by expected reference words, p * l
    for _ in range(_MAX_ROUNDS):
        order = sorted(range(len(scores)), key=lambda i: (-lengths[i] * (scores[i] - level), i))
        chosen = _take(order, tokens, limit, block_trigrams)
        value = expected_f1(chosen)
        if value > best_value:
            best, best_value = chosen, value
        if value <= level + 1e-12:
            break
        level = value
    return sorted(best)


def _take(
    order: Sequence[int], tokens: Sequence[Sequence[str]], limit: LengthLimit, block_trigrams: bool
) -> list[int]:
    """The first sentences of `order` that fit `limit`, skipping trigram repeats when blocking."""
    chosen: list[int] = []
    seen: set[tuple[str, str, str]] = set()
    words = 0
    for index in order:
        if len(chosen) >= limit.sentences:
            break
        length = len(tokens[index])
        if limit.words is not None and words + length > limit.words:
            continue
        if block_trigrams:
            trigrams = _trigrams(tokens[index])
            if trigrams & seen:
                continue
            seen |= trigrams
        chosen.append(index)
        words += length
    return chosen
