"""The demo page and the docs in a real headless Chromium, against a uvicorn server on 127.0.0.1, with
every request that leaves the server refused: both must work without internet.

Needs Debian's chromium at /usr/bin/chromium and the playwright package (never `playwright install`);
skipped with the reason when either is missing. Screenshots go to artifacts/ (ignored by git).
"""

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from service.app import create_app
from service.settings import Settings
from textcnn.predict import DEFAULT_MODEL_DIR

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "artifacts"
TEST_SPLIT = ROOT / "data" / "bbc_news_summary" / "test.jsonl"

if not CHROMIUM.exists():
    pytest.skip(
        f"needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The app under uvicorn on a free port; the default model when it is there, else the test model."""
    model_dir = (
        DEFAULT_MODEL_DIR
        if (DEFAULT_MODEL_DIR / "config.json").exists()
        else request.getfixturevalue("bbc_model_dir")
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = create_app(Settings(model_dir=model_dir))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture()
def outside() -> list[str]:
    """The URLs the page tried to load from anywhere but the server."""
    return []


@pytest.fixture()
def page(browser: "Browser", server: str, outside: list[str]) -> Iterator["Page"]:
    """A fresh page whose requests anywhere but the server are aborted and recorded in `outside`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def local_only(route: "Route") -> None:
        url = route.request.url
        if url.startswith(server + "/"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", local_only)
    yield context.new_page()
    context.close()


def post(server: str, path: str, body: dict[str, object]) -> dict[str, Any]:
    request = urllib.request.Request(
        server + path, json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def screenshot(page: "Page", name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_demo_classifies_and_highlights_the_summary(page: "Page", server: str, outside: list[str]) -> None:
    rows = [json.loads(line) for line in TEST_SPLIT.read_text().splitlines()]
    article = next(r["text"] for r in rows if r["label"] == "sport")
    [classified] = post(server, "/classify", {"text": article, "explain": True, "top_ngrams": 8})["results"]
    [summary] = post(server, "/summarize", {"text": article, "max_sentences": 4})["results"]

    page.goto(server + "/")
    page.wait_for_selector('body[data-state="ready"]')
    page.fill("#article", article)
    page.fill("#length", "4")
    page.click("#run")
    page.wait_for_selector('body[data-state="done"]')

    assert page.text_content("#label") == classified["label"]
    marks = page.locator("#view mark.summary")
    assert marks.all_text_contents() == [s["text"] for s in summary["sentences"]]
    for mark, sentence in zip(marks.all(), summary["sentences"], strict=True):
        assert mark.get_attribute("title").startswith(f"summary score {sentence['score']:.3f}")
    listed = page.locator("#ngrams li .text").all_text_contents()
    assert listed == [n["text"] for n in classified["explanation"]["ngrams"]]
    highlighted = "".join(page.locator("#view .ngram").all_text_contents())
    assert all(n["text"] in highlighted or n["text"] in article for n in classified["explanation"]["ngrams"])
    assert page.locator("#view").text_content() == article
    bars = page.locator("#bars .bar").all()
    assert [b.get_attribute("data-label") for b in bars] == list(classified["scores"])
    screenshot(page, "demo.png")

    other = next(label for label in classified["scores"] if label != classified["label"])
    with page.expect_response(lambda r: r.url.endswith("/classify")):
        page.click(f'#bars .bar[data-label="{other}"]')
    page.wait_for_selector('body[data-state="done"]')
    assert page.text_content("#explained-label") == other
    assert page.text_content("#label") == classified["label"]
    assert outside == []


def test_picking_an_example_and_the_length_slider(page: "Page", server: str, outside: list[str]) -> None:
    page.goto(server + "/")
    page.wait_for_selector('body[data-state="ready"]')
    page.select_option("#examples", label="Nintendo adds media playing to DS")
    text = page.input_value("#article")
    assert text.startswith("Nintendo adds media playing to DS")
    page.click("#run")
    page.wait_for_selector('body[data-state="done"]')
    with page.expect_response(lambda r: r.url.endswith("/summarize")):
        page.fill("#length", "2")
    page.wait_for_selector('body[data-state="done"]')
    [summary] = post(server, "/summarize", {"text": text, "max_sentences": 2})["results"]
    texts = page.locator("#view mark.summary").all_text_contents()
    assert texts == [s["text"] for s in summary["sentences"]] and len(texts) == 2
    assert outside == []


def test_docs_render_without_network(page: "Page", server: str, outside: list[str]) -> None:
    page.goto(server + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "textcnn" in page.text_content(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path[data-path='/classify']")
    screenshot(page, "docs.png")
    assert outside == []
