"""One training run as named steps: read the data, build the vocabulary and the network, encode the
documents, start the weights (from vectors or a checkpoint), train, learn the choices that dev
decides, and write the model directory. The command line is training/cli.py."""

import json
import logging
import os
import random
import shutil
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textcnn import artifact
from textcnn.config import ModelConfig, ModelInfo
from textcnn.model import TextCNN
from textcnn.predict import Predictor
from textcnn.tokenize import tokenize
from textcnn.vocab import Vocabulary
from training import checkpoint, config_file, distributed, model_card, multilabel, plots, report
from training.data import Fields, load_examples
from training.dev_choices import (
    dev_confusion,
    dev_rouge1,
    fit_bag_stage,
    learn_blocking,
    learn_selection,
    learn_thresholds,
)
from training.device import Placement, place
from training.distill import distill_vectors, sentence_transformer_folder
from training.distributed import World
from training.embeddings import WordVectors, embedding_matrix, load_vectors, read_unlabeled, train_vectors
from training.encoding import TrainingDocument, corpus_idf, encode_documents, learn_summary_length
from training.evaluate import as_fractions, evaluate
from training.run_config import (
    CONFIG_VERSION,
    PATH_SETTINGS,
    RESUMABLE,
    TrainConfig,
    document_pooling,
    embedding_mode,
    model_config,
    vector_source,
)
from training.run_data import RunData, read_run_data
from training.scorer_refit import refit_scorer
from training.trainer import ELAPSED, Trainer, class_weights
from training.workspace import move_into_place, work_folder

logger = logging.getLogger(__name__)


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


def _train(config: TrainConfig, command: str, world: World, placement: Placement) -> Path:
    started = time.perf_counter()
    _seed_everything(config.seed + world.rank)  # rank 0 draws what a one-process run draws
    if config.threads:
        torch.set_num_threads(config.threads)
    data = read_run_data(config)
    _log_data(data, world, placement)
    cache_dir = Path(config.cache_dir).expanduser() if config.cache_dir else None
    token_counts = Counter(t for e in data.train for t in tokenize(e.text, lowercase=config.lowercase))
    vocab = Vocabulary.build([token_counts.elements()], min_freq=config.min_freq, max_size=config.max_vocab)
    pretrained, architecture = _architecture(config, data, vocab, cache_dir)
    model = TextCNN(architecture)
    # Multi-label models choose labels at 0.5 until their thresholds are learned on dev.
    thresholds = (multilabel.DEFAULT_THRESHOLD,) * len(data.labels) if architecture.multi_label else ()
    documents = _encode(model, vocab, data, thresholds, config, cache_dir, world)
    info = ModelInfo(
        name=config.name or Path(config.out).name,
        labels=data.labels,
        summary_length=learn_summary_length(documents),
        thresholds=thresholds,
    )
    run = {k: v for k, v in asdict(config).items() if k not in RESUMABLE}
    resumed = _resume_point(config, world, run)
    if resumed is not None:
        setup = resumed["setup"]  # the weights come from the checkpoint; skip training vectors
    else:
        setup = _start_weights(model, vocab, documents, pretrained, token_counts, config, world)
    model.to(placement.device)
    if model.words is not None:
        model.words.weight.requires_grad_(False)  # fit after the CNN, in its own stage
    predictor = Predictor(model, vocab, info)
    loss_weights = _loss_weights(config, data, len(documents))
    trainer = Trainer(config, world, placement, {"run": run, "setup": setup}, loss_weights, clock=started)
    history = trainer.run(model, predictor, documents, data.dev, resumed)
    digests = distributed.gather(distributed.state_digest(model), world)
    stages: dict[str, Any] = {}
    if world.is_main:
        info, stages = _learn_on_dev(predictor, documents, data, config, placement)
    model.cpu()
    if world.is_main:
        info = replace(info, selection=learn_selection(Predictor(model, vocab, info), data.dev))
        metrics = _metrics(history, stages, data, len(vocab), architecture, loss_weights, setup)
        metrics.update(
            processes=world.size,
            device=placement.device.type,
            precision="bf16" if placement.bf16 else "fp32",
            replica_sha256=digests,
            train_seconds=round(trainer.seconds(), 1),
        )
        metrics["served_dev"] = _served_dev(metrics)
        if "dev_confusion" in stages:
            metrics["dev_confusion"] = stages["dev_confusion"]
        if config.test:
            metrics["test"] = _test_figures(Predictor(model, vocab, info), config, data.columns)
        _save(model, vocab, info, architecture, config, metrics, command)
    distributed.barrier(world)  # no rank leaves before the model directory is complete
    return Path(config.out)


