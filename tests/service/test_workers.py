"""Several workers: one port, a listening socket each, connections spread over them, supervision."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from service import workers
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(
    not workers.SPREADS_CONNECTIONS, reason="SO_REUSEPORT spreads connections on Linux"
)

ESTABLISHED, LISTEN = "01", "0A"  # /proc/net/tcp states


def serve(port: int, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "service", "--workers", "2", "--port", str(port), *args]
    env = {**os.environ, "TEXTCNN_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


def sockets_of(pid: int) -> set[str]:
    """The inodes of the sockets a process holds."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            found.add(target.removeprefix("socket:[").removesuffix("]"))
    return found


def tcp(port: int, state: str) -> set[str]:
    """The inodes of the IPv4 sockets on `port` in `state`."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return {f[9] for f in map(str.split, lines) if int(f[1].split(":")[1], 16) == port and f[3] == state}


def worker_pids(parent: int) -> list[int]:
    """The live spawned workers of `parent` (not multiprocessing's resource tracker), by pid.

    Found by each process's parent in /proc/PID/stat: the kernel vouches for its `children` file only
    while the children are stopped, and reading it here once found two workers where one lived. An
    exiting worker has an empty cmdline (its memory goes before its sockets do), a reaped one no
    /proc entry at all."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The fields after the command name, which may hold spaces: state, then parent.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent and fields[0] not in "ZX" and b"spawn_main" in command:
            workers.append(int(stat.parent.name))
    return sorted(workers)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def two_workers(model_dir: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = serve(port, "--model-dir", str(model_dir))
    try:
        wait_for(lambda: process.poll() is None and len(tcp(port, LISTEN)) == 2, "two workers listening")
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@pytest.mark.slow
def test_each_worker_listens_on_its_own_socket_and_gets_connections(bbc_model_dir: Path) -> None:
    with two_workers(bbc_model_dir) as (process, port):
        pids = worker_pids(process.pid)
        assert len(pids) == 2
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            time.sleep(0.5)  # accepted
            established = tcp(port, ESTABLISHED)
            held = [len(sockets_of(pid) & established) for pid in pids]
            # A burst on uvicorn's one shared socket could all land on one worker; the kernel's spread
            # over two sockets puts fewer than 4 of 32 on one with probability under 1e-5.
            assert sum(held) == 32 and min(held) >= 4, held
        finally:
            for client in clients:
                client.close()
        assert answers(port)
    assert process.returncode == 0


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced(bbc_model_dir: Path) -> None:
    with two_workers(bbc_model_dir) as (process, port):
        first, second = worker_pids(process.pid)
        os.kill(first, signal.SIGKILL)
        # Reaped by the supervisor: the killed worker's socket is closed and no longer counts.
        wait_for(lambda: not Path(f"/proc/{first}").exists(), "the killed worker reaped")
        wait_for(lambda: len(worker_pids(process.pid)) == 2, "a new worker")
        wait_for(lambda: len(tcp(port, LISTEN)) == 2, "the new worker listening")
        assert second in worker_pids(process.pid)
        wait_for(lambda: answers(port), "an answer")


@pytest.mark.slow
def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = serve(port)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"cannot start: cannot listen on 127.0.0.1:{port}: Address already in use" in err


@pytest.mark.slow
def test_workers_that_cannot_start_stop_the_server(tmp_path: Path) -> None:
    process = serve(free_port(), "--model-dir", str(tmp_path))
    _, err = process.communicate(timeout=120)
    assert process.returncode == 3  # uvicorn's start-up failure, as with one worker
    assert "manifest.json is missing" in err and "failed to start" in err
