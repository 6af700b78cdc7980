"""Several worker processes on one port, each listening on a socket of its own.

uvicorn's own workers share one listening socket, and the first to wake accepts a whole burst of
connections: 32 clients that connect at once may all land on one worker while the other idles, and
keep-alive keeps them there. With SO_REUSEPORT each worker listens on a socket of its own and the
kernel spreads new connections over them by their addresses (Linux), so a burst splits evenly.
Where SO_REUSEPORT does not spread connections, `python -m service` keeps uvicorn's workers.

The supervisor starts the workers, starts another when one dies after it has served, stops when one
fails to start (the next would fail the same way), and on SIGINT or SIGTERM passes SIGTERM on and
waits while they drain their requests.
"""

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess

import uvicorn
from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger("service")

# Linux balances connections over the sockets of a SO_REUSEPORT group; other systems either lack it
# or give every connection to one socket.
SPREADS_CONNECTIONS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
CHECK_INTERVAL_S = 0.5


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) in the port's SO_REUSEPORT group (not yet listening). Raises
    OSError when the address cannot be bound."""
    return _bound(host, port, share=True)


def reserve_port(host: str, port: int) -> socket.socket:
    """The group's first socket, which never listens (so never gets a connection): it holds the port
    (a free one for port 0) while workers come and go. The port is first bound without SO_REUSEPORT,
    so that a server already on it, this one's kind included, is an error rather than a silent share
    of its connections. Raises OSError."""
    with _bound(host, port, share=False) as probe:
        port = probe.getsockname()[1]
    return _bound(host, port, share=True)


def _bound(host: str, port: int, *, share: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if share:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(config: uvicorn.Config) -> None:
    """One worker (in its own process): listen on a socket of its own in `config.port`'s group and
    serve until told to stop; exit with uvicorn's start-up failure status if the app never started."""
    server = uvicorn.Server(config)
    server.run(sockets=[listening_socket(config.host, config.port)])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def supervise(config: uvicorn.Config, workers: int) -> int:
    """Run `workers` processes of `serve` on `config`'s host and port until SIGINT or SIGTERM. The exit
    status, as uvicorn's: 0 after a stop, 1 when the port cannot be bound, STARTUP_FAILURE when a
    worker fails to start."""
    try:
        reserved = reserve_port(config.host, config.port)
    except OSError as error:
        logger.critical("cannot start: cannot listen on %s:%d: %s", config.host, config.port, error.strerror)
        return 1
    config.port = reserved.getsockname()[1]
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [_start(config) for _ in range(workers)]
    failed = False
    try:
        while not stop.wait(CHECK_INTERVAL_S):
            for i, process in enumerate(processes):
                if process.is_alive() or stop.is_set():  # a Ctrl-C reaches the workers too
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    logger.critical("cannot start: worker %d failed to start (its log says why)", process.pid)
                    failed = True
                    stop.set()
                    break
                logger.warning("worker %d exited (%s); starting another", process.pid, process.exitcode)
                processes[i] = _start(config)
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn drains for TEXTCNN_SHUTDOWN_TIMEOUT_S
        for process in processes:
            process.join()
        reserved.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return STARTUP_FAILURE if failed else 0


def _start(config: uvicorn.Config) -> BaseProcess:
    # Spawned, not forked, like uvicorn's own workers: each imports the app (service.main) afresh.
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(config,), name="worker")
    process.start()
    return process
