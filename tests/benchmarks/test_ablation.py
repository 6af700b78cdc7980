"""The ablation trains each task setting and tests it on the same documents."""

from pathlib import Path

from benchmarks.ablation import ablate, table


def test_each_task_gets_its_own_metrics(tmp_path: Path, data_dir: Path) -> None:
    runs = ablate(
        str(data_dir / "bbc_train.jsonl"),
        str(data_dir / "bbc_dev.jsonl"),
        str(data_dir / "bbc_dev.jsonl"),
        tmp_path,
        seeds=[1],
        epochs=1,
        patience=1,
        embedding_mode="rand",
        embedding_dim=16,
        num_filters=8,
        context_dim=8,
        min_freq=1,
    )
    by_task = {r["task"]: r for r in runs}
    assert set(by_task) == {"joint", "classification only", "summarization only"}
    assert {"accuracy", "rouge1"} <= set(by_task["joint"])
    assert "rouge1" not in by_task["classification only"] and "accuracy" in by_task["classification only"]
    assert "accuracy" not in by_task["summarization only"] and "rouge1" in by_task["summarization only"]
    assert (tmp_path / "ablation.json").exists()
    rows = table(runs).splitlines()
    assert len(rows) == 5 and rows[3].startswith("| classification only | 1 |")
    assert "–" in rows[3]  # no ROUGE for a model without a scorer
