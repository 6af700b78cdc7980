"""Batch prediction streams any input through a model into JSONL, a chunk at a time."""

import gzip
import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from textcnn import Predictor
from textcnn.errors import UnsupportedTaskError
from training.batch_predict import main, predict
from training.data import DataError


def test_chunks_give_the_predictor_s_answers_in_order(bbc_model_dir: Path, data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "bbc_dev.jsonl").read_text().splitlines()]
    predictor = Predictor.load(bbc_model_dir, batch_size=2)
    out = io.StringIO()
    assert predict(predictor, iter(rows), out, chunk_size=3) == (20, 20)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    texts = [r["text"] for r in rows]
    assert [line["row"] for line in lines] == list(range(20))
    assert [line["id"] for line in lines] == [r["id"] for r in rows]
    assert [line["label"] for line in lines] == [c.label for c in predictor.classify(texts)]
    summaries = predictor.summarize(texts)
    assert [line["summary"] for line in lines] == [[s.text for s in x.sentences] for x in summaries]
    assert [line["sentences"] for line in lines] == [[s.index for s in x.sentences] for x in summaries]


def test_command_on_gzip_with_one_task(
    bbc_model_dir: Path, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="training.batch_predict")
    source = tmp_path / "docs.jsonl.gz"
    source.write_bytes(gzip.compress((data_dir / "bbc_dev.jsonl").read_bytes()))
    out = tmp_path / "out" / "labels.jsonl"
    main(["--model", str(bbc_model_dir), "--data", str(source), "--out", str(out), "--task", "classify"])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 20 and all(set(line) == {"row", "id", "label", "confidence"} for line in lines)
    assert "20 documents in" in caplog.text and "docs/s), peak RSS" in caplog.text


def test_bad_rows_and_tasks(bbc_model_dir: Path) -> None:
    predictor = Predictor.load(bbc_model_dir)
    out = io.StringIO()
    assert predict(predictor, [{"text": None}, {"text": ""}], out, task="summarize") == (2, 2)
    assert [json.loads(line)["summary"] for line in out.getvalue().splitlines()] == [[], []]
    # rows are numbered from 0 in errors as in the output's "row"
    with pytest.raises(DataError, match="input row 1: 'text' must be a string, got int"):
        predict(predictor, [{"text": "ok"}, {"text": 7}], io.StringIO())
    with pytest.raises(DataError, match="input row 0: no 'body' field"):
        predict(predictor, [{"text": "ok"}], io.StringIO(), text_field="body")
    predictor.model.scorer = None  # this loaded copy only: a classifier-only model
    with pytest.raises(UnsupportedTaskError):
        predict(predictor, [{"text": "ok"}], io.StringIO(), task="summarize")


def write_rows(path: Path, rows: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_a_failed_run_leaves_no_output_and_keeps_an_older_one(bbc_model_dir: Path, tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"text": f"Sentence {i}. Another one."} for i in range(6)]
    rows[4] = {"text": 4}
    source = write_rows(tmp_path / "d.jsonl", rows)
    out = tmp_path / "out" / "preds.jsonl"
    command = [
        "--model",
        str(bbc_model_dir),
        "--data",
        source,
        "--out",
        str(out),
        "--chunk-size",
        "2",
        "--quiet",
    ]
    with pytest.raises(SystemExit, match=r"^error: .*d\.jsonl row 4: 'text' must be a string, got int$"):
        main(command)
    assert list(out.parent.iterdir()) == []  # neither the output nor a temporary file
    out.write_text("an older output\n")
    with pytest.raises(SystemExit):
        main(command)
    assert out.read_text() == "an older output\n" and len(list(out.parent.iterdir())) == 1


