"""Train a multi-task TextCNN and write a self-describing model directory.

    python -m training.train --train data/bbc_news_summary/train.jsonl.gz \
        --dev data/bbc_news_summary/dev.jsonl --out runs/bbc

Tasks follow the data: rows with a label train the classifier, rows with a summary train the
sentence scorer (targets from the greedy ROUGE oracle), rows with both train both.
"""

import argparse
import json
import logging
import math
import random
import shlex
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from textcnn import artifact
from textcnn.config import EMBEDDING_MODES, ModelConfig, ModelInfo, SummaryLength
from textcnn.features import Document, collate
from textcnn.model import TextCNN
from textcnn.predict import Predictor
from textcnn.tokenize import tokenize
from textcnn.vocab import PAD_ID, UNK_ID, Vocabulary
from training.data import DataError, Example, Fields, holdout, load_examples
from training.embeddings import TRAINERS, embedding_matrix, load_vectors, read_unlabeled, train_vectors
from training.oracle import cached_oracle_selections
from training.rouge import rouge12

logger = logging.getLogger("training.train")


@dataclass
class TrainConfig:
    """One training run; written to training.json so the run can be repeated."""

    train: str
    out: str
    dev: str | None = None
    train_split: str = "train"
    dev_split: str = "validation"
    dataset_config: str | None = None
    text_field: str = "text"
    label_field: str = "label"
    summary_field: str = "summary"
    name: str | None = None
    embeddings: str = "word2vec"  # in-domain vectors: word2vec (skip-gram) | cbow | fasttext | random
    embedding_mode: str = "non-static"  # Kim (2014): rand | static | non-static | multichannel
    vectors: str | None = None  # pretrained vector file (word2vec, GloVe, fastText .vec, gensim)
    unlabeled: str | None = None  # extra plain text (one document per line) for in-domain vectors
    vector_epochs: int = 5
    embedding_dim: int = 128  # taken from the vectors when --vectors is given
    filter_widths: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    dropout: float = 0.5
    context_dim: int = 128
    lowercase: bool = True
    min_freq: int = 2
    max_vocab: int = 50_000
    max_sentence_tokens: int = 100
    epochs: int = 12
    batch_size: int = 32
    optimizer: str = "adam"  # adam | adadelta (Kim's: rho 0.95, eps 1e-6)
    lr: float | None = None  # default: 1e-3 for adam, 1.0 for adadelta
    summary_weight: float = 1.0
    max_norm: float = 3.0  # Kim's max-norm constraint on the classifier's weight rows
    patience: int = 3
    dev_fraction: float = 0.1
    seed: int = 13
    max_steps: int | None = None
    threads: int | None = None
    cache_dir: str = "~/.cache/textcnn"  # oracle targets per dataset; "" disables the cache
    quiet: bool = False


