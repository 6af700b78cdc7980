"""Train a multi-task TextCNN and write a self-describing model directory.

    python -m training.train --train data/trec/train.jsonl --out runs/trec
    python -m training.train --train data/bbc_news_summary/train.jsonl.gz --out runs/bbc

Tasks follow the data: rows with a label train the classifier, rows with a summary train the
sentence scorer (targets from the greedy ROUGE oracle), rows with both train both.
"""

import argparse
import importlib.util
import json
import logging
import math
import os
import random
import shlex
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from textcnn import artifact
from textcnn.bag import document_terms
from textcnn.config import DOCUMENT_POOLINGS, EMBEDDING_MODES, ModelConfig, ModelInfo, SummaryLength
from textcnn.errors import TextCNNError
from textcnn.features import Document, collate
from textcnn.model import ModelOutput, TextCNN
from textcnn.predict import Predictor, Summary
from textcnn.selection import SELECTION_RULES
from textcnn.sentences import split_sentences
from textcnn.tokenize import tokenize
from textcnn.vocab import PAD_ID, UNK_ID, Vocabulary
from training import checkpoint, config_file, distributed, multilabel, plots, report
from training import flags as numbers
from training.bag_stage import BagFit, fit_bag_of_words
from training.batching import epoch_order, padded_length
from training.data import DataError, Example, Fields, as_multi_label, holdout, label_set, load_examples
from training.device import DEVICES, PRECISIONS, Placement, place, prepare_model
from training.distill import DEFAULT_PACKAGE, distill_vectors, sentence_transformer_folder
from training.distributed import World
from training.embeddings import (
    TRAINERS,
    VECTORS_EXPECTED,
    WordVectors,
    embedding_matrix,
    load_vectors,
    read_unlabeled,
    train_vectors,
)
from training.evaluate import as_fractions, evaluate
from training.interrupt import Interrupted, catch_interrupts
from training.oracle import cached_oracle_selections
from training.rouge import rouge12
from training.scorer_refit import refit_scorer, sentence_loss

logger = logging.getLogger("training.train")


@dataclass
class TrainConfig:
    """One training run; written to training.json so the run can be repeated."""

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
    embeddings: str = "word2vec"  # in-domain vectors: word2vec (skip-gram) | cbow | fasttext | random
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
    optimizer: str = "adam"  # adam | adadelta (Kim's: rho 0.95, eps 1e-6)
    lr: float | None = None  # default: 1e-3 for adam, 1.0 for adadelta
    summary_weight: float = 1.0
    # Sentence targets from the greedy oracle: binary (1 for every pick) or ranked (1 for the first
    # pick down to 0.5 for the last, so the sentences that cover the most are ranked first).
    oracle_targets: str = "binary"
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


# One sentence per flag for --help; argparse adds the default and the choices.
HELP = {
    "train_split": "split to read from a hub dataset or save_to_disk folder",
    "test": "test data to measure the finished model on once (for metrics.json and the model card)",
    "test_split": "split of --test to read from a hub dataset or save_to_disk folder",
    "dev_split": "split of --dev (or of --train when --dev is not given) to use as dev data",
    "dataset_config": "configuration name of a hub dataset",
    "text_field": "column holding the document text",
    "label_field": "column holding the class label, or a list of labels for multi-label data (default: "
    "label, or labels where the data has only that); rows without one do not train the classifier",
    "label_separator": "split each label string at this separator into several labels, which makes the "
    "data multi-label (e.g. '|' for a CSV column such as grain|wheat)",
    "summary_field": "column holding the reference summary; rows without one do not train the summarizer",
    "task": "what to train: auto (whatever the data holds), or classify or summarize alone, the other "
    "column ignored",
    "name": "model name shown by the service (default: the --out folder's name)",
    "embeddings": "how in-domain vectors are trained when --vectors gives none "
    "(random: Kim's uniform init, no vectors)",
    "embedding_mode": "Kim's (2014) embedding mode: rand (random, tuned), static (vectors frozen), "
    "non-static (vectors tuned), multichannel (a frozen and a tuned copy)",
    "document_pooling": "how sentence vectors become the document vector (auto: max+mean where "
    "the median training document has more than one sentence, else max)",
    "word_pair_buckets": "hashed slots for adjacent word pairs in the bag of words (0: words only; "
    "nothing without the bag of words)",
    "vectors": f"pretrained vectors: auto (distilled from the installed {DEFAULT_PACKAGE} package; "
    "without it, in-domain vectors as --embeddings says), none (in-domain vectors), a "
    "word2vec/GloVe/fastText/gensim file, or a sentence-transformer folder or installed package to "
    "distill them from",
    "unlabeled": "plain text file (one document per line) added to the in-domain vectors' corpus",
    "vector_epochs": "epochs of in-domain vector training",
    "embedding_dim": "word vector size (a vector file's own size wins; a distilled one is cut to this)",
    "num_filters": "feature maps per filter width",
    "dropout": "dropout on the document vector before the classifier",
    "context_dim": "size of the document context the sentence scorer reads",
    "min_freq": "words seen fewer times in train map to the unknown token",
    "max_vocab": "largest vocabulary kept (most frequent words first)",
    "max_sentence_tokens": "tokens kept per sentence",
    "epochs": "most passes over the training data (early stopping may end sooner)",
    "batch_size": "documents per optimizer step",
    "optimizer": "optimizer of the joint stage",
    "lr": "learning rate (default: 1e-3 for adam, 1.0 for adadelta)",
    "summary_weight": "weight of the sentence loss beside the classification loss",
    "oracle_targets": "sentence targets from the greedy ROUGE oracle: binary, or ranked by pick order",
    "max_norm": "Kim's max-norm constraint on the classifier's weight rows (0: off)",
    "class_weight": "class weights in the classification loss: none, balanced (inverse frequency), "
    "or label=weight pairs such as spam=3,ham=1",
    "patience": "epochs without a better dev score before training stops",
    "scorer_epochs": "epochs of the sentence scorer alone on the frozen encoder after joint training "
    "(0: skip)",
    "dev_fraction": "share of train held out as dev when --dev is not given",
    "seed": "seed of every random choice (splits, init, batches)",
    "max_steps": "stop after this many optimizer steps (a quick check of a setup)",
    "threads": "torch threads (default: torch's own choice)",
    "cache_dir": "where oracle targets and distilled vectors are cached (empty: no cache)",
    "device": "where to train (auto: cuda when available)",
    "precision": "arithmetic (auto: bf16 autocast on cuda, fp32 on cpu)",
}