def test_summary_length_flags_as_in_the_api(bbc_model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    predictor = Predictor.load(bbc_model_dir)
    texts = [json.loads(line)["text"] for line in (data_dir / "bbc_dev.jsonl").read_text().splitlines()]
    for flag, value, setting in [
        ("--ratio", "0.2", {"ratio": 0.2}),
        ("--max-words", "40", {"max_words": 40}),
    ]:
        out = tmp_path / f"{flag}.jsonl"
        main(
            [
                "--model",
                str(bbc_model_dir),
                "--data",
                str(data_dir / "bbc_dev.jsonl"),
                "--out",
                str(out),
                flag,
                value,
            ]
        )
        written = [json.loads(line)["summary"] for line in out.read_text().splitlines()]
        expected = [[s.text for s in summary.sentences] for summary in predictor.summarize(texts, **setting)]
        assert written == expected
    assert written != [[s.text for s in x.sentences] for x in predictor.summarize(texts)]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--ratio", "1.5"], "--ratio must be in (0, 1], got 1.5"),
        (["--max-words", "0"], "--max-words must be at least 1, got 0"),
        (["--chunk-size", "0"], "--chunk-size must be at least 1, got 0"),
        (["--ratio", "0.5", "--max-words", "3"], "argument --max-words: not allowed with argument --ratio"),
        (["--shard", "4/4"], "argument --shard: must be I/N with 0 <= I < N, such as 0/4; got '4/4'"),
        (["--shard", "1/2", "--out", "-"], "--shard writes <--out>.shard-I-of-N; give --out a file, not '-'"),
        (["--merge", "2"], "--merge takes only --out"),
    ],
)
def test_bad_flags_get_one_line(
    bbc_model_dir: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], said: str
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "--model",
                str(bbc_model_dir),
                "--data",
                str(data_dir / "bbc_dev.jsonl"),
                "--out",
                "x.jsonl",
                *flags,
            ]
        )
    assert stop.value.code == 2
    assert said in capsys.readouterr().err.splitlines()[-1]


def run_predict(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "training.batch_predict", "--quiet", "--threads", "1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_shards_run_as_processes_merge_to_the_unsharded_bytes(
    bbc_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "docs.jsonl.gz"
    source.write_bytes(gzip.compress((data_dir / "bbc_dev.jsonl").read_bytes()))
    common = ["--model", str(bbc_model_dir), "--data", str(source), "--chunk-size", "3"]
    whole = tmp_path / "whole.jsonl"
    unsharded = run_predict(*common, "--out", str(whole))
    assert unsharded.wait() == 0, unsharded.communicate()[1]
    assert len(whole.read_text().splitlines()) == 20
    for count in (1, 2, 4):
        out = tmp_path / f"sharded-{count}.jsonl"
        shards = [run_predict(*common, "--out", str(out), "--shard", f"{i}/{count}") for i in range(count)]
        errors = [shard.communicate()[1] for shard in shards]
        assert [shard.returncode for shard in shards] == [0] * count, errors
        last = Path(f"{out}.shard-{count - 1}-of-{count}").read_text().splitlines()
        assert [json.loads(line)["row"] for line in last] == list(range(count - 1, 20, count))
        main(["--merge", str(count), "--out", str(out)])
        assert out.read_bytes() == whole.read_bytes()


def test_merge_refuses_a_missing_unfinished_or_changed_shard(
    bbc_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "preds.jsonl"
    for i in range(3):
        main(["--model", str(bbc_model_dir), "--data", str(data_dir / "bbc_dev.jsonl"), "--out", str(out),
              "--shard", f"{i}/3", "--quiet", "--task", "classify"])  # fmt: skip
    main(["--merge", "3", "--out", str(out)])
    assert [json.loads(line)["row"] for line in out.read_text().splitlines()] == list(range(20))
    out.unlink()
    third = Path(f"{out}.shard-2-of-3")
    kept = third.read_bytes()

    def refused(said: str) -> None:
        with pytest.raises(SystemExit, match=f"^error: {re.escape(said)}"):
            main(["--merge", "3", "--out", str(out)])
        assert not out.exists()

    third.write_bytes(kept[: kept.rindex(b"{")])  # the last line lost
    refused(f"{third} is incomplete or changed since its shard finished; run the shard again")
    third.write_bytes(kept)
    Path(f"{third}.done").unlink()
    refused(f"shard 2/3 of {out} did not finish: {third}.done does not exist; run the shard again")
    third.unlink()
    refused(f"shard 2/3 of {out} is missing: {third} does not exist; run it with --shard 2/3")
    refused_four = f"shard 0/4 of {out} is missing"
    with pytest.raises(SystemExit, match=re.escape(refused_four)):
        main(["--merge", "4", "--out", str(out)])
