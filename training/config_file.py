"""Run settings from a TOML (or JSON) file, the alternative to flags; and the TOML written back.

    python -m training.train --config run.toml --epochs 4   # flags override the file

Keys are TrainConfig's field names (`train_split` or `train-split`). The model directory gets the
run's `training.toml`, which `--config` reads back to repeat the run.
"""

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FILENAME = "training.toml"


def read(path: str | Path, types: Mapping[str, type]) -> dict[str, Any]:
    """The settings in `path`, checked against `types` (field name -> type). Raises ValueError for
    an unreadable file, an unknown key or a value of the wrong type."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"--config {path}: {error}") from error
    values = {key.replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ValueError(f"--config {path}: unknown settings {unknown}; known: {', '.join(sorted(types))}")
    for key, value in values.items():
        expected = types[key]
        fits = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if value is not None and (not fits or (expected is not bool and isinstance(value, bool))):
            raise ValueError(f"--config {path}: {key} must be {expected.__name__}, got {value!r}")
    return values


def dumps(values: Mapping[str, Any]) -> str:
    """Flat TOML for strings, numbers, booleans and lists of them; None (TOML has no null) is left
    out, which reads back as the field's default, None."""
    lines = [f"{key} = {_value(value)}" for key, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string
