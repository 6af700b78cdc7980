"""Soak or overload the service on loopback and record what happened, as JSON.

Starts `python -m service` itself on 127.0.0.1 (a free port), waits for /ready, runs N concurrent
clients (httpx, asyncio) for a fixed time with a seeded mix of valid and invalid requests, samples
the server's resident memory, then stops the server with SIGTERM (it drains) and writes:
per-minute (--interval) request counts by status, 5xx, dropped connections, latency percentiles and
server RSS, and the same over the whole run.

    python -m benchmarks.soak --duration 300 --out runs/soak.json
    python -m benchmarks.soak --duration 60 --mix valid --env TEXTCNN_QUEUE_SIZE=8 --out runs/overload.json

Every request kind has the statuses it may get; anything else counts as an unexpected answer.
Nothing leaves the machine: the server listens on 127.0.0.1 only.
"""

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from training.exits import one_line_errors

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "bbc_news_summary" / "test.jsonl"
logger = logging.getLogger("soak")


@dataclass(frozen=True)
class Kind:
    """One kind of request: how to build it and which statuses are right for it."""

    name: str
    weight: int
    expected: frozenset[int]
    valid: bool


KINDS = [
    Kind("classify_one", 30, frozenset({200}), True),
    Kind("classify_batch", 10, frozenset({200}), True),
    Kind("summarize_one", 25, frozenset({200}), True),
    Kind("summarize_ratio", 8, frozenset({200}), True),
    Kind("explain", 4, frozenset({200}), True),
    Kind("invalid_type", 6, frozenset({422}), False),
    Kind("malformed_json", 4, frozenset({422}), False),
    Kind("too_many_documents", 3, frozenset({413}), False),
    Kind("body_too_large", 2, frozenset({413}), False),
    Kind("bad_ratio", 3, frozenset({422}), False),
    Kind("unknown_route", 2, frozenset({404}), False),
    Kind("wrong_content_type", 3, frozenset({422}), False),
]
BUSY = frozenset({503})  # a valid request may be turned away when the queue is full


def build(kind: str, rng: random.Random, articles: list[str]) -> tuple[str, str, dict[str, Any]]:
    """Method, path and httpx keyword arguments for one request of `kind`."""
    article = rng.choice(articles)
    if kind == "classify_one":
        return "POST", "/classify", {"json": {"text": article}}
    if kind == "classify_batch":
        return "POST", "/classify", {"json": {"texts": rng.sample(articles, rng.randint(2, 4)), "top_k": 2}}
    if kind == "summarize_one":
        return "POST", "/summarize", {"json": {"text": article, "max_sentences": rng.randint(1, 4)}}
    if kind == "summarize_ratio":
        return "POST", "/summarize", {"json": {"texts": [article, rng.choice(articles)], "ratio": 0.3}}
    if kind == "explain":
        return "POST", "/classify", {"json": {"text": article, "explain": True, "top_ngrams": 3}}
    if kind == "invalid_type":
        return "POST", rng.choice(["/classify", "/summarize"]), {"json": {"text": rng.choice([5, None, [1]])}}
    if kind == "malformed_json":
        return "POST", "/classify", {"content": b'{"text": "unterminated', "headers": _json}
    if kind == "too_many_documents":
        return "POST", "/classify", {"json": {"texts": ["a"] * 65}}
    if kind == "body_too_large":
        return "POST", "/summarize", {"content": b'{"text": "' + b"x" * 5_000_001 + b'"}', "headers": _json}
    if kind == "bad_ratio":
        return "POST", "/summarize", {"json": {"text": article, "ratio": rng.choice([0, -1, 1.5])}}
    if kind == "unknown_route":
        return "GET", f"/nope/{rng.randint(0, 10**6)}", {}
    if kind == "wrong_content_type":
        return "POST", "/classify", {"content": article.encode(), "headers": {"content-type": "text/plain"}}
    raise ValueError(kind)


_json = {"content-type": "application/json"}


@dataclass
class Window:
    """What happened in one interval (or over the whole run)."""

    statuses: dict[int, int] = field(default_factory=dict)
    latencies: dict[int, list[float]] = field(default_factory=dict)
    unexpected: int = 0
    dropped: int = 0
    timeouts: int = 0
    rss_mb: float | None = None

    def record(self, status: int, seconds: float, ok: bool) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.setdefault(status, []).append(seconds)
        self.unexpected += not ok

    def summary(self) -> dict[str, Any]:
        every = [s for values in self.latencies.values() for s in values]
        return {
            "requests": sum(self.statuses.values()) + self.dropped + self.timeouts,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors_5xx": sum(v for k, v in self.statuses.items() if k >= 500),
            "busy_503": self.statuses.get(503, 0),
            "unexpected_answers": self.unexpected,
            "dropped_connections": self.dropped,
            "client_timeouts": self.timeouts,
            "latency_ms": _percentiles(every),
            "latency_ms_by_status": {str(k): _percentiles(v) for k, v in sorted(self.latencies.items())},
            "server_rss_mb": self.rss_mb,
        }


