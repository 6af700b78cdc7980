"""Backpressure: a bounded gate in front of the model answers 503 (with Retry-After) beyond its queue,
503 when the wait in the queue runs out and 504 when the model runs past the request timeout.

The model is held on an Event so that the queue fills deterministically; no test asserts a time.
"""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.backpressure import ModelGate
from service.settings import Settings


def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition never became true")


@pytest.fixture
def held(bbc_model_dir: Path, request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, threading.Event]]:
    """A client whose model waits for the returned Event before classifying."""
    options: dict[str, Any] = getattr(request, "param", {})
    settings = Settings(model_dir=bbc_model_dir, concurrency=1, queue_size=1, retry_after_s=2, **options)
    release = threading.Event()
    with TestClient(create_app(settings)) as client:
        predictor = client.app.state.predictor  # type: ignore[attr-defined]
        classify = predictor.classify

        def held_classify(*args: Any, **kwargs: Any) -> Any:
            release.wait(timeout=30)
            return classify(*args, **kwargs)

        predictor.classify = held_classify
        yield client, release
        release.set()


def send(pool: ThreadPoolExecutor, client: TestClient) -> Future[httpx.Response]:
    return pool.submit(client.post, "/classify", json={"text": "Shares fell."})


def test_beyond_the_queue_requests_get_503_with_retry_after(
    held: tuple[TestClient, threading.Event],
) -> None:
    client, release = held
    gate: ModelGate = client.app.state.gate  # type: ignore[attr-defined]
    with ThreadPoolExecutor(2) as pool:
        running = send(pool, client)
        wait_until(lambda: gate.admitted == 1)
        queued = send(pool, client)
        wait_until(lambda: gate.admitted == 2)
        assert "textcnn_queue_depth 1.0" in client.get("/metrics").text
        refused = client.post("/classify", json={"text": "One more."})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["detail"].startswith("server busy: 2 requests already running or queued")
        assert refused.json()["type"] == "overloaded"
        assert client.get("/health").status_code == 200  # operations stay answerable
        release.set()
        assert running.result().status_code == 200 and queued.result().status_code == 200
    wait_until(lambda: gate.admitted == 0)
    assert client.post("/classify", json={"text": "Calm again."}).status_code == 200
    assert 'route="/classify",status="503"} 1.0' in client.get("/metrics").text


def test_invalid_requests_never_take_a_place_in_the_queue(held: tuple[TestClient, threading.Event]) -> None:
    client, release = held
    gate: ModelGate = client.app.state.gate  # type: ignore[attr-defined]
    with ThreadPoolExecutor(2) as pool:
        admitted = [send(pool, client), send(pool, client)]
        wait_until(lambda: gate.admitted == 2)
        assert client.post("/classify", json={"text": 1}).status_code == 422
        assert client.post("/classify", json={"texts": ["a"] * 100}).status_code == 413
        release.set()
        assert [f.result().status_code for f in admitted] == [200, 200]


@pytest.mark.parametrize("held", [{"request_timeout_s": 0.3}], indirect=True)
def test_the_request_timeout_answers_504_running_and_503_queued(
    held: tuple[TestClient, threading.Event],
) -> None:
    client, release = held
    gate: ModelGate = client.app.state.gate  # type: ignore[attr-defined]
    with ThreadPoolExecutor(2) as pool:
        running = send(pool, client)
        wait_until(lambda: gate.admitted == 1)
        queued = send(pool, client)
        timed_out, gave_up = running.result(), queued.result()
    assert timed_out.status_code == 504
    assert timed_out.json()["detail"].startswith(
        "the model did not finish within the request timeout of 0.3 s"
    )
    assert timed_out.json()["type"] == "timed_out"
    assert gave_up.status_code == 503 and gave_up.headers["retry-after"] == "2"
    assert "waited 0.3 s in the queue" in gave_up.json()["detail"]
    assert gave_up.json()["type"] == "overloaded"
    assert gate.admitted == 1  # the timed-out work still holds its slot until the model lets go
    release.set()
    wait_until(lambda: gate.admitted == 0)


def test_closing_the_gate_drains_admitted_work() -> None:
    gate = ModelGate(concurrency=1, queue_size=2, timeout_s=30)
    finished: list[int] = []

    def work(n: int) -> int:
        time.sleep(0.05)
        finished.append(n)
        return n

    async def scenario() -> list[int]:
        tasks = [asyncio.ensure_future(gate.run(lambda n=n: work(n))) for n in range(3)]
        await asyncio.sleep(0.01)
        await asyncio.to_thread(gate.close)  # returns only when all three have run
        assert finished == [0, 1, 2]
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(scenario()) == [0, 1, 2]
