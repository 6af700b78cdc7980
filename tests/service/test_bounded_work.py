"""Bounded work, small versions of benchmarks/bounded_work.py's probes: budgets with 413s naming the budget,
stoppable chunked passes and lanes, settings checked at start-up, a chunked body over the limit, log
lines that cannot be forged, and the `explain` dependency in the OpenAPI schema. Times and RSS are
measured by benchmarks/bounded_work.py, never asserted here."""

import asyncio
import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.app import create_app
from service.backpressure import (
    Cancelled,
    ModelGate,
    Overloaded,
    TimedOut,
    cancellation,
    one_document_at_a_time,
)
from service.batching import MicroBatcher, lanes
from service.observability import TextFormatter
from service.settings import Settings, unknown_variables
from textcnn.features import Document
from textcnn.predict import Scores
from textcnn.sentences import Span


def doc(tokens: int) -> Document:
    return Document("x", (Span(0, 1),), (tuple(range(tokens)),))


@pytest.fixture(scope="module")
def client(bbc_model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        model_dir=bbc_model_dir,
        max_characters=5_000,
        max_characters_per_request=8_000,
        max_tokens_per_document=300,
        max_tokens_per_request=500,
        max_sentences_per_document=50,
        max_sentences_per_request=60,
        max_body_bytes=50_000,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("texts", "budget"),
    [
        (["word " * 900] * 2, "TEXTCNN_MAX_CHARACTERS_PER_REQUEST"),
        (["Shares rose sharply today on good news. " * 45], "TEXTCNN_MAX_TOKENS_PER_DOCUMENT"),
        (["Shares rose sharply today again. " * 40] * 3, "TEXTCNN_MAX_TOKENS_PER_REQUEST"),
        (["Bank fell. " * 40] * 2, "TEXTCNN_MAX_SENTENCES_PER_REQUEST"),
    ],
)
def test_a_request_over_a_budget_gets_413_naming_it(
    client: TestClient, texts: list[str], budget: str
) -> None:
    for route in ("/classify", "/summarize"):
        answer = client.post(route, json={"texts": texts})
        assert answer.status_code == 413
        assert budget in answer.json()["detail"]


def test_a_request_within_every_budget_is_answered(client: TestClient) -> None:
    answer = client.post("/summarize", json={"texts": ["Bank fell. Shares rose. " * 10] * 2, "explain": True})
    assert answer.status_code == 200
    assert len(answer.json()["results"]) == 2


def test_a_chunked_body_over_the_limit_gets_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(100):
            yield b"a" * 1000
        yield b'"}'

    answer = client.post("/classify", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert "50000 bytes" in answer.json()["detail"]


def test_openapi_says_top_ngrams_and_explain_label_need_explain(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    needs = {"properties": {"explain": {"const": True}}, "required": ["explain"]}
    assert schemas["ClassifyRequest"]["dependentSchemas"] == {"top_ngrams": needs, "explain_label": needs}
    assert schemas["SummarizeRequest"]["dependentSchemas"] == {"top_ngrams": needs}


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"TEXTCNN_PORT": "70000"}, "port"),
        ({"TEXTCNN_LOG_LEVEL": "LOUD"}, "log_level"),
        ({"TEXTCNN_HOST": "no such host.invalid"}, "host"),
        ({"TEXTCNN_MAX_TOKENS_PER_DOCUMENT": "300000"}, "TEXTCNN_MAX_TOKENS_PER_REQUEST"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=named):
        Settings()


def test_the_default_budgets_fit_the_body_limit() -> None:
    settings = Settings()
    assert settings.max_characters_per_request <= settings.max_body_bytes
    assert Settings(log_level="debug").log_level == "DEBUG"


def test_unknown_variables_are_found() -> None:
    environ = {"TEXTCNN_PORT": "1", "TEXTCNN_MAX_DOCUMENT": "3", "OTHER": "x"}
    assert unknown_variables(environ) == ["TEXTCNN_MAX_DOCUMENT"]


