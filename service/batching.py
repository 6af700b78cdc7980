"""Dynamic micro-batching: the documents of concurrent requests share one forward pass.

Request threads (the gate's, service/backpressure.py) split and tokenize their own documents, then
hand them to `MicroBatcher.scores` and block. One forward thread takes every request waiting,
up to `max_documents` documents, runs one pass over all of them (sentences bucketed by length in
`collate`) and hands each request its own rows. While a pass runs the next requests queue, so a
busy server batches without waiting; an idle one answers at once. `max_wait_s` is a short extra
wait for requests that are running but have not reached the model yet (`expected` says how many).

If a pass fails, each request of the batch is run alone, so one bad document fails only its own
request.

Work stays bounded and stoppable: a pass holds at most `max_tokens` tokens (one document over it goes
alone), a request larger than a pass is split into chunks that queue one after another, and a request
whose deadline has passed (service/backpressure.py cancels it) is dropped before its next chunk, so the
queue behind it moves on. `lanes` routes each request by its tokens to a batcher of its own, so a long
document never shares, or waits for, the pass of short ones.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from service.backpressure import Cancelled, cancellation
from textcnn import Document, Scorer, Scores

logger = logging.getLogger(__name__)


@dataclass
class _Request:
    documents: Sequence[Document]
    sentences: bool  # whether the request needs sentence probabilities
    cancelled: threading.Event
    cost: int  # tokens of its documents
    answer: Future[list[Scores]] = field(default_factory=Future)


def tokens(documents: Sequence[Document]) -> int:
    """The tokens a forward pass convolves for these documents: its cost."""
    return sum(d.num_tokens for d in documents)


class MicroBatcher:
    """Coalesces `scores` calls from many threads into forward passes on one thread.

    `score` runs a forward pass over a list of documents; `observe(requests, documents)` is told the
    size of each pass; `expected()` is how many requests are on their way to the model.
    """

    def __init__(
        self,
        score: Scorer,
        *,
        max_documents: int,
        max_wait_s: float,
        max_tokens: int | None = None,
        expected: Callable[[], int] = lambda: 0,
        observe: Callable[[int, int], None] = lambda requests, documents: None,
    ) -> None:
        self.max_documents = max_documents
        self.max_wait_s = max_wait_s
        self.max_tokens = max_tokens
        self._score = score
        self._expected = expected
        self._observe = observe
        self._waiting: deque[_Request] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="forward", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Requests waiting for a forward pass."""
        return len(self._waiting)

    def scores(self, documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]:
        """One Scores per document, from a forward pass shared with other requests. Blocks. A pass
        scores sentences when any of its requests needs them. Raises Cancelled once the calling
        request is cancelled (checked before each chunk)."""
        cancelled = cancellation()
        results: list[Scores] = []
        for chunk, cost in self._chunks(documents):
            if cancelled.is_set():
                raise Cancelled("the request was cancelled before all its documents were scored")
            request = _Request(chunk, sentences, cancelled, cost)
            with self._ready:
                if self._closed:
                    raise RuntimeError("the micro-batcher is closed")
                self._waiting.append(request)
                self._ready.notify()
            results.extend(request.answer.result())
        return results

    def _chunks(self, documents: Sequence[Document]) -> list[tuple[Sequence[Document], int]]:
        """Consecutive runs of documents that each fit one pass, with their tokens."""
        chunks: list[tuple[Sequence[Document], int]] = []
        begin, cost = 0, 0
        for end, document in enumerate(documents):
            size = document.num_tokens
            too_many = end - begin >= self.max_documents
            if end > begin and (too_many or (self.max_tokens is not None and cost + size > self.max_tokens)):
                chunks.append((documents[begin:end], cost))
                begin, cost = end, 0
            cost += size
        if begin < len(documents):
            chunks.append((documents[begin:], cost))
        return chunks

    def close(self) -> None:
        """Finish the requests already waiting, then stop the forward thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                if self._closed and not self._waiting:
                    return
                continue  # every waiting request had been cancelled
            self._run(batch)

    def _next_batch(self) -> list[_Request]:
        """The requests of the next pass: all waiting ones up to `max_documents` (at least one)."""
        with self._ready:
            while not self._waiting and not self._closed:
                self._ready.wait()
            deadline = time.monotonic() + self.max_wait_s
            while (
                not self._closed
                and self._documents_waiting() < self.max_documents
                and len(self._waiting) < self._expected()
                and (left := deadline - time.monotonic()) > 0
            ):
                self._ready.wait(left)
            batch: list[_Request] = []
            size = cost = 0
            while self._waiting and (not batch or self._fits(self._waiting[0], size, cost)):
                request = self._waiting.popleft()
                if request.cancelled.is_set():
                    request.answer.set_exception(Cancelled("the request was cancelled while it waited"))
                    continue
                batch.append(request)
                size += len(request.documents)
                cost += request.cost
            return batch

    def _fits(self, request: _Request, size: int, cost: int) -> bool:
        if size + len(request.documents) > self.max_documents:
            return False
        return self.max_tokens is None or cost + request.cost <= self.max_tokens

    def _documents_waiting(self) -> int:
        return sum(len(r.documents) for r in self._waiting)

    def _run(self, batch: list[_Request]) -> None:
        documents = [d for r in batch for d in r.documents]
        self._observe(len(batch), len(documents))
        try:
            scores = self._score(documents, sentences=any(r.sentences for r in batch))
        except Exception as error:
            if len(batch) == 1:
                batch[0].answer.set_exception(error)
                return
            logger.warning("a shared forward pass failed; running its %d requests one by one", len(batch))
            for request in batch:
                self._run_alone(request)
            return
        start = 0
        for request in batch:
            end = start + len(request.documents)
            request.answer.set_result(scores[start:end])
            start = end

    def _run_alone(self, request: _Request) -> None:
        try:
            request.answer.set_result(self._score(request.documents, sentences=request.sentences))
        except Exception as error:  # raised again in the request's own thread
            request.answer.set_exception(error)


def lanes(short: MicroBatcher, long: MicroBatcher, *, short_tokens: int) -> Scorer:
    """A scorer that sends requests of at most `short_tokens` tokens to `short`, the rest to `long`."""

    def score(documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]:
        lane = short if tokens(documents) <= short_tokens else long
        return lane.scores(documents, sentences=sentences)

    return score
