"""Graph centrality of sentences: PageRank over a document's word-overlap graph, as in TextRank.

Two sentences are joined by an edge weighted by the words they share, each counted once and
weighted by its corpus IDF (so words found in almost every document join little), over
log(distinct words of one) + log(distinct words of the other) (Mihalcea and Tarau, 2004). A
sentence is central when central sentences share its words: the recursive part that a count of
repeated words alone (TextCNN.salience's recurrence) does not see. There are no self-loops, so a
sentence cannot make itself central. Edges join sentences at most WINDOW apart, and the graph is
a list of them, so the work grows linearly with a document's sentences; a document short enough
for its graph to be whole takes every round of PageRank at once, as a power of a small matrix.
"""

from dataclasses import dataclass

import torch

from textcnn.features import Batch

DAMPING = 0.85
ITERATIONS = 50  # the error shrinks by DAMPING each round: 0.85 ** 50 < 3e-4
# Sentences at most this far apart may share an edge. It bounds the work per sentence, so a
# document of thousands of sentences costs time and memory linear in its sentences, not a dense
# square; a news article is shorter than this, and its graph is whole.
WINDOW = 64


@dataclass(frozen=True)
class Edges:
    """A batch's overlap graph as directed edges (each pair both ways) between grid indexes,
    doc * max_sents + position; pairs without an edge are absent."""

    source: torch.Tensor  # (edges,) long
    target: torch.Tensor  # (edges,) long
    weight: torch.Tensor  # (edges,) float, positive


def overlap_graph(batch: Batch, idf: torch.Tensor, window: int = WINDOW) -> Edges:
    """The edges between sentences of one document at most `window` apart that share a word of
    positive IDF, weighted by the summed IDF of the distinct words they share over their sizes. No
    self-loops, no edges for padding or across documents."""
    vocab, max_sents = idf.shape[0], batch.max_sentences
    owner, word = batch.tokens.sentence, batch.tokens.ids
    positive = idf[word] > 0
    pair = torch.unique(owner[positive] * vocab + word[positive])  # each (sentence, word) once
    sentence, word = pair // vocab, pair % vocab
    distinct = torch.bincount(sentence, minlength=batch.num_docs * max_sents)  # (grid,) words each
    first, second, word = _shared_words(sentence, word, vocab, max_sents, window)
    grid = batch.num_docs * max_sents
    # One edge per pair: the IDF of every word the two share, summed.
    edge, inverse = torch.unique(first * grid + second, return_inverse=True)
    weight = torch.zeros(edge.shape[0]).index_add_(0, inverse, idf[word])
    source, target = edge // grid, edge % grid
    log_size = torch.log(distinct.clamp(min=1).to(weight.dtype))
    weight = weight / (log_size[source] + log_size[target]).clamp(min=1.0)
    return Edges(torch.cat([source, target]), torch.cat([target, source]), torch.cat([weight, weight]))


