"""Extractive training targets: the greedy ROUGE oracle.

Sentences are added one at a time, each time the one that raises ROUGE-1 F1 + ROUGE-2 F1 against the
reference the most, until no sentence raises it. This recovers the sentences of an extractive
reference and gives the closest extract for an abstractive one. The order of the picks is kept: the
first ones cover the most of the reference, which is what a short summary needs (training's ranked
targets).
"""

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from training.rouge import ngrams, rouge_tokens

logger = logging.getLogger(__name__)

_CACHE_VERSION = "greedy-r1r2-v2"  # bump when oracle_selection changes

Grams = Counter[tuple[str, ...]]


class _Overlap:
    """Running n-gram overlap of the chosen sentences with the reference, updated in O(|sentence|)."""

    def __init__(self, reference: Grams) -> None:
        self.reference = reference
        self.reference_total = sum(reference.values())
        self.chosen: Grams = Counter()
        self.chosen_total = 0
        self.overlap = 0

    def gain(self, grams: Grams) -> int:
        chosen, reference = self.chosen, self.reference
        return sum(
            min(chosen[g] + c, reference[g]) - min(chosen[g], reference[g])
            for g, c in grams.items()
            if g in reference
        )

    def f1_with(self, grams: Grams, total: int) -> float:
        overlap = self.overlap + self.gain(grams)
        if overlap == 0:
            return 0.0
        return 2 * overlap / (self.chosen_total + total + self.reference_total)

    def add(self, grams: Grams, total: int) -> None:
        self.overlap += self.gain(grams)
        self.chosen.update(grams)
        self.chosen_total += total


def oracle_selection(sentences: Sequence[str], reference: str) -> list[int]:
    """Indices of the greedily chosen sentences in the order they were chosen; [] when nothing
    overlaps."""
    ref_tokens = rouge_tokens(reference)
    overlaps = [_Overlap(ngrams(ref_tokens, n)) for n in (1, 2)]
    candidates = []
    for sentence in sentences:
        tokens = rouge_tokens(sentence)
        counts = [ngrams(tokens, n) for n in (1, 2)]
        candidates.append([(c, sum(c.values())) for c in counts])
    chosen: list[int] = []
    best = 0.0
    while True:
        best_index = None
        for i, candidate in enumerate(candidates):
            if i in chosen:
                continue
            score = sum(o.f1_with(g, t) for o, (g, t) in zip(overlaps, candidate, strict=True))
            if score > best:
                best, best_index = score, i
        if best_index is None:
            return chosen
        chosen.append(best_index)
        for overlap, (grams, total) in zip(overlaps, candidates[best_index], strict=True):
            overlap.add(grams, total)


def cached_oracle_selections(
    documents: Sequence[tuple[Sequence[str], str]], cache_dir: Path | None
) -> list[list[int]]:
    """`oracle_selection` for each (sentences, reference) pair, cached on disk per dataset.

    The cache file is named by a hash of every sentence and reference, so any change to the data
    or the sentence splitter misses the cache instead of reusing stale targets.
    """
    digest = hashlib.sha256(_CACHE_VERSION.encode())
    for sentences, reference in documents:
        digest.update(json.dumps([list(sentences), reference]).encode())
    path = None if cache_dir is None else cache_dir / f"oracle-{digest.hexdigest()[:24]}.json"
    if path is not None and path.is_file():
        cached: list[list[int]] = json.loads(path.read_text())
        if len(cached) == len(documents):
            logger.info("oracle targets from cache %s", path)
            return cached
    selections = [oracle_selection(sentences, reference) for sentences, reference in documents]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(selections))
    return selections