def test_text_logs_escape_control_characters() -> None:
    record = logging.LogRecord(
        "service.access", logging.INFO, "", 0, "GET %s 404", ("/a\nINFO forged",), None
    )
    line = TextFormatter("%(message)s").format(record)
    assert "\n" not in line
    assert line == "GET /a\\x0aINFO forged 404"


class CountingModel:
    def __init__(self) -> None:
        self.passes: list[int] = []  # tokens per pass
        self.release = threading.Event()

    def score(self, documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]:
        self.passes.append(sum(len(ids) for d in documents for ids in d.token_ids))
        self.release.wait(timeout=30)
        return [Scores((1.0,), None) for _ in documents]


def test_a_request_larger_than_a_pass_is_split_into_chunks_within_the_budget() -> None:
    model = CountingModel()
    model.release.set()
    batcher = MicroBatcher(model.score, max_documents=8, max_wait_s=0, max_tokens=100)
    assert len(batcher.scores([doc(40)] * 5 + [doc(150)])) == 6
    batcher.close()
    assert model.passes == [80, 80, 40, 150]  # a document over the budget goes alone


def test_a_cancelled_request_stops_between_chunks_and_leaves_the_queue() -> None:
    model = CountingModel()
    batcher = MicroBatcher(model.score, max_documents=8, max_wait_s=0, max_tokens=100)
    cancelled = threading.Event()

    def cancellable() -> list[Scores]:
        from service import backpressure

        backpressure._CANCELLED.set(cancelled)
        return batcher.scores([doc(60)] * 4)

    with ThreadPoolExecutor(2) as pool:
        long = pool.submit(cancellable)
        for _ in range(1000):
            if model.passes:
                break
            threading.Event().wait(0.01)
        cancelled.set()
        model.release.set()
        with pytest.raises(Cancelled):
            long.result()
    batcher.close()
    assert model.passes == [60]  # the three chunks after the first never ran


def test_explanations_stop_between_documents_once_cancelled() -> None:
    import contextvars

    from service import backpressure

    cancelled = threading.Event()
    explained: list[str] = []

    def explain(texts: Sequence[str]) -> list[str]:
        explained.extend(texts)
        cancelled.set()  # the request times out while its first document is explained
        return [t.upper() for t in texts]

    context = contextvars.copy_context()
    context.run(backpressure._CANCELLED.set, cancelled)
    with pytest.raises(Cancelled):
        context.run(one_document_at_a_time, explain, ["a", "b", "c"])
    assert explained == ["a"]
    assert one_document_at_a_time(explain, ["a", "b"]) == ["A", "B"]  # not cancelled: every one


def test_lanes_keep_long_requests_out_of_short_passes() -> None:
    short_model, long_model = CountingModel(), CountingModel()
    short_model.release.set()
    short = MicroBatcher(short_model.score, max_documents=8, max_wait_s=0)
    long = MicroBatcher(long_model.score, max_documents=8, max_wait_s=0)
    score = lanes(short, long, short_tokens=50)
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(score, [doc(500)])  # its pass is held
        for _ in range(1000):
            if long_model.passes:
                break
            threading.Event().wait(0.01)
        assert len(score([doc(10)])) == 1  # answered while the long pass still runs
        long_model.release.set()
        assert len(held.result()) == 1
    short.close()
    long.close()
    assert short_model.passes == [10] and long_model.passes == [500]


def test_a_timed_out_request_is_cancelled_and_a_shut_down_one_gets_503() -> None:
    gate = ModelGate(1, 1, timeout_s=0.05)
    seen: list[threading.Event] = []
    release = threading.Event()

    def work() -> None:
        seen.append(cancellation())
        release.wait(timeout=30)

    async def timed_out() -> None:
        with pytest.raises(TimedOut):
            await gate.run(work)

    asyncio.run(timed_out())
    assert seen[0].is_set()
    release.set()

    async def shut_down() -> None:
        task = asyncio.ensure_future(ModelGate(1, 1, timeout_s=30).run(lambda: release.wait(30) and None))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(Overloaded, match="shutting down"):
            await task

    release.clear()
    asyncio.run(shut_down())
    release.set()
    gate.close()
