"""How much other work on the same two cores slows the model's forward passes, as JSON.

    python -m benchmarks.forward_contention --out runs/forward_contention.json

Forward passes (classification path, float32) over the BBC test articles in pre-collated batches of
32, alone and beside: a Python thread busy half the time, a Python thread busy all the time (both in
this process, so they share its GIL), and a busy process (its own GIL, one core taken); with
torch's threads at the cores available and at one. Medians of `--repeats` runs.
"""

import argparse
import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event
from pathlib import Path

import torch

from benchmarks.serving_benchmark import timed
from benchmarks.soak import ARTICLES, machine
from service.cpu import available_cores
from textcnn.features import collate
from textcnn.predict import Predictor
from training.exits import one_line_errors


def busy_python(stop: threading.Event, duty: float) -> None:
    """Pure-Python work `duty` of the time, in 1 ms periods."""
    count = 0
    while not stop.is_set():
        begin = time.perf_counter()
        while time.perf_counter() - begin < duty * 1e-3:
            count += 1
        if duty < 1:
            time.sleep((1 - duty) * 1e-3)


def busy_process(stop: Event) -> None:
    count = 0
    while not stop.is_set():
        for i in range(1000):
            count += i


@contextmanager
def beside(kind: str) -> Iterator[None]:
    """Run interfering work of `kind` (KINDS) for the duration of the block."""
    if kind == "nothing":
        yield
        return
    worker: threading.Thread | multiprocessing.Process
    if kind == "busy process":
        stop: threading.Event | Event = multiprocessing.Event()
        worker = multiprocessing.Process(target=busy_process, args=(stop,))
    else:
        stop = threading.Event()
        duty = 0.5 if kind == "thread busy half the time" else 1.0
        worker = threading.Thread(target=busy_python, args=(stop, duty))
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


KINDS = ("nothing", "thread busy half the time", "thread busy all the time", "busy process")


@one_line_errors()
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/forward_contention.json"))
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in ARTICLES.read_text().splitlines()]
    predictor = Predictor.load()
    documents = predictor.prepare(texts)
    batches = [collate(documents[i : i + 32]) for i in range(0, len(documents), 32)]

    def forward_all() -> None:
        with torch.inference_mode():
            for batch in batches:
                predictor.model(batch, score_sentences=False)

    report: dict[str, object] = {"machine": machine(), "command": "python -m benchmarks.forward_contention"}
    for threads in sorted({available_cores(), 1}, reverse=True):
        torch.set_num_threads(threads)
        for kind in KINDS:
            with beside(kind):
                docs_per_s = round(len(documents) / timed(forward_all, args.repeats), 1)
            report[f"torch threads {threads}, beside {kind}"] = docs_per_s
            print(f"torch threads {threads}, beside {kind}: {docs_per_s} docs/s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
