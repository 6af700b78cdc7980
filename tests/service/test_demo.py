"""Explanations over HTTP on real BBC articles, the demo page and the offline docs (no browser here:
tests/service/test_browser.py drives a real one)."""

import json
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

TEST_SPLIT = Path(__file__).parents[2] / "data" / "bbc_news_summary" / "test.jsonl"


@pytest.fixture(scope="module")
def client(bbc_model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=bbc_model_dir))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def articles() -> list[str]:
    rows = [json.loads(line) for line in TEST_SPLIT.read_text().splitlines()]
    return [r["text"] for r in rows[::40]]  # six articles from across the categories


def test_classify_explains_with_spans_into_the_text(client: TestClient, articles: list[str]) -> None:
    response = client.post("/classify", json={"texts": articles, "explain": True, "top_ngrams": 4})
    assert response.status_code == 200
    for article, result in zip(articles, response.json()["results"], strict=True):
        explanation = result["explanation"]
        assert explanation["label"] == result["label"]
        assert explanation["probability"] == pytest.approx(result["confidence"], abs=1e-6)
        assert len(explanation["ngrams"]) == 4
        for ngram in explanation["ngrams"]:
            assert article[ngram["start"] : ngram["end"]] == ngram["text"]
            assert ngram["contribution"] > 0 and ngram["features"] >= 1


def test_explain_label(client: TestClient, articles: list[str]) -> None:
    body = {"text": articles[0], "explain": True, "explain_label": "sport", "top_k": 1}
    [result] = client.post("/classify", json=body).json()["results"]
    assert result["explanation"]["label"] == "sport"
    assert list(result["scores"]) == [result["label"]]


def test_no_explain_means_no_explanation_keys(client: TestClient, articles: list[str]) -> None:
    [result] = client.post("/classify", json={"text": articles[0]}).json()["results"]
    assert set(result) == {"label", "confidence", "scores", "known_token_share"}
    [summary] = client.post("/summarize", json={"text": articles[0]}).json()["results"]
    assert all(set(s) == {"index", "text", "score", "start", "end"} for s in summary["sentences"])


def test_summarize_explains_each_selected_sentence(client: TestClient, articles: list[str]) -> None:
    body = {"texts": articles, "explain": True, "max_sentences": 3}
    response = client.post("/summarize", json=body)
    assert response.status_code == 200
    for article, result in zip(articles, response.json()["results"], strict=True):
        assert len(result["sentences"]) == 3
        for sentence in result["sentences"]:
            explanation = sentence["explanation"]
            assert list(explanation["parts"]) == [
                "content",
                "context",
                "document",
                "position",
                "salience",
                "class",
            ]
            logit = explanation["bias"] + sum(explanation["parts"].values())
            assert logit == pytest.approx(explanation["logit"], abs=1e-5)
            assert sentence["score"] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-6)
            for ngram in explanation["ngrams"]:
                assert article[ngram["start"] : ngram["end"]] == ngram["text"]
                assert sentence["start"] <= ngram["start"] < ngram["end"] <= sentence["end"]
                assert ngram["sentence"] == sentence["index"]
    plain = client.post("/summarize", json={"texts": articles, "max_sentences": 3}).json()["results"]
    assert [r["summary"] for r in plain] == [r["summary"] for r in response.json()["results"]]


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/classify", {"text": "x", "explain_label": "sport"}, "only apply with"),
        ("/classify", {"text": "x", "top_ngrams": 3}, "only apply with"),
        ("/summarize", {"text": "x", "top_ngrams": 3}, "only apply with"),
        ("/classify", {"text": "x", "explain": True, "top_ngrams": 0}, "greater than or equal to 1"),
        ("/classify", {"text": "x", "explain": True, "explain_label": "weather"}, "unknown label 'weather'"),
    ],
)
def test_bad_explain_options_get_422(client: TestClient, path: str, body: object, reason: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert reason in json.dumps(response.json()["detail"])


def test_empty_text_explains_to_nothing(client: TestClient) -> None:
    [result] = client.post("/classify", json={"text": "", "explain": True}).json()["results"]
    assert result["explanation"]["ngrams"] == []
    [summary] = client.post("/summarize", json={"text": "", "explain": True}).json()["results"]
    assert summary["sentences"] == []


def test_demo_page_and_its_files_are_local(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/static/demo.js", "/static/demo.css", "/docs"} <= set(urls)
    for url in urls:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    assert {"/static/favicon.svg"} <= set(urls)
    for name in ["demo.js", "demo.css", "index.html"]:
        assert "//" not in re.sub(r"^\s*//.*$", "", client.get(f"/static/{name}").text, flags=re.M)


def test_the_default_model_brings_its_examples_and_description() -> None:
    with TestClient(create_app(Settings())) as default:
        examples = default.get("/v1/model/examples").json()
        description = default.get("/v1/model").json()["description"]
    assert len(examples) == 5 and all(e["title"] and e["text"].startswith(e["title"]) for e in examples)
    assert {e["source"].split(",")[0] for e in examples} == {"BBC News"}
    assert "the five BBC News categories (business, entertainment, politics, sport, tech)" in description


def test_examples_come_from_the_model_directory(bbc_model_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(bbc_model_dir, model)
    with TestClient(create_app(Settings(model_dir=model))) as other:
        assert other.get("/v1/model/examples").json() == []
        (model / "examples.json").write_text(json.dumps([{"title": "One", "text": "One text."}]))
        assert other.get("/v1/model/examples").json() == [{"title": "One", "text": "One text."}]
        (model / "examples.json").write_text(json.dumps([{"title": "No text"}]))
        answer = other.get("/v1/model/examples")
    # A file in another layout is a problem of the model directory, not of the request.
    assert answer.status_code == 200 and answer.json() == []


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_load_only_local_assets(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_openapi_documents_explanations_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ["/classify", "/summarize"]:
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["examples"]["explained"]["value"]["explain"] is True
    schemas = spec["components"]["schemas"]
    assert {"explain", "explain_label", "top_ngrams"} <= set(schemas["ClassifyRequest"]["properties"])
    assert schemas["ClassExplanation"]["examples"] and schemas["SentenceExplanation"]["examples"]
