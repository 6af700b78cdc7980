"""Graph centrality: the overlap graph by hand, PageRank against a plain power iteration written
out here, and the feature's independence from batching."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from textcnn.centrality import DAMPING, WINDOW, Edges, centrality, overlap_graph, pagerank
from textcnn.config import ModelConfig
from textcnn.features import Batch, Document, collate, prepare
from textcnn.model import TextCNN
from textcnn.tokenize import tokenize
from textcnn.vocab import Vocabulary
from textcnn.word_ids import WordIds

DATA = Path(__file__).parents[1] / "data"


def _documents(texts: list[str], vocab: Vocabulary) -> list[Document]:
    return [prepare(t, WordIds(vocab, lowercase=True), max_tokens=100) for t in texts]


def _dense(edges: Edges, docs: int, max_sents: int) -> torch.Tensor:
    """The edges as (docs, max_sents, max_sents) weights, zero where there is no edge."""
    assert torch.equal(edges.source // max_sents, edges.target // max_sents)  # none across documents
    graph = torch.zeros(docs, max_sents, max_sents)
    graph[edges.source // max_sents, edges.source % max_sents, edges.target % max_sents] = edges.weight
    return graph


def _graph(batch: Batch, idf: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    return _dense(overlap_graph(batch, idf, window), batch.num_docs, batch.max_sentences)


def test_overlap_graph_by_hand() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "bank", "rates", "rose", ".", "fell", "again"])
    idf = torch.tensor([0.0, 0.0, 2.0, 1.0, 1.0, 0.0, 3.0, 4.0])
    text = "Bank rates rose.\nBank rates fell.\nRates fell again again."
    graph = _graph(collate(_documents([text], vocab)), idf)[0]
    # Distinct words of positive IDF: {bank, rates, rose} 3, {bank, rates, fell} 3, {rates, fell, again} 3;
    # "." has IDF 0 and "again" counts once. Shared IDF over log 3 + log 3.
    norm = 2 * math.log(3)
    expected = torch.tensor(
        [
            [0.0, (2 + 1) / norm, 1 / norm],
            [(2 + 1) / norm, 0.0, (1 + 3) / norm],
            [1 / norm, (1 + 3) / norm, 0.0],
        ]
    )
    torch.testing.assert_close(graph, expected)


def test_short_sentences_are_not_divided_below_one() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "rates", "rose"])
    idf = torch.tensor([0.0, 0.0, 1.0, 2.0])
    graph = _graph(collate(_documents(["Rates.\nRates rose."], vocab)), idf)[0]
    # log 1 + log 2 < 1: the denominator is floored at 1, so the edge is the shared IDF itself.
    assert graph[0, 1].item() == pytest.approx(1.0)


def _power_iteration(weights: np.ndarray) -> np.ndarray:
    """PageRank as usually written: a dense transition matrix with teleportation, iterated long."""
    n = len(weights)
    sums = weights.sum(axis=1, keepdims=True)
    steps = np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)
    rank = np.full(n, 1 / n)
    for _ in range(500):
        rank = (1 - DAMPING) / n + DAMPING * steps.T @ rank
        rank /= rank.sum()
    return rank


def test_pagerank_matches_a_plain_power_iteration_on_real_articles() -> None:
    rows = [json.loads(line) for line in (DATA / "bbc_dev.jsonl").read_text().splitlines()[:3]]
    texts = [r["text"] for r in rows]
    vocab = Vocabulary.build([[t for text in texts for t in tokenize(text, lowercase=True)]], min_freq=1)
    idf = torch.rand(len(vocab), generator=torch.Generator().manual_seed(0)) + 0.5
    idf[:2] = 0  # padding and unknown
    batch = collate(_documents(texts, vocab))
    graph = _graph(batch, idf)
    rank = pagerank(overlap_graph(batch, idf), batch.sentence_mask)
    for d in range(len(texts)):
        n = int(batch.sentence_mask[d].sum())
        expected = _power_iteration(graph[d, :n, :n].double().numpy())
        np.testing.assert_allclose(rank[d, :n].numpy(), expected, atol=1e-5)
        assert rank[d, n:].abs().sum() == 0


def test_short_and_long_documents_rank_alike() -> None:
    # Up to WINDOW sentences a document takes PageRank's rounds as one matrix power, beyond it they
    # run one by one over the edges: the same articles, set in a grid wider than WINDOW, rank alike.
    rows = [json.loads(line) for line in (DATA / "bbc_dev.jsonl").read_text().splitlines()[:3]]
    texts = [r["text"] for r in rows] + ["One sentence only.", ""]
    vocab = Vocabulary.build([[t for text in texts for t in tokenize(text, lowercase=True)]], min_freq=1)
    idf = torch.linspace(0, 5, len(vocab))
    batch = collate(_documents(texts, vocab))
    edges, mask = overlap_graph(batch, idf), batch.sentence_mask
    assert mask.shape[1] <= WINDOW
    docs, narrow, wide = mask.shape[0], mask.shape[1], WINDOW + 1
    widened = Edges(
        edges.source // narrow * wide + edges.source % narrow,
        edges.target // narrow * wide + edges.target % narrow,
        edges.weight,
    )
    long_mask = torch.cat([mask, torch.zeros(docs, wide - narrow, dtype=torch.bool)], dim=1)
    by_edges = pagerank(widened, long_mask)
    torch.testing.assert_close(by_edges[:, :narrow], pagerank(edges, mask), atol=1e-6, rtol=1e-5)
    assert by_edges[:, narrow:].abs().sum() == 0
    assert pagerank(edges, mask)[-1].abs().sum() == 0  # a blank document has no rank


def test_edges_join_only_sentences_within_the_window() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "bank", "fell", "."])
    idf = torch.tensor([0.0, 0.0, 1.0, 2.0, 0.0])
    batch = collate(_documents(["\n".join(["Bank fell."] * 7), "Bank.\nBank."], vocab))
    whole, windowed = _graph(batch, idf, window=6), _graph(batch, idf, window=2)
    apart = (torch.arange(7)[:, None] - torch.arange(7)[None, :]).abs()  # (7, 7)
    # log 2 + log 2 > 1: every pair shares bank and fell, 3 over that.
    expected = torch.where(apart > 0, 3 / (2 * math.log(2)), 0.0)
    torch.testing.assert_close(whole[0, :7, :7], expected)
    torch.testing.assert_close(windowed[0, :7, :7], torch.where(apart <= 2, expected, 0.0))
    assert whole[1, 0, 1] == whole[1, 1, 0] == pytest.approx(1.0)  # one shared word, floored at 1


def test_a_long_document_costs_edges_linear_in_its_sentences() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "bank", "fell", "."])
    idf = torch.tensor([0.0, 0.0, 1.0, 2.0, 0.0])
    sentences = 2_000
    batch = collate(_documents(["\n".join(["Bank fell."] * sentences)], vocab))
    edges = overlap_graph(batch, idf)
    assert edges.source.shape[0] == 2 * sum(min(WINDOW, sentences - 1 - i) for i in range(sentences))
    features = centrality(batch, idf)
    assert features.shape == (1, sentences) and torch.isfinite(features).all()


def test_the_hub_of_a_star_is_most_central() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "oil", "price", "gas", "coal", "wind", "."])
    idf = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    # The first sentence shares a word with each of the others; they share nothing among themselves.
    text = "Oil price gas coal wind.\nOil.\nPrice.\nGas.\nCoal."
    features = centrality(collate(_documents([text], vocab)), idf)[0]
    assert features.argmax().item() == 0
    assert features.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert features.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)


def test_a_document_scores_the_same_alone_or_in_a_batch() -> None:
    rows = [json.loads(line) for line in (DATA / "bbc_dev.jsonl").read_text().splitlines()[:4]]
    texts = [r["text"] for r in rows] + ["One sentence only.", ""]
    vocab = Vocabulary.build([[t for text in texts for t in tokenize(text, lowercase=True)]], min_freq=1)
    idf = torch.linspace(0, 5, len(vocab))
    documents = _documents(texts, vocab)
    together = centrality(collate(documents, bucket_size=7), idf)
    for d, document in enumerate(documents):
        alone = centrality(collate([document]), idf)[0]
        n = len(document.spans)
        torch.testing.assert_close(together[d, :n], alone[:n], atol=1e-5, rtol=1e-5)
        assert together[d, n:].abs().sum() == 0
    assert together[len(texts) - 2, 0] == 0  # a one-sentence document has no spread
    assert together[len(texts) - 1].abs().sum() == 0  # a blank one has no sentences


def test_the_scorer_reads_centrality_as_a_fifth_salience_statistic() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "oil", "price", "gas", "."])
    config = ModelConfig(vocab_size=len(vocab), num_classes=0, summarize=True, graph_centrality=True)
    model = TextCNN(config).eval()
    model.token_idf.copy_(torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0, 0.0]))
    batch = collate(_documents(["Oil price.\nOil gas.\nGas price oil."], vocab))
    sentences = torch.ones(1, batch.max_sentences, model.output_dim)
    with torch.no_grad():
        features = model.salience(batch, sentences)
        logits = model(batch).sentence_logits
    assert features.shape == (1, 3, 5)
    torch.testing.assert_close(features[0, :, 4], centrality(batch, model.token_idf)[0])
    assert logits is not None and logits.shape == (1, 3)


def test_centrality_needs_a_sentence_scorer_and_is_off_in_older_configs() -> None:
    with pytest.raises(ValueError, match="graph_centrality"):
        ModelConfig(vocab_size=10, num_classes=2, summarize=False, graph_centrality=True)
    older = ModelConfig.from_dict({"vocab_size": 10, "num_classes": 0, "summarize": True}, version=1)
    assert not older.graph_centrality
