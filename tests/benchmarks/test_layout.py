"""benchmarks/ is research code beside the packages: none of them imports it, the wheel leaves it out,
and it is type-checked like them."""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _imported_top_levels(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_package_imports_benchmarks() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("textcnn", "service", "training")
        for path in sorted((ROOT / package).rglob("*.py"))
        if {"benchmarks", "scripts"} & _imported_top_levels(path)
    ]
    assert offenders == []


def test_the_wheel_leaves_benchmarks_out_and_mypy_checks_it() -> None:
    config = _pyproject()
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["textcnn*", "service*", "training*"]
    assert "benchmarks" in config["tool"]["mypy"]["packages"]


def test_every_third_party_import_of_benchmarks_is_a_bench_dependency() -> None:
    config = _pyproject()
    project = config["project"]
    extras = project["optional-dependencies"]
    declared = {
        _distribution_name(requirement)
        for requirement in [*project["dependencies"], *extras["train"], *extras["bench"]]
    }
    distributions = importlib.metadata.packages_distributions()
    imported = set().union(*(_imported_top_levels(path) for path in (ROOT / "benchmarks").glob("*.py")))
    third_party = imported - set(sys.stdlib_module_names) - {"benchmarks", "textcnn", "service", "training"}
    missing = {
        name: distributions.get(name)
        for name in sorted(third_party)
        if not {_distribution_name(d) for d in distributions.get(name, [name])} & declared
    }
    assert {"sklearn", "sumy", "httpx"} <= third_party
    assert missing == {}


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _distribution_name(requirement: str) -> str:
    """`scikit-learn>=1.4` -> `scikit-learn`; names compare case-, `_`- and `.`-blind, as pip's do."""
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()
