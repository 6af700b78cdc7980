"""Batch prediction streams any input through a model into JSONL, a chunk at a time."""

import gzip
import io
import json
import logging
from pathlib import Path

import pytest

from textcnn import Predictor
from textcnn.errors import UnsupportedTaskError
from training.data import DataError
from training.predict import main, predict


def test_chunks_give_the_predictor_s_answers_in_order(bbc_model_dir: Path, data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "bbc_dev.jsonl").read_text().splitlines()]
    predictor = Predictor.load(bbc_model_dir, batch_size=2)
    out = io.StringIO()
    assert predict(predictor, iter(rows), out, chunk_size=3) == 20
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
    caplog.set_level(logging.INFO, logger="training.predict")
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
    assert predict(predictor, [{"text": None}, {"text": ""}], out, task="summarize") == 2
    assert [json.loads(line)["summary"] for line in out.getvalue().splitlines()] == [[], []]
    with pytest.raises(DataError, match="input row 2: 'text' must be a string, got int"):
        predict(predictor, [{"text": "ok"}, {"text": 7}], io.StringIO())
    with pytest.raises(DataError, match="input row 1: no 'body' field"):
        predict(predictor, [{"text": "ok"}], io.StringIO(), text_field="body")
    predictor.model.scorer = None  # this loaded copy only: a classifier-only model
    with pytest.raises(UnsupportedTaskError):
        predict(predictor, [{"text": "ok"}], io.StringIO(), task="summarize")
