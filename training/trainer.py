"""The joint training loop (Trainer) with its optimizer, loss and class weights."""

import logging
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from textcnn.features import collate
from textcnn.model import ModelOutput, TextCNN
from textcnn.predict import Predictor
from training import checkpoint, distributed, multilabel, report
from training.batching import epoch_order, padded_length
from training.data import DataError, Example
from training.dev_choices import dev_probabilities, rouge1_sum
from training.device import Placement
from training.distributed import World
from training.encoding import TrainingDocument
from training.interrupt import Interrupted, StopRequest, catch_interrupts
from training.run_config import TrainConfig, parse_class_weight
from training.scorer_refit import sentence_loss
from training.workspace import work_folder

logger = logging.getLogger(__name__)


ELAPSED = "elapsed_seconds"  # in a checkpoint's setup: the run's seconds up to that checkpoint


@dataclass
class _Loop:
    """What one run of the loop works on."""

    model: TextCNN
    network: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    shuffle: random.Random
    progress: checkpoint.Progress
    documents: list[TrainingDocument]
    trained: list[torch.nn.Parameter] = field(init=False)  # static tables stay as they are
    lengths: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.trained = [p for p in self.model.parameters() if p.requires_grad]
        self.lengths = [padded_length(d.document.token_ids) for d in self.documents]


class Trainer:
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
        """Train `model` in place on `documents`, judged each epoch on `dev`, from the checkpoint
        `resumed` where given; returns the per-epoch records. Raises Interrupted on Ctrl-C, after
        saving a checkpoint."""
        config, world = self.config, self.world
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
        loop = _Loop(model, network, optimizer, shuffle, progress, documents)
        with catch_interrupts() as stop:
            while not progress.finished and progress.epoch <= config.epochs:
                epoch = progress.epoch
                self._train_epoch(loop, stop)
                self._end_epoch(loop, predictor, dev)
                if distributed.any_rank(stop.requested, world):
                    raise Interrupted(str(checkpoint.path(self.work)), f"after epoch {epoch}")
        assert progress.best_state is not None
        model.load_state_dict(progress.best_state)
        model.eval()
        return progress.history

    def _train_epoch(self, loop: _Loop, stop: StopRequest) -> None:
        """The batches of the epoch in progress from where it stands; on Ctrl-C, a checkpoint and
        Interrupted."""
        config, progress = self.config, loop.progress
        if progress.order is None:
            progress.order = epoch_order(
                loop.lengths, config.batch_size, loop.shuffle, group_by_length=config.group_by_length
            )
        order, size = progress.order, config.batch_size
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        loop.model.train()
        last = {"dev": progress.history[-1]["dev_score"]} if progress.history else {}
        bar = tqdm(
            total=len(batches),
            initial=progress.batch,
            desc=f"epoch {progress.epoch}/{config.epochs}",
            disable=config.quiet or not self.world.is_main,
            leave=False,
        )
        for number in range(progress.batch, len(batches)):
            shard = distributed.shard(batches[number], self.world)
            progress.losses.append(self._step(loop, [loop.documents[i] for i in shard]))
            progress.batch, progress.steps = number + 1, progress.steps + 1
            bar.update()
            bar.set_postfix(loss=f"{statistics.fmean(progress.losses[-20:]):.4f}", **last)
            if distributed.any_rank(stop.requested, self.world):
                bar.close()
                self._save(loop)
                where = f"in epoch {progress.epoch} after batch {number + 1} of {len(batches)}"
                raise Interrupted(str(checkpoint.path(self.work)), where)
            if config.max_steps is not None and progress.steps >= config.max_steps:
                progress.finished = True
                break
        bar.close()

    def _end_epoch(self, loop: _Loop, predictor: Predictor, dev: Sequence[Example]) -> None:
        """Score dev, keep the best weights, decide on early stopping and save a checkpoint."""
        progress, epoch = loop.progress, loop.progress.epoch
        loss_sum, loss_count = distributed.sum_all([sum(progress.losses), len(progress.losses)], self.world)
        loop.model.eval()
        scores = self._dev_scores(predictor, dev)
        record = {"epoch": epoch, "train_loss": round(loss_sum / max(1, loss_count), 5), **scores}
        progress.history.append(record)
        logger.info("epoch %d %s", epoch, record)
        if self.world.is_main:
            report.append_log(self.work, record)
        if scores["dev_score"] > progress.best_score:
            progress.best_score, progress.stale = scores["dev_score"], 0
            progress.best_state = {k: v.detach().clone() for k, v in loop.model.state_dict().items()}
        else:
            progress.stale += 1
        progress.finished = progress.finished or progress.stale >= self.config.patience
        progress.epoch, progress.batch, progress.order, progress.losses = epoch + 1, 0, None, []
        self._save(loop)

    def _save(self, loop: _Loop) -> None:
        """A checkpoint of the loop as it stands; a collective call that every rank makes."""
        self.identity["setup"][ELAPSED] = round(self.seconds(), 3)
        checkpoint.save(
            self.work,
            world=self.world,
            model=loop.model,
            optimizer=loop.optimizer,
            shuffle=loop.shuffle,
            progress=loop.progress,
            **self.identity,
        )

    def _step(self, loop: _Loop, batch: Sequence[TrainingDocument]) -> float:
        """One optimizer step on this rank's documents; DDP averages the gradients over ranks."""
        inputs = self.placement.to(collate([d.document for d in batch]))
        with self.placement.compute():
            loss = training_loss(loop.network(inputs), batch, self.config.summary_weight, self.class_weights)
        loop.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(loop.trained, 5.0)
        loop.optimizer.step()
        classifier = loop.model.classifier
        if classifier is not None and self.config.max_norm:
            with torch.no_grad():
                classifier.weight.copy_(torch.renorm(classifier.weight, 2, 0, self.config.max_norm))
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
                counts = multilabel.grid_counts(*dev_probabilities(predictor, labelled))
            elif predictor.can_classify and labelled:
                predicted = predictor.classify([e.text for e in labelled])
                correct = sum(p.label == e.label for p, e in zip(predicted, labelled, strict=True))
            if predictor.can_summarize and summarized:
                summaries = predictor.summarize([e.text for e in summarized])
                rouge = rouge1_sum(summaries, summarized)
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
    """Adam over the trained parameters; frozen ones (static tables, the bag of words until its own
    stage) stay as they are."""
    trained = [p for p in model.parameters() if p.requires_grad]
    # The fused kernel updates each parameter in one pass instead of a pass per operation, which
    # matters most for the embedding table's dense gradient.
    return torch.optim.Adam(trained, lr=config.lr, fused=config.fused_adam)


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


def training_loss(
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
