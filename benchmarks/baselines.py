"""Extractive summarization baselines over the same sentences the model sees.

Lead-k takes the first k sentences. TextRank and LexRank are sumy's implementations, fed our
sentence split through a small word tokenizer adapter (sumy's own tokenizer needs NLTK data that
cannot be downloaded here); they use sumy's English stemmer and stop words as usual.
"""

import re
from collections.abc import Callable, Sequence

from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

Extractor = Callable[[Sequence[str], int], list[int]]

_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['-])*")


class _Words:
    """The part of sumy's Tokenizer interface that Sentence uses."""

    language = "english"

    def to_words(self, text: str) -> list[str]:
        return _WORD.findall(text)


def lead(sentences: Sequence[str], k: int) -> list[int]:
    return list(range(min(k, len(sentences))))


def _sumy(summarizer_class: type) -> Extractor:
    summarizer = summarizer_class(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    words = _Words()

    def extract(sentences: Sequence[str], k: int) -> list[int]:
        nodes = [Sentence(s, words) for s in sentences]
        document = ObjectDocumentModel([Paragraph(nodes)])
        chosen = {id(s) for s in summarizer(document, k)}
        return [i for i, node in enumerate(nodes) if id(node) in chosen]

    return extract


textrank: Extractor = _sumy(TextRankSummarizer)
lexrank: Extractor = _sumy(LexRankSummarizer)
