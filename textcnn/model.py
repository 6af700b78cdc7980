"""The multi-task network: one Kim encoder shared by a document classifier and a sentence scorer."""

from dataclasses import dataclass

import torch
from torch import nn

from textcnn.bag import SparseBag, tfidf, token_terms
from textcnn.centrality import centrality
from textcnn.config import ModelConfig
from textcnn.encoder import KimEncoder
from textcnn.features import Batch

SALIENCE_DIM = 4  # features from TextCNN.salience, one more with ModelConfig.graph_centrality


def salience_dim(config: ModelConfig) -> int:
    return SALIENCE_DIM + int(config.graph_centrality)


@dataclass(frozen=True)
class ModelOutput:
    class_logits: torch.Tensor | None  # (n_docs, num_classes)
    sentence_logits: torch.Tensor | None  # (n_docs, max_sentences); meaningless where masked


class SentenceScorer(nn.Module):
    """Scores each sentence for the summary from what it says and where it stands in its document.

    Per sentence it sees: its vector; a context vector from two convolutions over the document's
    sequence of sentence vectors (five sentences wide); the document vector; the class
    probabilities (class-aware scoring, when the model classifies); a learned position embedding
    and the relative position; and salience statistics (see `TextCNN.salience`). Padding sentences
    are zero vectors, exactly like the convolutions' own zero padding, so a document scores the same
    alone or in a batch.
    """

    def __init__(self, config: ModelConfig, sentence_dim: int, document_dim: int) -> None:
        super().__init__()
        self.max_positions = config.max_positions
        self.context = nn.Sequential(
            nn.Conv1d(sentence_dim, config.context_dim, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv1d(config.context_dim, config.context_dim, kernel_size=3, padding=1),
            nn.ReLU(),
        )
        self.position = nn.Embedding(config.max_positions, config.position_dim)
        in_dim = sentence_dim + document_dim + config.context_dim + config.num_classes + config.position_dim
        in_dim += 1 + salience_dim(config)  # relative position, salience
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, config.context_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.context_dim, 1),
        )
        # Position and salience also reach the logit linearly, past the hidden layer's dropout:
        # a strong simple signal (recurrence, lead position) is learned at once, not only late.
        self.direct = nn.Linear(1 + salience_dim(config), 1)

    def forward(
        self,
        sentences: torch.Tensor,
        document: torch.Tensor,
        salience: torch.Tensor,
        class_probs: torch.Tensor | None,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """sentences: (docs, max_sents, dim), zero where masked; document: (docs, document_dim);
        salience: (docs, max_sents, salience_dim); class_probs: (docs, classes) or None;
        mask: (docs, max_sents) bool. Returns logits (docs, max_sents)."""
        inputs, statistics = self._inputs(sentences, document, salience, class_probs, mask)
        logits = self.mlp(inputs) + self.direct(statistics)
        return logits.squeeze(2)  # (docs, max_sents)

    def features(
        self,
        sentences: torch.Tensor,
        document: torch.Tensor,
        salience: torch.Tensor,
        class_probs: torch.Tensor | None,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """What the MLP reads for the arguments of `forward`, (docs, max_sents, in_dim): per
        sentence its vector, its context, the document vector, the position embedding, the relative
        position and salience statistics (which `direct` also reads) and, when given, the class
        probabilities, concatenated in that order."""
        return self._inputs(sentences, document, salience, class_probs, mask)[0]

    def _inputs(
        self,
        sentences: torch.Tensor,
        document: torch.Tensor,
        salience: torch.Tensor,
        class_probs: torch.Tensor | None,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The MLP's input (see `features`) and `direct`'s, (docs, max_sents, 1 + salience_dim)."""
        docs, max_sents, _ = sentences.shape
        # Re-zero padding after each layer: the bias would otherwise leak into the last sentences.
        keep = mask.unsqueeze(1).to(sentences.dtype)  # (docs, 1, max_sents)
        context = sentences.transpose(1, 2)  # (docs, dim, max_sents)
        for layer in self.context:
            context = layer(context)
            if isinstance(layer, nn.ReLU):
                context = context * keep
        context = context.transpose(1, 2)  # (docs, max_sents, context)
        counts = mask.sum(dim=1)  # (docs,)
        positions = torch.arange(max_sents, device=sentences.device)  # (max_sents,)
        position = self.position(positions.clamp(max=self.max_positions - 1))  # (max_sents, pos_dim)
        relative = positions[None, :] / counts.clamp(min=1)[:, None]  # (docs, max_sents)
        statistics = torch.cat([relative.unsqueeze(2), salience], dim=2).to(sentences.dtype)
        parts = [
            sentences,
            context,
            document[:, None, :].expand(docs, max_sents, -1),
            position[None, :, :].expand(docs, -1, -1),
            statistics,
        ]
        if class_probs is not None:
            parts.append(class_probs[:, None, :].expand(docs, max_sents, -1).to(sentences.dtype))
        return torch.cat(parts, dim=2), statistics


class TextCNN(nn.Module):
    """Encodes every sentence once; the document vector pools its sentence vectors.

    With max pooling, for a one-sentence text the document vector is exactly Kim's CNN feature
    vector, and in general it is max-over-time pooling over all n-grams that do not cross a sentence
    boundary. `max+mean` appends the mean over sentences (see ModelConfig.document_pooling).
    """

    token_idf: torch.Tensor  # (vocab_size,): exists when the model summarizes or reads bags of words
    pair_idf: torch.Tensor  # (word_pair_buckets,): exists when the bag of words holds word pairs

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = KimEncoder(
            config.vocab_size,
            config.embedding_dim,
            config.filter_widths,
            config.num_filters,
            config.embedding_mode,
            wide=config.wide_convolution,
        )
        self.output_dim = self.encoder.output_dim
        self.document_dim = self.output_dim * (2 if config.document_pooling == "max+mean" else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.document_dim, config.num_classes) if config.num_classes else None
        self.scorer = SentenceScorer(config, self.output_dim, self.document_dim) if config.summarize else None
        # One weight per class and term (textcnn.bag); no bias: the classifier has one.
        self.num_terms = config.vocab_size + config.word_pair_buckets
        self.words = (
            nn.Linear(self.num_terms, config.num_classes, bias=False) if config.bag_of_words else None
        )
        if self.words is not None:
            nn.init.zeros_(self.words.weight)  # training starts from the CNN alone
        if config.summarize or config.bag_of_words:
            # Corpus IDF per vocabulary entry, set by training (0 for padding and unknown tokens);
            # saved with the weights.
            self.register_buffer("token_idf", torch.zeros(config.vocab_size))
        if config.word_pair_buckets:
            self.register_buffer("pair_idf", torch.zeros(config.word_pair_buckets))  # likewise, per slot

    def forward(self, batch: Batch, *, score_sentences: bool = True) -> ModelOutput:
        """Both heads' logits; `score_sentences=False` skips the sentence scorer (sentence_logits is
        then None), for callers that only classify."""
        grid = torch.zeros(batch.num_docs * batch.max_sentences, self.output_dim)
        for bucket in batch.buckets:
            vectors = self.encoder(bucket.token_ids, bucket.lengths)  # (n, dim)
            # Under bfloat16 autocast the encoder answers in bfloat16; index_put needs the grid's
            # dtype, and the heads read float32 sentence vectors either way.
            grid[bucket.grid_index] = vectors.to(grid.dtype)
        sentences = grid.view(batch.num_docs, batch.max_sentences, self.output_dim)
        document = self.pool(sentences, batch.sentence_mask)
        class_logits = self.class_logits(batch, document)
        sentence_logits = None
        if self.scorer is not None and score_sentences:
            class_probs = None if class_logits is None else self.class_probabilities(class_logits.detach())
            sentence_logits = self.scorer(
                self.dropout(sentences),
                self.dropout(document),
                self.salience(batch, sentences),
                class_probs,
                batch.sentence_mask,
            )
        return ModelOutput(class_logits, sentence_logits)

    def class_logits(self, batch: Batch, document: torch.Tensor) -> torch.Tensor | None:
        """The classifier over the document vectors, plus the bag-of-words term where the model has
        one, (docs, num_classes); None without a classifier."""
        if self.classifier is None:
            return None
        logits = self.classifier(self.dropout(document))
        # Frozen all-zero weights (before the bag's own stage, or where it chose the CNN alone) add
        # nothing: skip reading the bags.
        words = self.words
        if words is not None and (words.weight.requires_grad or words.weight.any()):
            # The linear term over the sparse bags, one column of weights per non-zero entry: the
            # dense product would cost vocabulary x documents. Dropout on the entries is dropout on
            # the bag, whose zeros it would leave zero anyway.
            bag = self.bag_of_words(batch)
            terms = words.weight[:, bag.term].T * self.dropout(bag.weight)[:, None]  # (nnz, classes)
            logits = logits.index_add(0, bag.doc, terms.to(logits.dtype))
        return logits

    def class_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(docs, num_classes) logits -> probabilities: a softmax over exclusive labels, a sigmoid per
        label for a multi-label model."""
        return logits.sigmoid() if self.config.multi_label else logits.softmax(dim=1)

    def pool(self, sentences: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """sentences: (docs, max_sents, dim), zero where masked; mask: (docs, max_sents) bool.
        Returns the document vectors, (docs, document_dim)."""
        # Features are >= 0 after ReLU, so the zero rows of padding never win this max either.
        largest = sentences.amax(dim=1)  # (docs, dim)
        if self.config.document_pooling == "max":
            return largest
        counts = mask.sum(dim=1, keepdim=True).clamp(min=1).to(sentences.dtype)  # (docs, 1)
        return torch.cat([largest, sentences.sum(dim=1) / counts], dim=1)

    def token_counts(self, batch: Batch) -> torch.Tensor:
        """How often each vocabulary entry occurs in each document (as encoded, so truncated
        sentences count what the encoder reads), (docs, vocab_size)."""
        vocab, tokens = self.config.vocab_size, batch.tokens
        slots = tokens.sentence // batch.max_sentences * vocab + tokens.ids
        counts = torch.zeros(batch.num_docs * vocab).index_add_(0, slots, torch.ones(slots.shape[0]))
        return counts.view(batch.num_docs, vocab)

    def bag_of_words(self, batch: Batch) -> SparseBag:
        """Each document's bag of terms (textcnn.bag): its words, and its word pairs where the model
        has pair slots, as sublinear TF-IDF of unit length (empty without known words)."""
        terms, sentence = token_terms(batch.tokens, self.config.vocab_size, self.config.word_pair_buckets)
        doc = sentence // batch.max_sentences
        return tfidf(doc, terms, self.term_idf, self.num_terms, batch.num_docs)

    def term_idf(self, term: torch.Tensor) -> torch.Tensor:
        """The IDF of each term id (textcnn.bag's numbering: words, then pair slots), gathered from
        the two tables rather than from a copy of both joined, which would cost a pass over every
        pair slot."""
        vocab = self.config.vocab_size
        if not self.config.word_pair_buckets:
            return self.token_idf[term]
        word = self.token_idf[term.clamp(max=vocab - 1)]
        return torch.where(term < vocab, word, self.pair_idf[(term - vocab).clamp(min=0)])

    def salience(self, batch: Batch, sentences: torch.Tensor) -> torch.Tensor:
        """Statistics of how central each sentence is to its document, (docs, max_sents, salience_dim):

        - log(1 + tokens): length;
        - recurrence: the sum over the sentence's tokens of (occurrences of the token in the
          document - 1) x the token's IDF in the training corpus, i.e. how much of what the
          sentence says the rest of the document repeats, frequent words discounted; given as
          log(1 + r) and as r over the document's largest r;
        - the cosine between the sentence vector and the mean of the document's sentence vectors;
        - with `graph_centrality`, the sentence's PageRank in its document's word-overlap graph,
          standardized within the document (textcnn.centrality).
        """
        docs, max_sents = batch.num_docs, batch.max_sentences
        vocab = self.config.vocab_size
        lengths = torch.zeros(docs * max_sents)
        recurrence = torch.zeros(docs * max_sents)
        counts = self.token_counts(batch).view(-1)  # occurrences of each token in each document
        for bucket in batch.buckets:
            valid = torch.arange(bucket.token_ids.shape[1])[None, :] < bucket.lengths[:, None]  # (n, time)
            slots = (bucket.grid_index // max_sents)[:, None] * vocab + bucket.token_ids  # (n, time)
            repeats = (counts[slots] - 1).clamp(min=0) * self.token_idf[bucket.token_ids]  # (n, time)
            recurrence[bucket.grid_index] = (repeats * valid).sum(dim=1)
            lengths[bucket.grid_index] = bucket.lengths.to(lengths.dtype)
        recurrence = recurrence.view(docs, max_sents)
        peak = recurrence.amax(dim=1, keepdim=True).clamp(min=1e-6)  # (docs, 1)
        mask = batch.sentence_mask.to(sentences.dtype)  # (docs, max_sents)
        centroid = (sentences * mask.unsqueeze(2)).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)
        cosine = torch.cosine_similarity(sentences, centroid.unsqueeze(1), dim=2)  # (docs, max_sents)
        length = torch.log1p(lengths.view(docs, max_sents))
        columns = [length, torch.log1p(recurrence), recurrence / peak, cosine]
        if self.config.graph_centrality:
            columns.append(centrality(batch, self.token_idf))
        return torch.stack(columns, dim=2) * mask.unsqueeze(2)
