"""Sentence splitting with character offsets into the original text.

Line breaks always end a sentence: news text puts headlines and paragraphs on their own lines and
headlines rarely end with a full stop. Within a line, nupunkt's pretrained Punkt model (shipped in
its wheel, no download) finds boundaries and knows abbreviations such as "Mr.", "U.S." and "p.m.".
"""

from dataclasses import dataclass

import nupunkt


@dataclass(frozen=True, slots=True)
class Span:
    """A sentence as `text[start:end]`, stripped of surrounding whitespace."""

    start: int
    end: int


def split_sentences(text: str) -> list[Span]:
    """Return the non-empty sentences of `text` in order; empty or blank text gives []."""
    spans: list[Span] = []
    line_start = 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            for _, (start, end) in nupunkt.sent_spans_with_text(line):
                span = _strip(text, line_start + start, line_start + end)
                if span is not None:
                    spans.append(span)
        line_start += len(line)
    return spans


def _strip(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None
