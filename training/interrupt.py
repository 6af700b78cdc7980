"""Ctrl-C as a request: the training loop finishes its step, saves a checkpoint and stops.

A KeyboardInterrupt raised in the middle of an optimizer step would leave weights and optimizer
state out of step with each other; the handler only sets a flag that the loop reads between steps.
A second Ctrl-C interrupts at once, for a loop that is stuck.
"""

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Interrupted(Exception):
    """Training stopped on request; a checkpoint was saved at `checkpoint`."""

    def __init__(self, checkpoint: str, where: str) -> None:
        super().__init__(f"interrupted {where}")
        self.checkpoint = checkpoint
        self.where = where


class StopRequest:
    """Set by SIGINT while `catch_interrupts` is active."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def catch_interrupts() -> Iterator[StopRequest]:
    """Turn the first SIGINT into `requested = True`; the old handler is back on exit. Outside the
    main thread signals cannot be handled, and the flag simply never gets set."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(_signum: int, _frame: FrameType | None) -> None:
        request.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
