"""Extractive training targets: the greedy ROUGE oracle.

Sentences are added one at a time, each time the one that raises ROUGE-1 F1 + ROUGE-2 F1 against the
reference the most, until no sentence raises it. This recovers the sentences of an extractive
reference and gives the closest extract for an abstractive one.
"""

from collections import Counter
from collections.abc import Sequence

from training.rouge import ngrams, rouge_tokens

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
    """Indices (ascending) of the greedily chosen sentences; [] when nothing overlaps."""
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
            return sorted(chosen)
        chosen.append(best_index)
        for overlap, (grams, total) in zip(overlaps, candidates[best_index], strict=True):
            overlap.add(grams, total)
