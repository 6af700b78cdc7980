"""Cost budgets: what a request may make the model do, in tokens and sentences, not only in bytes.

Characters are checked on the event loop before a request takes a place in the queue (cheap); tokens
and sentences need the splitter and tokenizer, so they are checked on the model thread once a
request's documents are prepared, before any forward pass. Each refusal names the budget it broke.
"""

from collections.abc import Sequence

from service.settings import Settings
from textcnn import Document, LimitExceeded, Scorer, Scores


class TooLarge(LimitExceeded):
    """A request within the byte limit that still exceeds a document or request budget (413)."""


def check_characters(texts: Sequence[str], settings: Settings) -> None:
    """Raise TooLarge for too many documents or characters (per document, per request)."""
    if len(texts) > settings.max_documents:
        raise TooLarge(f"{len(texts)} documents exceed the limit of {settings.max_documents} per request")
    total = 0
    for i, text in enumerate(texts):
        if len(text) > settings.max_characters:
            raise TooLarge(
                f"document {i} has {len(text)} characters, over the limit of {settings.max_characters}"
            )
        total += len(text)
    if total > settings.max_characters_per_request:
        raise TooLarge(
            f"the documents have {total} characters together, over the per-request limit of "
            f"{settings.max_characters_per_request} (TEXTCNN_MAX_CHARACTERS_PER_REQUEST)"
        )


def check_work(documents: Sequence[Document], settings: Settings) -> None:
    """Raise TooLarge for a document or request over its token budget, or a request over its
    sentence budget (a document's own sentence limit is the Predictor's). Tokens are those the model
    convolves: each sentence's, after its truncation to the model's longest sentence."""
    sentences = tokens = 0
    for i, document in enumerate(documents):
        count = document.num_tokens
        if count > settings.max_tokens_per_document:
            raise TooLarge(
                f"document {i} has {count} tokens, over the limit of {settings.max_tokens_per_document} "
                "(TEXTCNN_MAX_TOKENS_PER_DOCUMENT)"
            )
        sentences += len(document.spans)
        tokens += count
    if tokens > settings.max_tokens_per_request:
        raise TooLarge(
            f"the documents have {tokens} tokens together, over the per-request limit of "
            f"{settings.max_tokens_per_request} (TEXTCNN_MAX_TOKENS_PER_REQUEST)"
        )
    if sentences > settings.max_sentences_per_request:
        raise TooLarge(
            f"the documents have {sentences} sentences together, over the per-request limit of "
            f"{settings.max_sentences_per_request} (TEXTCNN_MAX_SENTENCES_PER_REQUEST)"
        )


def budgeted(score: Scorer, settings: Settings) -> Scorer:
    """`score`, refusing documents over the token and sentence budgets before any pass."""

    def checked_score(documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]:
        check_work(documents, settings)
        return score(documents, sentences=sentences)

    return checked_score