def _shared_words(
    sentence: torch.Tensor, word: torch.Tensor, vocab: int, max_sents: int, window: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every pair of occurrences of one word in two sentences of one document at most `window`
    apart, given each (sentence, word) once as grid indexes and word ids: (earlier sentence, later
    sentence, word), one entry per pair and word."""
    # Occurrences grouped by document and word, in sentence order within a group. The k-th next
    # member of a group is at least k sentences on, so pairing each occurrence with at most the
    # `window` members after it finds every pair in the window, and no more work than that bound.
    group = sentence // max_sents * vocab + word
    order = torch.argsort(group * max_sents + sentence % max_sents)
    sentence, word, group = sentence[order], word[order], group[order]
    _, sizes = torch.unique_consecutive(group, return_counts=True)
    ends = torch.cumsum(sizes, 0).repeat_interleave(sizes)  # (occurrences,) one past each group
    after = (ends - torch.arange(sentence.shape[0]) - 1).clamp(max=window)  # later members paired
    first = torch.arange(sentence.shape[0]).repeat_interleave(after)
    # The k-th pair of an occurrence joins it to the member k + 1 places on.
    starts = torch.cumsum(after, 0) - after
    second = first + 1 + torch.arange(first.shape[0]) - starts.repeat_interleave(after)
    near = sentence[second] - sentence[first] <= window
    first, second = first[near], second[near]
    return sentence[first], sentence[second], word[first]


def pagerank(graph: Edges, mask: torch.Tensor) -> torch.Tensor:
    """Stationary scores of a random walk over each document's graph that follows an edge with
    probability DAMPING and otherwise jumps to any sentence, (docs, max_sents) summing to 1 over the
    unmasked sentences: ITERATIONS rounds of the power iteration. mask: (docs, max_sents) bool.

    Documents of at most WINDOW sentences, whose graphs may be whole, take all the rounds at once
    as a power of a small dense matrix; longer ones iterate over the edge list, whose size the
    window bounds. Both give the same ranks up to float rounding."""
    if mask.shape[1] <= WINDOW:
        return _pagerank_by_powers(graph, mask)
    docs, max_sents = mask.shape
    jump = _jump(mask, graph.weight.dtype)  # (docs, max_sents)
    step = _step(graph.source, graph.weight, docs * max_sents)  # (edges,)
    rank = jump
    for _ in range(ITERATIONS):
        passed = step * rank.view(-1)[graph.source]
        walked = torch.zeros(docs * max_sents).index_add_(0, graph.target, passed).view(docs, max_sents)
        rank = (1 - DAMPING) * jump + DAMPING * walked
        # Sentences without edges pass nothing on; rescaling keeps the total at 1.
        rank = rank / rank.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return rank


def _jump(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Where a jump lands: uniform over each document's sentences, (docs, max_sents)."""
    keep = mask.to(dtype)
    return keep / keep.sum(dim=1, keepdim=True).clamp(min=1)


def _step(source: torch.Tensor, weight: torch.Tensor, nodes: int) -> torch.Tensor:
    """The probability of each edge (its source and weight) given its source: each sentence's
    edges share its rank."""
    out = torch.zeros(nodes, dtype=weight.dtype).index_add_(0, source, weight)
    return weight / out[source]


def _pagerank_by_powers(graph: Edges, mask: torch.Tensor) -> torch.Tensor:
    """`pagerank` as a matrix power. One round maps the rank r to A(r) / sum(A(r)), with
    A(r) = (1 - DAMPING) jump + DAMPING M r. Writing r = x / y, the pair (x, y) evolves linearly:
    x' = DAMPING M x + (1 - DAMPING) jump y and y' = (1 - DAMPING) y + DAMPING sum(M x), so all the
    rounds are one (max_sents + 1)-square matrix to the power ITERATIONS, by repeated squaring. It
    runs in float64 because y may shrink by a factor of 1 - DAMPING each round (a document with no
    edges), to about 1e-41 after 50 rounds: below float32's normal range."""
    docs, max_sents = mask.shape
    dtype = torch.float64
    jump = _jump(mask, dtype)
    step = _step(graph.source, graph.weight.to(dtype), docs * max_sents)
    grid = max_sents + 1
    rounds = torch.zeros(docs, grid, grid, dtype=dtype)
    # M[target, source] = step: column s spreads sentence s's rank over its edges.
    at = (graph.source // max_sents, graph.target % max_sents, graph.source % max_sents)
    rounds.index_put_(at, DAMPING * step, accumulate=True)
    rounds[:, max_sents, :max_sents] = rounds[:, :max_sents, :max_sents].sum(dim=1)
    rounds[:, :max_sents, max_sents] = (1 - DAMPING) * jump
    rounds[:, max_sents, max_sents] = 1 - DAMPING
    state = torch.cat([jump, torch.ones(docs, 1, dtype=dtype)], dim=1).unsqueeze(2)  # (docs, grid, 1)
    left = ITERATIONS
    while left:
        if left & 1:
            state = torch.bmm(rounds, state)
        left >>= 1
        if left:
            rounds = torch.bmm(rounds, rounds)
    state = state.squeeze(2)
    return (state[:, :max_sents] / state[:, max_sents:]).to(graph.weight.dtype)


def centrality(batch: Batch, idf: torch.Tensor) -> torch.Tensor:
    """Each sentence's PageRank, standardized within its document (mean 0, unit deviation; 0 for
    a document of one sentence and for padding), (docs, max_sents)."""
    mask = batch.sentence_mask
    rank = pagerank(overlap_graph(batch, idf), mask)
    keep = mask.to(rank.dtype)
    count = keep.sum(dim=1, keepdim=True).clamp(min=1)
    mean = rank.sum(dim=1, keepdim=True) / count
    spread = (((rank - mean) * keep) ** 2).sum(dim=1, keepdim=True) / count
    return (rank - mean) / spread.sqrt().clamp(min=1e-6) * keep
