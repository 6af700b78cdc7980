"""Train a multi-task TextCNN and write a self-describing model directory.

    python -m training.train --train data/trec/train.jsonl --out runs/trec
    python -m training.train --train data/bbc_news_summary/train.jsonl.gz --out runs/bbc

Tasks follow the data: rows with a label train the classifier, rows with a summary train the
sentence scorer (targets from the greedy ROUGE oracle), rows with both train both.
"""

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from tqdm.contrib.logging import logging_redirect_tqdm

from textcnn import artifact
from textcnn.config import DOCUMENT_POOLINGS, EMBEDDING_MODES
from textcnn.errors import ModelLoadError
from training import checkpoint, config_file, report
from training import flags as numbers
from training.device import DEVICES, PRECISIONS
from training.distill import DEFAULT_PACKAGE, sentence_transformer_folder
from training.embeddings import (
    TRAINERS,
    VECTORS_EXPECTED,
)
from training.exits import one_line_errors
from training.interrupt import Interrupted
from training.run_config import (
    BOUNDS,
    CONFIG_VERSION,
    PATH_SETTINGS,
    RETIRED,
    TASK_CHOICES,
    TrainConfig,
    embedding_mode,
    field_types,
    model_config,
    named_vectors,
    parse_class_weight,
)
from training.train import train
from training.workspace import work_folder

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
    "description": "the model card's first paragraph, shown by the service as the model's description "
    "(default: a sentence naming the tasks the model was trained for)",
    "examples": 'JSON file of texts to try the model on (a list of {"title", "text", "source"} '
    "objects), kept in the model directory as examples.json for the demo page",
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
    "lr": "Adam's learning rate",
    "summary_weight": "weight of the sentence loss beside the classification loss",
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
        with one_line_errors(), logging_redirect_tqdm():
            out = train(config, command=command)
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


def _launcher() -> str:
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if processes > 1:
        return f"torchrun --nproc_per_node={processes} -m training.train "
    return "python -m training.train "


# Settings whose flags are spelled out in _add_switches (or, for the paths, in _parser); every other
# setting gets `--name VALUE` with its type, choices and help from HELP.
OWN_FLAGS = {
    "train",
    "out",
    "dev",
    "filter_widths",
    "lowercase",
    "bag_of_words",
    "wide_convolution",
    "graph_centrality",
    "group_by_length",
    "fused_adam",
    "multi_label",
    "quiet",
    "resume",
    "keep_checkpoint",
    "overwrite",
}


def parse_args(argv: Sequence[str]) -> TrainConfig:
    """Flags over an optional --config file over TrainConfig's defaults. Exits with a usage message
    for a bad value."""
    parser = _parser()
    known, _ = parser.parse_known_args(argv)
    if known.config:
        try:
            parser.set_defaults(
                **config_file.read(
                    known.config,
                    field_types(),
                    paths=PATH_SETTINGS,
                    outputs=("out",),
                    retired=RETIRED,
                    version=CONFIG_VERSION,
                )
            )
        except ValueError as error:
            parser.error(str(error))
    values = vars(parser.parse_args(argv))
    values.pop("config")
    for required in ("train", "out"):
        if not values[required]:
            parser.error(f"--{required} is required (as a flag or in --config)")
    config = TrainConfig(**values)
    _check(parser, config)
    return config


def _parser() -> argparse.ArgumentParser:
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    types = field_types()
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="TOML (or JSON) file of settings; flags override it")
    parser.add_argument("--train", help="file, save_to_disk folder or hub dataset name")
    parser.add_argument("--out", help="model directory to write")
    parser.add_argument("--dev", help="dev data; default: hold out --dev-fraction of train")
    for name, value in defaults.items():
        if name in OWN_FLAGS:
            continue
        choices = {
            "device": DEVICES,
            "precision": PRECISIONS,
            "document_pooling": ("auto", *DOCUMENT_POOLINGS),
            "task": TASK_CHOICES,
            "embeddings": TRAINERS,
            "embedding_mode": EMBEDDING_MODES,
        }.get(name)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=types[name],
            default=value,
            choices=choices,
            help=HELP[name] + _help_suffix(choices, value),
        )
    _add_switches(parser, defaults)
    return parser


def _add_switches(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    """The flags that turn a behaviour on or off, and --filter-widths."""
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
        "--fused-adam",
        action=argparse.BooleanOptionalAction,
        default=defaults["fused_adam"],
        help="Adam's fused kernel (default: on; --no-fused-adam repeats the floats of runs made before it)",
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


def _check(parser: argparse.ArgumentParser, config: TrainConfig) -> None:
    """Exit with one line naming the flag for a value the run would refuse later."""
    numbers.check(parser, asdict(config), BOUNDS)
    _check_sizes(parser, config)
    _check_out(parser, config)
    if config.examples is not None:
        if not Path(config.examples).is_file():
            parser.error(f"--examples {config.examples}: no such file")
        try:
            artifact.examples_file(Path(config.examples))
        except ModelLoadError as error:
            parser.error(f"--examples: {error}")
    named = named_vectors(config)
    if named and not Path(named).expanduser().is_file() and sentence_transformer_folder(named) is None:
        parser.error(f"--vectors {named}: {VECTORS_EXPECTED}")
    for check in (lambda: parse_class_weight(config.class_weight), lambda: embedding_mode(config)):
        try:
            check()
        except ValueError as error:
            parser.error(str(error))


def _check_sizes(parser: argparse.ArgumentParser, config: TrainConfig) -> None:
    """Exit with the model config's own message, as a flag, for a size it would refuse only after
    the data is read and the vectors trained."""
    try:
        model_config(
            config, vocab_size=2, labels=("a", "b"), summarize=True, embedding_dim=config.embedding_dim
        )
    except ValueError as error:
        name, _, rest = str(error).partition(" ")
        flag = f"--{name.replace('_', '-')}" if name in field_types() else name
        parser.error(f"{flag} {rest}")


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
