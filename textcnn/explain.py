"""Exact explanations of the model's answers, read off one forward pass: which n-grams made a class
likely, and what made a sentence a summary sentence.

Both heads sit on max-pooled features, so every feature has exactly one origin. A document feature is
the largest response of one filter to one window of one sentence; the classifier is linear over the
document vector, so a class's logit is its bias plus, for every feature j, weight[class, j] * feature_j,
and each term belongs to the n-gram that won feature j. With `max+mean` document pooling the mean part
is linear too: its term for feature j splits into one share per sentence, weight * feature_sj / n,
each belonging to the n-gram that won feature j in sentence s. An n-gram's contribution is the sum of
the terms it won. With a bag-of-words term (ModelConfig.bag_of_words), each term's weight x TF-IDF
value is shared by the term's occurrences: a word's as one-word n-grams, a word pair's as two-word
ones. Nothing is sampled or approximated: the contributions and the bias add up to the logit.

The sentence scorer is piecewise linear: an MLP (Linear -> ReLU -> Linear) plus a linear path from the
position and salience statistics. At a given input the ReLUs that are on fix a linear map, so the
logit splits exactly into one term per input column plus a bias term, summed per block of the scorer's
input: content (the sentence's own vector), context (the convolutions over its neighbours), document
(the document vector), position (position embedding and relative position), salience (length,
recurrence, cosine to the centroid and, where the model has it, graph centrality) and class (the
class probabilities, when the model classifies). The content columns are the sentence's own pooled
features, so they split further into the sentence's n-grams.
These are the contributions within the current linear region, the exact form of gradient x input for
this network; switching a part off would also switch ReLUs and is a different question.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from textcnn.bag import document_terms
from textcnn.config import ModelConfig
from textcnn.errors import InputError, UnsupportedTaskError
from textcnn.features import Batch, Document, collate, passes
from textcnn.model import SentenceScorer, salience_dim
from textcnn.predict import PASS_SLOTS, Predictor
from textcnn.tokenize import Token, tokenize_with_offsets

# The scorer's MLP input blocks in the order SentenceScorer.features concatenates them; "class" only
# exists when the model classifies.
PARTS = ("content", "context", "document", "position", "salience", "class")


@dataclass(frozen=True)
class NGram:
    """Consecutive tokens of one sentence that won at least one max-pooled feature."""

    text: str  # the submitted text between start and end
    start: int  # character offsets into the submitted text
    end: int
    sentence: int  # index of its sentence in the document
    tokens: tuple[str, ...]  # as the model saw them (normalized)
    contribution: float  # its share of the logit being explained
    features: int  # how many filters' maxima it won


@dataclass(frozen=True)
class ClassExplanation:
    """Why a document got a class's logit: bias + the contributions of all n-grams = logit."""

    label: str
    probability: float
    logit: float
    bias: float
    ngrams: tuple[NGram, ...]  # the largest positive contributions, highest first


@dataclass(frozen=True)
class SentenceExplanation:
    """Why a sentence got its summary score: bias + the parts' contributions = logit."""

    index: int  # position among the document's sentences
    score: float  # sigmoid(logit), the probability that the sentence belongs in the summary
    logit: float
    bias: float  # the MLP's biases through its active units
    parts: dict[str, float]  # PARTS -> contribution to the logit
    ngrams: tuple[NGram, ...]  # the sentence's n-grams behind its content part, highest first


@dataclass(frozen=True)
class _Pass:
    """One forward pass through the encoder that also keeps where each feature came from."""

    documents: list[Document]
    batch: Batch
    sentences: torch.Tensor  # (docs, max_sents, dim), zero where masked
    starts: torch.Tensor  # (docs, max_sents, dim) long: start token of each feature's winning window
    document: torch.Tensor  # (docs, document_dim): as TextCNN.pool makes it
    winner: torch.Tensor  # (docs, dim) long: the sentence each max-pooled document feature came from