# Settings a resumed run may change; any other difference means another run.
RESUMABLE = {
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
PATH_SETTINGS = ("train", "dev", "test", "vectors", "unlabeled")
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


@dataclass(frozen=True)
class TrainingDocument:
    document: Document
    label: int | None
    targets: tuple[float, ...] | None  # > 0 for oracle sentences (see oracle_targets); None without a summary
    labels: tuple[int, ...] | None = None  # a multi-label document's label indices (maybe none)

    @property
    def labelled(self) -> bool:
        return self.label is not None or self.labels is not None


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    config = parse_args(args)
    main_rank = int(os.environ.get("RANK", "0")) == 0  # torchrun: only rank 0 talks
    level = logging.WARNING if config.quiet else logging.INFO
    logging.basicConfig(
        level=level if main_rank else logging.ERROR, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("gensim").setLevel(logging.WARNING)
    command = _launcher() + shlex.join(args)
    try:
        with logging_redirect_tqdm():
            out = train(config, command=command)
    except TextCNNError as error:
        raise SystemExit(f"error: {error}") from None
    except (Interrupted, KeyboardInterrupt) as stop:  # KeyboardInterrupt: a second Ctrl-C, or before training
        saved = checkpoint.path(work_folder(config.out))
        if main_rank:
            resume = command if config.resume else command + " --resume"
            if isinstance(stop, Interrupted):
                sys.stderr.write(f"{stop}; checkpoint saved to {saved}\nresume with:\n    {resume}\n")
            elif saved.is_file():
                sys.stderr.write(
                    f"interrupted; the latest checkpoint is {saved}\nresume with:\n    {resume}\n"
                )
            else:
                sys.stderr.write("interrupted before the first checkpoint; nothing to resume\n")
        raise SystemExit(130) from None
    if main_rank:
        if not config.quiet:
            print(report.summary_table(artifact.read_extra(out, "metrics.json"), out))
        where = shlex.quote(str(out))
        print(
            f"model saved to {out}\n"
            f"  serve it:    TEXTCNN_MODEL_DIR={where} textcnn-serve\n"
            f"  evaluate it: python -m training.evaluate --model {where} --data TEST_FILE"
        )


def work_folder(out: str | Path) -> Path:
    """Where a run keeps its checkpoint, log and model until the model is complete: beside --out,
    so the finished directory moves into place with a rename, and a model already at --out stays
    whole until then."""
    out = Path(out).absolute()
    return out.with_name(out.name + ".partial")


def _launcher() -> str:
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if processes > 1:
        return f"torchrun --nproc_per_node={processes} -m training.train "
    return "python -m training.train "


def _field_types() -> dict[str, type]:
    """TrainConfig field -> the type a flag or config value must have."""
    types: dict[str, type] = {"filter_widths": list, "max_steps": int, "threads": int, "lr": float}
    for f in fields(TrainConfig):
        if f.name not in types:
            types[f.name] = str if f.default is None or f.default is MISSING else type(f.default)
    return types


def parse_args(argv: Sequence[str]) -> TrainConfig:
    """Flags over an optional --config file over TrainConfig's defaults. Exits with a usage message
    for a bad value."""
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    types = _field_types()
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="TOML (or JSON) file of settings; flags override it")
    parser.add_argument("--train", help="file, save_to_disk folder or hub dataset name")
    parser.add_argument("--out", help="model directory to write")
    parser.add_argument("--dev", help="dev data; default: hold out --dev-fraction of train")
    flags = {
        "train",
        "out",
        "dev",
        "filter_widths",
        "lowercase",
        "bag_of_words",
        "wide_convolution",
        "graph_centrality",
        "group_by_length",
        "multi_label",
        "quiet",
        "resume",
        "keep_checkpoint",
        "overwrite",
    }
    for name, value in defaults.items():
        if name in flags:
            continue
        choices = {
            "device": DEVICES,
            "precision": PRECISIONS,
            "document_pooling": ("auto", *DOCUMENT_POOLINGS),
            "task": TASK_CHOICES,
            "oracle_targets": ORACLE_TARGETS,
            "embeddings": ("random", *TRAINERS),
            "embedding_mode": EMBEDDING_MODES,
            "optimizer": OPTIMIZERS,
        }.get(name)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=types[name],
            default=value,
            choices=choices,
            help=HELP[name] + _help_suffix(choices, value),
        )
    parser.add_argument(
        "--filter-widths", type=int, nargs="+", default=[3, 4, 5], help="filter widths (default: 3 4 5)"
    )
    parser.add_argument(
        "--lowercase",
        action=argparse.BooleanOptionalAction,
        default=defaults["lowercase"],
        help="lower-case the text before tokenizing (default: keep letter case)",
    )
    parser.add_argument(
        "--cased",
        dest="lowercase",
        action="store_false",
        default=defaults["lowercase"],
        help="keep letter case",
    )
    parser.add_argument(
        "--bag-of-words",
        action=argparse.BooleanOptionalAction,
        default=defaults["bag_of_words"],
        help="add a logistic regression over each document's TF-IDF word vector to the class logits, "
        "fit after the CNN and weighed against it on dev (default: on)",
    )
    parser.add_argument(
        "--narrow-convolution",
        dest="wide_convolution",
        action="store_false",
        help="keep filters inside each sentence (no windows over its ends into zero padding)",
    )
    parser.add_argument(
        "--no-graph-centrality",
        dest="graph_centrality",
        action="store_false",
        help="leave out the sentence scorer's TextRank-style centrality feature",
    )
    parser.add_argument(
        "--random-batches",
        dest="group_by_length",
        action="store_false",
        help="batches of random documents (default: of documents of similar length, less padding)",
    )
    parser.add_argument(
        "--multi-label",
        action="store_true",
        help="train labels as not exclusive (a sigmoid per label, thresholds learned on dev) even where "
        "every row has one label; data with a list of labels anywhere is multi-label without it",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument(
        "--keep-checkpoint", action="store_true", help="keep checkpoint.pt after the run finishes"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the model directory already at --out"
    )
    known, _ = parser.parse_known_args(argv)
    if known.config:
        try:
            parser.set_defaults(
                **config_file.read(known.config, types, paths=PATH_SETTINGS, outputs=("out",))
            )
        except ValueError as error:
            parser.error(str(error))
    values = vars(parser.parse_args(argv))
    values.pop("config")
    for required in ("train", "out"):
        if not values[required]:
            parser.error(f"--{required} is required (as a flag or in --config)")
    config = TrainConfig(**values)
    if config.optimizer not in OPTIMIZERS:
        parser.error(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
    numbers.check(parser, asdict(config), BOUNDS)
    _check_sizes(parser, config)
    _check_out(parser, config)
    named = _named_vectors(config)
    if named and not Path(named).expanduser().is_file() and sentence_transformer_folder(named) is None:
        parser.error(f"--vectors {named}: {VECTORS_EXPECTED}")
    try:
        parse_class_weight(config.class_weight)
    except ValueError as error:
        parser.error(str(error))
    try:
        embedding_mode(config)
    except ValueError as error:
        parser.error(str(error))
    return config


def _check_sizes(parser: argparse.ArgumentParser, config: TrainConfig) -> None:
    """Exit with the model config's own message, as a flag, for a size it would refuse only after
    the data is read and the vectors trained."""
    try:
        model_config(
            config, vocab_size=2, labels=("a", "b"), summarize=True, embedding_dim=config.embedding_dim
        )
    except ValueError as error:
        name, _, rest = str(error).partition(" ")
        flag = f"--{name.replace('_', '-')}" if name in _field_types() else name
        parser.error(f"{flag} {rest}")


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


def _check_out(parser: argparse.ArgumentParser, config: TrainConfig) -> None:
    """Exit unless --out may be written: new or empty; a model with --overwrite; this run's own
    checkpoint with --resume. An unfinished run's work folder needs --resume or --overwrite."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file, not a folder")
    if out.exists() and Path.cwd().resolve().is_relative_to(out.resolve()):
        parser.error(f"--out {out} holds the working directory; choose another folder")
    if config.resume:
        return  # the checkpoint says whether it is this run's, and the run replaces the model
    work = work_folder(out)
    if checkpoint.path(work).is_file() and not config.overwrite:
        parser.error(
            f"--out {out}: {work} holds an unfinished run; add --resume to continue it, or "
            "--overwrite to start again"
        )
    contents = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not contents:
        return
    if not (out / artifact.MANIFEST).is_file():
        shown = ", ".join(contents[:3]) + (", ..." if len(contents) > 3 else "")
        refusal = "--overwrite replaces only a model directory; " if config.overwrite else ""
        parser.error(
            f"--out {out} holds files that are not a model ({shown}); {refusal}choose a new or empty folder"
        )
    if not config.overwrite:
        parser.error(f"--out {out} holds a model; pass --overwrite to replace it")


def _help_suffix(choices: Sequence[str] | None, default: object) -> str:
    """ "(choices: ...; default: ...)" for a flag's help; None defaults are explained in the help."""
    parts = ([f"choices: {', '.join(choices)}"] if choices else []) + (
        [] if default is None else ["default: %(default)s"]
    )
    return f" ({'; '.join(parts)})" if parts else ""


OPTIMIZERS = ("adam", "adadelta")
TASK_CHOICES = ("auto", "classify", "summarize")
DEFAULT_MODE = TrainConfig.embedding_mode
ELAPSED = "elapsed_seconds"  # in a checkpoint's setup: the run's seconds up to that checkpoint
ORACLE_TARGETS = ("binary", "ranked")
SELECTION_TEXT = {"probability": "probability", "expected-f1": "expected ROUGE-1 F1 (`expected-f1`)"}


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


def class_weights(
    spec: str, labels: Sequence[str], counts: dict[str, int], *, multi_label: bool = False, docs: int = 0
) -> list[float] | None:
    """One weight per label for the loss, or None for none. balanced: n / (classes × count); for
    multi-label, each label's positive weight (binary cross-entropy's pos_weight): its negatives over
    its positives among the `docs` training documents. Raises DataError for a named label the
    training data does not have."""
    parsed = parse_class_weight(spec)
    if parsed == "balanced" and multi_label:
        return [(docs - counts[label]) / counts[label] for label in labels]
    if parsed == "none":
        return None
    if parsed == "balanced":
        total = sum(counts.get(label, 0) for label in labels)
        return [total / (len(labels) * counts[label]) for label in labels]
    assert isinstance(parsed, dict)
    unknown = sorted(set(parsed) - set(labels))
    if unknown:
        raise DataError(f"--class-weight names labels the training data does not have: {unknown}")
    return [parsed.get(label, 1.0) for label in labels]


def embedding_mode(config: TrainConfig) -> str:
    """The Kim (2014) mode a run trains. `--embeddings random` without vectors is CNN-rand (the flag
    predates the modes); static and multichannel need vectors. Raises ValueError otherwise."""
    if config.embeddings not in {"random", *TRAINERS}:
        raise ValueError(f"--embeddings must be one of random, {', '.join(TRAINERS)}")
    if config.embedding_mode not in EMBEDDING_MODES:
        raise ValueError(f"--embedding-mode must be one of {', '.join(EMBEDDING_MODES)}")
    if config.embedding_mode == "rand":
        if _named_vectors(config):
            raise ValueError("--embedding-mode rand starts from random vectors; drop --vectors")
        return "rand"
    if config.embeddings == "random" and not _named_vectors(config):
        if config.embedding_mode != DEFAULT_MODE:
            raise ValueError(
                f"--embedding-mode {config.embedding_mode} needs vectors: --embeddings or --vectors"
            )
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


def for_task(examples: Sequence[Example], task: str, source: str) -> list[Example]:
    """The rows `--task` trains on: all of them for auto; for classify (summarize) the labelled
    (summarized) rows without their summaries (labels). Raises DataError when none is left."""
    if task == "auto":
        return list(examples)
    if task == "classify":
        keep, kept = "label", [replace(e, summary=None) for e in examples if e.labelled]
    else:
        kept = [replace(e, label=None, labels=None) for e in examples if e.summary is not None]
        keep = "summary"
    if not kept:
        raise DataError(f"{source}: --task {task} needs rows with a {keep}, and none has one")
    return kept


def _named_vectors(config: TrainConfig) -> str | None:
    """The file or model `--vectors` names, or None for auto and none."""
    return None if config.vectors in ("auto", "none") else config.vectors


def vector_source(config: TrainConfig, mode: str) -> str | None:
    """What the run's pretrained vectors come from, or None for in-domain (or no) vectors. auto is
    the default sentence-transformer where it and model2vec are installed, else None with a log
    line saying so."""
    named = _named_vectors(config)
    if named or mode == "rand" or config.vectors == "none" or config.embeddings == "random":
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


def train(config: TrainConfig, command: str = "") -> Path:
    """Run one training and return the model directory. Under torchrun every rank calls this; rank 0
    writes. Raises DataError for unusable data, InputError for a missing GPU and Interrupted (after
    saving a checkpoint) on Ctrl-C."""
    placement = place(config.device, config.precision, int(os.environ.get("LOCAL_RANK", "0")))
    world = distributed.start(placement.device)
    work = work_folder(config.out)
    try:
        if world.is_main and not config.resume:
            shutil.rmtree(work, ignore_errors=True)  # a fresh run: an old unfinished one is dropped
        return _train(config, command, world, placement)
    except BaseException:  # Ctrl-C too: before the first checkpoint there is nothing to resume
        if world.is_main and not checkpoint.path(work).is_file():
            shutil.rmtree(work, ignore_errors=True)  # nothing to resume: leave no half-written folder
        raise
    finally:
        distributed.stop(world)


def _move_into_place(work: Path, out: Path) -> None:
    """Rename the finished `work` folder to `out`, replacing what was there only now."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        os.replace(work, out)
        return
    retired = out.with_name(f".{out.name}.replaced-{os.getpid()}")
    os.replace(out, retired)
    os.replace(work, out)
    shutil.rmtree(retired)


def _train(config: TrainConfig, command: str, world: World, placement: Placement) -> Path:
    started = time.perf_counter()
    _seed_everything(config.seed + world.rank)  # rank 0 draws what a one-process run draws
    if config.threads:
        torch.set_num_threads(config.threads)
    columns = Fields(config.text_field, config.label_field, config.summary_field, config.label_separator)
    train_examples = load_examples(
        config.train, fields=columns, split=config.train_split, config=config.dataset_config
    )
    if config.dev:
        dev_examples = load_examples(
            config.dev, fields=columns, split=config.dev_split, config=config.dataset_config
        )
    else:
        train_examples, dev_examples = holdout(train_examples, config.dev_fraction, config.seed)
    train_examples = for_task(train_examples, config.task, config.train)
    dev_examples = for_task(dev_examples, config.task, config.dev or config.train)
    multi_label = config.multi_label or any(e.labels is not None for e in [*train_examples, *dev_examples])
    if multi_label:
        train_examples, dev_examples = as_multi_label(train_examples), as_multi_label(dev_examples)
    labels, dev_examples = _labels(train_examples, dev_examples, multi_label, config.train)
    counts = {
        "train": report.label_counts(label for e in train_examples for label in label_set(e)),
        "dev": report.label_counts(label for e in dev_examples for label in label_set(e)),
    }
    summarize = any(e.summary is not None for e in train_examples)
    logger.info(
        "train %d docs, dev %d docs, %d %s, summaries: %s, %d process(es) on %s%s",
        len(train_examples),
        len(dev_examples),
        len(labels),
        "labels, multi-label (a sigmoid per label)" if multi_label else "classes",
        summarize,
        world.size,
        placement.device,
        " (bf16 autocast)" if placement.bf16 else "",
    )
    if labels:
        logger.info("documents per label: train %s, dev %s", counts["train"], counts["dev"])
        ratio = report.imbalance(counts["train"])
        if ratio is not None and ratio >= report.IMBALANCE_RATIO:
            logger.warning(
                "imbalanced classes: the largest has %.1fx the documents of the smallest; "
                "accuracy flatters the majority class, so compare macro-F1 (training.evaluate)",
                ratio,
            )

    mode = embedding_mode(config)
    token_counts = Counter(t for e in train_examples for t in tokenize(e.text, lowercase=config.lowercase))
    vocab = Vocabulary.build([token_counts.elements()], min_freq=config.min_freq, max_size=config.max_vocab)
    cache_dir = Path(config.cache_dir).expanduser() if config.cache_dir else None
    source = vector_source(config, mode)
    pretrained = _pretrained_vectors(source, config.embedding_dim, vocab, cache_dir) if source else None
    embedding_dim = pretrained.dim if pretrained else config.embedding_dim
    architecture = model_config(
        config,
        vocab_size=len(vocab),
        labels=labels,
        summarize=summarize,
        embedding_dim=embedding_dim,
        mode=mode,
        pooling=document_pooling(config.document_pooling, train_examples),
        multi_label=multi_label,
    )
    model = TextCNN(architecture)
    # Multi-label models choose labels at 0.5 until their thresholds are learned on dev.
    thresholds = (multilabel.DEFAULT_THRESHOLD,) * len(labels) if architecture.multi_label else ()
    placeholder = ModelInfo(name="", labels=labels, thresholds=thresholds)
    if not world.is_main:
        distributed.barrier(world)  # rank 0 fills the oracle cache first; the others read it
    documents = _encode(
        train_examples, Predictor(model, vocab, placeholder), labels, cache_dir, config.oracle_targets
    )
    if world.is_main:
        distributed.barrier(world)
    if model.scorer is not None or model.words is not None:
        idf = _corpus_idf([d.document for d in documents], len(vocab), architecture.word_pair_buckets)
        model.token_idf.copy_(idf[: len(vocab)])
        if architecture.word_pair_buckets:
            model.pair_idf.copy_(idf[len(vocab) :])
    info = ModelInfo(
        name=config.name or Path(config.out).name,
        labels=labels,
        summary_length=_learn_summary_length(documents),
        thresholds=thresholds,
    )
    run = {k: v for k, v in asdict(config).items() if k not in RESUMABLE}
    work = work_folder(config.out)
    # An interrupted run's checkpoint is in the work folder; a finished one's kept checkpoint in --out.
    kept_in = work if checkpoint.path(work).is_file() else Path(config.out)
    resumed = checkpoint.load(kept_in, world=world, run=run) if config.resume else None
    if resumed is not None:
        setup = resumed["setup"]  # the weights come from the checkpoint; skip training vectors
    else:
        vectors = pretrained
        if vectors is None and mode != "rand" and world.is_main:  # DDP copies rank 0's weights
            sentences = [
                tokenize(d.document.sentence(i), lowercase=config.lowercase)
                for d in documents
                for i in range(len(d.document.spans))
            ]
            if config.unlabeled:
                sentences.extend(read_unlabeled(config.unlabeled, lowercase=config.lowercase))
            vectors = train_vectors(
                sentences,
                method=config.embeddings,
                dim=embedding_dim,
                seed=config.seed,
                epochs=config.vector_epochs,
            )
        weights, coverage = embedding_matrix(vocab, embedding_dim, config.seed, vectors, token_counts)
        with torch.no_grad():
            model.encoder.embedding.weight.copy_(weights)
            if model.encoder.static_embedding is not None:
                model.encoder.static_embedding.weight.copy_(weights)
        setup = {
            "vectors": vectors.source if vectors is not None else None,
            "embedding_coverage": coverage.as_dict(),
        }

    prepare_model(model, placement)
    if model.words is not None:
        model.words.weight.requires_grad_(False)  # fit after the CNN, in its own stage
    predictor = Predictor(model, vocab, info)
    loss_weights = (
        class_weights(
            config.class_weight, labels, counts["train"], multi_label=multi_label, docs=len(documents)
        )
        if labels
        else None
    )
    if loss_weights is not None:
        logger.info("class weights: %s", dict(zip(labels, [round(w, 3) for w in loss_weights], strict=True)))
    fit = Fit(config, world, placement, {"run": run, "setup": setup}, loss_weights, clock=started)
    history = fit.run(model, predictor, documents, dev_examples, resumed)
    digests = distributed.gather(distributed.state_digest(model), world)
    bag_stage = scorer_stage = confusion = chosen_thresholds = None
    if world.is_main:
        # Taken before the bag-of-words stage, which refits on dev: after it, dev is seen data.
        with placement.compute():
            confusion = _dev_confusion(predictor, dev_examples)
        # The classifier is final before anything is learned from the summaries: the scorer reads
        # its class probabilities.
        bag_fit = None
        if model.words is not None:
            bag_fit = _fit_bag_stage(model, predictor, documents, dev_examples, labels, placement)
            bag_stage = None if bag_fit is None else bag_fit.record
        if architecture.multi_label:
            with placement.compute():
                learned, chosen_thresholds = _learn_thresholds(predictor, dev_examples, bag_fit)
            info = replace(info, thresholds=tuple(learned))
        # Blocking first: the scorer stage must be judged by the summaries the model will give.
        with placement.compute():
            info = replace(info, block_trigrams=_learn_blocking(predictor, dev_examples))
        predictor = Predictor(model, vocab, info)
        has_references = any(e.summary is not None for e in dev_examples)
        if config.scorer_epochs and model.scorer is not None and has_references:
            scorer_stage = refit_scorer(
                model,
                documents,
                dev_rouge1=lambda: _dev_rouge1(predictor, dev_examples),
                placement=placement,
                epochs=config.scorer_epochs,
                patience=config.patience,
                batch_size=config.batch_size,
                lr=config.lr if config.optimizer == "adam" and config.lr else 1e-3,
                seed=config.seed,
            )
    model.cpu()
    out = Path(config.out)
    if world.is_main:
        info = replace(info, selection=_learn_selection(predictor, dev_examples))
        best = max(history, key=lambda h: h["dev_score"])
        metrics: dict[str, Any] = {
            "best_epoch": best["epoch"],
            "dev": {k: v for k, v in best.items() if k.startswith("dev_")},
            "history": history,
            **({"bag_stage": bag_stage} if bag_stage is not None else {}),
            **({"scorer_stage": scorer_stage} if scorer_stage is not None else {}),
            **({"thresholds": chosen_thresholds} if chosen_thresholds is not None else {}),
            "train_docs": len(train_examples),
            "dev_docs": len(dev_examples),
            "label_counts": counts,
            "vocab_size": len(vocab),
            "embedding_mode": mode,
            **({"class_weights": dict(zip(labels, loss_weights, strict=True))} if loss_weights else {}),
            **setup,
            "processes": world.size,
            "device": placement.device.type,
            "precision": "bf16" if placement.bf16 else "fp32",
            "replica_sha256": digests,
            "train_seconds": round(fit.seconds(), 1),
        }
        metrics.pop(ELAPSED, None)
        metrics["served_dev"] = _served_dev(metrics)
        if confusion is not None:
            metrics["dev_confusion"] = confusion
        if config.test:
            metrics["test"] = _test_figures(Predictor(model, vocab, info), config, columns)
        figures = _figures(history, metrics, work)
        # What repeats the run: never its resume, and never an overwrite nobody asked the repeat for.
        settings = asdict(replace(config, resume=False, overwrite=False))
        extra = {
            "metrics.json": json.dumps(metrics, indent=2) + "\n",
            "training.json": json.dumps(settings, indent=2) + "\n",
            config_file.FILENAME: config_file.dumps(settings, folder=out, paths=(*PATH_SETTINGS, "out")),
            report.METRICS_LOG: (work / report.METRICS_LOG).read_text(encoding="utf-8"),
            "README.md": _model_card(info, architecture, config, metrics, command, figures),
        }
        artifact.save(work, model, vocab, info, extra)
        if not config.keep_checkpoint:
            checkpoint.remove(work)
        _move_into_place(work, out)
        logger.info("saved %s (best epoch %d, %s)", out, best["epoch"], metrics["dev"])
    distributed.barrier(world)  # no rank leaves before the model directory is complete
    return out


def _pretrained_vectors(source: str, dim: int, vocab: Vocabulary, cache_dir: Path | None) -> WordVectors:
    """A sentence-transformer (folder or installed package) distilled for this vocabulary, or a
    vector file."""
    folder = sentence_transformer_folder(source)
    if folder is None:
        return load_vectors(source)
    return distill_vectors(folder, vocab.tokens[2:], dim=dim, cache_dir=cache_dir, name=source)


def _dev_confusion(predictor: Predictor, dev: Sequence[Example]) -> dict[str, Any] | None:
    """The dev confusion matrix of the classifier as it is, or None without labelled dev rows."""
    labelled = [e for e in dev if e.label is not None]
    if not predictor.can_classify or predictor.multi_label or not labelled:
        return None
    labels = list(predictor.info.labels)
    predicted = [c.label for c in predictor.classify([e.text for e in labelled])]
    return {
        "labels": labels,
        "matrix": report.confusion([e.label or "" for e in labelled], predicted, labels),
    }


def _test_figures(predictor: Predictor, config: TrainConfig, columns: Fields) -> dict[str, Any]:
    """training.evaluate's figures (fractions) of the finished model on --test, measured once."""
    assert config.test is not None
    examples = load_examples(
        config.test, fields=columns, split=config.test_split, config=config.dataset_config
    )
    return {"data": config.test, **as_fractions(evaluate(predictor, examples))}


def _served_dev(metrics: dict[str, Any]) -> dict[str, float]:
    """Dev figures of the model as saved rather than of the CNN at its best epoch: the bag-of-words
    stage's combination (as chosen, before its refit on dev), a multi-label model's micro-F1 at the
    thresholds learned on that dev data, and the kept sentence scorer's ROUGE-1."""
    served = {k: v for k, v in metrics["dev"].items() if k != "dev_score"}
    for metric in ("dev_accuracy", "dev_micro_f1"):
        if metric in metrics.get("bag_stage", {}):
            served[metric] = metrics["bag_stage"][metric]
    if "thresholds" in metrics:
        served["dev_micro_f1"] = metrics["thresholds"]["dev_micro_f1"]
    stage = metrics.get("scorer_stage")
    if stage is not None:
        served["dev_rouge1"] = stage["dev_rouge1"] if stage["kept_epoch"] else stage["dev_rouge1_joint"]
    return served


def _figures(history: Sequence[dict[str, Any]], metrics: dict[str, Any], out: Path) -> list[str]:
    """Write the PNGs; returns the files written. The learning curves leave out dev_score where it
    only repeats the one dev metric it averages."""
    dev_metrics = {k for record in history for k in record if k.startswith("dev_") and k != "dev_score"}
    plotted = (
        history
        if len(dev_metrics) > 1
        else [{k: v for k, v in r.items() if k != "dev_score"} for r in history]
    )
    try:
        written = [plots.learning_curves(plotted, out, best_epoch=metrics["best_epoch"])]
        if "dev_confusion" in metrics:
            confusion = metrics["dev_confusion"]
            written.append(plots.confusion_matrix(confusion["matrix"], confusion["labels"], out))
    except ImportError:
        logger.warning("matplotlib is not installed; no plots (pip install 'textcnn[train]')")
        return []
    return [p.name for p in written]


def _encode(
    examples: Sequence[Example],
    predictor: Predictor,
    labels: Sequence[str],
    cache_dir: Path | None,
    oracle_targets: str,
) -> list[TrainingDocument]:
    documents = predictor.prepare([e.text for e in examples])
    summarized = [(d, e.summary) for d, e in zip(documents, examples, strict=True) if e.summary is not None]
    selections = iter(
        cached_oracle_selections(
            [([d.sentence(i) for i in range(len(d.spans))], summary) for d, summary in summarized],
            cache_dir,
        )
    )
    label_index = {label: i for i, label in enumerate(labels)}
    encoded = []
    for example, document in zip(examples, documents, strict=True):
        targets = None
        if example.summary is not None:
            targets = sentence_targets(next(selections), len(document.spans), oracle_targets)
        encoded.append(_training_document(document, example, label_index, targets))
    return encoded


def _training_document(
    document: Document, example: Example, index: dict[str, int], targets: tuple[float, ...] | None
) -> TrainingDocument:
    """The example's label (or a multi-label example's labels) as indices into the model's labels;
    a multi-label row leaves out labels not in `index` (unseen in training)."""
    label = None if example.label is None else index[example.label]
    labels = None if example.labels is None else tuple(index[x] for x in example.labels if x in index)
    return TrainingDocument(document, label, targets, labels)


def _labels(
    train: Sequence[Example], dev: Sequence[Example], multi_label: bool, source: str
) -> tuple[tuple[str, ...], list[Example]]:
    """The labels the training data holds, and the dev rows to judge them by. Raises DataError for a
    single label (a classifier needs two; a multi-label model one) and, for exclusive labels, for
    dev labels training never saw. Multi-label dev rows keep only the labels training has, with a
    warning: a rare topic may miss the training split, and no model could choose it."""
    labels = tuple(sorted({label for e in train for label in label_set(e)}))
    if len(labels) == 1 and not multi_label:
        raise DataError(
            f"{source}: every labelled row has the label {labels[0]!r}; "
            "classification needs at least two classes"
        )
    if multi_label and not labels and any(e.labelled for e in train):
        raise DataError(f"{source}: every row's list of labels is empty; there is nothing to learn")
    unseen = sorted({label for e in dev for label in label_set(e)} - set(labels))
    if unseen and not multi_label:
        raise DataError(f"dev labels {unseen} never occur in the training data")
    if unseen:
        rows = sum(any(x in unseen for x in label_set(e)) for e in dev)
        logger.warning(
            "dev labels %s never occur in the training data: left out of %d dev rows (no model "
            "trained on this data can choose them)",
            unseen,
            rows,
        )
        known = set(labels)
        dev = [
            e if e.labels is None else replace(e, labels=tuple(x for x in e.labels if x in known))
            for e in dev
        ]
    return labels, list(dev)


def sentence_targets(picks: Sequence[int], num_sentences: int, kind: str) -> tuple[float, ...]:
    """Targets for a document's sentences from the oracle's picks (in the order chosen): 1 for every
    pick (binary), or 1 for the first pick falling evenly to 0.5 for the last (ranked); 0 elsewhere."""
    targets = [0.0] * num_sentences
    for rank, index in enumerate(picks):
        targets[index] = 1.0 if kind == "binary" else 1.0 - 0.5 * rank / max(1, len(picks) - 1)
    return tuple(targets)


def _corpus_idf(documents: Sequence[Document], vocab_size: int, pair_buckets: int) -> torch.Tensor:
    """log((N + 1) / (df + 1)) per term (textcnn.bag: words, then word-pair slots) over N training
    documents; 0 for pad and unk."""
    frequency = torch.zeros(vocab_size + pair_buckets)
    for document in documents:
        terms = {term for *_, term in document_terms(document.token_ids, vocab_size, pair_buckets)}
        frequency[sorted(terms)] += 1
    idf = torch.log((len(documents) + 1) / (frequency + 1))
    idf[[PAD_ID, UNK_ID]] = 0
    return idf


def _learn_summary_length(documents: Sequence[TrainingDocument]) -> SummaryLength:
    """Median share of oracle sentences, capped at the 90th percentile of their count."""
    picks = [(sum(t > 0 for t in d.targets), len(d.targets)) for d in documents if d.targets]
    if not picks:
        return SummaryLength()
    ratio = statistics.median(k / n for k, n in picks)
    cap = float(np.percentile([k for k, _ in picks], 90))
    return SummaryLength(ratio=round(ratio, 4), max_sentences=max(1, math.ceil(cap)))


class Fit:
    """The training loop: shuffled batches (sharded across ranks), a checkpoint after every epoch and
    on Ctrl-C, dev metrics reduced over ranks, early stopping; the best weights are loaded at the end."""

    def __init__(
        self,
        config: TrainConfig,
        world: World,
        placement: Placement,
        identity: dict[str, Any],
        class_weights: Sequence[float] | None = None,
        *,
        clock: float | None = None,
    ) -> None:
        self.config = config
        self.world = world
        self.placement = placement
        self.identity = identity  # the run settings and setup that a checkpoint carries
        self.class_weights = None if class_weights is None else torch.tensor(class_weights)
        self.work = work_folder(config.out)
        # this segment's start (perf_counter), and the seconds of the segments before a resume
        self.clock = time.perf_counter() if clock is None else clock
        self.before = float(identity["setup"].get(ELAPSED, 0.0))

    def seconds(self) -> float:
        """The whole run's seconds so far: every segment before a resume, and this one."""
        return self.before + time.perf_counter() - self.clock

    def run(
        self,
        model: TextCNN,
        predictor: Predictor,
        documents: list[TrainingDocument],
        dev: Sequence[Example],
        resumed: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        config, world = self.config, self.world
        trained = [p for p in model.parameters() if p.requires_grad]  # static tables stay as they are
        optimizer = make_optimizer(config, model)
        # A head whose task some documents lack may get no gradient on a rank; DDP must then not
        # wait for it (checking costs a graph traversal per step, so only when it can happen).
        partial = (model.classifier is not None and any(not d.labelled for d in documents)) or (
            model.scorer is not None and any(not d.targets for d in documents)
        )
        network: torch.nn.Module = (
            DistributedDataParallel(model, find_unused_parameters=partial) if world.distributed else model
        )
        shuffle = random.Random(config.seed)  # the same on every rank: they agree on the global batches
        lengths = [padded_length(d.document.token_ids) for d in documents]
        progress = checkpoint.Progress()
        if resumed is not None:
            progress = checkpoint.restore(
                resumed, world=world, model=model, optimizer=optimizer, shuffle=shuffle
            )
            logger.info(
                "resumed at epoch %d, batch %d (step %d)", progress.epoch, progress.batch, progress.steps
            )
        if world.is_main:
            report.start_log(self.work, progress.history)

        def save() -> None:  # a collective call: every rank makes it
            self.identity["setup"][ELAPSED] = round(self.seconds(), 3)
            checkpoint.save(
                self.work,
                world=world,
                model=model,
                optimizer=optimizer,
                shuffle=shuffle,
                progress=progress,
                **self.identity,
            )

        with catch_interrupts() as stop:
            while not progress.finished and progress.epoch <= config.epochs:
                epoch = progress.epoch
                if progress.order is None:
                    progress.order = epoch_order(
                        lengths, config.batch_size, shuffle, group_by_length=config.group_by_length
                    )
                order, size = progress.order, config.batch_size
                batches = [order[i : i + size] for i in range(0, len(order), size)]
                model.train()
                last = {"dev": progress.history[-1]["dev_score"]} if progress.history else {}
                bar = tqdm(
                    total=len(batches),
                    initial=progress.batch,
                    desc=f"epoch {epoch}/{config.epochs}",
                    disable=config.quiet or not world.is_main,
                    leave=False,
                )
                for number in range(progress.batch, len(batches)):
                    shard = distributed.shard(batches[number], world)
                    progress.losses.append(
                        self._step(network, model, optimizer, trained, [documents[i] for i in shard])
                    )
                    progress.batch, progress.steps = number + 1, progress.steps + 1
                    bar.update()
                    bar.set_postfix(loss=f"{statistics.fmean(progress.losses[-20:]):.4f}", **last)
                    if distributed.any_rank(stop.requested, world):
                        bar.close()
                        save()
                        where = f"in epoch {epoch} after batch {number + 1} of {len(batches)}"
                        raise Interrupted(str(checkpoint.path(self.work)), where)
                    if config.max_steps is not None and progress.steps >= config.max_steps:
                        progress.finished = True
                        break
                bar.close()
                loss_sum, loss_count = distributed.sum_all(
                    [sum(progress.losses), len(progress.losses)], world
                )
                model.eval()
                scores = self._dev_scores(predictor, dev)
                record = {"epoch": epoch, "train_loss": round(loss_sum / max(1, loss_count), 5), **scores}
                progress.history.append(record)
                logger.info("epoch %d %s", epoch, record)
                if world.is_main:
                    report.append_log(self.work, record)
                if scores["dev_score"] > progress.best_score:
                    progress.best_score, progress.stale = scores["dev_score"], 0
                    progress.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    progress.stale += 1
                progress.finished = progress.finished or progress.stale >= config.patience
                progress.epoch, progress.batch, progress.order, progress.losses = epoch + 1, 0, None, []
                save()
                if distributed.any_rank(stop.requested, world):
                    raise Interrupted(str(checkpoint.path(self.work)), f"after epoch {epoch}")
        assert progress.best_state is not None
        model.load_state_dict(progress.best_state)
        model.eval()
        return progress.history

    def _step(
        self,
        network: torch.nn.Module,
        model: TextCNN,
        optimizer: torch.optim.Optimizer,
        trained: list[torch.nn.Parameter],
        batch: Sequence[TrainingDocument],
    ) -> float:
        """One optimizer step on this rank's documents; DDP averages the gradients over ranks."""
        inputs = self.placement.to(collate([d.document for d in batch]))
        with self.placement.compute():
            loss = _loss(network(inputs), batch, self.config.summary_weight, self.class_weights)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 5.0)
        optimizer.step()
        if model.classifier is not None and self.config.max_norm:
            with torch.no_grad():
                model.classifier.weight.copy_(
                    torch.renorm(model.classifier.weight, 2, 0, self.config.max_norm)
                )
        return loss.item()

    def _dev_scores(self, predictor: Predictor, dev: Sequence[Example]) -> dict[str, float]:
        """Dev accuracy and ROUGE-1 F1 at the default length; dev_score is their mean. Each rank
        scores every size-th document and the sums are added up, so all ranks see the same numbers
        (and make the same early-stopping decision)."""
        part = dev[self.world.rank :: self.world.size]
        labelled = [e for e in part if e.labelled]
        summarized = [e for e in part if e.summary is not None]
        correct = rouge = 0.0
        counts = np.zeros((3, len(multilabel.GRID)))
        with self.placement.compute():
            if predictor.can_classify and labelled and predictor.multi_label:
                counts = multilabel.grid_counts(*_dev_probabilities(predictor, labelled))
            elif predictor.can_classify and labelled:
                predicted = predictor.classify([e.text for e in labelled])
                correct = sum(p.label == e.label for p, e in zip(predicted, labelled, strict=True))
            if predictor.can_summarize and summarized:
                summaries = predictor.summarize([e.text for e in summarized])
                rouge = _rouge1_sum(summaries, summarized)
        correct, n_labelled, rouge, n_summarized, *summed = distributed.sum_all(
            [correct, len(labelled), rouge, len(summarized), *counts.ravel()], self.world
        )
        scores: dict[str, float] = {}
        if predictor.can_classify and n_labelled and predictor.multi_label:
            # At the best single threshold: what the model will serve once its thresholds are learned.
            scores["dev_micro_f1"] = multilabel.best_micro_f1(np.array(summed).reshape(counts.shape))
        elif predictor.can_classify and n_labelled:
            scores["dev_accuracy"] = correct / n_labelled
        if predictor.can_summarize and n_summarized:
            scores["dev_rouge1"] = rouge / n_summarized
        scores = {k: round(v, 5) for k, v in scores.items()}
        scores["dev_score"] = round(statistics.fmean(scores.values()), 5) if scores else 0.0
        return scores


def make_optimizer(config: TrainConfig, model: TextCNN) -> torch.optim.Optimizer:
    """Adam or Adadelta over the trained parameters; frozen ones (static tables, the bag of words
    until its own stage) stay as they are."""
    trained = [p for p in model.parameters() if p.requires_grad]
    lr = config.lr or (1.0 if config.optimizer == "adadelta" else 1e-3)
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(trained, lr=lr, rho=0.95, eps=1e-6)
    # The fused kernel updates each parameter in one pass: a third of the foreach step's time on an
    # MR-sized model on CPU, where the step over the embedding table's dense gradient is 6% of a batch.
    return torch.optim.Adam(trained, lr=lr, fused=True)


def _fit_bag_stage(
    model: TextCNN,
    predictor: Predictor,
    documents: Sequence[TrainingDocument],
    dev: Sequence[Example],
    labels: Sequence[str],
    placement: Placement,
) -> BagFit | None:
    """The bag of words' stage (training/bag_stage.py) on the labelled dev rows; without any, the
    model stays the CNN alone (nothing could weigh the two)."""
    labelled = [e for e in dev if e.labelled]
    if not labelled:
        logger.warning("no labelled dev rows to weigh the bag of words against the CNN; it stays off")
        return None
    index = {label: i for i, label in enumerate(labels)}
    dev_documents = [
        _training_document(d, e, index, None)
        for d, e in zip(predictor.prepare([e.text for e in labelled]), labelled, strict=True)
    ]
    return fit_bag_of_words(model, documents, dev_documents, placement=placement)


def _dev_probabilities(predictor: Predictor, labelled: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    """A multi-label model's probabilities on labelled dev rows and their gold labels, both
    (docs, labels)."""
    scores = predictor.scores(predictor.prepare([e.text for e in labelled]), sentences=False)
    probabilities = np.array([s.class_probs for s in scores])
    gold = np.array([[label in (e.labels or ()) for label in predictor.info.labels] for e in labelled])
    return probabilities, gold


def _learn_thresholds(
    predictor: Predictor, dev: Sequence[Example], bag_fit: BagFit | None
) -> tuple[list[float], dict[str, Any] | None]:
    """A multi-label model's thresholds (training/multilabel.py) and their record, from the dev
    probabilities the model gives; where the bag-of-words stage refit on dev, from its chosen
    combination before the refit, which is the model as dev has not seen it. Without labelled dev
    rows, every label keeps the default threshold."""
    labels = predictor.info.labels
    if bag_fit is not None:
        probabilities, gold = 1 / (1 + np.exp(-bag_fit.dev_logits)), bag_fit.dev_targets
    else:
        labelled = [e for e in dev if e.labels is not None]
        if not labelled:
            default = multilabel.DEFAULT_THRESHOLD
            logger.warning("no labelled dev rows to learn thresholds on; all stay at %g", default)
            return [default] * len(labels), None
        probabilities, gold = _dev_probabilities(predictor, labelled)
    thresholds, record = multilabel.learn_thresholds(probabilities, gold)
    logger.info(
        "thresholds: %d of %d labels their own, the rest %g; dev micro-F1 %.4f (%.4f at 0.5)",
        record["own_thresholds"],
        len(labels),
        record["global"],
        record["dev_micro_f1"],
        record["dev_micro_f1_at_0.5"],
    )
    return thresholds, record


def _loss(
    output: ModelOutput,
    batch: Sequence[TrainingDocument],
    summary_weight: float,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    loss = torch.zeros(())
    labelled = [i for i, d in enumerate(batch) if d.labelled]
    if output.class_logits is not None and labelled:
        logits = output.class_logits[labelled]
        weight = None if class_weights is None else class_weights.to(logits.device)
        if batch[labelled[0]].labels is not None:  # multi-label: a sigmoid per label
            targets = torch.zeros_like(logits)
            for row, i in enumerate(labelled):
                targets[row, list(batch[i].labels or ())] = 1.0
            loss = loss + F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)
        else:
            targets = torch.tensor([batch[i].label for i in labelled], device=logits.device)
            loss = loss + F.cross_entropy(logits, targets, weight=weight)
    if output.sentence_logits is not None:
        sentences = sentence_loss(output.sentence_logits, batch)
        if sentences is not None:
            loss = loss + summary_weight * sentences
    return loss


def _rouge1_sum(summaries: Sequence[Summary], examples: Sequence[Example]) -> float:
    """Sum of the fast ROUGE-1 F1 of each summary against its example's reference."""
    return sum(rouge12(s.text, e.summary or "")[0] for s, e in zip(summaries, examples, strict=True))


def _dev_rouge1(predictor: Predictor, dev: Sequence[Example]) -> float:
    """Mean fast ROUGE-1 F1 of the default-length summaries of the dev documents with a reference."""
    summarized = [e for e in dev if e.summary is not None]
    return _rouge1_sum(predictor.summarize([e.text for e in summarized]), summarized) / len(summarized)


def _learn_blocking(predictor: Predictor, dev: Sequence[Example]) -> bool:
    """Keep trigram blocking unless dev summaries score better without it: it guards against
    repeats, but where summary sentences share a phrase (often a repeated name) it rejects the
    right ones."""
    summarized = [e for e in dev if e.summary is not None]
    if not predictor.can_summarize or not summarized:
        return True
    texts = [e.text for e in summarized]
    scores = {
        block: _rouge1_sum(predictor.summarize(texts, block_trigrams=block), summarized) / len(summarized)
        for block in (True, False)
    }
    logger.info("dev ROUGE-1 with trigram blocking %.4f, without %.4f", scores[True], scores[False])
    return scores[True] >= scores[False]


def _learn_selection(predictor: Predictor, dev: Sequence[Example]) -> str:
    """The ranking rule (textcnn.selection) with the higher dev ROUGE-1, averaged over summaries of
    three sentences and of the model's default length: a rule must serve short summaries as well as
    the default one. Ties keep `probability`."""
    summarized = [e for e in dev if e.summary is not None]
    if not predictor.can_summarize or not summarized:
        return "probability"
    texts = [e.text for e in summarized]
    scores = {
        rule: sum(
            _rouge1_sum(predictor.summarize(texts, max_sentences=k, selection=rule), summarized)
            for k in (3, None)
        )
        / (2 * len(summarized))
        for rule in SELECTION_RULES
    }
    logger.info("dev ROUGE-1 (3 sentences and default length) by selection rule: %s", scores)
    return max(SELECTION_RULES, key=lambda rule: (scores[rule], rule == "probability"))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _model_card(
    info: ModelInfo,
    model_config: ModelConfig,
    config: TrainConfig,
    metrics: dict[str, Any],
    command: str,
    figures: Sequence[str],
) -> str:
    tasks = [
        t
        for t, on in [
            ("classification", model_config.num_classes > 0),
            ("extractive summarization", model_config.summarize),
        ]
        if on
    ]
    dev_scores = ", ".join(f"{k.removeprefix('dev_')} {v:.4f}" for k, v in metrics["dev"].items())
    dev_source = config.dev or f"{config.dev_fraction:.0%} held out of train"
    length = info.summary_length
    coverage = metrics["embedding_coverage"]
    filters = f"filters {list(model_config.filter_widths)} x {model_config.num_filters}"
    if model_config.wide_convolution:
        filters = "wide " + filters
    words = ", plus a TF-IDF bag-of-words regression in the class logits" if model_config.bag_of_words else ""
    if model_config.word_pair_buckets:
        words += f" (words and adjacent word pairs in {model_config.word_pair_buckets} hashed slots)"
    centrality = (
        ";\n  the sentence scorer sees each sentence's TextRank-style graph centrality"
        if model_config.graph_centrality
        else ""
    )
    summary = (
        f"""
- Default summary length: {length.ratio:.0%} of the sentences, at most {length.max_sentences};
  trigram blocking {"on" if info.block_trigrams else "off (dev ROUGE was higher without it)"};
  sentences ranked by {SELECTION_TEXT[info.selection]}, the rule with the higher dev ROUGE-1{centrality}"""
        if model_config.summarize
        else ""
    )
    labels = f"\n- Labels: {', '.join(info.labels)}" if info.labels else ""
    refit = metrics.get("bag_stage", {}).get("refit_docs")
    stage_note = " (the bag-of-words stage's, before its refit on train and dev)"
    notes = {"dev_accuracy": stage_note} if refit else {}
    if "thresholds" in metrics:
        notes["dev_micro_f1"] = " (at the thresholds learned on dev)"
    served = ", ".join(
        f"{k.removeprefix('dev_')} {v:.4f}{notes.get(k, '')}" for k, v in metrics["served_dev"].items()
    )
    return f"""# {info.name}

A {"multi-task " if len(tasks) > 1 else ""}Kim (2014) CNN trained with textcnn for {" and ".join(tasks)}.

- Training data: `{config.train}` ({metrics["train_docs"]} documents)
- Dev data: `{dev_source}` ({metrics["dev_docs"]} documents){labels}{summary}
- Architecture: {model_config.embedding_dim}-d embeddings, Kim's `{model_config.embedding_mode}` mode
  (vectors: {metrics["vectors"] or "none, uniform random init"}; they cover {coverage["vocabulary"]:.1%}
  of the vocabulary and {coverage["tokens"]:.1%} of the training tokens),
  {filters}, `{model_config.document_pooling}` pooling of sentence
  vectors into the document vector{words},
  vocabulary {metrics["vocab_size"]} tokens
- Dev figures of this model: {served}
- Joint training's best dev epoch {metrics["best_epoch"]} (the CNN before the stages below): {dev_scores}\
{_bag_stage_line(metrics)}{_thresholds_line(metrics)}{_scorer_stage_line(metrics)}{_test_line(metrics)}
- Trained in {metrics["train_seconds"]} s ({metrics["processes"]} process(es), {metrics["device"]},
  {metrics["precision"]})
{_label_table(metrics["label_counts"])}{_figure_links(figures, confusion_before=bool(refit))}
Per-epoch metrics: `{report.METRICS_LOG}`. Reproduce with:

    {_repeat(command) or "python -m training.train ..."}

or, from any folder, `python -m training.train --config DIR/training.toml --out NEW_DIR` (its
paths are relative to this directory).
Measure on a test set with `python -m training.evaluate --model DIR --data TEST_FILE`.
"""


FIGURE_NAMES = {
    "accuracy": "accuracy",
    "micro_f1": "micro-F1",
    "macro_f1": "macro-F1",
    "samples_f1": "samples-F1",
    "subset_accuracy": "subset accuracy",
    "hamming_loss": "Hamming loss",
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeLsum": "ROUGE-Lsum",
}


def _test_line(metrics: dict[str, Any]) -> str:
    test = metrics.get("test")
    if test is None:
        return ""
    figures = ", ".join(f"{name} {test[key]:.4f}" for key, name in FIGURE_NAMES.items() if key in test)
    return f"\n- Test (`{test['data']}`, {test['n_docs']} documents, measured once after training): {figures}"


def _repeat(command: str) -> str:
    """The command that repeats a run from the start: a resumed run's without its --resume."""
    return shlex.join(word for word in shlex.split(command) if word != "--resume")


def _bag_stage_line(metrics: dict[str, Any]) -> str:
    stage = metrics.get("bag_stage")
    if stage is None:
        return ""
    terms = "naive Bayes-weighted TF-IDF terms" if stage["weighting"] == "nb" else "TF-IDF terms"
    metric = "micro_f1" if "dev_micro_f1" in stage else "accuracy"
    return (
        f"\n- Bag-of-words stage: logistic regression over {terms} with C {stage['C']:g}, weighed"
        f" {stage['alpha']:g} x words + {stage['beta']:g} x CNN; dev {FIGURE_NAMES[metric]}"
        f" {stage[f'dev_{metric}']:.4f} (CNN alone {stage[f'dev_{metric}_cnn']:.4f}, words alone"
        f" {stage[f'dev_{metric}_bag']:.4f})"
    )


def _thresholds_line(metrics: dict[str, Any]) -> str:
    record = metrics.get("thresholds")
    if record is None:
        return ""
    return (
        f"\n- Thresholds learned on dev: {record['own_thresholds']} labels their own (those with at least"
        f" {record['min_positives']} dev documents), the others {record['global']:g}; dev micro-F1"
        f" {record['dev_micro_f1']:.4f} against {record['dev_micro_f1_at_0.5']:.4f} at 0.5"
    )


def _scorer_stage_line(metrics: dict[str, Any]) -> str:
    stage = metrics.get("scorer_stage")
    if stage is None:
        return ""
    if not stage["kept_epoch"]:
        return (
            f"\n- Scorer stage (encoder frozen): no epoch beat the joint scorer's dev ROUGE-1 "
            f"{stage['dev_rouge1_joint']:.4f}; the joint scorer is kept"
        )
    return (
        f"\n- Scorer stage (encoder frozen): dev ROUGE-1 {stage['dev_rouge1_joint']:.4f} -> "
        f"{stage['dev_rouge1']:.4f} (scorer epoch {stage['kept_epoch']} kept)"
    )


def _label_table(counts: dict[str, dict[str, int]]) -> str:
    """Documents per label in train and dev, with the imbalance when it is large."""
    if not counts["train"]:
        return ""
    rows = "".join(
        f"| {label} | {n} | {counts['dev'].get(label, 0)} |\n" for label, n in counts["train"].items()
    )
    ratio = report.imbalance(counts["train"])
    note = (
        f"\nThe classes are imbalanced: the largest has {ratio:.1f}x the documents of the smallest.\n"
        if ratio is not None and ratio >= report.IMBALANCE_RATIO
        else ""
    )
    return f"\n## Documents per label\n\n| label | train | dev |\n|---|---:|---:|\n{rows}{note}"


def _figure_links(figures: Sequence[str], *, confusion_before: bool = False) -> str:
    """The PNGs; `confusion_before`: the confusion matrix is the CNN's, from before a stage that
    refit on dev (after it, the dev rows are no longer held out)."""
    if not figures:
        return ""
    links = "".join(f"![{Path(f).stem.replace('_', ' ')}]({f})\n" for f in figures)
    if confusion_before and plots.CONFUSION_MATRIX in figures:
        links += (
            "\nThe confusion matrix is the CNN's on dev before the bag-of-words stage, whose refit "
            "saw the dev rows: after it, dev no longer measures the model.\n"
        )
    return "\n## Training\n\n" + links


if __name__ == "__main__":
    main()
