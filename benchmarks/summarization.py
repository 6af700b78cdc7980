"""Compare the model's summaries with Lead, TextRank, LexRank and the greedy oracle on one dataset.

    python -m benchmarks.summarization --model textcnn/default_model \
        --data data/bbc_news_summary/test.jsonl --out runs/summaries.json

Every system picks from the same sentences (textcnn's splitter) at three lengths: k = 3, k = N (the
reference's sentence count) and the model's own default length; the oracle picks its own count.
Prints a Markdown table of ROUGE F1 x 100 and median milliseconds per article (splitting included).
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.baselines import lead, lexrank, textrank
from textcnn.predict import Predictor
from textcnn.sentences import split_sentences
from training.data import Fields, load_examples
from training.evaluate import ROUGE_TYPES, rouge
from training.exits import one_line_errors
from training.oracle import oracle_selection

# A system maps (text, sentence count k or None for its own default, reference) to its sentences;
# only the oracle looks at the reference.
System = Callable[[str, int | None, str], list[str]]


def _sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def _unsupervised(extract: Callable[[Sequence[str], int], list[int]]) -> System:
    def run(text: str, k: int | None, _: str) -> list[str]:
        sentences = _sentences(text)
        return [sentences[i] for i in extract(sentences, k or 3)]

    return run


def _model(predictor: Predictor) -> System:
    def run(text: str, k: int | None, _: str) -> list[str]:
        [summary] = predictor.summarize([text], max_sentences=k)
        return [s.text for s in summary.sentences]

    return run


def benchmark(predictor: Predictor, texts: Sequence[str], references: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (system, length): ROUGE and median latency per article in milliseconds."""
    reference_lines = ["\n".join(_sentences(r)) for r in references]
    counts = [max(1, len(_sentences(r))) for r in references]
    systems: dict[str, System] = {
        "Lead": _unsupervised(lead),
        "TextRank (sumy)": _unsupervised(textrank),
        "LexRank (sumy)": _unsupervised(lexrank),
        "textcnn": _model(predictor),
    }
    rows = []
    for length in ("3", "N", "default"):
        for name, system in systems.items():
            if length == "default" and name != "textcnn":
                continue
            lengths: list[int | None] = [3 if length == "3" else n if length == "N" else None for n in counts]
            rows.append(_measure(name, length, system, texts, lengths, references, reference_lines))
    rows.append(
        _measure("greedy oracle", "own", _oracle, texts, [None] * len(texts), references, reference_lines)
    )
    return rows


def _oracle(text: str, _: int | None, reference: str) -> list[str]:
    sentences = _sentences(text)
    return [sentences[i] for i in sorted(oracle_selection(sentences, reference))]


def _measure(
    name: str,
    length: str,
    system: System,
    texts: Sequence[str],
    lengths: Sequence[int | None],
    references: Sequence[str],
    reference_lines: Sequence[str],
) -> dict[str, Any]:
    outputs, seconds = [], []
    for text, k, reference in zip(texts, lengths, references, strict=True):
        started = time.perf_counter()
        outputs.append(system(text, k, reference))
        seconds.append(time.perf_counter() - started)
    return {
        "system": name,
        "length": length,
        **rouge(outputs, reference_lines),
        "sentences": round(statistics.fmean(len(o) for o in outputs), 2),
        "ms_per_article": round(1000 * statistics.median(seconds), 2),
    }


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| system | length | " + " | ".join(ROUGE_TYPES) + " | sentences | ms/article |",
        "|---|---|" + "---|" * (len(ROUGE_TYPES) + 2),
    ]
    for row in rows:
        scores = " | ".join(f"{row[t]:.2f}" for t in ROUGE_TYPES)
        lines.append(
            f"| {row['system']} | {row['length']} | {scores} | {row['sentences']} | {row['ms_per_article']} |"
        )
    return "\n".join(lines)


@one_line_errors()
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.summarization",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--summary-field", default="summary")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    predictor = Predictor.load(args.model)
    examples = [
        e
        for e in load_examples(
            args.data, split=args.split, fields=Fields(text=args.text_field, summary=args.summary_field)
        )
        if e.summary is not None
    ]
    rows = benchmark(predictor, [e.text for e in examples], [e.summary or "" for e in examples])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(to_markdown(rows))


if __name__ == "__main__":
    main()
