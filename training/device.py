"""Where and in what precision training runs: device choice, bf16 autocast, pinned transfers.

The model builds a few tensors inside forward without a device (they land on the default device),
so computation runs inside `torch.device(...)` as the default; batches are collated on the CPU and
copied over from pinned memory, which lets the copy overlap with work already queued on the GPU.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from textcnn.errors import InputError
from textcnn.features import Batch, SentenceBucket

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Placement:
    device: torch.device
    bf16: bool  # autocast matmuls and convolutions to bfloat16

    @contextlib.contextmanager
    def compute(self) -> Iterator[None]:
        """Default device (and autocast when bf16) for a forward pass."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.device)
            if self.bf16:
                stack.enter_context(torch.autocast(self.device.type, dtype=torch.bfloat16))
            yield

    def to(self, batch: Batch) -> Batch:
        """The batch on this device; through pinned memory when that device is a GPU."""
        if self.device.type == "cpu":
            return batch
        return Batch(
            tuple(
                SentenceBucket(
                    _move(b.token_ids, self.device),
                    _move(b.lengths, self.device),
                    _move(b.grid_index, self.device),
                )
                for b in batch.buckets
            ),
            _move(batch.sentence_mask, self.device),
        )


def place(device: str, precision: str, local_rank: int = 0) -> Placement:
    """Resolve --device and --precision (auto: cuda when available; bf16 on cuda, fp32 on cpu).
    Raises InputError for a GPU that is not there."""
    if device not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise InputError(f"--precision must be one of {', '.join(PRECISIONS)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA GPU is visible to this torch build")
        torch.cuda.set_device(local_rank)
        resolved = torch.device("cuda", local_rank)
    else:
        resolved = torch.device("cpu")
    bf16 = precision == "bf16" or (precision == "auto" and resolved.type == "cuda")
    return Placement(resolved, bf16)


def _move(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    return tensor.pin_memory().to(device, non_blocking=True)
