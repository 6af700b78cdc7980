"""Request ids, JSON logs and Prometheus metrics for every HTTP request.

Each request gets an id (a sane incoming `X-Request-ID`, or a new one) that is echoed in the
response header and added to every log line written while the request is handled. One access log
line and one set of metrics per request record the method, the route (its template, so that random
paths cannot grow the metrics), the status and the time taken. Document text is never logged here.
"""

import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.settings import Settings
from textcnn import Document, Scorer, Scores

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("service.access")
# New request ids need to be unique, not secret. uuid4 reads os.urandom, a system call that hands
# the GIL to the model's threads, and under load taking it back stalls the event loop; a generator
# seeded once does not.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)  # forked workers must not repeat each other's ids

_FIELDS = ("method", "path", "route", "status", "duration_ms")


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update({k: getattr(record, k) for k in _FIELDS if hasattr(record, k)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class TextFormatter(logging.Formatter):
    """Plain text lines, control characters escaped: a `%0a` in a URL path cannot forge a line."""

    def format(self, record: logging.LogRecord) -> str:
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", super().format(record))


def configure_logging(settings: Settings) -> None:
    """Send every logger (uvicorn's too) to stderr in the configured format, with request ids."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if settings.log_format == "json"
        else TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())


class Metrics:
    """The app's own Prometheus registry (one per app, so tests can build many apps)."""

    def __init__(self, queue_depth: Callable[[], float], in_flight: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "textcnn_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "textcnn_request_duration_seconds",
            "time from request to the end of the response",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.documents = Histogram(
            "textcnn_batch_documents",
            "documents per predict request",
            ["route"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.pass_documents = Histogram(
            "textcnn_forward_documents",
            "documents per model call (one forward pass, unless their sentence grid needs more; a "
            "request larger than batch_size is split)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.pass_requests = Histogram(
            "textcnn_forward_requests",
            "requests sharing one model call (micro-batching)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        Gauge("textcnn_queue_depth", "requests waiting for the model", registry=self.registry).set_function(
            queue_depth
        )
        Gauge(
            "textcnn_model_in_flight", "requests running or waiting in the model gate", registry=self.registry
        ).set_function(in_flight)
        self.model = Info("textcnn_model", "the served model", registry=self.registry)
        # The same per model of the repository (service/repository.py); one model is one label value.
        self.model_requests = Counter(
            "textcnn_model_requests",
            "predict requests each model answered",
            ["model", "task"],
            registry=self.registry,
        )
        self.model_pass_documents = Histogram(
            "textcnn_model_forward_documents",
            "documents per model call, by model",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "textcnn_model_loaded",
            "1 while the model is loaded and serving",
            ["model"],
            registry=self.registry,
        )
        self.model_load_failures = Counter(
            "textcnn_model_load_failures",
            "model directories that failed their checks (what served before keeps serving)",
            ["model"],
            registry=self.registry,
        )
        self.model_swaps = Counter(
            "textcnn_model_swaps", "switches to a new version of a model", ["model"], registry=self.registry
        )
        self.served_model = Info(
            "textcnn_served_model", "the version each model serves", ["model"], registry=self.registry
        )

    def observe_pass(self, requests: int, documents: int, model: str | None = None) -> None:
        """Record one model call and how many requests and documents shared it."""
        self.pass_requests.observe(requests)
        self.pass_documents.observe(documents)
        if model is not None:
            self.model_pass_documents.labels(model).observe(documents)

    def observed(self, score: Scorer, model: str | None = None) -> Scorer:
        """`score`, recording each call as a pass of one request (serving without micro-batching)."""

        def observed_score(documents: Sequence[Document], *, sentences: bool = True) -> list[Scores]:
            self.observe_pass(1, len(documents), model)
            return score(documents, sentences=sentences)

        return observed_score

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class Observability:
    """ASGI middleware: request id in and out, one access log line and the request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics, route_of: Callable[[Scope], str]) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE_ID.fullmatch(incoming) else f"{_ids.getrandbits(128):032x}"
        token = REQUEST_ID.set(request_id)
        method = scope["method"]
        status = 500  # what the client sees if the app fails before it answers
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            # The router leaves the route it matched in the scope; matching again is for the requests
            # answered before routing (a 413, a 404).
            route = getattr(scope.get("route"), "path", None) or self.route_of(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route, str(status)).observe(elapsed)
            access_log.info(
                "%s %s %d",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            REQUEST_ID.reset(token)
