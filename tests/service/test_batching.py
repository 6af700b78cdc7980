"""Micro-batching: concurrent requests share forward passes, each gets its own answer, and one bad
document fails only its own request.

Passes are held on an Event so that requests pile up deterministically; no test asserts a time.
"""

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.batching import MicroBatcher
from service.settings import Settings
from textcnn.features import Document
from textcnn.predict import Predictor, Scores


def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition never became true")


def document(text: str) -> Document:
    return Document(text, (), ())


class FakeModel:
    """Scores each document by the number in its text; holds the first pass until released."""

    def __init__(self) -> None:
        self.passes: list[list[str]] = []
        self.scored_sentences: list[bool] = []  # per pass: whether sentence scores were asked for
        self.release = threading.Event()

    def score(self, documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]:
        self.passes.append([d.text for d in documents])
        self.scored_sentences.append(sentences)
        self.release.wait(timeout=30)
        if any(d.text == "bad" for d in documents):
            raise ValueError("a document the model cannot take")
        return [Scores((float(d.text),), None) for d in documents]


@pytest.fixture
def fake() -> Iterator[tuple[FakeModel, MicroBatcher]]:
    model = FakeModel()
    batcher = MicroBatcher(model.score, max_documents=6, max_wait_s=0)
    yield model, batcher
    model.release.set()
    batcher.close()


def ask(
    pool: ThreadPoolExecutor, batcher: MicroBatcher, *texts: str, sentences: bool = True
) -> Future[list[Scores]]:
    return pool.submit(batcher.scores, [document(t) for t in texts], sentences=sentences)


def values(future: Future[list[Scores]]) -> list[float]:
    return [s.class_probs[0] for s in future.result() if s.class_probs is not None]


def test_requests_waiting_during_a_pass_share_the_next_one(fake: tuple[FakeModel, MicroBatcher]) -> None:
    model, batcher = fake
    with ThreadPoolExecutor(8) as pool:
        first = ask(pool, batcher, "0")
        wait_until(lambda: len(model.passes) == 1)
        rest = [ask(pool, batcher, str(n), str(n + 0.5)) for n in range(1, 5)]
        wait_until(lambda: batcher.waiting == 4)
        model.release.set()
        assert values(first) == [0.0]
        assert [values(f) for f in rest] == [[n, n + 0.5] for n in range(1, 5)]
    # Six documents fit a pass: three of the requests, then the fourth; a request is never split.
    assert [len(p) for p in model.passes] == [1, 6, 2]
    assert sorted(model.passes[1] + model.passes[2]) == sorted(
        str(n + h) for n in range(1, 5) for h in (0, 0.5)
    )


def test_a_pass_scores_sentences_only_when_one_of_its_requests_needs_them(
    fake: tuple[FakeModel, MicroBatcher],
) -> None:
    model, batcher = fake
    with ThreadPoolExecutor(4) as pool:
        first = ask(pool, batcher, "0", sentences=False)
        wait_until(lambda: len(model.passes) == 1)
        labels_only = [ask(pool, batcher, str(n), sentences=False) for n in (1, 2)]
        wait_until(lambda: batcher.waiting == 2)
        model.release.set()
        assert values(first) == [0.0] and [values(f) for f in labels_only] == [[1.0], [2.0]]
        model.release.clear()
        held = ask(pool, batcher, "3", sentences=False)
        wait_until(lambda: len(model.passes) == 3)
        mixed = [ask(pool, batcher, "4", sentences=False), ask(pool, batcher, "5")]
        wait_until(lambda: batcher.waiting == 2)
        model.release.set()
        assert values(held) == [3.0] and [values(f) for f in mixed] == [[4.0], [5.0]]
    assert model.scored_sentences == [False, False, False, True]


