"""uvicorn's httptools protocol with the limits it lacks: header size and count, arrival time, connections.

uvicorn bounds neither a request's header nor how long it may take to arrive, so a slow or endless
header holds a socket and its buffer for ever (slowloris). This protocol answers 431 to a header over
TEXTCNN_MAX_HEADER_BYTES or TEXTCNN_MAX_HEADERS lines, 408 to a request whose header has not arrived
within TEXTCNN_ARRIVAL_TIMEOUT_S of its first byte (a body not in by then closes the connection), and
503 at once to a connection beyond TEXTCNN_MAX_CONNECTIONS, before it can hold a file descriptor
for long. Idle keep-alive connections stay uvicorn's own (TEXTCNN_KEEP_ALIVE_S).
"""

import asyncio
import functools
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from service import errors
from service.settings import Settings


@functools.cache
def _settings() -> Settings:
    # Read once per worker process: uvicorn builds one protocol per connection.
    return Settings()


def _answer(status: int, reason: str, detail: str, kind: str, extra: bytes = b"") -> bytes:
    body = errors.body(detail, kind)
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + extra + b"connection: close\r\n\r\n" + body


def _too_large(detail: str) -> bytes:
    return _answer(431, "Request Header Fields Too Large", detail, errors.HEADER_TOO_LARGE)


class _HeaderTooLarge(Exception):
    pass


class GuardedHttpTools(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = _settings()
        self.max_header_bytes = settings.max_header_bytes
        self.max_headers = settings.max_headers
        self.arrival_timeout_s = settings.arrival_timeout_s
        self.max_connections = settings.max_connections
        self.retry_after_s = settings.retry_after_s
        self._arrival: asyncio.TimerHandle | None = None
        self._in_header = True  # bytes arriving now belong to a request's header
        self._header_bytes = 0
        self._header_lines = 0
        self._refusal = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            retry = f"retry-after: {self.retry_after_s}\r\n".encode()
            detail = f"server busy: {self.max_connections} connections already open; retry later"
            transport.write(_answer(503, "Service Unavailable", detail, errors.OVERLOADED, retry))
            transport.close()
            return
        self._start_arrival()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_arrival()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_header:
            end = data.find(b"\r\n\r\n")  # what follows is body, or the next request
            self._header_bytes += len(data) if end < 0 else end
            if self._header_bytes > self.max_header_bytes:
                self._refuse(f"over {self.max_header_bytes} bytes")
                return
            self._start_arrival()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_header, self._header_lines = True, 0
        self._start_arrival()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_lines += 1
        if self._header_lines > self.max_headers:
            self._refusal = _too_large(f"request header over {self.max_headers} lines")
            raise _HeaderTooLarge  # httptools stops parsing; send_400_response sends the refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_header, self._header_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_arrival()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refusal:
            super().send_400_response(msg)
            return
        self.transport.write(self._refusal)
        self.transport.close()

    def _refuse(self, what: str) -> None:
        self._stop_arrival()
        self.transport.write(_too_large(f"request header {what}"))
        self.transport.close()

    def _start_arrival(self) -> None:
        if self._arrival is None:
            self._arrival = self.loop.call_later(self.arrival_timeout_s, self._too_slow)

    def _stop_arrival(self) -> None:
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None

    def _too_slow(self) -> None:
        self._arrival = None
        if self.transport.is_closing():
            return
        if self._in_header:
            detail = f"the request header did not arrive within {self.arrival_timeout_s:g} s"
            self.transport.write(_answer(408, "Request Timeout", detail, errors.REQUEST_TIMEOUT))
        self.transport.close()
