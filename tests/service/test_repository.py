"""Many models from one server: a repository of a tiny classifier and a tiny summarizer trained here,
with a damaged folder beside them, through the ASGI client and a real uvicorn; versions, hot swaps
that let in-flight requests finish on the old model, pins, unload, the LRU cap and the metrics."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.repository import ModelRepository
from service.settings import Settings
from textcnn import artifact
from textcnn.errors import ModelLoadError
from training.run_config import TrainConfig
from training.train import train

DATA = Path(__file__).parents[1] / "data"
PORT = 18160
TREC_LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
QUESTION = "What is the capital of France ?"
ARTICLE = "Shares in the firm fell sharply. Profits were down. The chief executive said little. Rain fell."


def tiny(train_file: Path, out: Path, **settings: Any) -> Path:
    config = TrainConfig(
        train=str(train_file),
        out=str(out),
        embedding_mode="rand",
        embedding_dim=16,
        num_filters=8,
        context_dim=8,
        min_freq=1,
        bag_of_words=False,  # the convolution alone, small and fast to train
        batch_size=8,
        cache_dir="",
        quiet=True,
        **settings,
    )
    return train(config)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two versions of a TREC question classifier and a BBC summarizer (no labels), a few steps each."""
    root = tmp_path_factory.mktemp("trained")
    articles = root / "bbc_summaries.jsonl"  # the BBC articles without their labels
    rows = [json.loads(line) for line in (DATA / "bbc_train.jsonl").read_text(encoding="utf-8").splitlines()]
    articles.write_text("".join(json.dumps({k: r[k] for k in ("text", "summary")}) + "\n" for r in rows))
    return {
        "topics-1": tiny(DATA / "trec_train.jsonl", root / "topics-1", max_steps=20, seed=1),
        "topics-2": tiny(DATA / "trec_train.jsonl", root / "topics-2", max_steps=20, seed=2),
        "digest": tiny(articles, root / "digest", max_steps=6, scorer_epochs=1),
    }


def damaged(source: Path, target: Path) -> Path:
    """A copy of a model directory whose weights were cut short (as by an interrupted copy)."""
    shutil.copytree(source, target)
    weights = target / artifact.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:100])
    return target


@pytest.fixture
def repository(tmp_path: Path, trained: dict[str, Path]) -> Path:
    """topics/1 (versioned), digest (a plain model directory) and broken (damaged)."""
    root = tmp_path / "repository"
    shutil.copytree(trained["topics-1"], root / "topics" / "1")
    shutil.copytree(trained["digest"], root / "digest")
    damaged(trained["digest"], root / "broken")
    return root


def serve(root: Path, **options: Any) -> TestClient:
    options = {"default_model": "topics", "poll_interval_s": 0, **options}
    settings = Settings(model_repository=root, **options)
    return TestClient(create_app(settings))