@torch.inference_mode()
def explain_classification(
    predictor: Predictor, texts: Sequence[str], *, label: str | None = None, top_n: int = 5
) -> list[ClassExplanation]:
    """One ClassExplanation per text, for `label` or else each text's most probable class, keeping the
    `top_n` n-grams with the largest positive contributions. Raises InputError for an unknown label
    or top_n < 1, UnsupportedTaskError for a model without a classifier."""
    chosen = None if label is None else [[label]] * len(texts)
    return [explanations[0] for explanations in _explain_labels(predictor, texts, chosen, top_n)]


@torch.inference_mode()
def explain_labels(
    predictor: Predictor, texts: Sequence[str], labels: Sequence[Sequence[str]], *, top_n: int = 5
) -> list[list[ClassExplanation]]:
    """For each text, one ClassExplanation per label of its `labels` (a multi-label model's chosen
    labels, say), all from one forward pass. Raises as explain_classification."""
    if len(labels) != len(texts):
        raise InputError(f"{len(labels)} label lists for {len(texts)} texts")
    return _explain_labels(predictor, texts, labels, top_n)


def _explain_labels(
    predictor: Predictor, texts: Sequence[str], chosen: Sequence[Sequence[str]] | None, top_n: int
) -> list[list[ClassExplanation]]:
    """Explanations of the `chosen` labels of each text, or of its most probable class."""
    classifier = predictor.model.classifier
    if classifier is None:
        raise UnsupportedTaskError("this model was trained without labels and cannot classify")
    labels = predictor.info.labels
    unknown = sorted({x for some in chosen or () for x in some} - set(labels))
    if unknown:
        raise InputError(f"unknown label {unknown[0]!r}; this model's labels are {list(labels)}")
    _check_top_n(top_n)
    results: list[list[ClassExplanation]] = []
    for run in _passes(predictor, texts):
        start = len(results)  # the index of the pass's first text
        model = predictor.model
        logits = model.class_logits(run.batch, run.document)  # (docs, classes)
        assert logits is not None
        # The bag-of-words term's weights (classes, terms) and the documents' bags (docs, terms).
        words = (
            None
            if model.words is None
            else (
                model.words.weight,
                model.bag_of_words(run.batch).dense(len(run.documents), model.num_terms),
            )
        )
        probabilities = model.class_probabilities(logits)
        dim = predictor.model.output_dim
        widths = _filter_widths(predictor)
        for d, document in enumerate(run.documents):
            wanted = (
                [int(logits[d].argmax())] if chosen is None else [labels.index(x) for x in chosen[start + d]]
            )
            explanations = []
            for c in wanted:
                weight = classifier.weight[c]  # (document_dim,)
                winner = run.winner[d]  # (dim,)
                starts = run.starts[d].gather(0, winner[None, :])[0]  # (dim,): in each feature's sentence
                origins = [(winner, starts, widths, weight[:dim] * run.document[d, :dim])]
                if predictor.model.document_dim > dim:  # max+mean: each sentence's share of the mean part
                    count = len(document.spans)
                    for s in range(count):
                        share = weight[dim:] * run.sentences[d, s] / count
                        origins.append((torch.full((dim,), s), run.starts[d, s], widths, share))
                if words is not None:
                    weights, bags = words
                    origins.append(_word_terms(document, weights[c] * bags[d], model.config))
                sentence_of, start_of, width_of, contributions = (
                    torch.cat(x) for x in zip(*origins, strict=True)
                )
                ngrams = _top_ngrams(
                    predictor, document, sentence_of, start_of, width_of, contributions, top_n
                )
                explanations.append(
                    ClassExplanation(
                        labels[c],
                        float(probabilities[d, c]),
                        float(logits[d, c]),
                        float(classifier.bias[c]),
                        ngrams,
                    )
                )
            results.append(explanations)
    return results


