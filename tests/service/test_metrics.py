"""Observability: request ids in and out, JSON log lines that carry them, and the Prometheus metrics."""

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.observability import JsonFormatter, RequestIdFilter
from service.settings import Settings

SECRET_TEXT = "The secret merger of Alpha and Beta was agreed today."


@pytest.fixture(scope="module")
def client(bbc_model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=bbc_model_dir, max_body_bytes=10_000))) as test_client:
        yield test_client


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything logged during the test, formatted as `textcnn-serve` writes it (JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_sane_request_id_is_echoed_and_logged(client: TestClient, log_lines: io.StringIO) -> None:
    response = client.post("/classify", json={"text": SECRET_TEXT}, headers={"X-Request-ID": "abc-123.x"})
    assert response.headers["x-request-id"] == "abc-123.x"
    [access] = [r for r in records(log_lines) if r["logger"] == "service.access"]
    assert access["request_id"] == "abc-123.x"
    assert access["route"] == "/classify" and access["status"] == 200 and access["method"] == "POST"
    assert isinstance(access["duration_ms"], float)
    assert "secret merger" not in log_lines.getvalue()


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "x" * 200, "new\nline"])
def test_a_missing_or_odd_request_id_is_replaced(client: TestClient, incoming: str | None) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    first = client.get("/health", headers=headers).headers["x-request-id"]
    second = client.get("/health", headers=headers).headers["x-request-id"]
    assert first != second and len(first) == 32 and first != incoming


def test_every_answer_carries_a_request_id(client: TestClient) -> None:
    for response in (
        client.get("/nope"),
        client.post("/classify", json={"text": "x" * 20_000}),  # 413 from the body limit middleware
        client.post("/classify", json={}),
    ):
        assert len(response.headers["x-request-id"]) == 32


def test_texts_are_logged_only_when_asked(bbc_model_dir: Path, log_lines: io.StringIO) -> None:
    with TestClient(create_app(Settings(model_dir=bbc_model_dir, log_texts=True))) as verbose:
        verbose.post("/classify", json={"text": SECRET_TEXT}, headers={"X-Request-ID": "debug-1"})
    [logged] = [r for r in records(log_lines) if "secret merger" in str(r["message"])]
    assert logged["request_id"] == "debug-1"


def metric_lines(client: TestClient) -> list[str]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text.splitlines()


def value(lines: list[str], prefix: str) -> float:
    [line] = [line for line in lines if line.startswith(prefix + " ")]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_requests_by_route_and_status(client: TestClient) -> None:
    client.post("/summarize", json={"texts": ["One. Two.", "Three."]})
    client.post("/summarize", json={"text": 5})
    client.post("/summarize", json={"text": "x" * 20_000})
    client.get("/no/such/path/12345")
    lines = metric_lines(client)
    route = 'method="POST",route="/summarize"'
    assert value(lines, f'textcnn_requests_total{{{route},status="200"}}') >= 1
    assert value(lines, f'textcnn_requests_total{{{route},status="422"}}') >= 1
    assert value(lines, f'textcnn_requests_total{{{route},status="413"}}') >= 1
    assert value(lines, 'textcnn_requests_total{method="GET",route="unmatched",status="404"}') >= 1
    assert not any("12345" in line for line in lines)
    assert value(lines, f'textcnn_request_duration_seconds_count{{{route},status="413"}}') >= 1
    assert value(lines, 'textcnn_batch_documents_bucket{le="2.0",route="/summarize"}') >= 1
    assert value(lines, "textcnn_queue_depth") == 0
    assert value(lines, "textcnn_model_in_flight") == 0


def test_metrics_name_the_model(client: TestClient) -> None:
    version = client.get("/v1/model").json()["version"]
    [info] = [line for line in metric_lines(client) if line.startswith("textcnn_model_info{")]
    assert f'version="{version}"' in info and 'name="bbc-small"' in info


def test_metrics_label_a_named_model_route_by_its_template(client: TestClient) -> None:
    assert client.post("/v1/models/bbc-small/classify", json={"texts": ["One.", "Two."]}).status_code == 200
    lines = metric_lines(client)
    route = 'route="/v1/models/{name}/classify"'
    assert value(lines, f'textcnn_requests_total{{method="POST",{route},status="200"}}') >= 1
    assert value(lines, f'textcnn_batch_documents_bucket{{le="2.0",{route}}}') >= 1
    assert not any("bbc-small/classify" in line for line in lines)
