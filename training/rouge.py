"""A fast ROUGE-1/2 F1 on n-gram counters, for the greedy oracle and model selection on dev.

The oracle scores thousands of candidate sets per document, far too many for `rouge-score`; this
version tokenizes like it (lower-case alphanumeric runs) but without stemming. Reported numbers
always come from `rouge-score` in training.evaluate.
"""

import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def f1(candidate: Counter[tuple[str, ...]], reference: Counter[tuple[str, ...]]) -> float:
    overlap = sum((candidate & reference).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(candidate.values())
    recall = overlap / sum(reference.values())
    return 2 * precision * recall / (precision + recall)


def rouge12(candidate: str, reference: str) -> tuple[float, float]:
    """ROUGE-1 and ROUGE-2 F1 of two texts, in [0, 1]."""
    cand, ref = rouge_tokens(candidate), rouge_tokens(reference)
    return f1(ngrams(cand, 1), ngrams(ref, 1)), f1(ngrams(cand, 2), ngrams(ref, 2))