def _log_data(data: RunData, world: World, placement: Placement) -> None:
    logger.info(
        "train %d docs, dev %d docs, %d %s, summaries: %s, %d process(es) on %s%s",
        len(data.train),
        len(data.dev),
        len(data.labels),
        "labels, multi-label (a sigmoid per label)" if data.multi_label else "classes",
        data.summarize,
        world.size,
        placement.device,
        " (bf16 autocast)" if placement.bf16 else "",
    )
    if not data.labels:
        return
    logger.info("documents per label: train %s, dev %s", data.counts["train"], data.counts["dev"])
    ratio = report.imbalance(data.counts["train"])
    if ratio is not None and ratio >= report.IMBALANCE_RATIO:
        logger.warning(
            "imbalanced classes: the largest has %.1fx the documents of the smallest; "
            "accuracy flatters the majority class, so compare macro-F1 (training.evaluate)",
            ratio,
        )


def _architecture(
    config: TrainConfig, data: RunData, vocab: Vocabulary, cache_dir: Path | None
) -> tuple[WordVectors | None, ModelConfig]:
    """The pretrained vectors (None for in-domain or no vectors) and the network they decide."""
    mode = embedding_mode(config)
    source = vector_source(config, mode)
    pretrained = _pretrained_vectors(source, config.embedding_dim, vocab, cache_dir) if source else None
    architecture = model_config(
        config,
        vocab_size=len(vocab),
        labels=data.labels,
        summarize=data.summarize,
        embedding_dim=pretrained.dim if pretrained else config.embedding_dim,
        mode=mode,
        pooling=document_pooling(config.document_pooling, data.train),
        multi_label=data.multi_label,
    )
    return pretrained, architecture


def _pretrained_vectors(source: str, dim: int, vocab: Vocabulary, cache_dir: Path | None) -> WordVectors:
    """A sentence-transformer (folder or installed package) distilled for this vocabulary, or a
    vector file."""
    folder = sentence_transformer_folder(source)
    if folder is None:
        return load_vectors(source)
    return distill_vectors(folder, vocab.tokens[2:], dim=dim, cache_dir=cache_dir, name=source)


def _encode(
    model: TextCNN,
    vocab: Vocabulary,
    data: RunData,
    thresholds: tuple[float, ...],
    config: TrainConfig,
    cache_dir: Path | None,
    world: World,
) -> list[TrainingDocument]:
    """The training documents, and the corpus IDF of the terms the bag of words and the sentence
    scorer weigh, written into the model."""
    placeholder = ModelInfo(name="", labels=data.labels, thresholds=thresholds)
    if not world.is_main:
        distributed.barrier(world)  # rank 0 fills the oracle cache first; the others read it
    documents = encode_documents(data.train, Predictor(model, vocab, placeholder), data.labels, cache_dir)
    if world.is_main:
        distributed.barrier(world)
    if model.scorer is not None or model.words is not None:
        buckets = model.config.word_pair_buckets
        idf = corpus_idf([d.document for d in documents], len(vocab), buckets)
        model.token_idf.copy_(idf[: len(vocab)])
        if buckets:
            model.pair_idf.copy_(idf[len(vocab) :])
    return documents