def test_a_failing_document_fails_only_its_own_request(fake: tuple[FakeModel, MicroBatcher]) -> None:
    model, batcher = fake
    with ThreadPoolExecutor(4) as pool:
        first = ask(pool, batcher, "0")
        wait_until(lambda: len(model.passes) == 1)
        good, bad, also_good = ask(pool, batcher, "1"), ask(pool, batcher, "bad"), ask(pool, batcher, "2")
        wait_until(lambda: batcher.waiting == 3)
        model.release.set()
        assert values(first) == [0.0]
        assert values(good) == [1.0] and values(also_good) == [2.0]
        with pytest.raises(ValueError, match="cannot take"):
            bad.result()
    assert sorted(model.passes[1]) == ["1", "2", "bad"]  # shared, failed, then each request alone
    assert sorted(model.passes[2:]) == [["1"], ["2"], ["bad"]]


def test_an_idle_batcher_answers_without_waiting_and_close_drains() -> None:
    model = FakeModel()
    model.release.set()
    batcher = MicroBatcher(model.score, max_documents=4, max_wait_s=60, expected=lambda: 1)
    assert [s.class_probs for s in batcher.scores([document("7")])] == [(7.0,)]  # not 60 s later
    assert batcher.scores([]) == []
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.scores([document("1")])


ARTICLES = [
    json.loads(line)["text"]
    for line in (Path(__file__).parents[1] / "data" / "bbc_dev.jsonl").read_text().splitlines()[:12]
]


@pytest.fixture(params=[True, False], ids=["batched", "unbatched"])
def client(bbc_model_dir: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    settings = Settings(model_dir=bbc_model_dir, micro_batching=request.param, batch_size=8)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def hold_forward(predictor: Predictor) -> threading.Event:
    """Make the model's forward passes wait for the returned Event."""
    release = threading.Event()
    forward = predictor.model.forward

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(timeout=30)
        return forward(*args, **kwargs)

    predictor.model.forward = held  # type: ignore[method-assign]
    return release


def metric(client: TestClient, name: str) -> float:
    line = next(x for x in client.get("/metrics").text.splitlines() if x.startswith(name + " "))
    return float(line.split()[-1])


def test_concurrent_requests_each_get_their_own_unbatched_answer(
    client: TestClient, bbc_model_dir: Path
) -> None:
    alone = Predictor.load(bbc_model_dir)
    expected_labels = [alone.classify([a])[0] for a in ARTICLES]
    expected_summaries = [alone.summarize([a], max_sentences=2)[0] for a in ARTICLES]
    predictor = client.app.state.predictor  # type: ignore[attr-defined]
    batcher = client.app.state.batcher  # type: ignore[attr-defined]
    release = hold_forward(predictor)
    with ThreadPoolExecutor(len(ARTICLES)) as pool:
        classified = [pool.submit(client.post, "/classify", json={"text": a}) for a in ARTICLES]
        summarized = [
            pool.submit(client.post, "/summarize", json={"text": a, "max_sentences": 2}) for a in ARTICLES
        ]
        if batcher is not None:
            wait_until(lambda: batcher.waiting >= 2)  # requests pile up behind the held pass
        release.set()
        for response, expected in zip(classified, expected_labels, strict=True):
            [result] = response.result().json()["results"]
            assert result["label"] == expected.label
            assert result["confidence"] == pytest.approx(expected.confidence, abs=1e-5)
        for response, summary in zip(summarized, expected_summaries, strict=True):
            [result] = response.result().json()["results"]
            assert [s["index"] for s in result["sentences"]] == [s.index for s in summary.sentences]
            assert [s["score"] for s in result["sentences"]] == pytest.approx(
                [s.score for s in summary.sentences], abs=1e-5
            )
    passes = metric(client, "textcnn_forward_requests_count")
    alone_passes = metric(client, 'textcnn_forward_requests_bucket{le="1.0"}')
    if batcher is None:
        assert passes == alone_passes == 2 * len(ARTICLES)  # one pass per request
    else:
        assert passes < 2 * len(ARTICLES)  # requests shared passes
        assert alone_passes < passes
        assert metric(client, "textcnn_forward_documents_sum") == 2 * len(ARTICLES)


def test_without_micro_batching_one_request_runs_at_a_time(bbc_model_dir: Path) -> None:
    assert Settings(model_dir=bbc_model_dir, micro_batching=False).requests_at_once() == 1
    assert Settings(model_dir=bbc_model_dir, batch_size=16).requests_at_once() == 16
    assert Settings(model_dir=bbc_model_dir, concurrency=3).requests_at_once() == 3
