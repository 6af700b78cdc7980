"""Graph centrality of sentences: PageRank over a document's word-overlap graph, as in TextRank.

Two sentences are joined by an edge weighted by the words they share, each counted once and
weighted by its corpus IDF (so words found in almost every document join little), over
log(distinct words of one) + log(distinct words of the other) (Mihalcea and Tarau, 2004). A
sentence is central when central sentences share its words: the recursive part that a count of
repeated words alone (TextCNN.salience's recurrence) does not see. There are no self-loops, so a
sentence cannot make itself central.
"""

import torch

from textcnn.bag import sentence_terms
from textcnn.features import Batch

DAMPING = 0.85
ITERATIONS = 50  # the error shrinks by DAMPING each round: 0.85 ** 50 < 3e-4


def overlap_graph(batch: Batch, idf: torch.Tensor) -> torch.Tensor:
    """Edge weights between the sentences of each document, (docs, max_sents, max_sents), zero on
    the diagonal, for padding and between sentences without a shared word of positive IDF."""
    docs, max_sents = batch.num_docs, batch.max_sentences
    vocab = idf.shape[0]
    sentence_ids, terms = [], []
    for bucket in batch.buckets:
        words, rows = sentence_terms(bucket.token_ids, bucket.lengths, vocab, 0)
        owners = bucket.grid_index[rows]
        sentence_ids.append(owners)
        # A term per document and word, so that words never join sentences of different documents.
        terms.append(owners // max_sents * vocab + words)
    if not terms:
        return torch.zeros(docs, max_sents, max_sents)
    owner, term = torch.cat(sentence_ids), torch.cat(terms)
    positive = idf[term % vocab] > 0
    owner, term = owner[positive], term[positive]
    # Number each document's words from 0: the terms sort document by document.
    words, column = torch.unique(term, return_inverse=True)
    per_document = torch.bincount(words // vocab, minlength=docs)
    first = torch.cumsum(per_document, dim=0) - per_document
    column = column - first[owner // max_sents]
    # (docs, sentences, words): sqrt(IDF) where the sentence holds the word (once however often).
    incidence = torch.zeros(docs, max_sents, int(per_document.max()))
    incidence[owner // max_sents, owner % max_sents, column] = idf[term % vocab].sqrt()
    graph = incidence @ incidence.transpose(1, 2)  # the summed IDF of the words two sentences share
    distinct = (incidence > 0).sum(dim=2)  # (docs, max_sents)
    log_size = torch.log(distinct.clamp(min=1).to(graph.dtype))
    graph = graph / (log_size[:, :, None] + log_size[:, None, :]).clamp(min=1.0)
    return graph * (1 - torch.eye(max_sents))


def pagerank(graph: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Stationary scores of a random walk over each document's graph that follows an edge with
    probability DAMPING and otherwise jumps to any sentence, (docs, max_sents) summing to 1 over the
    unmasked sentences. graph: (docs, max_sents, max_sents); mask: (docs, max_sents) bool."""
    keep = mask.to(graph.dtype)
    count = keep.sum(dim=1, keepdim=True).clamp(min=1)  # (docs, 1)
    steps = graph / graph.sum(dim=2, keepdim=True).clamp(min=1e-12)  # row-stochastic where a row has edges
    rank = keep / count
    for _ in range(ITERATIONS):
        walked = torch.bmm(steps.transpose(1, 2), rank.unsqueeze(2)).squeeze(2)
        rank = (1 - DAMPING) * keep / count + DAMPING * walked
        # Sentences without edges pass nothing on; rescaling keeps the total at 1.
        rank = rank / rank.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return rank


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
