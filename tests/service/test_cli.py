"""`textcnn-serve`'s command line: --help lists the settings and starts nothing; the four flags
override their TEXTCNN_* variables, in this process and in the server it starts."""

import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import service.__main__ as cli
from service.settings import Settings
from textcnn import artifact

ROOT = Path(__file__).parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_the_entry_point_is_this_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["textcnn-serve"] == "service.__main__:main"


def test_help_lists_every_variable_and_starts_no_server() -> None:
    done = run("--help", env={"TEXTCNN_PORT": "18101"})
    assert done.returncode == 0 and done.stderr == ""
    for name, field in Settings.model_fields.items():
        assert f"TEXTCNN_{name.upper()} (default: " in done.stdout
        # Each description is there, however the help wraps it.
        assert " ".join(str(field.description).split()) in " ".join(done.stdout.split())
    for option in ["--host", "--port", "--model-dir", "--workers"]:
        assert option in done.stdout
    assert "(default: 8000)" in done.stdout and "(default: the embedded default model)" in done.stdout


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--port", "70000"], {}, "cannot start: --port: Input should be less than or equal to 65535"),
        (["--workers", "0"], {}, "cannot start: --workers: Input should be greater than or equal to 1"),
        (
            [],
            {"TEXTCNN_PORT": "-1"},
            "cannot start: TEXTCNN_PORT: Input should be greater than or equal to 0",
        ),
        (["--host", "no-such-host.invalid"], {}, "cannot start: --host: Value error, 'no-such-host.invalid'"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_flag_or_variable(
    args: list[str], env: dict[str, str], line: str
) -> None:
    done = run(*args, env=env)
    assert done.returncode == 2
    [message] = done.stderr.splitlines()
    assert message.startswith(f"CRITICAL {line}")


def test_an_unknown_flag_is_refused() -> None:
    done = run("--prot", "8000")
    assert done.returncode == 2 and "unrecognized arguments: --prot" in done.stderr


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    started: dict[str, Any] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **options: started.update(options, app=app))
    monkeypatch.setattr(os, "environ", {"TEXTCNN_PORT": "9000", "TEXTCNN_HOST": "127.0.0.1"})
    cli.main(["--port", "18102", "--model-dir", str(tmp_path)])
    assert (started["app"], started["host"], started["port"], started["workers"]) == (
        "service.main:app",
        "127.0.0.1",
        18102,
        1,
    )
    # The workers import service.main, which reads the environment: the flags are there too.
    assert os.environ["TEXTCNN_PORT"] == "18102" and os.environ["TEXTCNN_MODEL_DIR"] == str(tmp_path)


@pytest.mark.skipif(not cli.workers.SPREADS_CONNECTIONS, reason="uvicorn's own workers elsewhere")
def test_several_workers_run_under_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    supervised: list[tuple[Any, int]] = []
    monkeypatch.setattr(cli.workers, "supervise", lambda *given: supervised.append(given) or 0)
    monkeypatch.setattr(os, "environ", {})
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--port", "18105", "--workers", "3"])
    assert stopped.value.code == 0
    [(config, count)] = supervised
    assert (config.app, config.host, config.port, count) == ("service.main:app", "127.0.0.1", 18105, 3)


@pytest.mark.slow
def test_the_server_serves_the_flags_model_on_the_flags_port(bbc_model_dir: Path) -> None:
    env = {
        **os.environ,
        "TEXTCNN_PORT": "18103",
        "TEXTCNN_MODEL_DIR": "/nowhere",
        "TEXTCNN_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "service", "--port", "18104", "--model-dir", str(bbc_model_dir)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                with urllib.request.urlopen("http://127.0.0.1:18104/v1/model", timeout=1) as response:
                    model = json.load(response)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer on --port"
                time.sleep(0.2)
        assert model["version"] == artifact.fingerprint(bbc_model_dir)
    finally:
        process.terminate()
        process.wait(timeout=30)
