"""The sentence scorer's own stage: after joint training, the scorer trains on alone over the frozen
encoder, early-stopped on dev ROUGE-1, and is kept only where it beats the joint scorer.

Joint training stops at the epoch best for classification and summaries together, which is
rarely the scorer's own best: on BBC News the scorer was still learning when accuracy had peaked.
With the encoder frozen, the classifier (and so every label) stays exactly as chosen, and an
epoch costs one forward pass of the encoder without its backward pass.
"""

import logging
import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch.nn import functional as F

from textcnn.features import Document, collate
from textcnn.model import TextCNN
from training.device import Placement

logger = logging.getLogger(__name__)


class ScoredDocument(Protocol):
    """A training document as the scorer needs it (training.encoding.TrainingDocument)."""

    @property
    def document(self) -> Document: ...

    @property
    def targets(self) -> tuple[float, ...] | None: ...


def sentence_loss(logits: torch.Tensor, batch: Sequence[ScoredDocument]) -> torch.Tensor | None:
    """Binary cross-entropy of the sentence logits (docs, max_sentences) against each summarized
    document's oracle targets; None when no document of the batch has a summary."""
    summarized = [i for i, d in enumerate(batch) if d.targets]
    if not summarized:
        return None
    chosen = torch.cat([logits[i, : len(batch[i].targets or ())] for i in summarized])
    targets = torch.tensor([t for i in summarized for t in batch[i].targets or ()], device=chosen.device)
    return F.binary_cross_entropy_with_logits(chosen, targets)


def refit_scorer(
    model: TextCNN,
    documents: Sequence[ScoredDocument],
    *,
    dev_rouge1: Callable[[], float],
    placement: Placement,
    epochs: int,
    patience: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> dict[str, Any]:
    """Train `model.scorer` alone for up to `epochs` epochs, leaving the model with the scorer
    weights of the best dev epoch, or the joint ones when no epoch beats them; `dev_rouge1` scores
    the model as it stands on dev, the higher the better. Returns what
    happened, for metrics.json: dev ROUGE-1 before and after, the epoch kept (0: the joint
    scorer) and each epoch's record."""
    assert model.scorer is not None
    trained = [d for d in documents if d.targets]
    model.eval()
    with placement.compute():
        joint = dev_rouge1()
    best_score, best_epoch, stale = joint, 0, 0
    best_state = {k: v.detach().clone() for k, v in model.scorer.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]  # static tables stay frozen
    for parameter in trainable:
        parameter.requires_grad_(False)
    for parameter in model.scorer.parameters():
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(model.scorer.parameters(), lr=lr)
    shuffle = random.Random(seed)
    history: list[dict[str, Any]] = []
    try:
        for epoch in range(1, epochs + 1):
            order = list(range(len(trained)))
            shuffle.shuffle(order)
            model.train()
            losses = []
            for start in range(0, len(order), batch_size):
                batch = [trained[i] for i in order[start : start + batch_size]]
                with placement.compute():
                    output = model(placement.to(collate([d.document for d in batch])))
                    assert output.sentence_logits is not None
                    loss = sentence_loss(output.sentence_logits, batch)
                assert loss is not None  # every document here has targets
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            model.eval()
            with placement.compute():
                score = dev_rouge1()
            record = {
                "epoch": epoch,
                "train_loss": round(statistics.fmean(losses), 5),
                "dev_rouge1": round(score, 5),
            }
            history.append(record)
            logger.info("scorer epoch %d %s", epoch, record)
            if score > best_score:
                best_score, best_epoch, stale = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.scorer.state_dict().items()}
            else:
                stale += 1
                if stale >= patience:
                    break
    finally:
        model.scorer.load_state_dict(best_state)
        for parameter in trainable:
            parameter.requires_grad_(True)
        model.eval()
    logger.info(
        "scorer stage: dev ROUGE-1 %.4f after joint training, %.4f kept (epoch %d)",
        joint,
        best_score,
        best_epoch,
    )
    return {
        "dev_rouge1_joint": round(joint, 5),
        "dev_rouge1": round(best_score, 5),
        "kept_epoch": best_epoch,
        "history": history,
    }
