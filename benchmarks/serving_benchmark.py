"""Serving speed on this machine, as JSON: the model's own limit, the library, HTTP, and peers.

    python -m benchmarks.serving_benchmark --out runs/serving_benchmark.json

Every figure is the median of `--repeats` runs over the BBC News test articles (221 of them):

- peak: the machine's limit, the higher GFLOP/s of two large float32 kernels with this process's
  torch threads (`--threads`): a 2048² matmul (BLAS) and a wide convolution (oneDNN, the library
  behind the model's own convolutions); on some CPUs one of the two libraries reaches only half of
  what the other does;
- lookup: the encoder as lookup tables (textcnn.lookup, Predictor.load's default) against the
  convolution it replaces and against float16 tables, in one run: labels, summary sentences and the
  largest probability gap on every article; library classify and summarize docs/s of each;
  milliseconds per article of each stage of the lookup path over the whole batch; the tables' RSS and
  bytes read per article beside the machine's copy bandwidth; and the peers classifying the same
  articles: TF-IDF + LinearSVC (scikit-learn's own tokenizer, word 1-2-grams, fitted on BBC train)
  and fastText with word bigrams;
- model: FLOPs per document (counted by torch) and docs/s of forward passes over pre-collated
  batches, with the GFLOP/s this achieves; bf16 autocast beside float32 (labels, selected
  sentences and the largest score difference on all test articles);
- library: batch classification and summarization docs/s through `Predictor` (splitting included),
  where the time of one ~400-word article goes (split / tokenize / collate / forward / decode /
  serialize), and sumy TextRank and LexRank per article (splitting included);
- http: `python -m service` on 127.0.0.1, with micro-batching on and off, `/classify` and
  `/summarize` (one article per request) at each concurrency for `--duration` seconds: requests/s and
  p50/p95/p99 latency, and the mean documents per forward pass from the server's metrics; `/summarize`
  of the ~400-word article at concurrency 1; then the worker's RSS over `--rss-duration` seconds;
  with `--workers N` the HTTP step's server runs N workers (then without documents per pass: each
  worker keeps its own metrics); with `--against DIR` the server of another checkout (a git worktree
  of an earlier commit, with its own default model) runs beside this one's, every run alternating
  between the two, so that the ratio of their figures does not ride on the machine's drift;
- ceiling: the same server with its forward passes replaced by constant scores
  (benchmarks/model_free_server.py), `/classify` and `/summarize` with micro-batching on at each
  concurrency: what the server's own per-request work (parsing, validation, splitting,
  tokenizing, answering) allows before the model adds anything.

The load generator is a small keep-alive HTTP/1.1 client on asyncio streams in this process, so it
takes little CPU from the server it shares the cores with. Nothing leaves the machine.
"""

import argparse
import asyncio
import gzip
import json
import logging
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.baselines import lexrank, textrank
from benchmarks.soak import ARTICLES, ROOT, free_port, machine, rss_mb, wait_ready
from service import schemas
from service.app import _summary
from service.cpu import available_cores
from service.offsets import converter
from textcnn import artifact
from textcnn.centrality import centrality
from textcnn.features import Document, collate
from textcnn.predict import DEFAULT_MODEL_DIR, Predictor, bf16_supported
from textcnn.sentences import split_sentences
from textcnn.tokenize import tokenize
from training.exits import one_line_errors

logger = logging.getLogger("serving_benchmark")