def models(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/models")
    assert response.status_code == 200
    return {m["name"]: m for m in response.json()}


def metric(client: TestClient, line_start: str) -> float:
    [line] = [x for x in client.get("/metrics").text.splitlines() if x.startswith(line_start + " ")]
    return float(line.rsplit(" ", 1)[1])


def fingerprint(directory: Path) -> str:
    return artifact.fingerprint(directory)


def test_two_models_answer_from_one_repository_and_a_damaged_one_is_reported(
    repository: Path, trained: dict[str, Path]
) -> None:
    with serve(repository) as client:
        listed = models(client)
        assert sorted(listed) == ["broken", "digest", "topics"]
        topics, digest, broken = listed["topics"], listed["digest"], listed["broken"]
        assert topics["ready"] and topics["default"] and topics["tasks"] == ["classify"]
        assert topics["labels"] == TREC_LABELS
        assert (topics["number"], topics["versions"]) == (1, [1])
        assert topics["version"] == fingerprint(trained["topics-1"])
        assert digest["ready"] and digest["tasks"] == ["summarize"] and digest["number"] is None
        assert broken["state"] == "failed" and not broken["ready"] and broken["version"] is None
        assert "does not match its sha256" in broken["error"]

        classified = client.post("/v1/models/topics/classify", json={"text": QUESTION})
        assert classified.status_code == 200
        body = classified.json()
        assert body["model"] == "topics" and body["version"] == topics["version"]
        assert set(body["results"][0]["scores"]) == set(TREC_LABELS)
        # The default model answers the single-model routes.
        assert client.post("/classify", json={"text": QUESTION}).json() == body
        assert client.get("/v1/model").json()["version"] == topics["version"]

        summarized = client.post("/v1/models/digest/summarize", json={"text": ARTICLE, "max_sentences": 2})
        assert summarized.status_code == 200
        assert summarized.json()["version"] == digest["version"]
        sentences = summarized.json()["results"][0]["sentences"]
        assert len(sentences) == 2 and all(ARTICLE[s["start"] : s["end"]] == s["text"] for s in sentences)

        unsupported = client.post("/v1/models/digest/classify", json={"text": QUESTION})
        assert (unsupported.status_code, unsupported.json()["type"]) == (400, "unsupported_task")
        assert client.post("/summarize", json={"text": ARTICLE}).status_code == 400  # topics cannot
        missing = client.post("/v1/models/nope/classify", json={"text": QUESTION})
        assert missing.status_code == 404 and "GET /v1/models" in missing.json()["detail"]
        assert missing.json()["type"] == "model_not_found"
        assert client.get("/v1/models/nope").json()["type"] == "model_not_found"
        unusable = client.post("/v1/models/broken/summarize", json={"text": ARTICLE})
        assert unusable.status_code == 503 and "sha256" in unusable.json()["detail"]
        assert unusable.json()["type"] == "model_unavailable"
        assert client.get("/v1/models/digest").json() == digest
        assert client.get("/ready").status_code == 200

        assert metric(client, 'textcnn_model_loaded{model="topics"}') == 1
        assert metric(client, 'textcnn_model_loaded{model="digest"}') == 1
        assert metric(client, 'textcnn_model_load_failures_total{model="broken"}') == 1
        assert metric(client, 'textcnn_model_requests_total{model="topics",task="classify"}') == 2
        assert metric(client, 'textcnn_model_requests_total{model="digest",task="summarize"}') == 1
        assert metric(client, 'textcnn_model_forward_documents_count{model="digest"}') == 1
        route = 'method="POST",route="/v1/models/{name}/classify"'
        assert metric(client, f'textcnn_requests_total{{{route},status="404"}}') == 1


def hold(served_predictor: Any) -> threading.Event:
    """Make the predictor's forward pass wait for the returned event."""
    release = threading.Event()
    forward = served_predictor.model.forward

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(timeout=30)
        return forward(*args, **kwargs)

    served_predictor.model.forward = held
    return release


def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition never became true")


def test_a_new_version_swaps_in_while_in_flight_requests_finish_on_the_old(
    repository: Path, trained: dict[str, Path]
) -> None:
    old, new = fingerprint(trained["topics-1"]), fingerprint(trained["topics-2"])
    assert old != new
    with serve(repository) as client, ThreadPoolExecutor(1) as pool:
        store: ModelRepository = client.app.state.repository  # type: ignore[attr-defined]
        first = store.serving("topics")
        assert first is not None
        release = hold(first.predictor)
        in_flight = pool.submit(client.post, "/classify", json={"text": QUESTION})
        wait_until(lambda: first.active == 1)

        shutil.copytree(trained["topics-2"], repository / "topics" / "2")
        store.refresh()  # what each poll does
        answer = client.post("/classify", json={"text": QUESTION}).json()
        assert answer["version"] == new
        assert first.retired and all(w._thread.is_alive() for w in first.workers)  # type: ignore[attr-defined]
        release.set()
        assert in_flight.result().status_code == 200
        assert in_flight.result().json()["version"] == old
        wait_until(lambda: not any(w._thread.is_alive() for w in first.workers))  # type: ignore[attr-defined]
        # The old version's memory is handed back at the next poll.
        old_predictor = weakref.ref(first.predictor)
        first = None  # the last reference the test holds
        store.refresh()
        assert old_predictor() is None
        assert metric(client, 'textcnn_model_swaps_total{model="topics"}') == 1
        assert client.app.state.predictor is store.serving("topics").predictor  # type: ignore[attr-defined, union-attr]
        info = [x for x in client.get("/metrics").text.splitlines() if x.startswith("textcnn_model_info{")]
        assert info == [f'textcnn_model_info{{name="topics-2",version="{new}"}} 1.0']

        # A damaged version 3 is reported and version 2 keeps serving; so is a plain refresh.
        damaged(trained["topics-1"], repository / "topics" / "3")
        store.refresh()
        store.refresh()  # the same files are not tried twice
        topics = models(client)["topics"]
        assert (topics["state"], topics["number"], topics["version"]) == ("loaded", 2, new)
        assert "does not match its sha256" in topics["error"] and topics["versions"] == [1, 2, 3]
        assert client.post("/classify", json={"text": QUESTION}).json()["version"] == new
        assert metric(client, 'textcnn_model_load_failures_total{model="topics"}') == 1

        # Loading it by request says why it failed; pinning a good version serves that one.
        refused = client.post("/v1/models/topics/load")
        assert refused.status_code == 409 and "sha256" in refused.json()["detail"]
        assert refused.json()["type"] == "load_failed"
        pinned = client.post("/v1/models/topics/load", json={"version": 1})
        assert pinned.status_code == 200
        assert (pinned.json()["number"], pinned.json()["pinned"], pinned.json()["version"]) == (1, 1, old)
        assert pinned.json()["error"] is None
        assert client.post("/classify", json={"text": QUESTION}).json()["version"] == old
        assert client.post("/v1/models/topics/load", json={"version": 7}).status_code == 409
        assert (models(client)["topics"]["version"], models(client)["topics"]["pinned"]) == (old, 1)
        assert client.post("/v1/models/topics/load", json={"version": "two"}).status_code == 422


def test_unload_and_load_again(repository: Path) -> None:
    with serve(repository) as client:
        unloaded = client.post("/v1/models/topics/unload").json()
        assert (unloaded["state"], unloaded["ready"], unloaded["version"]) == ("unloaded", False, None)
        assert client.get("/ready").status_code == 503  # the default model is not loaded
        refused = client.post("/classify", json={"text": QUESTION})
        assert refused.status_code == 503 and "/v1/models/topics/load" in refused.json()["detail"]
        assert client.get("/v1/model").status_code == 503
        assert metric(client, 'textcnn_model_loaded{model="topics"}') == 0
        assert client.post("/v1/models/digest/summarize", json={"text": ARTICLE}).status_code == 200
        assert client.post("/v1/models/topics/load").json()["state"] == "loaded"
        assert client.get("/ready").status_code == 200
        assert client.post("/classify", json={"text": QUESTION}).status_code == 200


def test_lazy_loading_keeps_at_most_the_cap_loaded(repository: Path, trained: dict[str, Path]) -> None:
    shutil.copytree(trained["topics-2"], repository / "questions")
    with serve(repository, load_models="lazy", max_loaded_models=2) as client:
        states = {name: m["state"] for name, m in models(client).items()}
        assert states == {
            "broken": "available",
            "digest": "available",
            "questions": "available",
            "topics": "loaded",
        }
        assert client.post("/v1/models/digest/summarize", json={"text": ARTICLE}).status_code == 200
        assert models(client)["digest"]["state"] == "loaded"
        assert client.post("/v1/models/questions/classify", json={"text": QUESTION}).status_code == 200
        states = {name: m["state"] for name, m in models(client).items()}
        # digest was the least recently used beside the default, which is never evicted.
        assert states == {
            "broken": "available",
            "digest": "available",
            "questions": "loaded",
            "topics": "loaded",
        }
        assert client.post("/v1/models/digest/summarize", json={"text": ARTICLE}).status_code == 200
        assert models(client)["questions"]["state"] == "available"
        assert client.post("/v1/models/broken/summarize", json={"text": ARTICLE}).status_code == 503
        assert models(client)["broken"]["state"] == "failed"


def test_the_poller_picks_up_a_new_version_and_a_new_model(
    repository: Path, trained: dict[str, Path]
) -> None:
    with serve(repository, poll_interval_s=0.05) as client:
        shutil.copytree(trained["topics-2"], repository / "topics" / ".incoming")
        os.rename(repository / "topics" / ".incoming", repository / "topics" / "2")
        shutil.copytree(trained["digest"], repository / "digest-copy")
        wait_until(lambda: models(client)["topics"]["number"] == 2)
        assert client.post("/classify", json={"text": QUESTION}).json()["version"] == fingerprint(
            trained["topics-2"]
        )
        wait_until(lambda: "digest-copy" in models(client))
        assert client.post("/v1/models/digest-copy/summarize", json={"text": ARTICLE}).status_code == 200
        shutil.rmtree(repository / "digest-copy")
        wait_until(lambda: "digest-copy" not in models(client))


def test_several_models_need_a_default(repository: Path) -> None:
    with (
        pytest.raises(ModelLoadError, match="set TEXTCNN_DEFAULT_MODEL"),
        serve(repository, default_model=None),
    ):
        pass
    with (
        pytest.raises(ModelLoadError, match="'nope' is not in the repository"),
        serve(repository, default_model="nope"),
    ):
        pass


def test_a_default_model_that_fails_is_not_ready_until_its_files_are_fixed(
    repository: Path, trained: dict[str, Path]
) -> None:
    shutil.rmtree(repository / "topics" / "1")
    damaged(trained["topics-1"], repository / "topics" / "1")
    with serve(repository) as client:
        assert client.get("/ready").status_code == 503
        topics = models(client)["topics"]
        assert topics["state"] == "failed" and "sha256" in topics["error"]
        assert client.post("/classify", json={"text": QUESTION}).status_code == 503
        assert client.post("/v1/models/digest/summarize", json={"text": ARTICLE}).status_code == 200
        store: ModelRepository = client.app.state.repository  # type: ignore[attr-defined]
        shutil.copyfile(
            trained["topics-1"] / artifact.WEIGHTS, repository / "topics" / "1" / artifact.WEIGHTS
        )
        store.refresh()
        assert client.get("/ready").status_code == 200
        assert models(client)["topics"]["error"] is None


def test_a_repository_and_a_model_directory_are_not_both_set(repository: Path, bbc_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="TEXTCNN_MODEL_DIR or TEXTCNN_MODEL_REPOSITORY, not both"):
        Settings(model_repository=repository, model_dir=bbc_model_dir)
    with pytest.raises(ValueError, match="'news=two' is not name=version"):
        Settings(model_repository=repository, model_versions="news=two")
    assert Settings(model_repository=repository, model_versions="news=2, tickets=1").pins() == {
        "news": 2,
        "tickets": 1,
    }


def test_load_and_unload_need_the_api_key(repository: Path) -> None:
    with serve(repository, api_keys="secret") as client:
        assert client.post("/v1/models/digest/unload").status_code == 401
        assert client.get("/v1/models").status_code == 401
        headers = {"X-API-Key": "secret"}
        assert client.post("/v1/models/digest/unload", headers=headers).json()["state"] == "unloaded"
        assert client.post("/v1/models/digest/load", headers=headers).json()["state"] == "loaded"


def test_one_model_directory_is_a_repository_of_one(bbc_model_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=bbc_model_dir))) as client:
        [model] = client.get("/v1/models").json()
        assert model["name"] == "bbc-small" and model["default"] and model["state"] == "loaded"
        assert model["version"] == client.get("/v1/model").json()["version"] == fingerprint(bbc_model_dir)
        assert client.post("/v1/models/bbc-small/classify", json={"text": ARTICLE}).status_code == 200
        assert client.post("/v1/models/bbc-small/load", json={"version": 2}).status_code == 409


