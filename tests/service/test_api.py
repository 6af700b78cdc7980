"""The HTTP API through the ASGI client, including every error path."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

ARTICLE = (Path(__file__).parents[1] / "data" / "bbc_dev.jsonl").read_text().splitlines()[0]


@pytest.fixture(scope="module")
def client(bbc_model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        model_dir=bbc_model_dir, max_documents=4, max_characters=20_000, max_body_bytes=100_000
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def article() -> str:
    import json

    return str(json.loads(ARTICLE)["text"])


def test_health_ready_and_model(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    info = client.get("/v1/model").json()
    assert info["labels"] == ["business", "entertainment", "politics", "sport", "tech"]
    assert info["tasks"] == ["classify", "summarize"]
    assert len(info["version"]) == 12
    assert "best_epoch" in info["metrics"]


def test_classify_one_and_many(client: TestClient, article: str) -> None:
    one = client.post("/classify", json={"text": article})
    assert one.status_code == 200
    body = one.json()
    assert body["model"] == "bbc-small"
    [result] = body["results"]
    assert result["label"] in result["scores"]
    assert abs(sum(result["scores"].values()) - 1) < 1e-4
    assert result["confidence"] == max(result["scores"].values())
    many = client.post("/classify", json={"texts": [article, "Short one.", ""], "top_k": 2})
    results = many.json()["results"]
    assert len(results) == 3 and all(len(r["scores"]) == 2 for r in results)
    assert results[0]["label"] == result["label"]


def test_summarize_offsets_point_into_the_text(client: TestClient, article: str) -> None:
    response = client.post("/summarize", json={"text": article, "max_sentences": 3})
    assert response.status_code == 200
    [result] = response.json()["results"]
    sentences = result["sentences"]
    assert 1 <= len(sentences) <= 3
    assert [s["index"] for s in sentences] == sorted(s["index"] for s in sentences)
    for s in sentences:
        assert article[s["start"] : s["end"]] == s["text"]
        assert 0 <= s["score"] <= 1
    assert result["summary"] == " ".join(s["text"] for s in sentences)


@pytest.mark.parametrize("length", [{"ratio": 0.5}, {"max_words": 40}, {}])
def test_summarize_length_controls(client: TestClient, article: str, length: dict[str, float]) -> None:
    response = client.post("/summarize", json={"texts": [article], **length})
    assert response.status_code == 200
    sentences = response.json()["results"][0]["sentences"]
    if "max_words" in length:
        assert sum(len(s["text"].split()) for s in sentences) <= 40


@pytest.mark.parametrize("text", ["", "   ", "one", "no punctuation at all here", "🙂 東京 مرحبا"])
def test_edge_texts_are_ordinary(client: TestClient, text: str) -> None:
    assert client.post("/classify", json={"text": text}).status_code == 200
    response = client.post("/summarize", json={"text": text})
    assert response.status_code == 200
    assert len(response.json()["results"][0]["sentences"]) <= 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/classify", {}),
        ("/classify", {"text": "a", "texts": ["b"]}),
        ("/classify", {"text": None}),
        ("/classify", {"text": 5}),
        ("/classify", {"texts": "not a list"}),
        ("/classify", {"texts": [1, 2]}),
        ("/classify", {"text": "a", "extra": 1}),
        ("/classify", {"text": "a", "top_k": 0}),
        ("/classify", [1, 2]),
        ("/classify", "just a string"),
        ("/summarize", {"text": "a", "max_sentences": 0}),
        ("/summarize", {"text": "a", "max_sentences": -3}),
        ("/summarize", {"text": "a", "ratio": 0}),
        ("/summarize", {"text": "a", "ratio": 1.5}),
        ("/summarize", {"text": "a", "max_words": 0}),
        ("/summarize", {"text": "a", "ratio": 0.5, "max_sentences": 2}),
    ],
)
def test_invalid_bodies_get_422_with_a_reason(client: TestClient, path: str, body: object) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert response.json()["detail"] and response.json()["type"] == "invalid_body"


def test_huge_max_sentences_is_fine(client: TestClient, article: str) -> None:
    response = client.post("/summarize", json={"text": article, "max_sentences": 10**12})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"",
        b'{"text": "\\ud800"}',
        b'{"text": "a", "ratio": NaN}',
    ],
)
def test_malformed_bodies_get_4xx(client: TestClient, raw: bytes) -> None:
    for path in ("/classify", "/summarize"):
        response = client.post(path, content=raw, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (raw, response.status_code)


def test_wrong_content_type(client: TestClient) -> None:
    response = client.post("/classify", content=b"hello", headers={"content-type": "text/plain"})
    assert response.status_code == 422


def test_limits_answer_413_with_the_limit(client: TestClient) -> None:
    too_many = client.post("/classify", json={"texts": ["a"] * 5})
    assert too_many.status_code == 413 and "limit of 4" in too_many.json()["detail"]
    too_long = client.post("/summarize", json={"text": "word " * 5000})
    assert too_long.status_code == 413 and "20000" in too_long.json()["detail"]
    too_big = client.post("/classify", json={"text": "x" * 200_000})
    assert too_big.status_code == 413 and "100000 bytes" in too_big.json()["detail"]
    assert {r.json()["type"] for r in (too_many, too_long, too_big)} == {"limit_exceeded"}


def test_unknown_route_and_method(client: TestClient) -> None:
    wrong_method = client.get("/classify")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json() == {"detail": "Method Not Allowed", "type": "method_not_allowed"}
    unknown = client.post("/nope", json={})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not Found", "type": "not_found"}
    assert client.get("/static/nope.js").json() == {"detail": "Not Found", "type": "not_found"}


def test_openapi_has_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/classify", "/summarize", "/health", "/ready", "/v1/model"} <= set(spec["paths"])


EMOJI_TEXT = (
    "Café owners 😀 cheered 👍🏽 as the United Kingdom's bank cut rates. "
    "東京 markets rose 2% 🇯🇵 after the news. "
    "The firm said sales fell 👨‍👩‍👧 sharply in March."
)


def _utf16(text: str, offset: int) -> int:
    return len(text[:offset].encode("utf-16-le")) // 2


def test_offsets_in_utf16_code_units_on_request(client: TestClient) -> None:
    body = {"text": EMOJI_TEXT, "explain": True, "max_sentences": 3}
    [points] = client.post("/summarize", json=body).json()["results"]
    [units] = client.post("/summarize", json={**body, "offsets": "utf16"}).json()["results"]
    assert len(points["sentences"]) == 3
    encoded = EMOJI_TEXT.encode("utf-16-le")
    for p, u in zip(points["sentences"], units["sentences"], strict=True):
        assert EMOJI_TEXT[p["start"] : p["end"]] == p["text"]
        assert (u["start"], u["end"]) == (_utf16(EMOJI_TEXT, p["start"]), _utf16(EMOJI_TEXT, p["end"]))
        assert encoded[2 * u["start"] : 2 * u["end"]].decode("utf-16-le") == u["text"]
        for pn, un in zip(p["explanation"]["ngrams"], u["explanation"]["ngrams"], strict=True):
            assert encoded[2 * un["start"] : 2 * un["end"]].decode("utf-16-le") == un["text"] == pn["text"]
    # Before the first astral character both units agree; after it, each one adds a code unit: 😀, 👍,
    # its skin tone 🏽 and the two regional indicators of 🇯🇵 precede the third sentence (東京 does not count).
    assert units["sentences"][0]["start"] == points["sentences"][0]["start"] == 0
    assert units["sentences"][-1]["start"] - points["sentences"][-1]["start"] == 5


def test_classify_offsets_in_utf16_and_the_known_share(client: TestClient) -> None:
    body = {"text": EMOJI_TEXT, "explain": True, "top_ngrams": 10, "offsets": "utf16"}
    [result] = client.post("/classify", json=body).json()["results"]
    encoded = EMOJI_TEXT.encode("utf-16-le")
    for ngram in result["explanation"]["ngrams"]:
        assert encoded[2 * ngram["start"] : 2 * ngram["end"]].decode("utf-16-le") == ngram["text"]
    assert 0 < result["known_token_share"] <= 1
    [empty] = client.post("/classify", json={"text": ""}).json()["results"]
    assert empty["known_token_share"] == 0.0


def test_an_unknown_offset_unit_gets_422(client: TestClient) -> None:
    response = client.post("/classify", json={"text": "x", "offsets": "bytes"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "offsets"]
