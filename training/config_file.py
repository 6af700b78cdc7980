"""Run settings from a TOML (or JSON) file, the alternative to flags; and the TOML written back.

    python -m training.train --config run.toml --epochs 4   # flags override the file

Keys are TrainConfig's field names (`train_split` or `train-split`). The model directory gets the
run's `training.toml`, which `--config` reads back to repeat the run from any working directory: it
holds every setting and the `config_version` it was written in. A file without a version (one
written by hand) states what it changes over the current defaults.

Relative paths in a file are read from the file's folder, as `training.toml` writes them, where they
exist there (for an output, where its parent folder does); any other value, such as a hub dataset's
name or a path written relative to the working directory by hand, is kept as written.
"""

import json
import os
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

FILENAME = "training.toml"
VERSION_KEY = "config_version"


def read(
    path: str | Path,
    types: Mapping[str, type],
    *,
    paths: Collection[str] = (),
    outputs: Collection[str] = (),
    retired: Mapping[str, object] = {},
    version: int,
) -> dict[str, Any]:
    """The settings in `path`, checked against `types` (field name -> type), the relative `paths`
    (and `outputs`, paths to be written) resolved as the module says. A `retired` setting at the
    value whose behaviour stayed is dropped. Raises ValueError for an unreadable file, a
    config_version above `version` (the one this code writes), an unknown key, a retired setting at
    another value or a value of the wrong type."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"--config {path}: {error}") from error
    values = {key.replace("-", "_"): value for key, value in raw.items()}
    written = values.pop(VERSION_KEY, version)
    if not isinstance(written, int) or isinstance(written, bool) or not 1 <= written <= version:
        raise ValueError(
            f"--config {path}: {VERSION_KEY} {written!r} is not one this textcnn reads (1 to {version}); "
            "upgrade textcnn"
        )
    for key in sorted(set(values) & set(retired)):
        if values[key] != retired[key]:
            raise ValueError(
                f"--config {path}: {key} = {values[key]!r} is no longer supported; "
                f"only {retired[key]!r}, now always on, remains (remove the setting)"
            )
        del values[key]
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ValueError(f"--config {path}: unknown settings {unknown}; known: {', '.join(sorted(types))}")
    for key, value in values.items():
        expected = types[key]
        fits = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if value is not None and (not fits or (expected is not bool and isinstance(value, bool))):
            raise ValueError(f"--config {path}: {key} must be {expected.__name__}, got {value!r}")
    for key in {*paths, *outputs}:
        if isinstance(values.get(key), str):
            values[key] = _from_folder(values[key], path.parent, output=key in outputs)
    return values


def dumps(
    values: Mapping[str, Any],
    *,
    version: int,
    folder: str | Path | None = None,
    paths: Collection[str] = (),
) -> str:
    """Flat TOML for strings, numbers, booleans and lists of them, headed by the `version` of the
    settings; None (TOML has no null) is left out, which reads back as the field's default, None.
    The `paths` that exist here (the folder itself included) are written relative to `folder`, where
    the file goes."""
    lines = [f"{VERSION_KEY} = {version}"]
    for key, value in values.items():
        if value is None:
            continue
        if folder is not None and key in paths and isinstance(value, str) and _local(value, folder):
            value = os.path.relpath(Path(value).expanduser().absolute(), Path(folder).absolute())
        lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _local(value: str, folder: str | Path) -> bool:
    """Whether `value` names something on disk here (not a hub name), or is `folder` itself."""
    path = Path(value).expanduser()
    return not path.is_absolute() and (path.exists() or path.absolute() == Path(folder).absolute())


def _from_folder(value: str, folder: Path, *, output: bool) -> str:
    path = Path(value)
    if path.is_absolute() or value.startswith("~"):
        return value
    there = folder / path
    if (there.parent if output else there).exists():
        return os.path.normpath(there)
    return value


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string