def _resume_point(config: TrainConfig, world: World, run: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint --resume continues from, or None for a fresh run. An interrupted run's
    checkpoint is in the work folder; a finished one's kept checkpoint in --out."""
    if not config.resume:
        return None
    work = work_folder(config.out)
    return checkpoint.load(
        work if checkpoint.path(work).is_file() else Path(config.out), world=world, run=run
    )


def _start_weights(
    model: TextCNN,
    vocab: Vocabulary,
    documents: list[TrainingDocument],
    pretrained: WordVectors | None,
    token_counts: Counter[str],
    config: TrainConfig,
    world: World,
) -> dict[str, Any]:
    """Fill the embedding tables from the pretrained vectors or from in-domain vectors trained here
    (none for CNN-rand); returns the setup record a checkpoint and metrics.json carry."""
    dim = model.config.embedding_dim
    vectors = pretrained
    if vectors is None and model.config.embedding_mode != "rand" and world.is_main:  # DDP copies rank 0's
        sentences = [
            tokenize(d.document.sentence(i), lowercase=config.lowercase)
            for d in documents
            for i in range(len(d.document.spans))
        ]
        if config.unlabeled:
            sentences.extend(read_unlabeled(config.unlabeled, lowercase=config.lowercase))
        vectors = train_vectors(
            sentences, method=config.embeddings, dim=dim, seed=config.seed, epochs=config.vector_epochs
        )
    weights, coverage = embedding_matrix(vocab, dim, config.seed, vectors, token_counts)
    with torch.no_grad():
        model.encoder.embedding.weight.copy_(weights)
        if model.encoder.static_embedding is not None:
            model.encoder.static_embedding.weight.copy_(weights)
    return {
        "vectors": vectors.source if vectors is not None else None,
        "embedding_coverage": coverage.as_dict(),
    }


def _loss_weights(config: TrainConfig, data: RunData, docs: int) -> list[float] | None:
    if not data.labels:
        return None
    weights = class_weights(
        config.class_weight, data.labels, data.counts["train"], multi_label=data.multi_label, docs=docs
    )
    if weights is not None:
        logger.info("class weights: %s", dict(zip(data.labels, [round(w, 3) for w in weights], strict=True)))
    return weights


def _learn_on_dev(
    predictor: Predictor,
    documents: list[TrainingDocument],
    data: RunData,
    config: TrainConfig,
    placement: Placement,
) -> tuple[ModelInfo, dict[str, Any]]:
    """The stages after joint training, each judged on dev (training/dev_choices.py): the bag of
    words, a multi-label model's thresholds, trigram blocking and the scorer's refit. Returns the
    model info they decide and their records for metrics.json."""
    model, info, dev = predictor.model, predictor.info, data.dev
    stages: dict[str, Any] = {}
    # Taken before the bag-of-words stage, which refits on dev: after it, dev is seen data.
    with placement.compute():
        confusion = dev_confusion(predictor, dev)
    if confusion is not None:
        stages["dev_confusion"] = confusion
    # The classifier is final before anything is learned from the summaries: the scorer reads its
    # class probabilities.
    bag_fit = None
    if model.words is not None:
        bag_fit = fit_bag_stage(model, predictor, documents, dev, data.labels, placement)
        if bag_fit is not None:
            stages["bag_stage"] = bag_fit.record
    if model.config.multi_label:
        with placement.compute():
            learned, record = learn_thresholds(predictor, dev, bag_fit)
        info = replace(info, thresholds=tuple(learned))
        if record is not None:
            stages["thresholds"] = record
    # Blocking first: the scorer stage must be judged by the summaries the model will give.
    with placement.compute():
        info = replace(info, block_trigrams=learn_blocking(predictor, dev))
    predictor = Predictor(model, predictor.vocab, info)
    if config.scorer_epochs and model.scorer is not None and any(e.summary is not None for e in dev):
        stages["scorer_stage"] = refit_scorer(
            model,
            documents,
            dev_rouge1=lambda: dev_rouge1(predictor, dev),
            placement=placement,
            epochs=config.scorer_epochs,
            patience=config.patience,
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed,
        )
    return info, stages


def _metrics(
    history: list[dict[str, Any]],
    stages: dict[str, Any],
    data: RunData,
    vocab_size: int,
    architecture: ModelConfig,
    loss_weights: list[float] | None,
    setup: dict[str, Any],
) -> dict[str, Any]:
    """metrics.json's record of the run, up to where it ran and how long it took."""
    best = max(history, key=lambda h: h["dev_score"])
    metrics: dict[str, Any] = {
        "best_epoch": best["epoch"],
        "dev": {k: v for k, v in best.items() if k.startswith("dev_")},
        "history": history,
        **{k: stages[k] for k in ("bag_stage", "scorer_stage", "thresholds") if k in stages},
        "train_docs": len(data.train),
        "dev_docs": len(data.dev),
        "label_counts": data.counts,
        "vocab_size": vocab_size,
        "embedding_mode": architecture.embedding_mode,
        **({"class_weights": dict(zip(data.labels, loss_weights, strict=True))} if loss_weights else {}),
        **{k: v for k, v in setup.items() if k != ELAPSED},
    }
    return metrics


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


def _save(
    model: TextCNN,
    vocab: Vocabulary,
    info: ModelInfo,
    architecture: ModelConfig,
    config: TrainConfig,
    metrics: dict[str, Any],
    command: str,
) -> None:
    """Write the model directory in the work folder, then move it into place at --out."""
    out, work = Path(config.out), work_folder(config.out)
    figures = plots.write_figures(metrics["history"], metrics, work)
    # What repeats the run: never its resume, and never an overwrite nobody asked the repeat for.
    settings = asdict(replace(config, resume=False, overwrite=False))
    extra = {
        "metrics.json": json.dumps(metrics, indent=2) + "\n",
        config_file.FILENAME: config_file.dumps(
            settings, version=CONFIG_VERSION, folder=out, paths=(*PATH_SETTINGS, "out")
        ),
        report.METRICS_LOG: (work / report.METRICS_LOG).read_text(encoding="utf-8"),
        "README.md": model_card.render(info, architecture, config, metrics, command, figures),
    }
    if config.examples is not None:
        examples = artifact.examples_file(Path(config.examples))
        extra[artifact.EXAMPLES] = json.dumps(examples, indent=1, ensure_ascii=False) + "\n"
    artifact.save(work, model, vocab, info, extra)
    if not config.keep_checkpoint:
        checkpoint.remove(work)
    move_into_place(work, out)
    logger.info("saved %s (best epoch %d, %s)", out, metrics["best_epoch"], metrics["dev"])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


if __name__ == "__main__":  # `python -m training.train` runs the command line
    from training import cli

    cli.main()
