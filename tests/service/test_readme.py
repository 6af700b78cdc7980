"""README's facts are real: each `curl` line's body, sent to the default model, gets the answer
printed under it (numbers to the two decimals it shows); its configuration table names every
setting the service reads, with its default; its `python -m` and `make` commands exist."""

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from textcnn.predict import DEFAULT_MODEL_DIR

README = Path(__file__).parents[2] / "README.md"


def examples() -> list[tuple[str, dict[str, object], object]]:
    """(path, body, answer) for each indented `curl -s localhost:8000/...` block of the README."""
    found = []
    for block in re.split(r"\n\s*\n", README.read_text(encoding="utf-8")):
        lines = [line.strip() for line in block.splitlines()]
        if not lines or not lines[0].startswith("curl -s localhost:8000/"):
            continue
        answer_starts = next(i for i, line in enumerate(lines) if line.startswith("{"))
        command = " ".join(lines[:answer_starts])
        path = re.search(r"localhost:8000(/\S+)", command)
        body = re.search(r"-d '(.*)'", command)
        assert path and body, command
        answer = "\n".join(lines[answer_starts:])
        found.append((path.group(1), json.loads(body.group(1)), json.loads(answer)))
    return found


def close(shown: object, real: object, where: str = "") -> None:
    if isinstance(shown, dict):
        assert isinstance(real, dict) and list(shown) == list(real), where
        for key in shown:
            close(shown[key], real[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(real, list) and len(shown) == len(real), where
        for i, (a, b) in enumerate(zip(shown, real, strict=True)):
            close(a, b, f"{where}[{i}]")
    elif isinstance(shown, float) or isinstance(real, float):
        assert shown == pytest.approx(real, abs=0.005), where
    else:
        assert shown == real, where


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip("the default model is not in this checkout")
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


def test_the_readme_shows_an_example_of_each_predict_route() -> None:
    found = examples()
    assert {path for path, _, _ in found} == {"/classify", "/summarize"}
    assert any(body.get("explain") for _, body, _ in found)


@pytest.mark.parametrize(("path", "body", "answer"), examples())
def test_the_readme_shows_the_real_answer(
    client: TestClient, path: str, body: dict[str, object], answer: object
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 200
    close(answer, response.json())


def configuration_rows() -> dict[str, str]:
    """{variable: default column} of the README's configuration table; a row naming several
    variables (`A` / `B`) gives each its own part of a default written the same way."""
    rows: dict[str, str] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`TEXTCNN_"):
            continue
        names = re.findall(r"`(TEXTCNN_[A-Z0-9_]+)`", cells[0])
        defaults = cells[1].split(" / ") if len(names) > 1 else [cells[1]]
        if len(defaults) != len(names):
            defaults = [cells[1]] * len(names)
        rows.update(zip(names, defaults, strict=True))
    return rows


def test_the_readme_configuration_table_is_the_settings() -> None:
    documented = configuration_rows()
    fields = {f"TEXTCNN_{name.upper()}": field for name, field in Settings.model_fields.items()}
    assert set(documented) == set(fields)
    for name, field in fields.items():
        default = field.default
        if default is None or name == "TEXTCNN_MODEL_DIR":
            continue  # an unset or computed default, described in words
        shown = documented[name].strip("`")
        if isinstance(default, bool):
            assert shown == str(default).lower(), name
        elif isinstance(default, int | float):
            assert float(shown) == default, name
        elif default == "":
            assert shown.startswith("empty"), name
        else:
            assert shown == str(default), name


def test_the_readme_commands_exist() -> None:
    text = README.read_text(encoding="utf-8")
    modules = set(re.findall(r"python -m ([a-z_][a-z0-9_.]*)", text))
    assert {"training.train", "training.evaluate", "training.batch_predict"} <= modules
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    for target in set(re.findall(r"`make ([a-z-]+)`", text)):
        assert target in targets, target
