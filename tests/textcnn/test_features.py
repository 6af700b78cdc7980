"""Batch.tokens: the flat view of a batch's tokens that the word statistics read."""

import torch

from textcnn.features import collate, prepare
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
