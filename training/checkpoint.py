"""The training state that lets `--resume` continue a run exactly where it stopped.

A checkpoint holds the weights, the optimizer, the loop's position (epoch, batch, this epoch's
shuffled order and losses so far), early-stopping state with the best weights, and every random
number generator of every rank, so a resumed run computes the same numbers as one that never
stopped. It is one `torch.save` file read back with `weights_only=True` (tensors and plain Python
values only), replaced atomically so an interrupt while writing leaves the previous one intact.
"""

import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.data import DataError
from training.distributed import World, gather

FILENAME = "checkpoint.pt"
FORMAT = 1


@dataclass
class Progress:
    """Where the training loop stands; everything in it survives a resume."""

    epoch: int = 1  # the epoch in progress (or next to start)
    batch: int = 0  # batches of that epoch already taken
    order: list[int] | None = None  # that epoch's shuffled document order, once drawn
    losses: list[float] = field(default_factory=list)  # that epoch's batch losses so far
    steps: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float = -1.0
    best_state: dict[str, torch.Tensor] | None = None
    stale: int = 0  # epochs since the best
    finished: bool = False  # early stopping or --max-steps ended the loop


def path(out: str | Path) -> Path:
    return Path(out) / FILENAME


def save(
    out: str | Path,
    *,
    world: World,
    run: dict[str, Any],
    setup: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: random.Random,
    progress: Progress,
) -> Path | None:
    """Collect every rank's random state and write the checkpoint from rank 0 (a collective call:
    every rank must make it). `run` is the settings a resume must repeat, `setup` what the run
    derived before training (for the model card). Returns the path on rank 0, None elsewhere."""
    generators = gather(_capture_rng(), world)
    losses = gather(progress.losses, world)  # each rank's own batch losses of the epoch in progress
    if not world.is_main:
        return None
    target = path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "world_size": world.size,
        "run": run,
        "setup": setup,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "shuffle": shuffle.getstate(),
        "rng": generators,
        "losses": losses,
        "progress": asdict(progress),
    }
    partial = target.with_suffix(".tmp")
    torch.save(state, partial)
    os.replace(partial, target)
    return target


def load(out: str | Path, *, world: World, run: dict[str, Any]) -> dict[str, Any]:
    """Read the checkpoint in `out` for a resume. Raises DataError when there is none or it belongs
    to a different run (other data, architecture or number of processes)."""
    target = path(out)
    if not target.is_file():
        raise DataError(f"--resume: no checkpoint at {target}; start the run without --resume")
    try:
        state: dict[str, Any] = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged or foreign files
        raise DataError(f"--resume: {target} cannot be read ({error}); start the run again") from error
    if state.get("format") != FORMAT:
        raise DataError(f"--resume: {target} was written by another version of the trainer")
    changed = sorted(k for k in run.keys() | state["run"].keys() if run.get(k) != state["run"].get(k))
    if changed:
        raise DataError(
            f"--resume: {target} was written by a run with other settings ({', '.join(changed)}); "
            "resume with the same settings, or start afresh without --resume"
        )
    if state["world_size"] != world.size:
        raise DataError(
            f"--resume: {target} was written by {state['world_size']} processes, this run has "
            f"{world.size}; resume with --nproc_per_node={state['world_size']}"
        )
    return state


def restore(
    state: dict[str, Any],
    *,
    world: World,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle: random.Random,
) -> Progress:
    """Put the weights, optimizer and random generators back; returns the loop's position."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    shuffle.setstate(_as_tuple(state["shuffle"]))
    _restore_rng(state["rng"][world.rank])
    return Progress(**(state["progress"] | {"losses": state["losses"][world.rank]}))


def remove(out: str | Path) -> None:
    path(out).unlink(missing_ok=True)


def _capture_rng() -> dict[str, Any]:
    kind, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)
    assert isinstance(keys, np.ndarray)  # legacy=True gives the tuple form
    return {
        "python": random.getstate(),
        # numpy's state as plain values: weights_only loading refuses numpy arrays
        "numpy": [kind, keys.tolist(), position, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _restore_rng(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    kind, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """random.setstate wants the nested tuples getstate gave, which serialization may turn into lists."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value