@dataclass(frozen=True)
class TrainingDocument:
    document: Document
    label: int | None
    targets: tuple[float, ...] | None  # 1.0 for oracle sentences; None without a summary


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    config = parse_args(args)
    logging.basicConfig(
        level=logging.WARNING if config.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("gensim").setLevel(logging.WARNING)
    try:
        train(config, command="python -m training.train " + shlex.join(args))
    except DataError as error:
        raise SystemExit(f"error: {error}") from None


def parse_args(argv: Sequence[str]) -> TrainConfig:
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--train", required=True, help="file, save_to_disk folder or hub dataset name")
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument("--dev", help="dev data; default: hold out --dev-fraction of train")
    for name, value in defaults.items():
        if name in {"train", "out", "dev", "filter_widths", "lowercase", "quiet"}:
            continue
        kind = (
            type(value)
            if value is not None
            else {"max_steps": int, "threads": int, "lr": float}.get(name, str)
        )
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=value)
    parser.add_argument("--filter-widths", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--cased", dest="lowercase", action="store_false", help="keep letter case")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    namespace = parser.parse_args(argv)
    config = TrainConfig(**vars(namespace))
    if config.optimizer not in OPTIMIZERS:
        parser.error(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
    try:
        embedding_mode(config)
    except ValueError as error:
        parser.error(str(error))
    return config


OPTIMIZERS = ("adam", "adadelta")


def embedding_mode(config: TrainConfig) -> str:
    """The Kim (2014) mode a run trains. `--embeddings random` without vectors is CNN-rand (the flag
    predates the modes); static and multichannel need vectors. Raises ValueError otherwise."""
    if config.embeddings not in {"random", *TRAINERS}:
        raise ValueError(f"--embeddings must be one of random, {', '.join(TRAINERS)}")
    if config.embedding_mode not in EMBEDDING_MODES:
        raise ValueError(f"--embedding-mode must be one of {', '.join(EMBEDDING_MODES)}")
    if config.embedding_mode == "rand":
        if config.vectors:
            raise ValueError("--embedding-mode rand starts from random vectors; drop --vectors")
        return "rand"
    if config.vectors is None and config.embeddings == "random":
        if config.embedding_mode != "non-static":
            raise ValueError(
                f"--embedding-mode {config.embedding_mode} needs vectors: --embeddings or --vectors"
            )
        return "rand"
    return config.embedding_mode


def train(config: TrainConfig, command: str = "") -> Path:
    """Run one training and return the model directory."""
    started = time.perf_counter()
    _seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    columns = Fields(config.text_field, config.label_field, config.summary_field)
    train_examples = load_examples(
        config.train, fields=columns, split=config.train_split, config=config.dataset_config
    )
    if config.dev:
        dev_examples = load_examples(
            config.dev, fields=columns, split=config.dev_split, config=config.dataset_config
        )
    else:
        train_examples, dev_examples = holdout(train_examples, config.dev_fraction, config.seed)
    labels = tuple(sorted({e.label for e in train_examples if e.label is not None}))
    if len(labels) == 1:
        raise DataError(
            f"{config.train}: every labelled row has the label {labels[0]!r}; "
            "classification needs at least two classes"
        )
    unseen = sorted({e.label for e in dev_examples if e.label is not None} - set(labels))
    if unseen:
        raise DataError(f"dev labels {unseen} never occur in the training data")
    summarize = any(e.summary is not None for e in train_examples)
    logger.info(
        "train %d docs, dev %d docs, %d classes, summaries: %s",
        len(train_examples),
        len(dev_examples),
        len(labels),
        summarize,
    )

    mode = embedding_mode(config)
    pretrained = load_vectors(config.vectors) if config.vectors else None
    embedding_dim = pretrained.dim if pretrained else config.embedding_dim
    token_counts = Counter(t for e in train_examples for t in tokenize(e.text, lowercase=config.lowercase))
    vocab = Vocabulary.build([token_counts.elements()], min_freq=config.min_freq, max_size=config.max_vocab)
    model_config = ModelConfig(
        vocab_size=len(vocab),
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
    )
    model = TextCNN(model_config)
    placeholder = ModelInfo(name="", labels=labels)
    cache_dir = Path(config.cache_dir).expanduser() if config.cache_dir else None
    documents = _encode(train_examples, Predictor(model, vocab, placeholder), labels, cache_dir)
    if model.scorer is not None:
        model.token_idf.copy_(_corpus_idf([d.document for d in documents], len(vocab)))
    info = ModelInfo(
        name=config.name or Path(config.out).name,
        labels=labels,
        summary_length=_learn_summary_length(documents),
    )
    vectors = pretrained
    if vectors is None and mode != "rand":
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

    predictor = Predictor(model, vocab, info)
    history = _fit(model, predictor, documents, dev_examples, config)
    info = replace(info, block_trigrams=_learn_blocking(predictor, dev_examples))
    best = max(history, key=lambda h: h["dev_score"])
    metrics = {
        "best_epoch": best["epoch"],
        "dev": {k: v for k, v in best.items() if k.startswith("dev_")},
        "history": history,
        "train_docs": len(train_examples),
        "dev_docs": len(dev_examples),
        "vocab_size": len(vocab),
        "embedding_mode": mode,
        "vectors": vectors.source if vectors is not None else None,
        "embedding_coverage": coverage.as_dict(),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    extra = {
        "metrics.json": json.dumps(metrics, indent=2) + "\n",
        "training.json": json.dumps(asdict(config), indent=2) + "\n",
        "README.md": _model_card(info, model_config, config, metrics, command),
    }
    out = artifact.save(config.out, model, vocab, info, extra)
    logger.info("saved %s (best epoch %d, %s)", out, best["epoch"], metrics["dev"])
    return out


def _encode(
    examples: Sequence[Example], predictor: Predictor, labels: Sequence[str], cache_dir: Path | None
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
            chosen = set(next(selections))
            targets = tuple(1.0 if i in chosen else 0.0 for i in range(len(document.spans)))
        label = None if example.label is None else label_index[example.label]
        encoded.append(TrainingDocument(document, label, targets))
    return encoded


def _corpus_idf(documents: Sequence[Document], vocab_size: int) -> torch.Tensor:
    """log((N + 1) / (df + 1)) per vocabulary entry over N training documents; 0 for pad and unk."""
    frequency = torch.zeros(vocab_size)
    for document in documents:
        frequency[sorted({i for ids in document.token_ids for i in ids})] += 1
    idf = torch.log((len(documents) + 1) / (frequency + 1))
    idf[[PAD_ID, UNK_ID]] = 0
    return idf


def _learn_summary_length(documents: Sequence[TrainingDocument]) -> SummaryLength:
    """Median share of oracle sentences, capped at the 90th percentile of their count."""
    picks = [(sum(d.targets), len(d.targets)) for d in documents if d.targets]
    if not picks:
        return SummaryLength()
    ratio = statistics.median(k / n for k, n in picks)
    cap = float(np.percentile([k for k, _ in picks], 90))
    return SummaryLength(ratio=round(ratio, 4), max_sentences=max(1, math.ceil(cap)))


def _fit(
    model: TextCNN,
    predictor: Predictor,
    documents: list[TrainingDocument],
    dev: Sequence[Example],
    config: TrainConfig,
) -> list[dict[str, Any]]:
    trained = [p for p in model.parameters() if p.requires_grad]  # static tables stay as they are
    optimizer: torch.optim.Optimizer
    if config.optimizer == "adadelta":
        optimizer = torch.optim.Adadelta(trained, lr=config.lr or 1.0, rho=0.95, eps=1e-6)
    else:
        optimizer = torch.optim.Adam(trained, lr=config.lr or 1e-3)
    generator = random.Random(config.seed)
    history: list[dict[str, Any]] = []
    best_score, best_state, stale, steps = -1.0, None, 0, 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = list(range(len(documents)))
        generator.shuffle(order)
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        losses = []
        bar = tqdm(batches, desc=f"epoch {epoch}", disable=config.quiet, leave=False)
        for indices in bar:
            loss = _loss(model, [documents[i] for i in indices], config.summary_weight)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 5.0)
            optimizer.step()
            if model.classifier is not None and config.max_norm:
                with torch.no_grad():
                    model.classifier.weight.copy_(
                        torch.renorm(model.classifier.weight, 2, 0, config.max_norm)
                    )
            losses.append(loss.item())
            bar.set_postfix(loss=f"{statistics.fmean(losses[-20:]):.4f}")
            steps += 1
            if config.max_steps is not None and steps >= config.max_steps:
                break
        model.eval()
        scores = _dev_scores(predictor, dev)
        record = {"epoch": epoch, "train_loss": round(statistics.fmean(losses), 5), **scores}
        history.append(record)
        logger.info("epoch %d %s", epoch, record)
        if scores["dev_score"] > best_score:
            best_score, stale = scores["dev_score"], 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if stale >= config.patience or (config.max_steps is not None and steps >= config.max_steps):
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    return history


def _loss(model: TextCNN, batch: Sequence[TrainingDocument], summary_weight: float) -> torch.Tensor:
    output = model(collate([d.document for d in batch]))
    loss = torch.zeros(())
    labelled = [i for i, d in enumerate(batch) if d.label is not None]
    if output.class_logits is not None and labelled:
        targets = torch.tensor([batch[i].label for i in labelled])
        loss = loss + F.cross_entropy(output.class_logits[labelled], targets)
    summarized = [i for i, d in enumerate(batch) if d.targets]
    if output.sentence_logits is not None and summarized:
        logits = torch.cat([output.sentence_logits[i, : len(batch[i].targets or ())] for i in summarized])
        targets = torch.tensor([t for i in summarized for t in batch[i].targets or ()])
        loss = loss + summary_weight * F.binary_cross_entropy_with_logits(logits, targets)
    return loss


def _dev_scores(predictor: Predictor, dev: Sequence[Example]) -> dict[str, float]:
    """Dev accuracy and ROUGE-1 F1 at the default length; dev_score is their mean."""
    scores: dict[str, float] = {}
    labelled = [e for e in dev if e.label is not None]
    if predictor.can_classify and labelled:
        predicted = predictor.classify([e.text for e in labelled])
        scores["dev_accuracy"] = statistics.fmean(
            p.label == e.label for p, e in zip(predicted, labelled, strict=True)
        )
    summarized = [e for e in dev if e.summary is not None]
    if predictor.can_summarize and summarized:
        summaries = predictor.summarize([e.text for e in summarized])
        scores["dev_rouge1"] = statistics.fmean(
            rouge12(s.text, e.summary or "")[0] for s, e in zip(summaries, summarized, strict=True)
        )
    scores = {k: round(v, 5) for k, v in scores.items()}
    scores["dev_score"] = round(statistics.fmean(scores.values()), 5) if scores else 0.0
    return scores


def _learn_blocking(predictor: Predictor, dev: Sequence[Example]) -> bool:
    """Keep trigram blocking unless dev summaries score better without it: it guards against
    repeats, but where summary sentences share stock phrases it rejects the right ones."""
    summarized = [e for e in dev if e.summary is not None]
    if not predictor.can_summarize or not summarized:
        return True
    texts = [e.text for e in summarized]
    scores = {}
    for block in (True, False):
        summaries = predictor.summarize(texts, block_trigrams=block)
        scores[block] = statistics.fmean(
            rouge12(s.text, e.summary or "")[0] for s, e in zip(summaries, summarized, strict=True)
        )
    logger.info("dev ROUGE-1 with trigram blocking %.4f, without %.4f", scores[True], scores[False])
    return scores[True] >= scores[False]


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
    widths = list(model_config.filter_widths)
    return f"""# {info.name}

A multi-task Kim (2014) CNN trained with textcnn for {" and ".join(tasks)}.

- Training data: `{config.train}` ({metrics["train_docs"]} documents)
- Dev data: `{dev_source}` ({metrics["dev_docs"]} documents)
- Labels: {", ".join(info.labels) or "none"}
- Default summary length: {length.ratio:.0%} of the sentences, at most {length.max_sentences};
  trigram blocking {"on" if info.block_trigrams else "off (dev ROUGE was higher without it)"}
- Architecture: {model_config.embedding_dim}-d embeddings, Kim's `{model_config.embedding_mode}` mode
  (vectors: {metrics["vectors"] or "none, uniform random init"}; they cover {coverage["vocabulary"]:.1%}
  of the vocabulary and {coverage["tokens"]:.1%} of the training tokens),
  filters {widths} x {model_config.num_filters}, vocabulary {metrics["vocab_size"]} tokens
- Best dev epoch {metrics["best_epoch"]}: {dev_scores}
- Trained in {metrics["train_seconds"]} s

Reproduce with:

    {command or "python -m training.train ..."}

Measure on a test set with `python -m training.evaluate --model DIR --data TEST_FILE`.
"""


if __name__ == "__main__":
    main()