@pytest.fixture
def server(repository: Path, tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "TEXTCNN_MODEL_REPOSITORY": str(repository),
        "TEXTCNN_DEFAULT_MODEL": "topics",
        "TEXTCNN_HOST": "127.0.0.1",
        "TEXTCNN_PORT": str(PORT),
        "TEXTCNN_LOG_FORMAT": "text",
    }
    env.pop("TEXTCNN_MODEL_DIR", None)
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "service"], env=env, stderr=stderr)
    url = f"http://127.0.0.1:{PORT}"
    for _ in range(1200):
        try:
            urllib.request.urlopen(f"{url}/ready", timeout=1)
            break
        except OSError:
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
    yield url
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    written = log.read_text()
    assert "the model broken was not loaded" in written and "does not match its sha256" in written


def test_a_real_server_serves_the_repository(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        listed = {m["name"]: m for m in client.get("/v1/models").json()}
        assert [listed[n]["ready"] for n in ("broken", "digest", "topics")] == [False, True, True]
        classified = client.post(
            "/v1/models/topics/classify", json={"texts": [QUESTION, "Who wrote Hamlet ?"]}
        )
        assert classified.status_code == 200 and len(classified.json()["results"]) == 2
        assert classified.json()["version"] == listed["topics"]["version"]
        summarized = client.post("/v1/models/digest/summarize", json={"text": ARTICLE, "max_sentences": 1})
        assert summarized.status_code == 200 and len(summarized.json()["results"][0]["sentences"]) == 1
        assert client.get("/ready").status_code == 200
