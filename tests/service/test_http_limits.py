"""HTTP hardening against a real `python -m service` on loopback (the slowloris and header
probes, small): too many header lines or bytes get 431, a header that does not arrive in time 408,
connections beyond the cap 503 at once, and SIGTERM mid-request answers and exits, never 500."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

PORT = 18150


def answer(sock: socket.socket) -> bytes:
    sock.settimeout(20)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def start(env: dict[str, str], port: int, stderr: int) -> subprocess.Popen[bytes]:
    """`python -m service` with `env`, once it answers /ready on `port`."""
    process = subprocess.Popen([sys.executable, "-m", "service"], env=env, stderr=stderr)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return process


@pytest.fixture(scope="module")
def server(bbc_model_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "TEXTCNN_MODEL_DIR": str(bbc_model_dir),
        "TEXTCNN_HOST": "127.0.0.1",
        "TEXTCNN_PORT": str(PORT),
        "TEXTCNN_ARRIVAL_TIMEOUT_S": "1",
        "TEXTCNN_MAX_CONNECTIONS": "20",
        "TEXTCNN_MAX_HEADERS": "10",
        "TEXTCNN_MAX_HEADER_BYTES": "2048",
    }
    process = start(env, PORT, subprocess.DEVNULL)
    yield process
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def connect() -> socket.socket:
    return socket.create_connection(("127.0.0.1", PORT))


@pytest.mark.slow
def test_header_lines_and_bytes_over_the_limits_get_431(server: subprocess.Popen[bytes]) -> None:
    many = b"".join(b"x-%d: y\r\n" % i for i in range(11))
    big = b"x-big: " + b"y" * 4096 + b"\r\n"
    for extra in (many, big):
        with connect() as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n" + extra + b"\r\n")
            reply = answer(sock)
            assert reply.startswith(b"HTTP/1.1 431 ") and b'"type": "header_too_large"' in reply


@pytest.mark.slow
def test_a_header_that_does_not_arrive_in_time_gets_408_and_the_socket_is_closed(
    server: subprocess.Popen[bytes],
) -> None:
    with connect() as idle, connect() as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ")
        reply = answer(slow)
        assert reply.startswith(b"HTTP/1.1 408 ") and b'"type": "request_timeout"' in reply
        assert answer(idle).startswith(b"HTTP/1.1 408 ")  # connected, sent nothing
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=10) as ok:
        assert ok.status == 200


@pytest.mark.slow
def test_connections_beyond_the_cap_get_503_at_once(server: subprocess.Popen[bytes]) -> None:
    held = [connect() for _ in range(20)]
    try:
        time.sleep(0.2)
        with connect() as extra:
            reply = answer(extra)
        assert reply.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 1" in reply
        assert b"20 connections already open" in reply and b'"type": "overloaded"' in reply
    finally:
        for sock in held:
            sock.close()


@pytest.mark.slow
def test_sigterm_mid_request_answers_and_exits_within_the_timeout(bbc_model_dir: Path) -> None:
    port = PORT + 1
    env = {
        **os.environ,
        "TEXTCNN_MODEL_DIR": str(bbc_model_dir),
        "TEXTCNN_HOST": "127.0.0.1",
        "TEXTCNN_PORT": str(port),
        "TEXTCNN_SHUTDOWN_TIMEOUT_S": "1",
    }
    process = start(env, port, subprocess.PIPE)
    body = json.dumps({"texts": [" ".join(["Bank fell."] * 5000)] * 4}).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = b"POST /summarize HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        sock.sendall(head + b"content-length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        reply = answer(sock)
    _, stderr = process.communicate(timeout=60)
    status = int(reply.split(b" ", 2)[1])
    assert status in (200, 503)
    assert b"Traceback" not in stderr
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
