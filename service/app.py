"""The FastAPI application: the app factory, its lifespan, middleware, error handlers and routers.

The routes live in service/routes/ (predict.py: classify and summarize; operations.py: the demo page,
probes, metrics and the model repository) and name what they need from service/deps.py. The app also
serves the API docs at `/docs` from local files only (fastapi-offline ships the Swagger UI and ReDoc
assets), so they work without internet. Model work goes through a bounded gate
(service/backpressure.py), and concurrent requests share forward passes (service/batching.py);
predict routes need an API key when keys are configured (service/auth.py). The models come from
service/repository.py: one model directory, or a repository of many with versions swapped in while
the server runs; every route answers through a lease on one version, so a swap never changes the
model under a request. Errors become answers in service/errors.py.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from service import auth, deps, errors, routes, runtime
from service.backpressure import ModelGate
from service.batching import MicroBatcher, lanes
from service.budget import budgeted
from service.limits import BodySizeLimit
from service.observability import Metrics, Observability
from service.repository import ModelRepository, Served
from service.routes import operations, predict
from service.routes.predict import _summary as _summary  # benchmarks/serving_benchmark.py serializes with it
from service.settings import Settings
from service.startup import QuietStartupFailure
from textcnn import Predictor, TextCNNError, __version__, bf16_supported

logger = logging.getLogger("service")

# A forward pass holds at most this many tokens, so a long request is split into chunks that can be
# stopped between; requests of at most SHORT_TOKENS tokens have a lane of their own, so a long
# document never holds their pass.
PASS_TOKENS = 16_384
SHORT_TOKENS = 2_048
# The routers in the order their routes have always had (and /docs shows them in); only the first
# stays open when API keys are configured.
ROUTERS = (
    operations.probes,
    operations.default_model,
    predict.default_model,
    operations.models,
    predict.named_model,
    operations.model_swaps,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the model is loaded when the app starts (lifespan), not at import."""
    settings = settings or Settings()
    app = FastAPIOffline(
        title="textcnn",
        version=__version__,
        lifespan=_lifespan,
        description="Document classification and extractive summarization with a multi-task Kim CNN.",
    )
    app.state.settings = settings
    app.state.metrics = Metrics(
        queue_depth=partial(_gate_state, app, "waiting"), in_flight=partial(_gate_state, app, "admitted")
    )
    app.mount("/static", StaticFiles(directory=operations.STATIC), name="static")
    # The routes in the order the app matches them, for the metrics' route label: FastAPI keeps each
    # included router as one entry of app.router.routes, which does not say which of its routes
    # matched; the routers' own routes do, with the same paths (they are included without a prefix).
    matched = [*app.router.routes, *(route for router in ROUTERS for route in router.routes)]
    # Added innermost first: the body limit runs inside CORS, and every answer (413s included) passes
    # through the request id and metrics.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.origins():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.origins(),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID"],
        )
    app.add_middleware(Observability, metrics=app.state.metrics, route_of=partial(_route_of, matched))
    app.add_middleware(QuietStartupFailure)
    for kind, handler in errors.HANDLERS.items():
        app.add_exception_handler(kind, handler)

    protected = list(deps.protection(settings))
    auth_errors = routes.responses(401) if protected else {}
    open_router, *protected_routers = ROUTERS
    app.include_router(open_router)
    for router in protected_routers:
        app.include_router(router, dependencies=protected, responses=auth_errors)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Tune the process, open the gate and load the models; at shutdown, drain and close them."""
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    runtime.tune(settings)
    bf16 = settings.bf16 and bf16_supported()
    if settings.bf16 and not bf16:
        logger.warning("TEXTCNN_BF16 ignored: this CPU has no native bfloat16; serving in float32")
    gate = ModelGate(settings.requests_at_once(), settings.queue_size, settings.request_timeout_s)
    app.state.gate = gate
    repository = ModelRepository(settings, metrics, partial(_forward_passes, settings, metrics), bf16=bf16)
    repository.installed = partial(_installed, app)
    app.state.repository = repository
    try:
        app.state.api_keys = auth.load_keys(settings)
        await asyncio.to_thread(repository.start)
    except TextCNNError as error:
        logger.critical("cannot start: %s", error)
        raise
    where = settings.model_repository or settings.model_dir
    logger.info("serving %s from %s", ", ".join(s.name for s in repository.status()), where)
    yield
    logger.info("shutting down: stopping the requests still admitted to the model")
    # Off the event loop, so that the 503s of the cancelled requests still go out meanwhile.
    await asyncio.to_thread(gate.close)
    await asyncio.to_thread(repository.close)


def _forward_passes(
    settings: Settings, metrics: Metrics, served: Served
) -> tuple[Predictor, list[MicroBatcher]]:
    """Each model (and each version of it) gets forward passes of its own: the predictor that answers
    through them, and the micro-batchers to close."""
    predictor = served.predictor
    if not settings.micro_batching:
        return predictor.with_scorer(budgeted(metrics.observed(predictor.scores, served.name), settings)), []
    batchers = [
        MicroBatcher(
            predictor.scores,
            max_documents=settings.batch_size,
            max_wait_s=settings.batch_wait_ms / 1000,
            max_tokens=PASS_TOKENS,
            expected=lambda: served.active,
            observe=lambda requests, documents: metrics.observe_pass(requests, documents, served.name),
        )
        for _ in ("short", "long")
    ]
    return predictor.with_scorer(budgeted(lanes(*batchers, short_tokens=SHORT_TOKENS), settings)), batchers


def _installed(app: FastAPI, served: Served) -> None:
    # The default model as the single-model routes and their tests see it.
    app.state.predictor = served.predictor
    app.state.batcher = next(iter(served.workers), None)
    app.state.model_version = served.fingerprint
    app.state.metrics.model.info({"name": served.predictor.info.name, "version": served.fingerprint})


def _gate_state(app: FastAPI, attribute: str) -> float:
    gate = getattr(app.state, "gate", None)  # none before the lifespan has run
    return float(getattr(gate, attribute)) if gate is not None else 0.0


def _route_of(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template of the route the request matches, as the metrics label it."""
    for route in routes:
        if route.matches(scope)[0] != Match.NONE:
            return str(getattr(route, "path", "other"))
    return "unmatched"
