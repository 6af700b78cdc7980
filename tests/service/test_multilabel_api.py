"""/classify, /v1/model and explanations with a multi-label model, and single-label answers unchanged."""

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import TOPICS, document

BOTH = document(random.Random(7), ["grain", "ships"])
NEITHER = "The a report said on monday officials that in of week market new."


@pytest.fixture(scope="module")
def client(multilabel_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=multilabel_dir))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def single(bbc_model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=bbc_model_dir))) as test_client:
        yield test_client


def test_model_info_says_multi_label_with_its_thresholds(client: TestClient, single: TestClient) -> None:
    info = client.get("/v1/model").json()
    assert info["multi_label"] is True
    assert set(info["thresholds"]) == set(TOPICS) and all(0 < t < 1 for t in info["thresholds"].values())
    plain = single.get("/v1/model").json()
    assert plain["multi_label"] is False and plain["thresholds"] is None


def test_classify_returns_the_labels_above_their_thresholds(client: TestClient) -> None:
    response = client.post("/classify", json={"texts": [BOTH, NEITHER]})
    assert response.status_code == 200
    both, neither = response.json()["results"]
    assert [x["label"] for x in both["labels"]] == sorted(
        ["grain", "ships"], key=lambda name: -both["scores"][name]
    )
    assert all(x["probability"] == both["scores"][x["label"]] for x in both["labels"])
    assert neither["labels"] == []
    assert both["label"] == both["labels"][0]["label"]  # the most probable label, as for single-label


def test_threshold_and_at_least_one_per_request(client: TestClient) -> None:
    everything = client.post("/classify", json={"text": NEITHER, "threshold": 0.0}).json()["results"][0]
    assert {x["label"] for x in everything["labels"]} == set(TOPICS)
    kept = client.post("/classify", json={"text": NEITHER, "at_least_one": True}).json()["results"][0]
    assert [x["label"] for x in kept["labels"]] == [kept["label"]]
    top = client.post("/classify", json={"text": BOTH, "top_k": 1}).json()["results"][0]
    assert len(top["scores"]) == 1 and len(top["labels"]) == 2  # top_k trims scores, not the choice
    for bad in (1.5, -0.1, "high"):
        refused = client.post("/classify", json={"text": BOTH, "threshold": bad})
        assert refused.status_code == 422 and refused.json()["type"] == "invalid_body", bad


def test_each_chosen_label_is_explained(client: TestClient) -> None:
    body = {"text": BOTH, "explain": True, "top_ngrams": 3}
    [result] = client.post("/classify", json=body).json()["results"]
    for chosen in result["labels"]:
        explanation = chosen["explanation"]
        assert explanation["label"] == chosen["label"]
        assert explanation["probability"] == pytest.approx(chosen["probability"], abs=1e-5)
        words = " ".join(n["text"].lower() for n in explanation["ngrams"])
        assert any(word in words for word in TOPICS[chosen["label"]].split()), (chosen["label"], words)
    assert result["explanation"]["label"] == result["label"]


def test_single_label_answers_have_no_labels_and_refuse_a_threshold(single: TestClient) -> None:
    [result] = single.post("/classify", json={"text": "Shares rose on the stock market."}).json()["results"]
    assert set(result) == {"label", "confidence", "scores", "known_token_share"}
    refused = single.post("/classify", json={"text": "Shares rose.", "threshold": 0.3})
    assert refused.status_code == 422
    assert refused.json()["type"] == "invalid_input" and "multi-label" in refused.json()["detail"]