def timed(work: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` runs of `work`, after one warm-up run."""
    work()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def peak_gflops(repeats: int, size: int = 2048) -> dict[str, float]:
    """float32 GFLOP/s of a size x size matmul and of a 512-channel width-3 convolution over a batch
    of 32 x 256 positions, and the higher of the two as `peak`: what the cores can do at best."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    matmul = 2 * size**3 / timed(lambda: torch.mm(a, b), repeats * 3) / 1e9
    batch, channels, time_steps, width = 32, 512, 256, 3
    x, w = torch.randn(batch, channels, time_steps), torch.randn(channels, channels, width)
    with torch.inference_mode():
        seconds = timed(lambda: torch.nn.functional.conv1d(x, w), repeats * 3)
    convolution = 2 * batch * channels * channels * width * (time_steps - width + 1) / seconds / 1e9
    return {
        "matmul": round(matmul, 1),
        "convolution": round(convolution, 1),
        "peak": round(max(matmul, convolution), 1),
    }


def pass_documents(predictor: Predictor, documents: Sequence[Document]) -> list[list[Document]]:
    """The documents of each forward pass `predictor.scores` makes over `documents`."""
    return [[documents[i] for i in indexes] for indexes in predictor.forward_passes(documents)]


def model_only(predictor: Predictor, texts: Sequence[str], repeats: int, peak: float) -> dict[str, Any]:
    """The forward passes `Predictor.scores` makes, alone, over batches collated beforehand: the whole
    network, and the classification path (`score_sentences=False`, what `/classify` runs)."""
    chunks = pass_documents(predictor, predictor.prepare(texts))
    batches = [collate(chunk) for chunk in chunks]
    report: dict[str, Any] = {"batch_size": predictor.batch_size, "passes": len(batches)}
    for name, sentences in (("both_heads", True), ("classification", False)):
        counter = FlopCounterMode(display=False)
        with torch.inference_mode(), counter:
            for batch in batches:
                predictor.model(batch, score_sentences=sentences)
        flops = counter.get_total_flops() / len(texts)

        def forward_all(sentences: bool = sentences) -> None:
            with torch.inference_mode():
                for batch in batches:
                    predictor.model(batch, score_sentences=sentences)

        docs_per_s = len(texts) / timed(forward_all, repeats)
        report[name] = {
            "flops_per_document": flops,
            "docs_per_s": round(docs_per_s, 1),
            "gflops_per_s": round(flops * docs_per_s / 1e9, 2),
            "share_of_peak": round(flops * docs_per_s / 1e9 / peak, 3),
        }
    return report


def agreement(reference: Predictor, other: Predictor, texts: Sequence[str]) -> dict[str, Any]:
    """How far `other` strays from `reference` on every article: same labels? same summary
    sentences? the largest class and sentence probability gaps."""
    a_scores, b_scores = (p.scores(p.prepare(texts)) for p in (reference, other))
    class_gap = max(
        abs(x - y)
        for a, b in zip(a_scores, b_scores, strict=True)
        for x, y in zip(a.class_probs or (), b.class_probs or (), strict=True)
    )
    sentence_gap = max(
        abs(x - y)
        for a, b in zip(a_scores, b_scores, strict=True)
        for x, y in zip(a.sentence_probs or (), b.sentence_probs or (), strict=True)
    )
    labels = zip(reference.classify(texts), other.classify(texts), strict=True)
    summaries = zip(reference.summarize(texts), other.summarize(texts), strict=True)
    return {
        "same_label": sum(a.label == b.label for a, b in labels),
        "same_summary_sentences": sum(
            [s.index for s in a.sentences] == [s.index for s in b.sentences] for a, b in summaries
        ),
        "max_class_probability_gap": class_gap,
        "max_sentence_probability_gap": sentence_gap,
    }


def copy_bandwidth(repeats: int, megabytes: int = 512) -> float:
    """GB/s of copying a float32 tensor far larger than the caches (read plus write)."""
    source = torch.ones(megabytes * 2**18)
    target = torch.empty_like(source)
    return 2 * source.nbytes / timed(lambda: target.copy_(source), repeats) / 1e9


def bbc_train() -> list[dict[str, Any]]:
    """The BBC train split's rows, which the peers are fitted on."""
    with gzip.open(ROOT / "data" / "bbc_news_summary" / "train.jsonl.gz", "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def article_labels() -> list[str]:
    """The labels of the benchmark's articles, in order."""
    return [json.loads(line)["label"] for line in ARTICLES.read_text().splitlines()]


def linear_peer(texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """TF-IDF + LinearSVC fitted on BBC train, classifying `texts`: docs/s and accuracy."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    train = bbc_train()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LinearSVC(C=1.0).fit(
        vectorizer.fit_transform([r["text"] for r in train]), [r["label"] for r in train]
    )
    labels = article_labels()
    predicted = model.predict(vectorizer.transform(texts))
    seconds = timed(lambda: model.predict(vectorizer.transform(texts)), repeats)
    return {
        "docs_per_s": round(len(texts) / seconds, 1),
        "accuracy": round(float(sum(p == y for p, y in zip(predicted, labels, strict=True))) / len(texts), 4),
    }


def fasttext_peer(texts: Sequence[str], repeats: int) -> dict[str, Any] | None:
    """fastText with word bigrams (25 epochs, learning rate 0.5, one thread) fitted on BBC train,
    classifying `texts`: docs/s and accuracy, its tokenizing (lower-cased words and symbols
    separated by spaces, what fastText reads) included; None where fasttext is not installed."""
    try:
        import fasttext
    except ImportError:
        logger.warning("fasttext is not installed (pip install -e '.[bench]'): no fastText figures")
        return None
    token = re.compile(r"\w+|[^\w\s]")

    def words(text: str) -> str:
        return " ".join(token.findall(text.lower()))

    train = bbc_train()
    # fastText reads its file in order, and the file is grouped by label: unshuffled, the last
    # label's rows would pull every weight their way at the end of each epoch.
    random.Random(1).shuffle(train)
    with tempfile.TemporaryDirectory() as folder:
        lines = Path(folder) / "train.txt"
        lines.write_text("".join(f"__label__{r['label']} {words(r['text'])}\n" for r in train))
        model = fasttext.train_supervised(
            str(lines), wordNgrams=2, epoch=25, lr=0.5, thread=1, seed=1, verbose=0
        )
    labels = article_labels()
    predicted, _ = model.predict([words(t) for t in texts])
    seconds = timed(lambda: model.predict([words(t) for t in texts]), repeats)
    return {
        "docs_per_s": round(len(texts) / seconds, 1),
        "accuracy": round(
            sum(p[0] == f"__label__{y}" for p, y in zip(predicted, labels, strict=True)) / len(texts), 4
        ),
    }


def lookup_stages(predictor: Predictor, texts: Sequence[str], repeats: int) -> dict[str, float]:
    """Milliseconds per article of each stage of `predictor`'s summarize over all `texts`, in its
    forward passes: the forward pass split into the encoder, the bag of words, salience (graph
    centrality within it, and also alone) and the rest (classifier, sentence scorer)."""
    model = predictor.model
    documents = predictor.prepare(texts)
    chunks = pass_documents(predictor, documents)
    batches = [collate(chunk) for chunk in chunks]

    def over_batches(work: Callable[[Any], object]) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                for batch in batches:
                    work(batch)

        return run

    def encode(batch: Any) -> None:
        for bucket in batch.buckets:
            model.encoder(bucket.token_ids, bucket.lengths)

    def salience(batch: Any) -> None:
        model.salience(batch, torch.zeros(batch.num_docs, batch.max_sentences, model.output_dim))

    replay = Replay(predictor, documents)
    parts = {
        "split": timed(lambda: [split_sentences(t) for t in texts], repeats),
        "split_tokenize_lookup": timed(lambda: predictor.prepare(texts), repeats),
        "collate": timed(lambda: [collate(chunk) for chunk in chunks], repeats),
        "encoder": timed(over_batches(encode), repeats),
        "bag_of_words": timed(over_batches(model.bag_of_words), repeats),
        "salience": timed(over_batches(salience), repeats),
        "centrality": timed(over_batches(lambda b: centrality(b, model.token_idf)), repeats),
        "forward_both_heads": timed(over_batches(model), repeats),
        "decode_and_select": timed(lambda: replay.summarize(texts), repeats),
        "summarize_total": timed(lambda: predictor.summarize(texts), repeats),
    }
    parts["tokenize_lookup"] = parts.pop("split_tokenize_lookup") - parts["split"]
    parts["classifier_and_scorer"] = (
        parts["forward_both_heads"] - parts["encoder"] - parts["bag_of_words"] - parts["salience"]
    )
    return {k: round(1000 * v / len(texts), 4) for k, v in parts.items()}


def lookup_against_convolution(model_dir: Path, texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """The lookup tables against the convolution, float16 tables and TF-IDF + LinearSVC, one run."""
    pid = os.getpid()
    convolution = Predictor.load(model_dir, table_budget_mb=0)
    before = rss_mb(pid)
    lookup = Predictor.load(model_dir)
    tables_rss = rss_mb(pid) - before
    half = Predictor.load(model_dir, table_dtype="float16")

    def docs_per_s(predictor: Predictor) -> dict[str, float]:
        return {
            "classify_docs_per_s": round(len(texts) / timed(lambda: predictor.classify(texts), repeats), 1),
            "summarize_docs_per_s": round(len(texts) / timed(lambda: predictor.summarize(texts), repeats), 1),
        }

    speed = {
        "convolution": docs_per_s(convolution),
        "lookup": docs_per_s(lookup),
        "lookup_float16": docs_per_s(half),
    }
    linear = linear_peer(texts, repeats)
    fast = fasttext_peer(texts, repeats)
    stages = lookup_stages(lookup, texts, repeats)
    tokens = sum(d.num_tokens for d in lookup.prepare(texts)) / len(texts)
    config = lookup.model.config
    # Every token is read once per offset of every width: sum(widths) rows of num_filters floats.
    table_read = tokens * sum(config.filter_widths) * config.num_filters * 4
    bandwidth = copy_bandwidth(repeats)
    return {
        "inference": vars(lookup.inference),
        "rss_mb_of_tables": round(tables_rss, 1),
        "agreement_lookup": agreement(convolution, lookup, texts),
        "agreement_float16": agreement(convolution, half, texts),
        "speed": speed,
        "tfidf_linearsvc": linear,
        "fasttext_bigrams": fast,
        "classify_speedup_over_convolution": round(
            speed["lookup"]["classify_docs_per_s"] / speed["convolution"]["classify_docs_per_s"], 2
        ),
        "classify_ratio_to_tfidf_linearsvc": round(
            speed["lookup"]["classify_docs_per_s"] / linear["docs_per_s"], 2
        ),
        "summarize_ms_per_article": round(1000 / speed["lookup"]["summarize_docs_per_s"], 3),
        "stages_ms_per_article": stages,
        "tokens_per_article": round(tokens, 1),
        "table_mb_read_per_article": round(table_read / 1e6, 3),
        "encoder_gb_per_s_of_table_reads": round(table_read / stages["encoder"] / 1e6, 2),
        "copy_gb_per_s": round(bandwidth, 2),
    }


def bf16_agreement(model_dir: Path, texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """bf16 autocast against float32 on every article: same labels? same sentences? largest gap?"""
    fp32 = Predictor.load(model_dir)
    bf16 = Predictor.load(model_dir, bf16=True)
    a_scores, b_scores = fp32.scores(fp32.prepare(texts)), bf16.scores(bf16.prepare(texts))
    gaps = [
        abs(x - y)
        for a, b in zip(a_scores, b_scores, strict=True)
        for x, y in zip(
            (a.class_probs or ()) + (a.sentence_probs or ()),
            (b.class_probs or ()) + (b.sentence_probs or ()),
            strict=True,
        )
    ]
    labels = sum(a.label == b.label for a, b in zip(fp32.classify(texts), bf16.classify(texts), strict=True))
    same = sum(
        [s.index for s in a.sentences] == [s.index for s in b.sentences]
        for a, b in zip(fp32.summarize(texts), bf16.summarize(texts), strict=True)
    )
    return {
        "native_bf16": bf16_supported(),
        "articles": len(texts),
        "same_label": labels,
        "same_summary_sentences": same,
        "max_probability_gap": round(max(gaps), 5),
        "fp32_classify_docs_per_s": round(len(texts) / timed(lambda: fp32.classify(texts), repeats), 1),
        "bf16_classify_docs_per_s": round(len(texts) / timed(lambda: bf16.classify(texts), repeats), 1),
    }


def library(predictor: Predictor, texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """Batch calls through the library, splitting and tokenizing included, and sumy beside them."""
    n = len(texts)
    classify_s = timed(lambda: predictor.classify(texts), repeats)
    summarize_s = timed(lambda: predictor.summarize(texts), repeats)

    def per_article(extract: Callable[[Sequence[str], int], list[int]]) -> float:
        def run() -> None:
            for text in texts:
                extract([text[s.start : s.end] for s in split_sentences(text)], 3)

        return timed(run, repeats) / n

    def one_by_one() -> None:
        for text in texts:
            predictor.summarize([text])

    return {
        "classify_docs_per_s": round(n / classify_s, 1),
        "summarize_docs_per_s": round(n / summarize_s, 1),
        "summarize_ms_per_article_batched": round(1000 * summarize_s / n, 2),
        "summarize_ms_per_article_one_by_one": round(1000 * timed(one_by_one, repeats) / n, 2),
        "textrank_ms_per_article": round(1000 * per_article(textrank), 2),
        "lexrank_ms_per_article": round(1000 * per_article(lexrank), 2),
    }


def breakdown(predictor: Predictor, texts: Sequence[str], repeats: int) -> dict[str, Any]:
    """Milliseconds per document for each stage, for one article alone and for a batch of 32."""

    def stages(chunk: Sequence[str]) -> dict[str, float]:
        documents = predictor.prepare(chunk)
        batch = collate(documents)

        def split() -> None:
            for text in chunk:
                split_sentences(text)

        def forward() -> None:
            with torch.inference_mode():
                predictor.model(batch)

        replay = Replay(predictor, documents)
        version = artifact.fingerprint(DEFAULT_MODEL_DIR)
        summaries = predictor.summarize(chunk)

        def serialize() -> None:
            schemas.SummarizeResponse(
                model=predictor.info.name,
                version=version,
                results=[
                    _summary(summary, None, converter(text, "code_points"))
                    for summary, text in zip(summaries, chunk, strict=True)
                ],
            ).model_dump_json(exclude_none=True)

        parts = {
            "split": timed(split, repeats),
            "split_tokenize_lookup": timed(lambda: predictor.prepare(chunk), repeats),
            "collate": timed(lambda: collate(documents), repeats),
            "forward": timed(forward, repeats),
            "decode_and_select": timed(lambda: replay.summarize(chunk), repeats),
            "serialize": timed(serialize, repeats),
            "summarize_total": timed(lambda: predictor.summarize(chunk), repeats),
        }
        parts["tokenize_lookup"] = parts.pop("split_tokenize_lookup") - parts["split"]
        return {k: round(1000 * v / len(chunk), 3) for k, v in parts.items()}

    tokens = [sum(len(tokenize(t[s.start : s.end])) for s in split_sentences(t)) for t in texts]
    return {
        "one_article": stages([article_near(texts, 400)]),
        "batch_of_32": stages(texts[:32]),
        "median_tokens": statistics.median(tokens),
    }


class Replay(Predictor):
    """A Predictor that hands back documents and scores computed beforehand: times decoding alone."""

    def __init__(self, predictor: Predictor, documents: list[Document]) -> None:
        super().__init__(predictor.model, predictor.vocab, predictor.info)
        self.documents = documents
        self.cached = predictor.scores(documents)
        self.scorer = lambda _documents, sentences=True: self.cached

    def prepare(self, texts: Sequence[str]) -> list[Document]:
        return self.documents


def article_near(texts: Sequence[str], words: int) -> str:
    return min(texts, key=lambda t: abs(len(t.split()) - words))


# ---- HTTP ----


class Client:
    """One keep-alive HTTP/1.1 connection that posts JSON bodies and reads whole answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Client":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: bytes) -> int:
        head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        self.writer.write(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(
            int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
        )
        await self.reader.readexactly(length)
        return int(lines[0].split()[1])

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def load(
    port: int, path: str, bodies: Sequence[bytes], concurrency: int, seconds: float
) -> dict[str, Any]:
    """`concurrency` clients posting `bodies` in turn for `seconds` (after a one-second warm-up)."""
    clients = [await Client.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    warm, end = start + 1, start + 1 + seconds

    async def run(number: int, client: Client) -> None:
        i = number
        while (now := time.perf_counter()) < end:
            status = await client.post(path, bodies[i % len(bodies)])
            if now >= warm:
                latencies.append(time.perf_counter() - now)
                statuses[status] = statuses.get(status, 0) + 1
            i += concurrency

    await asyncio.gather(*(run(n, c) for n, c in enumerate(clients)))
    for client in clients:
        await client.close()
    latencies.sort()

    def at(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": at(0.5),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "statuses": statuses,
    }


def forward_sizes(port: int) -> tuple[float, float]:
    """(passes, documents) so far, from the server's metrics."""
    import httpx  # the load itself goes through Client; this is one request per run

    values: dict[str, float] = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("textcnn_forward_documents_count", "textcnn_forward_documents_sum"):
            values[name] = float(value)
    return values.get("textcnn_forward_documents_count", 0), values.get("textcnn_forward_documents_sum", 0)


@contextmanager
def server(settings: dict[str, str], module: str = "service", root: Path = ROOT) -> Iterator[tuple[int, int]]:
    """`python -m service` (or `module`) of the checkout at `root` on a free loopback port with these
    TEXTCNN_* settings: (port, pid)."""
    port = free_port()
    env = {**os.environ, **settings, "TEXTCNN_HOST": "127.0.0.1", "TEXTCNN_PORT": str(port)}
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(wait_ready(f"http://127.0.0.1:{port}", process))
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def route_runs(
    args: argparse.Namespace, ports: Sequence[int], bodies: Sequence[bytes], *, per_pass: bool = True
) -> list[dict[str, Any]]:
    """`/classify` and `/summarize` at each concurrency on each server, the median of `--repeats` runs
    each, keyed "ROUTE c=CLIENTS", one dict per port; the servers take turns run by run. With
    `per_pass` (one worker: with several, each keeps its own metrics), the mean documents per forward
    pass from each server's metrics."""
    results: list[dict[str, Any]] = [{} for _ in ports]
    for path in ("/classify", "/summarize"):
        for concurrency in args.concurrency:
            key = f"{path} c={concurrency}"
            run = partial(
                measured_run,
                path=path,
                bodies=bodies,
                concurrency=concurrency,
                seconds=args.duration,
                per_pass=per_pass,
            )
            for port, median, result in zip(
                ports, alternating(ports, args.repeats, run), results, strict=True
            ):
                result[key] = median
                logger.info("%s, port %d: %s", key, port, median)
    return results


def alternating(
    ports: Sequence[int], repeats: int, run: Callable[[int], dict[str, Any]]
) -> list[dict[str, Any]]:
    """The median of `repeats` runs of `run` on each port (median_run), the ports taking turns run by
    run so that the machine's drift falls on all of them alike."""
    runs: list[list[dict[str, Any]]] = [[] for _ in ports]
    for _ in range(repeats):
        for port, done in zip(ports, runs, strict=True):
            done.append(run(port))
    return [median_run(done) for done in runs]


def measured_run(
    port: int, path: str, bodies: Sequence[bytes], concurrency: int, seconds: float, per_pass: bool
) -> dict[str, Any]:
    """One `load` run, with the mean documents per forward pass during it when `per_pass`."""
    passes, documents = forward_sizes(port) if per_pass else (0, 0)
    run = asyncio.run(load(port, path, bodies, concurrency, seconds))
    if per_pass:
        more_passes, more_documents = forward_sizes(port)
        run["documents_per_pass"] = round((more_documents - documents) / max(1, more_passes - passes), 2)
    return run


def http(args: argparse.Namespace, texts: Sequence[str]) -> dict[str, Any]:
    """This checkout's server, micro-batching on and off; with `--against`, the other checkout's
    server beside it, each run alternating between the two, its runs under "against"."""
    bodies = [json.dumps({"text": t}).encode() for t in texts]
    article = json.dumps({"text": article_near(texts, 400)}).encode()
    roots = [ROOT, *([args.against] if args.against else [])]
    results: list[dict[str, Any]] = [{} for _ in roots]
    for batching in ("on", "off"):
        settings = {
            "TEXTCNN_MICRO_BATCHING": "true" if batching == "on" else "false",
            "TEXTCNN_WORKERS": str(args.workers),
        }
        with ExitStack() as servers:
            ports = [servers.enter_context(server(settings, root=root))[0] for root in roots]
            for ran, result in zip(
                route_runs(args, ports, bodies, per_pass=args.workers == 1), results, strict=True
            ):
                result.update({f"{key} batching={batching}": run for key, run in ran.items()})
            if batching == "on":
                one_client = alternating(
                    ports,
                    args.repeats,
                    lambda port: asyncio.run(load(port, "/summarize", [article], 1, args.duration)),
                )
                for median, result in zip(one_client, results, strict=True):
                    result["/summarize ~400 words c=1 batching=on"] = median
    this, *against = results
    if against:
        this["against"] = {
            "checkout": str(args.against),
            "commit": commit_of(args.against),
            "runs": against[0],
        }
    return this


def commit_of(root: Path) -> str:
    """The commit checked out at `root`, or "unknown" outside git."""
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def ceiling(args: argparse.Namespace, texts: Sequence[str]) -> dict[str, Any]:
    """The model-free server's requests/s, micro-batching on: the server's own limit."""
    bodies = [json.dumps({"text": t}).encode() for t in texts]
    with server({}, module="benchmarks.model_free_server") as (port, _):
        return route_runs(args, [port], bodies)[0]


def median_run(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs; the statuses of all of them."""
    statuses: dict[str, int] = {}
    for run in runs:
        for status, count in run["statuses"].items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    keys = [k for k in runs[0] if k != "statuses"]
    return {
        **{k: statistics.median(r[k] for r in runs) for k in keys},
        "statuses": statuses,
        "runs": len(runs),
    }


def memory(args: argparse.Namespace, texts: Sequence[str]) -> dict[str, Any]:
    """The worker's RSS (default settings) after start, after warm-up and through a steady load."""
    bodies = [json.dumps({"text": t}).encode() for t in texts]
    with server({}) as (port, pid):
        started = rss_mb(pid)
        samples: list[tuple[float, float]] = []

        async def sample(seconds: float) -> None:
            begin = time.perf_counter()
            while time.perf_counter() - begin < seconds:
                samples.append((round(time.perf_counter() - begin, 1), round(rss_mb(pid), 1)))
                await asyncio.sleep(5)
            samples.append((round(time.perf_counter() - begin, 1), round(rss_mb(pid), 1)))

        async def steady() -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(
                    load(port, "/classify", bodies, 16, args.rss_duration),
                    load(port, "/summarize", bodies, 16, args.rss_duration),
                    sample(args.rss_duration + 1),
                )
            )[:2]

        asyncio.run(load(port, "/summarize", bodies, 16, 10))  # warm-up: shapes, caches, allocator
        warm = rss_mb(pid)
        classify, summarize = asyncio.run(steady())
    return {
        "rss_mb_after_start": round(started, 1),
        "rss_mb_after_warm_up": round(warm, 1),
        "samples": samples,
        "growth_pct_over_run": round(100 * (samples[-1][1] - samples[0][1]) / samples[0][1], 2),
        "classify_requests_per_s": classify["requests_per_s"],
        "summarize_requests_per_s": summarize["requests_per_s"],
        "seconds": args.rss_duration,
    }


def markdown(report: dict[str, Any]) -> str:
    """The HTTP runs as a table: micro-batching on beside off for each route and concurrency; with
    `--against`, the other checkout's table after it."""
    http_runs = report.get("http", {})
    tables = [_table(http_runs)]
    if "against" in http_runs:
        against = http_runs["against"]
        tables.append(f"against {against['checkout']} ({against['commit']}), alternating run by run:")
        tables.append(_table(against["runs"]))
    return "\n\n".join(tables)


def _table(http_runs: dict[str, Any]) -> str:
    lines = [
        "| route | clients | on: req/s | on: p50 / p95 / p99 ms | docs per pass | off: req/s "
        "| off: p50 / p95 / p99 ms | on / off |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, on in http_runs.items():
        if not key.endswith("batching=on") or "words" in key:
            continue
        route, clients, _ = key.split()
        off = http_runs.get(key.replace("batching=on", "batching=off"))
        if off is None:
            continue
        per_pass = f"{on['documents_per_pass']:.1f}" if "documents_per_pass" in on else "–"
        lines.append(
            f"| {route} | {clients[2:]} | {on['requests_per_s']:.0f} | {_latency(on)} "
            f"| {per_pass} | {off['requests_per_s']:.0f} | {_latency(off)} "
            f"| {on['requests_per_s'] / off['requests_per_s']:.2f}x |"
        )
    words = http_runs.get("/summarize ~400 words c=1 batching=on")
    if words:
        lines.append(f"\n/summarize, ~400-word article, 1 client, p50 / p95 / p99 ms: {_latency(words)}")
    return "\n".join(lines)


def _latency(run: dict[str, Any]) -> str:
    return f"{run['p50_ms']:.1f} / {run['p95_ms']:.1f} / {run['p99_ms']:.1f}"


@one_line_errors()
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; medians are reported")
    parser.add_argument("--duration", type=float, default=5, help="seconds of load per HTTP run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes of the HTTP step's server"
    )
    parser.add_argument("--rss-duration", type=float, default=60, help="seconds of load for the RSS check")
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout (a git worktree of an earlier commit) whose server the HTTP step runs "
        "beside this one's, alternating run by run, so that their ratio does not ride on the machine's drift",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["lookup", "model", "library", "bf16", "http", "memory", "ceiling"],
    )
    parser.add_argument(
        "--threads", type=int, help="torch threads of this process; default: every core, as the library gets"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/serving_benchmark.json"))
    args = parser.parse_args()
    if args.against and not (args.against / "service" / "__main__.py").is_file():
        parser.exit(
            2, f"error: --against: {args.against} is not a textcnn checkout (no service/__main__.py)\n"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    # The in-process steps measure the library as a script gets it: torch's default of every core. The
    # server's workers set their own threads (service/cpu.py).
    torch.set_num_threads(args.threads or available_cores())
    texts = [json.loads(line)["text"] for line in ARTICLES.read_text().splitlines()]
    predictor = Predictor.load()
    report: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.serving_benchmark", *sys.argv[1:]]),
        "machine": {**machine(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "articles": len(texts),
        "median_words": statistics.median(len(t.split()) for t in texts),
    }
    steps: dict[str, Callable[[], Any]] = {
        "lookup": lambda: lookup_against_convolution(DEFAULT_MODEL_DIR, texts, args.repeats),
        "model": lambda: model_only(predictor, texts, args.repeats, report["peak_gflops"]),
        "library": lambda: {
            **library(predictor, texts, args.repeats),
            "breakdown_ms_per_document": breakdown(predictor, texts, args.repeats),
        },
        "bf16": lambda: bf16_agreement(DEFAULT_MODEL_DIR, texts, args.repeats),
        "http": lambda: http(args, texts),
        "memory": lambda: memory(args, texts),
        "ceiling": lambda: ceiling(args, texts),
    }
    peaks = peak_gflops(args.repeats)
    report["peak_gflops"], report["peak_kernels_gflops"] = peaks["peak"], peaks
    logger.info("peak %.1f GFLOP/s (%s)", peaks["peak"], peaks)
    for name, step in steps.items():
        if name not in args.skip:
            report[name] = step()
            logger.info("%s: %s", name, json.dumps(report[name]))
    report["machine"]["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    logger.info("wrote %s", args.out)
    if "http" in report:
        print(markdown(report))


if __name__ == "__main__":
    main()