def _percentiles(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1] * 1000, 1)}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_ready(base: str, server: subprocess.Popen[bytes], limit_s: float = 180) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with status {server.returncode} before it was ready")
            try:
                if (await client.get("/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the server was not ready within {limit_s} s")


async def soak(args: argparse.Namespace, base: str, pid: int) -> dict[str, Any]:
    articles = [json.loads(line)["text"] for line in ARTICLES.read_text().splitlines()]
    kinds = [k for k in KINDS if k.valid or args.mix == "mixed"]
    start = time.monotonic()
    end = start + args.duration
    n_windows = max(1, int(-(-args.duration // args.interval)))
    windows = [Window() for _ in range(n_windows)]
    total = Window()
    rss_samples: list[tuple[float, float]] = []

    def window_at(t: float) -> Window:
        return windows[min(n_windows - 1, int((t - start) // args.interval))]

    async def client_loop(number: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(args.seed * 1000 + number)
        while time.monotonic() < end:
            kind = rng.choices(kinds, weights=[k.weight for k in kinds])[0]
            method, path, options = build(kind.name, rng, articles)
            sent = time.monotonic()
            try:
                response = await client.request(method, path, **options)
            except httpx.TimeoutException:
                window_at(sent).timeouts += 1
                total.timeouts += 1
                continue
            except httpx.TransportError as error:
                logger.warning("dropped connection (%s): %s %s", kind.name, type(error).__name__, error)
                window_at(sent).dropped += 1
                total.dropped += 1
                continue
            took = time.monotonic() - sent
            ok = response.status_code in kind.expected or (kind.valid and response.status_code in BUSY)
            if not ok:
                logger.warning("%s got %d: %s", kind.name, response.status_code, response.text[:200])
            window_at(sent).record(response.status_code, took, ok)
            total.record(response.status_code, took, ok)

    async def sample_rss() -> None:
        while time.monotonic() < end:
            rss_samples.append((round(time.monotonic() - start, 1), round(rss_mb(pid), 1)))
            await asyncio.sleep(args.rss_every)

    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=args.client_timeout) as client:
        await asyncio.gather(sample_rss(), *(client_loop(n, client) for n in range(args.clients)))
    rss_samples.append((round(time.monotonic() - start, 1), round(rss_mb(pid), 1)))
    for i, window in enumerate(windows):
        at_end = [rss for t, rss in rss_samples if t <= (i + 1) * args.interval]
        window.rss_mb = at_end[-1] if at_end else None
    first, last = windows[0].rss_mb, windows[-1].rss_mb
    return {
        "total": total.summary(),
        "windows": [{"until_s": (i + 1) * args.interval, **w.summary()} for i, w in enumerate(windows)],
        "rss_samples": rss_samples,
        "rss_growth_first_to_last_window_pct": (
            round(100 * (last - first) / first, 2) if first and last is not None else None
        ),
    }


def server_latency(base: str) -> dict[str, Any]:
    """Server-side time per POST answer by status, from the server's own histogram (/metrics): the
    upper bucket bounds under which half and 99% of the answers fell, without the client's delays."""
    text = httpx.get(f"{base}/metrics").text
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "textcnn_request_duration_seconds_bucket" and sample.labels["method"] == "POST":
                key = f"{sample.labels['route']} {sample.labels['status']}"
                buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
    result = {}
    for key, counts in sorted(buckets.items()):
        counts.sort()
        total = counts[-1][1]

        def bound(q: float, counts: list[tuple[float, float]] = counts, total: float = total) -> float:
            return next(le for le, n in counts if n >= q * total) * 1000

        result[key] = {"count": int(total), "p50_ms_at_most": bound(0.5), "p99_ms_at_most": bound(0.99)}
    return result


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": sys.version,
        # What uvicorn's "auto" picks: the C HTTP parser and event loop when they are installed.
        "uvicorn_http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "uvicorn_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
    }


@one_line_errors()
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--interval", type=float, default=60, help="seconds per reported window (default 60)")
    parser.add_argument("--rss-every", type=float, default=5, help="seconds between RSS samples")
    parser.add_argument("--mix", choices=["mixed", "valid"], default="mixed", help="invalid requests too?")
    parser.add_argument("--client-timeout", type=float, default=120, help="seconds before a client gives up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", help="TEXTCNN_MODEL_DIR for the server (default: the embedded model)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="more server settings"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/soak.json"), help="the JSON result")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the report

    port = free_port()
    settings = dict(item.split("=", 1) for item in args.env)
    if args.model_dir:
        settings["TEXTCNN_MODEL_DIR"] = args.model_dir
    env = {**os.environ, **settings, "TEXTCNN_HOST": "127.0.0.1", "TEXTCNN_PORT": str(port)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    server_log = args.out.with_suffix(".server.log")
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with server_log.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=ROOT, env=env, stderr=log, stdout=log
        )
        try:
            asyncio.run(wait_ready(base, server))
            logger.info(
                "server %d ready after %.1f s; %d clients for %g s",
                server.pid,
                time.monotonic() - started,
                args.clients,
                args.duration,
            )
            result = asyncio.run(soak(args, base, server.pid))
            result["server_side_latency"] = server_latency(base)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                exit_status: int | None = server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                exit_status = None
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": settings,
        "clients": args.clients,
        "duration_s": args.duration,
        "mix": args.mix,
        "machine": machine(),
        "server_exit_status_after_sigterm": exit_status,
        "server_log": str(server_log),
        **result,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    total = result["total"]
    logger.info(
        "%d requests, statuses %s, 5xx %d, unexpected %d, dropped %d, latency %s, RSS growth %s%% -> %s",
        total["requests"],
        total["statuses"],
        total["server_errors_5xx"],
        total["unexpected_answers"],
        total["dropped_connections"],
        total["latency_ms"],
        result["rss_growth_first_to_last_window_pct"],
        args.out,
    )


if __name__ == "__main__":
    main()
