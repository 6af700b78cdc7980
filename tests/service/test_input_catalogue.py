"""The input catalogue: every awkward input has a defined answer, and none is a 5xx or a hang.

tests/service/test_api.py covers the everyday error paths; this file adds the rest of the
catalogue from the hardening issue, each with the status and the message it must get.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.settings import Settings

ROUTES = ("/classify", "/summarize")


@pytest.fixture(scope="module")
def client(bbc_model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        model_dir=bbc_model_dir,
        max_documents=4,
        max_characters=100_000,
        max_sentences_per_document=50,
        max_body_bytes=1_000_000,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def post_raw(
    client: TestClient, path: str, raw: bytes, content_type: str = "application/json"
) -> tuple[int, str | None]:
    """The status and, for an error, the body's type."""
    response = client.post(path, content=raw, headers={"content-type": content_type})
    return response.status_code, response.json().get("type") if response.status_code >= 400 else None


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    "text",
    [
        "",
        " \t\n\r ",
        "word",
        "no sentence punctuation anywhere in this text at all",
        "\x00\x01\x07\x1b[31m control \x7f characters\x0b\x0c",
        "Emoji 🙂🚀👩‍👩‍👧 and CJK 東京は晴れです。次の文。",
        "مرحبا بالعالم. هذه جملة ثانية. \u202eRTL override\u202c and \u200fmarks\u200e.",
        "Combining marks: e\u0301 a\u0308 o\u0303. Zero width\u200b joiner\u200d here.",
        "x" * 100_000,  # one token of 100k characters, exactly at the character limit
    ],
    ids=[
        "empty",
        "whitespace",
        "one-word",
        "no-punctuation",
        "control-chars",
        "emoji-cjk",
        "rtl",
        "combining",
        "100k-token",
    ],
)
def test_odd_texts_are_ordinary_inputs(client: TestClient, path: str, text: str) -> None:
    response = client.post(path, json={"text": text})
    assert response.status_code == 200
    [result] = response.json()["results"]
    if path == "/summarize":
        for sentence in result["sentences"]:
            assert text[sentence["start"] : sentence["end"]] == sentence["text"]
    else:
        assert result["label"] in result["scores"]


# Any Unicode text but lone surrogates (JSON can carry them; they get a 422, tested in test_api.py).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)


@given(text=any_text, limit=st.integers(1, 5))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_gets_an_ordered_summary_within_its_bound(client: TestClient, text: str, limit: int) -> None:
    response = client.post("/summarize", json={"text": text, "max_sentences": limit})
    assert response.status_code == 200
    sentences = response.json()["results"][0]["sentences"]
    assert len(sentences) <= limit
    assert [s["index"] for s in sentences] == sorted({s["index"] for s in sentences})
    for sentence in sentences:
        assert text[sentence["start"] : sentence["end"]] == sentence["text"]


@pytest.mark.parametrize("path", ROUTES)
def test_duplicate_documents_get_identical_answers(client: TestClient, path: str) -> None:
    text = "The bank raised rates. Shares fell sharply. Analysts expect more cuts."
    results = client.post(path, json={"texts": [text] * 3}).json()["results"]
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("path", ROUTES)
def test_an_empty_list_gets_an_empty_answer(client: TestClient, path: str) -> None:
    response = client.post(path, json={"texts": []})
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        {"texts": None},
        {"texts": [None]},
        {"text": None, "texts": None},
        {"text": 3.5},
        {"text": True},
        {"text": {"nested": "object"}},
        {"text": ["a list"]},
        {"texts": [{"text": "a"}]},
        {"texts": ["ok", 7]},
        {"texts": {"0": "a"}},
        {"text": "a", "unknown": None},
        {"TEXT": "a"},
        {"text": "a", "explain": "maybe"},
        {"text": "a", "top_ngrams": 3},
        {"text": "a", "explain": True, "top_ngrams": 0},
        {"text": "a", "explain": True, "top_ngrams": 51},
    ],
)
def test_wrong_types_missing_and_extra_fields_get_422(client: TestClient, path: str, body: object) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    "length",
    [
        {"max_sentences": -1},
        {"max_sentences": 0},
        {"max_sentences": 1.5},
        {"max_words": -5},
        {"ratio": -0.5},
        {"ratio": 1.0000001},
        {"ratio": "half"},
        {"ratio": None, "max_sentences": None, "max_words": 0},
    ],
)
def test_bad_summary_lengths_get_422(client: TestClient, length: dict[str, object]) -> None:
    assert client.post("/summarize", json={"text": "One. Two.", **length}).status_code == 422


@pytest.mark.parametrize(
    "length", [{"max_sentences": 2**62}, {"ratio": 1}, {"ratio": 1e-300}, {"max_words": 1}]
)
def test_extreme_but_valid_summary_lengths(client: TestClient, length: dict[str, object]) -> None:
    text = "First sentence here. Second one follows. Third ends it."
    response = client.post("/summarize", json={"text": text, **length})
    assert response.status_code == 200
    assert len(response.json()["results"][0]["sentences"]) <= 3


def test_unknown_explain_label_is_a_clear_error(client: TestClient) -> None:
    response = client.post("/classify", json={"text": "a", "explain": True, "explain_label": "nope"})
    assert response.status_code == 422 and "nope" in response.json()["detail"]
    assert response.json()["type"] == "invalid_input"


def test_huge_top_k_returns_every_label(client: TestClient) -> None:
    [result] = client.post("/classify", json={"text": "a", "top_k": 10**18}).json()["results"]
    assert len(result["scores"]) == 5


@pytest.mark.parametrize("path", ROUTES)
def test_too_many_sentences_get_413_with_the_limit(client: TestClient, path: str) -> None:
    fine = client.post(path, json={"text": "Short. " * 50})
    assert fine.status_code == 200
    response = client.post(path, json={"texts": ["Fine.", "Short. " * 51]})
    assert response.status_code == 413
    assert response.json() == {
        "detail": "document 1 has 51 sentences, over the limit of 50",
        "type": "limit_exceeded",
    }


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    ("raw", "status", "kind"),
    [
        (b'{"text": "\xff\xfe invalid utf-8"}', 400, "unparsable_body"),
        (b'{"text": "a"', 422, "invalid_body"),
        (b'{"text": "a"} trailing', 422, "invalid_body"),
        (b"null", 422, "invalid_body"),
        (b"42", 422, "invalid_body"),
        # nesting deeper than the JSON parser goes
        (b"[" * 100_000 + b"]" * 100_000, 400, "unparsable_body"),
        (b'\xef\xbb\xbf{"text": "a byte order mark first"}', 200, None),
        (b'{"text": "first", "text": "the last duplicate key wins"}', 200, None),
        (b'{"text": "a \\u0000 escaped NUL"}', 200, None),
    ],
    ids=["invalid-utf8", "truncated", "trailing", "null", "number", "deep", "bom", "dup-key", "nul"],
)
def test_raw_bodies_have_defined_answers(
    client: TestClient, path: str, raw: bytes, status: int, kind: str | None
) -> None:
    assert post_raw(client, path, raw) == (status, kind)


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]
)
def test_wrong_content_types_get_422(client: TestClient, path: str, content_type: str) -> None:
    assert post_raw(client, path, b'{"text": "a"}', content_type) == (422, "invalid_body")


def test_body_over_the_byte_limit_is_refused_before_the_model(client: TestClient) -> None:
    response = client.post("/classify", json={"texts": ["x" * 600_000, "y" * 600_000]})
    assert response.status_code == 413
    assert response.json() == {
        "detail": "request body exceeds the limit of 1000000 bytes",
        "type": "limit_exceeded",
    }
