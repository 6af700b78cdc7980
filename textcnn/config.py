"""The model's architecture and its text preprocessing, saved with the weights.

Loading a model directory rebuilds exactly this network; serving settings can never change it.
"""

from dataclasses import asdict, dataclass, field, fields
from typing import Any

EMBEDDING_MODES = ("rand", "static", "non-static", "multichannel")
DOCUMENT_POOLINGS = ("max", "max+mean")

# config.json's `config_version`. A file without one is version 1, written before versions: a key it
# lacks is a setting added after the model was made, so the model was made without it, and
# VERSION_1_ABSENT says what that meant. Version 2 files hold every key, and a missing one is an
# error; a setting added later raises the version and says what its absence meant.
CONFIG_VERSION = 2
VERSION_1_ABSENT: dict[str, Any] = {
    "embedding_mode": "non-static",
    "wide_convolution": False,
    "document_pooling": "max",
    "bag_of_words": False,
    "word_pair_buckets": 0,
    "graph_centrality": False,
    "multi_label": False,
}


# Bounds on the sizes a config may ask for: far above any trained model, far below what would
# exhaust a machine's memory while the network is built.
_SIZE_RANGES = (
    ("vocab_size", 2, 10_000_000),
    ("embedding_dim", 1, 4096),
    ("num_filters", 1, 4096),
    ("context_dim", 1, 4096),
    ("max_positions", 1, 100_000),
    ("position_dim", 1, 4096),
    ("max_sentence_tokens", 1, 100_000),
    ("word_pair_buckets", 0, 1 << 26),
)
_MAX_FILTER_WIDTH = 64
_TYPES: dict[type, tuple[type, ...]] = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network and reproduce its input pipeline."""

    vocab_size: int
    num_classes: int  # 0: the model has no classification head
    summarize: bool  # whether the sentence-scoring head exists
    embedding_dim: int = 128
    filter_widths: tuple[int, ...] = (3, 4, 5)
    num_filters: int = 100  # feature maps per width
    dropout: float = 0.5
    context_dim: int = 128  # channels of the convolutions across sentences
    max_positions: int = 64  # sentence positions beyond this share the last embedding
    position_dim: int = 16
    lowercase: bool = True
    max_sentence_tokens: int = 100  # longer sentences are truncated before encoding
    # Kim (2014): rand | static | non-static | multichannel. rand and non-static build the same
    # network (one tuned table; they differ only in its initial values); static freezes the table;
    # multichannel adds a frozen copy.
    embedding_mode: str = "non-static"
    # Wide convolution (textcnn.encoder): filters also read the n-grams that hang over a sentence's
    # ends into zero padding, as Kim's code does.
    wide_convolution: bool = False
    # How sentence vectors become the document vector. max: the largest response of each filter
    # anywhere in the document (Kim's max-over-time). max+mean: that, and beside it the mean over
    # sentences, which also says how much of the document a feature runs through.
    document_pooling: str = "max"
    # Add a linear term over the document's TF-IDF word vector to the class logits: a logistic
    # regression on word counts, trained with the CNN, for what max-pooled n-gram detectors cannot
    # see (how often a word occurs; words seen too rarely to shape a filter).
    bag_of_words: bool = False
    # Adjacent word pairs in the bag of words, hashed into this many slots (textcnn.bag); 0: words only.
    word_pair_buckets: int = 0
    # Give the sentence scorer each sentence's PageRank over its document's word-overlap graph
    # (textcnn.centrality), as TextRank ranks sentences.
    graph_centrality: bool = False
    # Labels are not exclusive: a sigmoid per label instead of a softmax over them, so a document may
    # carry several labels or none.
    multi_label: bool = False

    def __post_init__(self) -> None:
        self._check_types_and_sizes()
        if self.num_classes < 0 or (self.num_classes == 1 and not self.multi_label):
            raise ValueError("num_classes must be 0 (no classifier) or at least 2 (1 for multi_label)")
        if self.multi_label and not self.num_classes:
            raise ValueError("multi_label is a classifier setting: it needs num_classes")
        if self.num_classes == 0 and not self.summarize:
            raise ValueError("a model needs at least one task: classification or summarization")
        if not self.filter_widths or min(self.filter_widths) < 1:
            raise ValueError("filter_widths must be positive")
        if self.embedding_mode not in EMBEDDING_MODES:
            raise ValueError(f"embedding_mode must be one of {EMBEDDING_MODES}, got {self.embedding_mode!r}")
        if self.bag_of_words and not self.num_classes:
            raise ValueError("bag_of_words adds to the class logits: it needs a classifier")
        if self.word_pair_buckets < 0 or (self.word_pair_buckets and not self.bag_of_words):
            raise ValueError("word_pair_buckets must be 0, or above 0 with bag_of_words")
        if self.graph_centrality and not self.summarize:
            raise ValueError("graph_centrality is a sentence scorer feature: it needs summarize")
        if self.document_pooling not in DOCUMENT_POOLINGS:
            raise ValueError(
                f"document_pooling must be one of {DOCUMENT_POOLINGS}, got {self.document_pooling!r}"
            )
        if self.max_sentence_tokens < max(self.filter_widths):
            raise ValueError("max_sentence_tokens must cover the widest filter")

    def _check_types_and_sizes(self) -> None:
        """Each value of the type its field declares, and sizes a CPU can build: a config.json edited
        by hand must fail here with the field's name, not later inside torch."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "filter_widths":
                good = isinstance(value, tuple) and all(type(w) is int for w in value)
            else:  # type(), not isinstance: true and false are ints to isinstance
                good = type(value) in _TYPES[f.type]  # type: ignore[index]
            if not good:
                raise ValueError(f"{f.name} must be {getattr(f.type, '__name__', f.type)}, got {value!r}")
        for name, low, high in _SIZE_RANGES:
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
        if self.filter_widths and max(self.filter_widths) > _MAX_FILTER_WIDTH:
            raise ValueError(
                f"filter_widths must be at most {_MAX_FILTER_WIDTH}, got {max(self.filter_widths)}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filter_widths"] = list(self.filter_widths)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: int = CONFIG_VERSION) -> "ModelConfig":
        """The config as `to_dict` wrote it in config.json of `version` (see CONFIG_VERSION).
        Raises ValueError for an unknown or, from version 2, a missing key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}")
        if version == 1:
            data = {**VERSION_1_ABSENT, **data}
        else:
            missing = sorted(known - set(data))
            if missing:
                raise ValueError(f"model config keys {missing} are missing (config_version {version})")
        return cls(**{**data, "filter_widths": tuple(data.get("filter_widths", (3, 4, 5)))})


@dataclass(frozen=True)
class SummaryLength:
    """The default summary length, learned from the training summaries.

    A summary takes `ratio` of the document's sentences (rounded, at least one), capped at
    `max_sentences`.
    """

    ratio: float = 0.3
    max_sentences: int = 5

    def sentences_for(self, num_sentences: int) -> int:
        return max(1, min(self.max_sentences, round(self.ratio * num_sentences)))


@dataclass(frozen=True)
class ModelInfo:
    """The model's identity and what it knows beyond its weights."""

    name: str
    labels: tuple[str, ...] = ()
    summary_length: SummaryLength = field(default_factory=SummaryLength)
    # Skip a summary sentence that shares a word trigram with one already chosen. Training keeps it
    # only where it does not lower dev ROUGE: summaries that restate a phrase lose by it.
    block_trigrams: bool = True
    # How sentences are ranked for a summary (textcnn.selection.SELECTION_RULES); training picks the
    # one with the better dev ROUGE-1.
    selection: str = "probability"
    # Multi-label models: the probability above which each label (in `labels` order) is chosen,
    # learned on dev; empty for single-label models, which choose the most probable label.
    thresholds: tuple[float, ...] = ()
