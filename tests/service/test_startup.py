"""Start-up: a tampered, incomplete or newer model directory stops `textcnn-serve` with one line and a
non-zero exit status (no traceback); `/ready` says 503 until the model is loaded."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import free_port


def flip_a_weight_byte(model: Path) -> None:
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))


def remove_the_vocabulary(model: Path) -> None:
    (model / "vocab.json").unlink()


def claim_a_newer_format(model: Path) -> None:
    manifest = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2}))


def serve(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service"],
        env={**os.environ, "TEXTCNN_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (flip_a_weight_byte, "model.safetensors does not match its sha256 in manifest.json"),
        (remove_the_vocabulary, "vocab.json is missing; copy the whole model directory again"),
        (claim_a_newer_format, "format version 2 is not supported by this textcnn (reads version 1)"),
    ],
)
def test_a_bad_model_directory_stops_start_up_with_one_line(
    bbc_model_dir: Path, tmp_path: Path, damage: Callable[[Path], None], reason: str
) -> None:
    model = tmp_path / "model"
    shutil.copytree(bbc_model_dir, model)
    damage(model)
    result = serve(TEXTCNN_MODEL_DIR=str(model), TEXTCNN_LOG_FORMAT="text")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert reason in line


@pytest.mark.slow
def test_a_bad_setting_stops_start_up_with_one_line() -> None:
    result = serve(TEXTCNN_QUEUE_SIZE="lots")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "CRITICAL cannot start: TEXTCNN_QUEUE_SIZE: Input should be a valid integer, unable to parse "
        "string as an integer"
    ]


def test_not_ready_until_the_model_is_loaded(bbc_model_dir: Path) -> None:
    app = create_app(Settings(model_dir=bbc_model_dir))
    assert TestClient(app).get("/ready").status_code == 503  # no lifespan: nothing loaded yet
    with TestClient(app) as client:
        assert client.get("/ready").json() == {"status": "ready"}


@pytest.mark.slow
def test_idle_keep_alive_connections_close_after_the_setting() -> None:
    port = free_port()
    env = {**os.environ, "TEXTCNN_PORT": str(port), "TEXTCNN_KEEP_ALIVE_S": "2"}
    server = subprocess.Popen([sys.executable, "-m", "service"], env=env, stderr=subprocess.DEVNULL)
    try:
        connection = _connect_when_up(port)
        with connection:
            request = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n"
            connection.sendall(request)
            assert _read_response(connection).startswith(b"HTTP/1.1 200")
            connection.sendall(request)  # the same connection, reused at once
            assert _read_response(connection).startswith(b"HTTP/1.1 200")
            connection.settimeout(30)
            assert connection.recv(4096) == b""  # closed by the server once idle for 2 s
    finally:
        server.terminate()
        server.wait(timeout=60)


def _connect_when_up(port: int) -> socket.socket:
    for _ in range(240):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            time.sleep(0.5)
    raise AssertionError("the server never listened")


def _read_response(connection: socket.socket) -> bytes:
    """One whole HTTP/1.1 response: headers and a Content-Length body, however the writes split."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(4096)
    return data


@pytest.mark.slow
def test_every_worker_process_logs_in_the_configured_format(bbc_model_dir: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TEXTCNN_PORT": str(port),
        "TEXTCNN_WORKERS": "2",
        "TEXTCNN_MODEL_DIR": str(bbc_model_dir),
    }
    server = subprocess.Popen([sys.executable, "-m", "service"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        body = b'{"text": "Shares rose on Monday."}'
        for _ in range(2):  # each worker may serve one; either must log its access line
            with _connect_when_up(port) as connection:
                connection.sendall(
                    b"POST /classify HTTP/1.1\r\nHost: test\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )
                assert _read_response(connection).startswith(b"HTTP/1.1 200")
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    records = [json.loads(line) for line in stderr.splitlines()]  # every line is JSON
    assert sum(r["message"].startswith("serving ") for r in records) == 2  # one per worker
    access = [r for r in records if r["logger"] == "service.access" and r["route"] == "/classify"]
    assert len(access) == 2 and all(len(r["request_id"]) == 32 for r in access)
