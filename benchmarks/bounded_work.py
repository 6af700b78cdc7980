"""Probes of bounded work against a real server on loopback: what one request may cost, and who waits.

Starts `python -m service` (from `--root`, so a worktree of an older commit can be measured in the
same sitting) on 127.0.0.1 and prints one JSON object of figures:

- `classify_c32`: `/classify`, one BBC article per request, 32 keep-alive clients: req/s, p50/p99.
- `summarize_c1`: `/summarize` of the article nearest 400 words, one client: p50/p99.
- `worst`: the largest legal `/summarize` request of the probe's shape (documents of short
  sentences up to the limits in force): status, seconds, the server's peak RSS.
- `mixed`: 3-sentence requests from 8 clients while one long document is summarized: their p99.
- `slowloris`: `--sockets` connections that send half a header and stop; then whether an ordinary
  request is answered, and how many of the slow sockets the server has closed after the wait.
- `sigterm`: SIGTERM while a long request runs: its status, and seconds until the process exits.

RSS and times are measured here, never asserted in tests. Example:

    python -m benchmarks.bounded_work --out runs/bounded-after.json
    python -m benchmarks.bounded_work --root ../textcnn-before --out runs/bounded-before.json
"""

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.soak import rss_mb, wait_ready
from training.exits import one_line_errors

ROOT = Path(__file__).resolve().parents[1]
PORT = 18240


@contextmanager
def server(root: Path, port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m service` from `root` on 127.0.0.1:`port`, ready; SIGTERM on exit."""
    settings = {**os.environ, "TEXTCNN_HOST": "127.0.0.1", "TEXTCNN_PORT": str(port), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=root,
        env={**settings, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(wait_ready(f"http://127.0.0.1:{port}", process))
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)


class Peak:
    """Samples a process's RSS every 50 ms in a thread, keeping the highest."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
            except (OSError, RuntimeError):  # the process has gone
                return

    def __enter__(self) -> "Peak":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def post(port: int, path: str, body: bytes, reader_writer: Any = None) -> tuple[int, Any]:
    """One POST on a (new or given) keep-alive connection: (status, connection)."""
    reader, writer = reader_writer or await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
    writer.write(head.encode() + b"\r\n\r\n" + body)
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(int(h.split(":", 1)[1]) for h in lines if h.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split()[1]), (reader, writer)


def quantiles(latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies)

    def at(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {"n": len(latencies), "p50_ms": at(0.5), "p99_ms": at(0.99)}


async def load(port: int, path: str, bodies: Sequence[bytes], clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    end = time.perf_counter() + seconds

    async def client(number: int) -> None:
        connection = None
        i = number
        while (start := time.perf_counter()) < end:
            status, connection = await post(port, path, bodies[i % len(bodies)], connection)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
            i += clients
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        **quantiles(latencies),
        "statuses": statuses,
    }


def long_document(sentences: int) -> str:
    return " ".join(["Bank fell."] * sentences)


async def mixed(port: int, long_sentences: int) -> dict[str, Any]:
    """p99 of short requests from 8 clients while one long document is being summarized."""
    short = json.dumps({"text": "Shares rose. Banks fell. Markets were calm."}).encode()
    body = json.dumps({"text": long_document(long_sentences)}).encode()
    started = time.perf_counter()
    long = asyncio.create_task(post(port, "/summarize", body))
    await asyncio.sleep(0)  # the long request is sent first
    latencies: list[float] = []

    async def client() -> None:
        connection = None
        while not long.done():
            start = time.perf_counter()
            _, connection = await post(port, "/summarize", short, connection)
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(client() for _ in range(8)))
    status, _ = await long
    return {
        "long_status": status,
        "long_sentences": long_sentences,
        "long_s": round(time.perf_counter() - started, 2),
        "short": quantiles(latencies) if latencies else {"n": 0},
    }


def slowloris(port: int, sockets: int, wait_s: float) -> dict[str, Any]:
    """`sockets` connections with half a header each; then an ordinary request and a count."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    held = []
    for _ in range(sockets):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /classify HTTP/1.1\r\nhost: x\r\nx-slow: ")
        held.append(s)
    time.sleep(wait_s)
    try:
        status: int | str = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).status
    except Exception as error:  # the probe records whatever the server did
        status = getattr(error, "code", type(error).__name__)
    closed = 0
    for s in held:
        s.setblocking(False)
        try:
            s.recv(1)  # an answer (408) or the end: the server let the socket go
            closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    return {"sockets": sockets, "after_s": wait_s, "health_status": status, "closed_by_server": closed}


def sigterm(root: Path, env: dict[str, str], sentences: int) -> dict[str, Any]:
    port = PORT + 9
    with server(root, port, env) as process:

        async def probe() -> dict[str, Any]:
            body = json.dumps({"texts": [long_document(sentences)] * 4}).encode()
            request = asyncio.create_task(post(port, "/summarize", body))
            await asyncio.sleep(1.0)
            process.send_signal(signal.SIGTERM)
            start = time.perf_counter()
            try:
                status: int | str = (await request)[0]
            except Exception as error:
                status = type(error).__name__
            answered = time.perf_counter() - start
            while process.poll() is None and time.perf_counter() - start < 120:
                await asyncio.sleep(0.05)
            return {
                "status": status,
                "answered_after_s": round(answered, 2),
                "exited_after_s": round(time.perf_counter() - start, 2),
                "shutdown_timeout_s": int(env.get("TEXTCNN_SHUTDOWN_TIMEOUT_S", "30")),
            }

        return asyncio.run(probe())


@one_line_errors()
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose service to run")
    parser.add_argument("--seconds", type=float, default=8.0, help="each load run")
    parser.add_argument("--worst-documents", type=int, default=3, help="documents of 5,000 sentences")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    articles = [json.loads(line)["text"] for line in (ROOT / "tests/data/bbc_dev.jsonl").open()]
    article = min(articles, key=lambda t: abs(len(t.split()) - 400))
    env = {"TEXTCNN_REQUEST_TIMEOUT_S": "30", "TEXTCNN_SHUTDOWN_TIMEOUT_S": "2"}
    report: dict[str, Any] = {"root": str(args.root)}
    with server(args.root, PORT, env) as process:
        bodies = [json.dumps({"text": t}).encode() for t in articles]
        report["classify_c32"] = asyncio.run(load(PORT, "/classify", bodies, 32, args.seconds))
        report["summarize_c1"] = asyncio.run(
            load(PORT, "/summarize", [json.dumps({"text": article}).encode()], 1, args.seconds)
        )
        report["rss_idle_mb"] = round(rss_mb(process.pid), 1)
        report["mixed"] = asyncio.run(mixed(PORT, 5000))
        worst = json.dumps({"texts": [long_document(5000)] * args.worst_documents}).encode()
        with Peak(process.pid) as peak:
            start = time.perf_counter()
            status, _ = asyncio.run(post(PORT, "/summarize", worst))
            report["worst"] = {
                "documents": args.worst_documents,
                "sentences_each": 5000,
                "status": status,
                "seconds": round(time.perf_counter() - start, 2),
            }
        report["worst"]["peak_rss_mb"] = round(peak.peak, 1)
        report["slowloris"] = slowloris(PORT, args.sockets, 12.0)
    report["sigterm"] = sigterm(args.root, env, 5000)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
