"""Make an abstractive news summarization set from BBC News: each article's headline as its summary.

    python -m benchmarks.bbc_headlines --data data/bbc_news_summary --out runs/bbc-headlines

The first line of every BBC article is its headline. Here it becomes the reference summary and is
taken off the text, so the reference is written in other words than any sentence the model can pick
(as in headline-summary sets such as Gigaword), and the lead sentence is the strong positional
baseline that real news has. The train/dev/test splits stay BBC's own; rows keep `id`, `text` and
`summary` only (no label: a summarization-only set). Written as JSON Lines, one file per split.
"""

import argparse
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from training.exits import one_line_errors

SPLITS = {"train": "train.jsonl.gz", "dev": "dev.jsonl", "test": "test.jsonl"}


def _rows(path: Path) -> Iterator[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            headline, _, body = row["text"].partition("\n")
            if headline.strip() and body.strip():
                yield {"id": row["id"], "text": body, "summary": headline.strip()}


@one_line_errors()
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("data/bbc_news_summary"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for split, name in SPLITS.items():
        rows = list(_rows(args.data / name))
        with open(args.out / f"{split}.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        print(f"{split}: {len(rows)} articles -> {args.out / f'{split}.jsonl'}")


if __name__ == "__main__":
    main()