@torch.inference_mode()
def explain_sentences(
    predictor: Predictor, texts: Sequence[str], *, top_n: int = 5
) -> list[tuple[SentenceExplanation, ...]]:
    """For every text, one SentenceExplanation per sentence in document order, keeping the `top_n`
    n-grams behind each sentence's content part. Raises InputError for top_n < 1,
    UnsupportedTaskError for a model without a sentence scorer."""
    scorer = predictor.model.scorer
    if scorer is None:
        raise UnsupportedTaskError("this model was trained without summaries and cannot summarize")
    _check_top_n(top_n)
    first, *_, last = (m for m in scorer.mlp if isinstance(m, nn.Linear))
    dim = predictor.model.output_dim
    config = predictor.model.config
    document_dim = predictor.model.document_dim
    widths = [
        dim,
        config.context_dim,
        document_dim,
        config.position_dim + 1,
        salience_dim(config),
    ]  # relative joins position
    if predictor.model.classifier is not None:
        widths.append(config.num_classes)
    assert sum(widths) == first.in_features, "explain.py no longer matches SentenceScorer's input"
    # The columns of the relative position and the salience statistics, which SentenceScorer.direct reads.
    statistics = slice(sum(widths[:4]) - 1, sum(widths[:5]))
    window_widths = _filter_widths(predictor)
    results: list[tuple[SentenceExplanation, ...]] = []
    for run in _passes(predictor, texts):
        inputs = _mlp_inputs(predictor, scorer, run)  # (docs, max_sents, in_dim)
        active = (first(inputs) > 0).to(inputs.dtype)  # (docs, max_sents, hidden)
        gate = active * last.weight[0]  # (docs, max_sents, hidden): output weight of each active unit
        slopes = gate @ first.weight  # (docs, max_sents, in_dim): the logit's linear map at this input
        slopes[:, :, statistics] += scorer.direct.weight[0]
        terms = slopes * inputs  # (docs, max_sents, in_dim)
        biases = gate @ first.bias + last.bias[0] + scorer.direct.bias[0]  # (docs, max_sents)
        part_sums = torch.stack([t.sum(dim=2) for t in terms.split(widths, dim=2)], dim=2)  # (d, s, parts)
        # = biases + part_sums, up to rounding
        logits = (scorer.mlp(inputs) + scorer.direct(inputs[:, :, statistics])).squeeze(2)
        for d, document in enumerate(run.documents):
            explained = []
            for s in range(len(document.spans)):
                content = terms[d, s, :dim]  # (dim,): the sentence's own features
                origin = torch.full((dim,), s, dtype=torch.long)
                explained.append(
                    SentenceExplanation(
                        s,
                        float(torch.sigmoid(logits[d, s])),
                        float(logits[d, s]),
                        float(biases[d, s]),
                        dict(zip(PARTS[: len(widths)], part_sums[d, s].tolist(), strict=True)),
                        _top_ngrams(
                            predictor, document, origin, run.starts[d, s], window_widths, content, top_n
                        ),
                    )
                )
            results.append(tuple(explained))
    return results


def _filter_widths(predictor: Predictor) -> torch.Tensor:
    """The filter width of each encoder feature, (dim,) long."""
    config = predictor.model.config
    return torch.tensor(config.filter_widths).repeat_interleave(config.num_filters)


def _word_terms(
    document: Document, term_values: torch.Tensor, config: ModelConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The bag-of-words part of a class logit as terms of windows: each term's value (term_values,
    (terms,)) shared equally by its occurrences in the document, a word's as a one-word window and a
    word pair's as a two-word window."""
    places = document_terms(document.token_ids, config.vocab_size, config.word_pair_buckets)
    if not places:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, empty, torch.zeros(0)
    sentence_of, start_of, width_of, terms = (torch.tensor(x) for x in zip(*places, strict=True))
    occurrences = torch.bincount(terms, minlength=term_values.shape[0]).clamp(min=1)
    shares = term_values[terms] / occurrences[terms]
    return sentence_of, start_of, width_of, shares


def _check_top_n(top_n: int) -> None:
    if top_n < 1:
        raise InputError(f"top_n must be at least 1, got {top_n}")


