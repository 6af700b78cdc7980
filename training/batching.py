"""An epoch's order of training documents, cut into mini-batches of documents of similar length.

A batch's sentences are padded to the longest among them (textcnn.features.collate), so a batch of
random one-sentence documents pads to its longest sentence: on MR, batches of 50 convolved 1.9 times
the positions their sentences hold. Sorting each pool of a few thousand shuffled documents by
length before cutting it into batches, and shuffling the batches, keeps batches random in content
and order while their lengths match (the bucketing of torchtext's BucketIterator and fairseq).

A document's length here is its longest sentence, what it pads its batch's sentences to. Sorted by
their total tokens, MR's batches convolved 1.28 times the windows their sentences hold, and BBC's
1.27 times; sorted by their longest sentence, 1.16 and 1.18 (SST-2 and TREC, one sentence a
document, the same either way).
"""

import random
from collections.abc import Sequence

POOL_BATCHES = 100  # batches per pool that is sorted by length


def padded_length(sentences: Sequence[Sequence[int]]) -> int:
    """A document's length for grouping: its longest sentence's tokens (0 without sentences)."""
    return max(map(len, sentences), default=0)


def epoch_order(
    lengths: Sequence[int], batch_size: int, rng: random.Random, *, group_by_length: bool = True
) -> list[int]:
    """Every document index once, such that consecutive `batch_size` chunks are the epoch's batches:
    a shuffle, or with `group_by_length` batches of similar `lengths` in random order. A short last
    batch stays last, so the chunks line up."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not group_by_length:
        return order
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        ranked = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [ranked[i : i + batch_size] for i in range(0, len(ranked), batch_size)]
    short = batches.pop() if batches and len(batches[-1]) < batch_size else []  # only the last pool's
    rng.shuffle(batches)
    return [i for batch in batches for i in batch] + short
