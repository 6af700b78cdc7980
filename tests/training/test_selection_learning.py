"""Training keeps trigram blocking only where dev summaries do not lose by it, and picks the ranking
rule with the better dev ROUGE-1."""

from collections.abc import Sequence
from typing import cast

from textcnn.predict import Predictor, Summary, SummarySentence
from training.data import Example
from training.dev_choices import learn_blocking, learn_selection

SENTENCES = ("The central bank cut rates.", "The central bank cut them again in May.", "Shares fell.")


class TwoSentencePredictor:
    """Always picks the first two sentences; blocking drops the second, which repeats a trigram."""

    can_summarize = True

    def summarize(self, texts: Sequence[str], *, block_trigrams: bool | None = None) -> list[Summary]:
        chosen = SENTENCES[:1] if block_trigrams else SENTENCES[:2]
        picked = tuple(SummarySentence(i, s, 0.9, 0, len(s)) for i, s in enumerate(chosen))
        return [Summary(picked) for _ in texts]


def _dev(summary: str) -> list[Example]:
    return [Example(text=" ".join(SENTENCES), label=None, summary=summary)]


def test_blocking_is_dropped_when_it_removes_reference_sentences() -> None:
    predictor = cast(Predictor, TwoSentencePredictor())
    assert learn_blocking(predictor, _dev(" ".join(SENTENCES[:2]))) is False


def test_blocking_is_kept_when_it_does_not_hurt() -> None:
    predictor = cast(Predictor, TwoSentencePredictor())
    assert learn_blocking(predictor, _dev(SENTENCES[0])) is True
    assert learn_blocking(predictor, []) is True


class RuleDependentPredictor:
    """Picks the first sentence by probability and the second by expected F1, at any length."""

    can_summarize = True

    def summarize(
        self, texts: Sequence[str], *, max_sentences: int | None = None, selection: str | None = None
    ) -> list[Summary]:
        index = 0 if selection == "probability" else 1
        picked = (SummarySentence(index, SENTENCES[index], 0.9, 0, len(SENTENCES[index])),)
        return [Summary(picked) for _ in texts]


def test_the_rule_with_the_better_dev_rouge_is_kept() -> None:
    predictor = cast(Predictor, RuleDependentPredictor())
    assert learn_selection(predictor, _dev(SENTENCES[1])) == "expected-f1"
    assert learn_selection(predictor, _dev(SENTENCES[0])) == "probability"
    assert learn_selection(predictor, _dev(SENTENCES[2])) == "probability"  # a tie keeps probability
    assert learn_selection(predictor, []) == "probability"
