"""Batching for the model: forward passes of documents, and Batch.tokens, the flat view of a batch's
tokens that the word statistics read."""

import torch

from textcnn.features import Document, collate, passes, prepare
from textcnn.vocab import PAD, UNK, Vocabulary
from textcnn.word_ids import WordIds

WORD_IDS = WordIds(Vocabulary([PAD, UNK, "goal", "win", "vote", "."]), lowercase=True)


def test_tokens_are_every_encoded_token_once_without_padding() -> None:
    texts = ["Goal win win win.\nVote.", "", "Win goal vote vote vote vote vote."]
    documents = [prepare(t, WORD_IDS, max_tokens=4) for t in texts]
    batch = collate(documents, bucket_size=2)  # several buckets of padded sentences
    max_sents = batch.max_sentences
    expected = {
        (doc * max_sents + position, tuple(ids))
        for doc, document in enumerate(documents)
        for position, ids in enumerate(document.token_ids)
    }
    tokens = batch.tokens
    found: dict[int, list[int]] = {}
    for sentence, token in zip(tokens.sentence.tolist(), tokens.ids.tolist(), strict=True):
        found.setdefault(sentence, []).append(token)  # in order within each sentence
    assert {(s, tuple(ids)) for s, ids in found.items()} == expected
    assert tokens.ids.shape[0] == sum(d.num_tokens for d in documents)  # truncated as encoded


def test_a_batch_without_sentences_has_no_tokens() -> None:
    tokens = collate([prepare(" \n", WORD_IDS, max_tokens=4)]).tokens
    assert tokens.ids.shape == tokens.sentence.shape == (0,)
    assert tokens.ids.dtype == tokens.sentence.dtype == torch.long


def lines(count: int) -> Document:
    """A document of `count` one-word sentences (line breaks end sentences)."""
    return prepare("\n".join(["Goal"] * count), WORD_IDS, max_tokens=4)


def test_passes_keep_the_order_and_bound_documents_and_the_sentence_grid() -> None:
    documents = [lines(n) for n in (0, 1, 1, 2, 3, 10, 1)]
    # Slots are documents x the most sentences among them: 4 x 2 fits 8, the next makes 5 x 3.
    assert list(passes(documents, max_documents=8, max_slots=8)) == [[0, 1, 2, 3], [4], [5], [6]]
    assert list(passes(documents, max_documents=2, max_slots=100)) == [[0, 1], [2, 3], [4, 5], [6]]
    # A document over the slots goes alone, never in an empty pass; one without sentences is 1 slot.
    assert list(passes(documents, max_documents=8, max_slots=1)) == [[i] for i in range(7)]
    assert list(passes([], max_documents=8, max_slots=8)) == []