def _passes(predictor: Predictor, texts: Sequence[str]) -> Iterator[_Pass]:
    """Run the encoder over `texts` in passes of the predictor's size (in input order), keeping each
    feature's origin."""
    documents = predictor.prepare(texts)
    encoder = predictor.model.encoder
    for group in passes(documents, predictor.batch_size, PASS_SLOTS):
        chunk = [documents[i] for i in group]
        batch = collate(chunk)
        grid = encoder.embedding.weight.new_zeros(batch.num_docs * batch.max_sentences, encoder.output_dim)
        starts = torch.zeros(grid.shape, dtype=torch.long)
        for bucket in batch.buckets:
            grid[bucket.grid_index], starts[bucket.grid_index] = encoder.forward_with_positions(
                bucket.token_ids, bucket.lengths
            )
        shape = (batch.num_docs, batch.max_sentences, encoder.output_dim)
        sentences = grid.view(shape)
        winner = sentences.max(dim=1).indices  # (docs, dim)
        document = predictor.model.pool(sentences, batch.sentence_mask)
        yield _Pass(chunk, batch, sentences, starts.view(shape), document, winner)


def _mlp_inputs(predictor: Predictor, scorer: SentenceScorer, run: _Pass) -> torch.Tensor:
    """The scorer's MLP input, (docs, max_sents, in_dim), blocks in PARTS order, for the arguments
    TextCNN.forward gives the scorer."""
    model = predictor.model
    logits = model.class_logits(run.batch, run.document)
    class_probs = None if logits is None else model.class_probabilities(logits)
    salience = model.salience(run.batch, run.sentences)
    return scorer.features(run.sentences, run.document, salience, class_probs, run.batch.sentence_mask)


def _top_ngrams(
    predictor: Predictor,
    document: Document,
    sentence_of: torch.Tensor,  # (terms,) long: the sentence each term's feature came from
    start_of: torch.Tensor,  # (terms,) long: the first token of its winning window there
    width_of: torch.Tensor,  # (terms,) long: the width of that window (its filter's, 1 for a word)
    contributions: torch.Tensor,  # (terms,): each term of the logit
    top_n: int,
) -> tuple[NGram, ...]:
    """Sum the terms' contributions per winning n-gram and keep the top_n positive sums."""
    totals: dict[tuple[int, int, int], float] = defaultdict(float)
    counts: dict[tuple[int, int, int], int] = defaultdict(int)
    terms = zip(
        sentence_of.tolist(), start_of.tolist(), width_of.tolist(), contributions.tolist(), strict=True
    )
    for s, start, width, value in terms:
        if value == 0:  # a feature that is zero (its ReLU is off) has no n-gram behind it
            continue
        length = len(document.token_ids[s])
        # A window may hang over the sentence's ends into padding; it covers the tokens there are.
        key = (s, max(start, 0), min(start + width, length))
        totals[key] += value
        counts[key] += 1
    ranked = sorted((k for k in totals if totals[k] > 0), key=lambda k: -totals[k])[:top_n]
    tokens: dict[int, list[Token]] = {}
    ngrams = []
    for s, first, end in ranked:
        if s not in tokens:
            tokens[s] = _sentence_tokens(predictor, document, s)
        window = tokens[s][first:end]
        begin, finish = window[0].start, window[-1].end
        ngrams.append(
            NGram(
                document.text[begin:finish],
                begin,
                finish,
                s,
                tuple(t.text for t in window),
                totals[(s, first, end)],
                counts[(s, first, end)],
            )
        )
    return tuple(ngrams)


def _sentence_tokens(predictor: Predictor, document: Document, s: int) -> list[Token]:
    """Sentence s's tokens as the model saw them (truncated), with offsets into the whole text."""
    span = document.spans[s]
    config = predictor.model.config
    tokens = tokenize_with_offsets(document.text[span.start : span.end], lowercase=config.lowercase)
    kept = [
        Token(t.text, span.start + t.start, span.start + t.end) for t in tokens[: config.max_sentence_tokens]
    ]
    assert predictor.vocab.encode(t.text for t in kept) == list(document.token_ids[s])
    return kept
