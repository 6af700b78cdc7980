"""The multi-label benchmark's baseline and model figures, on the topic documents of tests/conftest.py."""

from pathlib import Path

from benchmarks.multilabel import C_GRID, FIGURES, baseline, markdown_table, measure_model
from training.data import load_examples


def test_the_baseline_picks_c_on_dev_and_the_models_are_measured_on_test(
    multilabel_dir: Path, topic_data: dict[str, str]
) -> None:
    examples = {split: load_examples(path) for split, path in topic_data.items()}
    linear = baseline(examples)
    assert linear["C"] in C_GRID
    assert linear["dev"]["micro_f1"] == max(linear["dev_micro_f1_by_C"].values())
    assert linear["test"]["micro_f1"] > 90  # the topics' words name them
    model = measure_model(multilabel_dir, examples)
    assert set(model["test_learned"]) == set(FIGURES) == set(model["test_0.5"])
    assert model["dev_learned"]["micro_f1"] >= model["dev_0.5"]["micro_f1"]
    speed = {
        "multi_label_docs_per_s": 10.0,
        "single_label_docs_per_s": 10.0,
        "ratio": 1.0,
        "http": {"multi_label c=1": {"requests_per_s": 5.0, "p50_ms": 2.0}},
    }
    table = markdown_table({"models": [model], "baseline": linear, "speed": speed})
    assert f"| {model['test_learned']['micro_f1']:.2f} |" in table
    assert "HTTP /classify multi_label c=1: 5.0 req/s, p50 2.0 ms" in table
