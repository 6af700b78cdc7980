"""Swap a model's version under load and show that no request fails: the figures of a hot swap.

Serves a repository of one model (`news/1`, a copy of the embedded model) with `python -m service`
on 127.0.0.1, runs a closed loop of N clients (each sends its next /classify when its answer comes)
for a fixed time, and halfway copies version 2 (the same model with its weights scaled slightly, so
it has another fingerprint) into `news/2` with a plain recursive copy, as an operator would. The
poller notices it, loads and checks it beside version 1 and switches. Prints, as JSON: requests by
status, answers by version (every one must be version 1's or version 2's), failed requests, the
switch time (from the end of the copy to the first answer from version 2, and to the last from
version 1), the server's failed load attempts (a poll can catch the copy half done), and the server's
resident memory before the swap, its peak during it and after it. Exits 1 on any failed request or
unknown version.

    python -m benchmarks.swap_under_load --clients 32 --duration 30
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import torch

from textcnn import artifact
from textcnn.predict import DEFAULT_MODEL_DIR
from training.exits import one_line_errors

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = json.loads((ROOT / "tests" / "data" / "bbc_dev.jsonl").read_text(encoding="utf-8").splitlines()[0])[
    "text"
]


def second_version(target: Path) -> Path:
    """The embedded model with every weight scaled by 1.001: the same size, another fingerprint."""
    model, vocab, info = artifact.load(DEFAULT_MODEL_DIR)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(1.001)
    return artifact.save(target, model, vocab, info)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Sampler(threading.Thread):
    """The server's RSS every `every` seconds, with the time of each sample."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.samples.append((time.monotonic(), rss_mb(self.pid)))

    def peak(self, start: float, end: float) -> float:
        return max(mb for t, mb in self.samples if start <= t <= end)


async def client(http: httpx.AsyncClient, until: float, answers: list[tuple[float, int, str]]) -> None:
    while time.monotonic() < until:
        try:
            response = await http.post("/classify", json={"text": ARTICLE})
            version = response.json().get("version", "") if response.status_code == 200 else ""
            answers.append((time.monotonic(), response.status_code, version))
        except httpx.HTTPError as error:
            answers.append((time.monotonic(), 0, type(error).__name__))


async def load(
    url: str, clients: int, duration: float, copy: Any
) -> tuple[list[tuple[float, int, str]], float]:
    """The answers of `clients` closed-loop clients over `duration` s; `copy()` runs halfway."""
    answers: list[tuple[float, int, str]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        until = time.monotonic() + duration
        tasks = [asyncio.create_task(client(http, until, answers)) for _ in range(clients)]
        await asyncio.sleep(duration / 2)
        copied = await asyncio.to_thread(copy)
        await asyncio.gather(*tasks)
    return answers, copied


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@one_line_errors()
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds of load; the copy starts halfway"
    )
    parser.add_argument("--poll", type=float, default=1.0, help="TEXTCNN_POLL_INTERVAL_S of the server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "repository"
        shutil.copytree(DEFAULT_MODEL_DIR, repository / "news" / "1")
        staged = second_version(Path(scratch) / "staged")
        old, new = artifact.fingerprint(repository / "news" / "1"), artifact.fingerprint(staged)
        port = free_port()
        env = {
            **os.environ,
            "TEXTCNN_MODEL_REPOSITORY": str(repository),
            "TEXTCNN_POLL_INTERVAL_S": str(args.poll),
            "TEXTCNN_HOST": "127.0.0.1",
            "TEXTCNN_PORT": str(port),
        }
        env.pop("TEXTCNN_MODEL_DIR", None)
        log = Path(scratch) / "server.log"
        with log.open("w") as stderr:
            server = subprocess.Popen([sys.executable, "-m", "service"], env=env, stderr=stderr)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(1200):
                try:
                    if httpx.get(f"{url}/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None:
                    raise SystemExit(f"the server did not start:\n{log.read_text()}")
                time.sleep(0.1)
            sampler = Sampler(server.pid)
            sampler.start()
            started = time.monotonic()

            def copy() -> float:
                shutil.copytree(staged, repository / "news" / "2")
                return time.monotonic()

            answers, copied = asyncio.run(load(url, args.clients, args.duration, copy))
            ended = time.monotonic()
            time.sleep(2)  # the old version's memory goes once its last request is answered
            sampler.stop.set()
            sampler.join()
            failures = metric(url, 'textcnn_model_load_failures_total{model="news"}')
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    statuses = Counter(status for _, status, _ in answers)
    versions = Counter(version for _, status, version in answers if status == 200)
    first_new = min((t for t, s, v in answers if s == 200 and v == new), default=None)
    last_old = max((t for t, s, v in answers if s == 200 and v == old), default=None)
    before = [mb for t, mb in sampler.samples if t < copied]
    report = {
        "clients": args.clients,
        "duration_s": args.duration,
        "requests": len(answers),
        "requests_per_s": round(len(answers) / (ended - started), 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "failed": len(answers) - statuses[200],
        "answers_by_version": {"old " + old: versions[old], "new " + new: versions[new]},
        "unknown_versions": sum(n for v, n in versions.items() if v not in (old, new)),
        "copy_to_first_new_answer_s": None if first_new is None else round(first_new - copied, 3),
        "copy_to_last_old_answer_s": None if last_old is None else round(last_old - copied, 3),
        "failed_load_attempts": failures,
        "rss_mb": {
            "before": round(before[-1], 1),
            "during_peak": round(sampler.peak(copied, ended), 1),
            "after": round(sampler.samples[-1][1], 1),
        },
    }
    print(json.dumps(report, indent=2))
    if report["failed"] or report["unknown_versions"] or first_new is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
