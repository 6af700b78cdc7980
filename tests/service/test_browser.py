"""The demo page and the docs in a real headless Chromium, against a uvicorn server on 127.0.0.1, with
every request that leaves the server refused: both must work without internet.

Needs Debian's chromium at /usr/bin/chromium and the playwright package (never `playwright install`);
skipped with the reason when either is missing. Screenshots go to artifacts/ (ignored by git).
"""

import contextlib
import json
import random
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
from tests.conftest import document
from textcnn.predict import DEFAULT_MODEL_DIR
from training.run_config import TrainConfig
from training.train import train

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

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
KEY = "demo-key-7"

if not CHROMIUM.exists():
    pytest.skip(
        f"needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on a free port of 127.0.0.1, until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def model_dir(request: pytest.FixtureRequest) -> Path:
    """The default model when it is there, else the test model."""
    if (DEFAULT_MODEL_DIR / "config.json").exists():
        return DEFAULT_MODEL_DIR
    path: Path = request.getfixturevalue("bbc_model_dir")
    return path


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[str]:
    with serving(Settings(model_dir=model_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def keyed_server(model_dir: Path) -> Iterator[str]:
    with serving(Settings(model_dir=model_dir, api_keys=KEY)) as url:
        yield url


@pytest.fixture(scope="module")
def question_server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A classification-only model of TREC question types: no summaries, no examples, no news."""
    config = TrainConfig(
        train=str(data_dir / "trec_train.jsonl"),
        out=str(tmp_path_factory.mktemp("models") / "questions"),
        name="questions",
        embedding_mode="rand",
        embedding_dim=16,
        num_filters=8,
        min_freq=1,
        epochs=2,
        batch_size=16,
        quiet=True,
    )
    with serving(Settings(model_dir=train(config))) as url:
        yield url


@pytest.fixture(scope="module")
def summary_server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A summarization-only model: BBC articles with their summaries and without their labels."""
    folder = tmp_path_factory.mktemp("unlabelled")
    for name in ["bbc_train.jsonl", "bbc_dev.jsonl"]:
        rows = [json.loads(line) for line in (data_dir / name).read_text().splitlines()]
        lines = [json.dumps({k: v for k, v in row.items() if k != "label"}) for row in rows]
        (folder / name).write_text("\n".join(lines) + "\n")
    config = TrainConfig(
        train=str(folder / "bbc_train.jsonl"),
        dev=str(folder / "bbc_dev.jsonl"),
        out=str(tmp_path_factory.mktemp("models") / "summaries"),
        name="summaries",
        bag_of_words=False,  # it adds to the class logits, and this model has none
        embedding_mode="rand",
        embedding_dim=16,
        num_filters=8,
        context_dim=8,
        min_freq=1,
        epochs=2,
        batch_size=8,
        quiet=True,
    )
    with serving(Settings(model_dir=train(config))) as url:
        yield url


@pytest.fixture(scope="module")
def topic_server(multilabel_dir: Path) -> Iterator[str]:
    """A multi-label model of topic documents (tests/conftest.py): several labels, or none, per text."""
    with serving(Settings(model_dir=multilabel_dir)) as url:
        yield url


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
def context(browser: "Browser", outside: list[str]) -> Iterator["BrowserContext"]:
    """A fresh browser context whose requests anywhere but 127.0.0.1 are aborted and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])

    def local_only(route: "Route") -> None:
        url = route.request.url
        if url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", local_only)
    yield context
    context.close()


@pytest.fixture()
def page(context: "BrowserContext") -> "Page":
    return context.new_page()


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


def distinct(ngrams: list[dict[str, Any]], shown: int = 8) -> list[tuple[str, float]]:
    """The page's list of n-grams: one entry per token sequence, contributions summed, strongest first."""
    totals: dict[str, list[Any]] = {}
    for n in ngrams:
        entry = totals.setdefault(" ".join(n["tokens"]), [n["text"], 0.0])
        entry[1] += n["contribution"]
    return sorted(((text, total) for text, total in totals.values()), key=lambda p: -p[1])[:shown]


def ready(page: "Page", server: str) -> None:
    page.goto(server + "/")
    page.wait_for_selector('body[data-state="ready"]')


def run(page: "Page", text: str) -> None:
    page.fill("#article", text)
    page.click("#run")
    page.wait_for_selector('body[data-state="done"]')


# The view's highlighted elements as [start, end) in UTF-16 code units of the text, from the DOM itself.
RANGES = """(selector) => {
  const view = document.getElementById("view");
  return [...view.querySelectorAll(selector)].map((element) => {
    const before = document.createRange();
    before.setStart(view, 0);
    before.setEndBefore(element);
    const start = before.toString().length;
    return [start, start + element.textContent.length];
  });
}"""


def test_demo_classifies_and_highlights_the_summary(page: "Page", server: str, outside: list[str]) -> None:
    rows = [json.loads(line) for line in TEST_SPLIT.read_text().splitlines()]
    article = next(r["text"] for r in rows if r["label"] == "sport")
    [classified] = post(server, "/classify", {"text": article, "explain": True, "top_ngrams": 24})["results"]
    [summary] = post(server, "/summarize", {"text": article, "max_sentences": 4, "explain": True})["results"]

    ready(page, server)
    assert page.text_content("#run") == "Classify and summarize"
    assert page.is_visible("#length") and page.is_visible("#picker")
    page.fill("#length", "4")
    run(page, article)

    assert page.text_content("#label") == classified["label"]
    confidence = round(100 * classified["confidence"])
    assert page.text_content("#confidence") == f"The model gives it {confidence}% probability."
    share = round(100 * classified["known_token_share"])
    assert page.text_content("#known") == f"The model knows {share}% of these words."
    marks = page.locator("#view mark.summary")
    assert marks.all_text_contents() == [s["text"] for s in summary["sentences"]]
    # The summary is a plain text box to read and copy, and each sentence's score is written out.
    assert page.input_value("#summary-text") == summary["summary"]
    reasons = page.locator("#reasons .reason").all_text_contents()
    assert len(reasons) == len(summary["sentences"])
    for reason, sentence in zip(reasons, summary["sentences"], strict=True):
        score = round(100 * sentence["score"])
        assert reason.startswith(f"Sentence {sentence['index'] + 1}, {score}% likely to belong in a summary")
        assert "mostly for " in reason and "logit" not in reason
    # N-grams: each distinct one once, with its strength in words, not a logit.
    listed = page.locator("#ngrams li .text").all_text_contents()
    expected = distinct(classified["explanation"]["ngrams"])
    assert listed == [text for text, _ in expected]
    assert len(set(listed)) == len(listed)
    strengths = page.locator("#ngrams li .strength").all_text_contents()
    assert strengths[0].startswith("strong clue") and all(" clue" in s for s in strengths)
    assert page.locator("#view").text_content() == article
    bars = page.locator("#bars .bar").all()
    assert [b.get_attribute("data-label") for b in bars] == list(classified["scores"])
    screenshot(page, "demo.png")

    page.click("#copy")
    page.wait_for_selector("#copied:has-text('Copied.')")
    assert page.evaluate("navigator.clipboard.readText()") == summary["summary"]

    other = next(label for label in classified["scores"] if label != classified["label"])
    with page.expect_response(lambda r: r.url.endswith("/classify")):
        page.click(f'#bars .bar[data-label="{other}"]')
    page.wait_for_selector('body[data-state="done"]')
    assert page.text_content("#explained-label") == other
    assert page.text_content("#label") == classified["label"]
    assert outside == []


def test_highlights_stay_on_their_words_after_emoji_cjk_and_combining_marks(
    page: "Page", server: str, outside: list[str]
) -> None:
    # Astral characters (emoji, a flag, a skin tone, a family joined by ZWJ, a CJK extension-B
    # character) take two UTF-16 code units; combining marks and BMP CJK take one code point each.
    text = (
        "United 😀 win the cup 🇬🇧 at Wembley\n"
        "😀👍🏽 United beat Chelsea 2-1 in the final at Wembley on Saturday. "
        "The cafe\u0301 owner in 東京 and 𠮷野 cheered 👨‍👩‍👧 as the striker scored twice. "
        "Chelsea's manager said his side had played well but lost the match to United. "
        "Fans of both clubs filled the stadium 🎉 for the game."
    )
    body = {"text": text, "explain": True, "top_ngrams": 24, "offsets": "utf16"}
    [classified] = post(server, "/classify", body)["results"]
    [summary] = post(server, "/summarize", {**body, "max_sentences": 2})["results"]

    ready(page, server)
    page.fill("#length", "2")
    run(page, text)

    assert page.locator("#view").text_content() == text
    assert page.locator("#view mark.summary").all_text_contents() == [s["text"] for s in summary["sentences"]]
    marks = page.evaluate(RANGES, "mark.summary")
    assert marks == [[s["start"], s["end"]] for s in summary["sentences"]]
    # Every highlighted piece lies inside an n-gram the API named, and their union is the n-grams'.
    ngrams = [(n["start"], n["end"]) for n in classified["explanation"]["ngrams"]]
    pieces = page.evaluate(RANGES, ".ngram")
    assert pieces and all(any(a <= start and end <= b for a, b in ngrams) for start, end in pieces)
    assert {i for a, b in pieces for i in range(a, b)} == {i for a, b in ngrams for i in range(a, b)}
    # And after the astral characters too: each n-gram named after 😀👍🏽 is highlighted whole.
    after = len(text[: text.index("United beat")].encode("utf-16-le")) // 2
    later = [(a, b) for a, b in ngrams if a >= after]
    highlighted = {i for a, b in pieces for i in range(a, b)}
    assert later and all(set(range(a, b)) <= highlighted for a, b in later)
    screenshot(page, "demo-unicode.png")
    assert outside == []


def test_picking_an_example_and_the_length_slider(page: "Page", server: str, outside: list[str]) -> None:
    ready(page, server)
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
    # Editing the text makes it no longer the example: the picker lets go of it.
    page.press("#article", "End")
    page.keyboard.type(" More.")
    assert page.input_value("#examples") == ""
    assert outside == []


def test_an_empty_submit_asks_for_text_and_sends_nothing(
    page: "Page", server: str, outside: list[str]
) -> None:
    predictions: list[str] = []
    page.on("request", lambda r: predictions.append(r.url) if r.method == "POST" else None)
    ready(page, server)
    page.fill("#article", "  \n ")
    page.click("#run")
    assert page.text_content("#status") == "Paste a text or pick an example first."
    assert predictions == [] and page.get_attribute("body", "data-state") == "ready"
    icon = page.get_attribute('link[rel="icon"]', "href")
    answer = page.request.get(server + icon)
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert outside == []


def test_text_the_model_does_not_know_gets_a_warning(page: "Page", server: str, outside: list[str]) -> None:
    german = "Die Regierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer Energien beschlossen."
    [classified] = post(server, "/classify", {"text": german})["results"]
    assert classified["known_token_share"] < 0.5
    ready(page, server)
    run(page, german)
    known = page.locator("#known")
    assert "warning" in (known.get_attribute("class") or "")
    share = round(100 * classified["known_token_share"])
    assert known.text_content().startswith(f"The model knows only {share}% of these words.")
    screenshot(page, "demo-unknown-words.png")
    assert outside == []


def test_a_server_with_keys_asks_for_one(
    context: "BrowserContext", keyed_server: str, outside: list[str]
) -> None:
    page = context.new_page()
    page.goto(keyed_server + "/")
    page.wait_for_selector('body[data-state="needs-key"]')
    assert page.is_visible("#key-form")
    assert page.text_content("#status") == "This server needs an API key. Enter it above."
    assert "not ready" not in page.text_content("body")
    screenshot(page, "demo-needs-key.png")

    page.fill("#key", "wrong")
    page.click("#use-key")
    page.wait_for_selector("#status:has-text('did not accept')")
    page.fill("#key", KEY)
    page.click("#use-key")
    page.wait_for_selector('body[data-state="ready"]')
    assert page.evaluate("sessionStorage.getItem('textcnn-api-key')") == KEY
    run(page, "Shares in the bank fell 5% after profits dropped sharply.")
    assert page.text_content("#label")
    # sessionStorage belongs to the tab: another tab asks again.
    other = context.new_page()
    other.goto(keyed_server + "/")
    other.wait_for_selector('body[data-state="needs-key"]')
    assert outside == []


def test_a_classification_only_model_gets_a_page_without_summaries(
    page: "Page", question_server: str, outside: list[str]
) -> None:
    ready(page, question_server)
    assert page.text_content("#run") == "Classify"
    for hidden in ["#length-control", "#legend-summary", "#picker"]:
        assert not page.is_visible(hidden), hidden
    placeholder = page.get_attribute("#article", "placeholder")
    assert placeholder.startswith("Paste a text to classify. It knows 6 categories: ")
    assert "news" not in placeholder.lower() and "article" not in placeholder.lower()
    run(page, "What is the capital of France ?")
    assert page.is_visible("#categories") and not page.is_visible("#summary")
    assert page.locator("#view mark.summary").count() == 0
    screenshot(page, "demo-classify-only.png")
    assert outside == []


def test_a_multi_label_model_shows_every_chosen_label(
    page: "Page", topic_server: str, outside: list[str]
) -> None:
    text = document(random.Random(7), ["grain", "ships"])
    [classified] = post(topic_server, "/classify", {"text": text, "top_k": 10})["results"]
    chosen = [x["label"] for x in classified["labels"]]
    assert len(chosen) == 2
    ready(page, topic_server)
    run(page, text)
    assert page.text_content("#label-heading") == "Labels: "
    assert page.text_content("#label") == ", ".join(chosen)
    confidence = page.text_content("#confidence")
    assert confidence.startswith("Each label is chosen where its probability reaches its threshold")
    for x in classified["labels"]:
        assert f"{x['label']} {round(100 * x['probability'])}%" in confidence
    bold = page.locator("#bars .bar.predicted").all()
    assert sorted(b.get_attribute("data-label") for b in bold) == sorted(chosen)
    screenshot(page, "demo-multi-label.png")
    run(page, "The a report said on monday officials that in of week market new.")
    assert page.text_content("#label") == "none"
    assert page.locator("#bars .bar.predicted").count() == 0
    assert outside == []


def test_docs_render_without_network(page: "Page", server: str, outside: list[str]) -> None:
    page.goto(server + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "textcnn" in page.text_content(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path[data-path='/classify']")
    screenshot(page, "docs.png")
    assert outside == []


def test_a_summarization_only_model_gets_a_page_without_categories(
    page: "Page", summary_server: str, outside: list[str]
) -> None:
    ready(page, summary_server)
    assert page.text_content("#run") == "Summarize"
    assert page.is_visible("#length") and not page.is_visible("#legend-ngram")
    assert page.get_attribute("#article", "placeholder") == "Paste a text to summarize."
    article = json.loads(TEST_SPLIT.read_text().splitlines()[0])["text"]
    page.fill("#length", "2")
    run(page, article)
    [summary] = post(summary_server, "/summarize", {"text": article, "max_sentences": 2})["results"]
    assert not page.is_visible("#categories") and page.is_visible("#summary")
    assert page.input_value("#summary-text") == summary["summary"]
    assert page.locator("#view .ngram").count() == 0
    screenshot(page, "demo-summarize-only.png")
    assert outside == []
