"""A bounded gate in front of the model: a few requests run, a bounded queue waits, the rest get 503.

Model work runs on the gate's own threads (as many as `concurrency`); the executor's queue is the
waiting line. A request is admitted only while fewer than `concurrency + queue_size` are admitted,
so memory and latency stay bounded under any load. Each request has one deadline: if it is still
waiting when the deadline passes it leaves the queue (503); if the model is still working on it, it
is answered 504 and cancelled: its work stops at the next chunk boundary (service/batching.py checks
`cancellation()`), and its slot stays taken until then, so the gate never overcommits. A request the
server gives up on (uvicorn cancels it when the shutdown timeout ends) is cancelled the same way and
answered 503, never 500.
"""

import asyncio
import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from textcnn import TextCNNError

T = TypeVar("T")

_NEVER = threading.Event()
_CANCELLED: contextvars.ContextVar[threading.Event] = contextvars.ContextVar("cancelled", default=_NEVER)


def cancellation() -> threading.Event:
    """Set once the current request is cancelled; work between its chunks checks it."""
    return _CANCELLED.get()


def one_document_at_a_time(work: Callable[[Sequence[str]], Sequence[T]], texts: Sequence[str]) -> list[T]:
    """`work` over each text on its own, stopping with Cancelled once the current request is
    cancelled: for model work that does not go through the micro-batcher's chunks (explanations)."""
    cancelled = cancellation()
    results: list[T] = []
    for text in texts:
        if cancelled.is_set():
            raise Cancelled("the request was cancelled before all its documents were explained")
        results.extend(work([text]))
    return results


class Overloaded(TextCNNError):
    """No room in the queue, or the wait in it ran past the request timeout: retry later (503)."""


class TimedOut(TextCNNError):
    """The model did not finish the request within the request timeout (504)."""


class Cancelled(TextCNNError):
    """The request's work was stopped: nobody waits for its answer any more."""


class ModelGate:
    """Admits at most `concurrency + queue_size` requests; runs `concurrency` of them at once."""

    def __init__(self, concurrency: int, queue_size: int, timeout_s: float) -> None:
        self.concurrency = concurrency
        self.capacity = concurrency + queue_size
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="model")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Requests running or waiting."""
        return self._admitted

    @property
    def running(self) -> int:
        """Requests on a model thread: preparing, waiting for a forward pass, or answering."""
        return min(self._admitted, self.concurrency)

    @property
    def waiting(self) -> int:
        """Requests in the queue, not yet running: the queue depth."""
        return max(0, self._admitted - self.concurrency)

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` on a model thread within the deadline; raises Overloaded or TimedOut."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise Overloaded(
                    f"server busy: {self.capacity} requests already running or queued "
                    f"(concurrency {self.concurrency}, queue {self.capacity - self.concurrency}); retry later"
                )
            self._admitted += 1
        cancelled = threading.Event()
        # The request's context (its request id for the logs, its cancellation) goes with it onto the
        # model thread.
        context = contextvars.copy_context()
        context.run(_CANCELLED.set, cancelled)
        future = self._executor.submit(context.run, work)
        future.add_done_callback(self._release)
        waiting = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait({waiting}, timeout=self.timeout_s)  # leaves the work running
        except asyncio.CancelledError:
            # The server gave up on the request (shutdown past its timeout): stop its work, answer 503.
            cancelled.set()
            future.cancel()
            waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise Overloaded("the server is shutting down; retry on another instance") from None
        if done:
            return waiting.result()
        cancelled.set()
        # Nobody will read this answer; fetching it when it comes keeps asyncio from warning.
        waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
        if future.cancel():
            raise Overloaded(
                f"server busy: the request waited {self.timeout_s:g} s in the queue without "
                "reaching the model; retry later"
            )
        raise TimedOut(
            f"the model did not finish within the request timeout of {self.timeout_s:g} s; "
            "send fewer or shorter documents"
        )

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1

    def close(self) -> None:
        """Finish the admitted work (drain) and stop the threads. At shutdown uvicorn has cancelled
        the requests still running past its timeout first, so their work stops at its next chunk."""
        self._executor.shutdown(wait=True)
