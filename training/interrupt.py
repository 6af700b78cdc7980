"""Ctrl-C as a request: the training loop finishes its step, saves a checkpoint and stops.

A KeyboardInterrupt raised in the middle of an optimizer step would leave weights and optimizer
state out of step with each other; the handler only sets a flag that the loop reads between steps.
A second Ctrl-C interrupts at once, for a loop that is stuck, unless it comes within a grace period:
under torchrun one Ctrl-C reaches a worker twice (from the terminal and forwarded by torchrun).
"""

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType


class Interrupted(Exception):
    """Training stopped on request; a checkpoint was saved at `checkpoint`."""

    def __init__(self, checkpoint: str, where: str) -> None:
        super().__init__(f"interrupted {where}")
        self.checkpoint = checkpoint
        self.where = where


GRACE_SECONDS = 2.0  # a repeat SIGINT sooner than this is the same Ctrl-C


class StopRequest:
    """Set by SIGINT while `catch_interrupts` is active."""

    def __init__(self) -> None:
        self.requested = False
        self.at = 0.0  # monotonic time of the first SIGINT


@contextlib.contextmanager
def catch_interrupts() -> Iterator[StopRequest]:
    """Turn the first SIGINT into `requested = True`; the old handler is back on exit. Outside the
    main thread signals cannot be handled, and the flag simply never gets set."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(_signum: int, _frame: FrameType | None) -> None:
        if not request.requested:
            request.requested, request.at = True, time.monotonic()
        elif time.monotonic() - request.at > GRACE_SECONDS:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
