"""The FastAPI application: routes turn requests into plain values for the Predictor and back.

It also serves the demo page at `/` and the API docs at `/docs` from local files only (fastapi-offline
ships the Swagger UI and ReDoc assets), so both work without internet, and Prometheus metrics at
`/metrics`. Model work goes through a bounded gate (service/backpressure.py), and concurrent requests
share forward passes (service/batching.py); predict routes need an API key when keys are configured
(service/auth.py). The models come from service/repository.py: one model directory, or a repository
of many with versions swapped in while the server runs; every route answers through a lease on one
version, so a swap never changes the model under a request.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Body, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.routing import Match
from starlette.types import Scope

from service import auth, deps, errors, offsets, runtime, schemas
from service.backpressure import ModelGate, one_document_at_a_time
from service.batching import MicroBatcher, lanes
from service.budget import budgeted
from service.limits import BodySizeLimit
from service.observability import Metrics, Observability
from service.repository import ModelRepository, Served, Status
from service.settings import Settings
from service.startup import QuietStartupFailure
from textcnn import __version__, artifact
from textcnn.errors import TextCNNError
from textcnn.explain import (
    ClassExplanation,
    NGram,
    SentenceExplanation,
    explain_classification,
    explain_sentences,
)
from textcnn.predict import Classification, Summary, bf16_supported

logger = logging.getLogger("service")

STATIC = Path(__file__).parent / "static"
# A forward pass holds at most this many tokens, so a long request is split into chunks that can be
# stopped between; requests of at most SHORT_TOKENS tokens have a lane of their own, so a long
# document never holds their pass.
PASS_TOKENS = 16_384
SHORT_TOKENS = 2_048


ERROR_TEXTS = {
    400: "the model cannot do this task, or the body is not UTF-8",
    401: "no valid API key (only when API keys are configured)",
    404: "no model of that name",
    409: "the model directory failed its checks; the version served before keeps serving",
    413: "a size limit was exceeded",
    422: "the body is not valid",
    503: "the server is busy (queue full or the wait ran out), or the model is not loaded; retry after "
    "Retry-After seconds",
    504: "the model did not finish within the request timeout",
}


def _responses(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": schemas.ErrorResponse, "description": ERROR_TEXTS[code]} for code in codes}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the model is loaded when the app starts (lifespan), not at import."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.tune(settings)
        bf16 = settings.bf16 and bf16_supported()
        if settings.bf16 and not bf16:
            logger.warning("TEXTCNN_BF16 ignored: this CPU has no native bfloat16; serving in float32")
        gate = ModelGate(settings.requests_at_once(), settings.queue_size, settings.request_timeout_s)
        app.state.gate = gate

        def setup(served: Served) -> list[MicroBatcher]:
            """Each model (and each version of it) gets forward passes of its own."""
            predictor = served.predictor
            if not settings.micro_batching:
                predictor.scorer = budgeted(metrics.observed(predictor.scores, served.name), settings)
                return []
            batchers = [
                MicroBatcher(
                    predictor.scores,
                    max_documents=settings.batch_size,
                    max_wait_s=settings.batch_wait_ms / 1000,
                    max_tokens=PASS_TOKENS,
                    expected=lambda: served.active,
                    observe=lambda requests, documents: metrics.observe_pass(
                        requests, documents, served.name
                    ),
                )
                for _ in ("short", "long")
            ]
            predictor.scorer = budgeted(lanes(*batchers, short_tokens=SHORT_TOKENS), settings)
            return batchers

        def installed(served: Served) -> None:
            # The default model as the single-model routes and their tests see it.
            app.state.predictor = served.predictor
            app.state.batcher = next(iter(served.workers), None)
            app.state.model_version = served.fingerprint
            metrics.model.info({"name": served.predictor.info.name, "version": served.fingerprint})

        repository = ModelRepository(settings, metrics, setup, bf16=bf16)
        repository.installed = installed
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

    def gate_state(attribute: str) -> float:
        gate = getattr(app.state, "gate", None)
        return float(getattr(gate, attribute)) if gate is not None else 0.0

    metrics = Metrics(queue_depth=lambda: gate_state("waiting"), in_flight=lambda: gate_state("admitted"))
    app = FastAPIOffline(
        title="textcnn",
        version=__version__,
        lifespan=lifespan,
        description="Document classification and extractive summarization with a multi-task Kim CNN.",
    )
    app.state.settings = settings
    app.state.metrics = metrics

    def route_of(scope: Scope) -> str:
        for route in app.router.routes:
            if route.matches(scope)[0] != Match.NONE:
                return str(getattr(route, "path", "other"))
        return "unmatched"

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
    app.add_middleware(Observability, metrics=metrics, route_of=route_of)
    app.add_middleware(QuietStartupFailure)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    protected = list(deps.protection(settings))
    auth_errors = (401,) if protected else ()
    predict_errors = _responses(*auth_errors, 400, 413, 422, 503, 504)

    for kind, handler in errors.HANDLERS.items():
        app.add_exception_handler(kind, handler)

    @app.get("/", include_in_schema=False)
    def demo() -> FileResponse:
        """The demo page: classify and summarize a pasted article, with explanations highlighted."""
        return FileResponse(STATIC / "index.html")

    @app.get("/health", response_model=schemas.Status, tags=["operations"])
    def health() -> schemas.Status:
        """Alive: the process answers."""
        return schemas.Status(status="ok")

    @app.get(
        "/ready",
        response_model=schemas.Status,
        tags=["operations"],
        responses={503: {"model": schemas.Status}},
    )
    def ready(request: Request) -> schemas.Status | JSONResponse:
        """Ready: the default model is loaded and requests will be answered."""
        repository = getattr(request.app.state, "repository", None)
        if repository is None or repository.serving() is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return schemas.Status(status="ready")

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus metrics: requests by route and status, latencies, batch sizes, queue depth, model."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get(
        "/v1/model",
        response_model=schemas.ModelResponse,
        tags=["operations"],
        dependencies=protected,
        responses=_responses(*auth_errors),
    )
    def model_info(served: deps.DefaultModel) -> schemas.ModelResponse:
        """The default model: name, version (weights fingerprint), labels, tasks and metrics."""
        return schemas.ModelResponse(
            name=served.predictor.info.name,
            version=served.fingerprint,
            labels=list(served.predictor.info.labels),
            tasks=served.tasks,
            metrics=artifact.read_extra(served.directory, "metrics.json"),
            encoder=vars(served.predictor.inference),
            description=artifact.card_description(served.directory),
        )

    @app.get(
        "/v1/model/examples",
        response_model=list[schemas.Example],
        response_model_exclude_none=True,
        tags=["operations"],
        dependencies=protected,
        responses=_responses(*auth_errors),
    )
    def model_examples(repository: deps.Repository) -> list[schemas.Example]:
        """Texts to try the served model on, kept in its directory (examples.json); often none."""
        try:
            examples = artifact.read_examples(deps.serving(repository).directory)
        except TextCNNError as error:
            logger.warning("no examples served: %s", error)
            return []
        return [schemas.Example(**e) for e in examples]

    async def classified(
        request: Request, name: str | None, body: schemas.ClassifyRequest, texts: list[str]
    ) -> schemas.ClassifyResponse:
        repository: ModelRepository = request.app.state.repository
        repository.require(name)  # an unknown model is answered before it takes a place in the queue

        def work() -> schemas.ClassifyResponse:
            with repository.lease(name) as served:
                predictor = served.predictor
                results = predictor.classify(texts, top_k=body.top_k)
                explanations: Sequence[ClassExplanation | None] = [None] * len(texts)
                if body.explain:
                    explanations = one_document_at_a_time(
                        lambda some: explain_classification(
                            predictor, some, label=body.explain_label, top_n=body.top_ngrams
                        ),
                        texts,
                    )
                metrics.model_requests.labels(served.name, "classify").inc()
                return schemas.ClassifyResponse(
                    model=served.name,
                    version=served.fingerprint,
                    results=[
                        _classification(r, e, offsets.converter(t, body.offsets))
                        for r, e, t in zip(results, explanations, texts, strict=True)
                    ],
                )

        return await request.app.state.gate.run(work)

    async def summarized(
        request: Request, name: str | None, body: schemas.SummarizeRequest, texts: list[str]
    ) -> schemas.SummarizeResponse:
        repository: ModelRepository = request.app.state.repository
        repository.require(name)

        def work() -> schemas.SummarizeResponse:
            with repository.lease(name) as served:
                predictor = served.predictor
                results = predictor.summarize(
                    texts,
                    max_sentences=body.max_sentences,
                    ratio=body.ratio,
                    max_words=body.max_words,
                )
                explanations: Sequence[Sequence[SentenceExplanation] | None] = [None] * len(texts)
                if body.explain:
                    explanations = one_document_at_a_time(
                        lambda some: explain_sentences(predictor, some, top_n=body.top_ngrams), texts
                    )
                metrics.model_requests.labels(served.name, "summarize").inc()
                return schemas.SummarizeResponse(
                    model=served.name,
                    version=served.fingerprint,
                    results=[
                        _summary(r, e, offsets.converter(t, body.offsets))
                        for r, e, t in zip(results, explanations, texts, strict=True)
                    ],
                )

        return await request.app.state.gate.run(work)

    # Without explain, answers carry no explanation keys at all (exclude_none), exactly as before.
    @app.post(
        "/classify",
        response_model=schemas.ClassifyResponse,
        response_model_exclude_none=True,
        responses=predict_errors,
        tags=["predict"],
        dependencies=protected,
    )
    async def classify(
        body: deps.ClassifyBody,
        texts: deps.ClassifyTexts,
        request: Request,
    ) -> schemas.ClassifyResponse:
        """Label each document with its most probable class and the class probabilities (the default
        model).

        With `explain`, each result also says why: the n-grams that add most to the logit of the
        predicted class (or of `explain_label`), with their character offsets. It is exact, from one
        more forward pass: each of the CNN's max-pooled features comes from one n-gram, and the class
        logit is the bias plus weight x feature summed over the features.
        """
        return await classified(request, None, body, texts)

    @app.post(
        "/summarize",
        response_model=schemas.SummarizeResponse,
        response_model_exclude_none=True,
        responses=predict_errors,
        tags=["predict"],
        dependencies=protected,
    )
    async def summarize(
        body: deps.SummarizeBody,
        texts: deps.SummarizeTexts,
        request: Request,
    ) -> schemas.SummarizeResponse:
        """Pick each document's summary sentences, returned in document order with offsets (the default
        model).

        With `explain`, each sentence also says why it scored as it did: its logit split exactly into
        its content, context, document and position parts (the scorer is linear once its active
        units are fixed), and the sentence's own n-grams behind the content part.
        """
        return await summarized(request, None, body, texts)

    model_errors = _responses(*auth_errors, 404)

    @app.get(
        "/v1/models",
        response_model=list[schemas.ModelStatus],
        tags=["models"],
        dependencies=protected,
        responses=_responses(*auth_errors),
    )
    def list_models(repository: deps.Repository) -> list[schemas.ModelStatus]:
        """Every model of the repository: its state, served version, tasks, labels and last error."""
        return [_model_status(s) for s in repository.status()]

    @app.get(
        "/v1/models/{name}",
        response_model=schemas.ModelStatus,
        tags=["models"],
        dependencies=protected,
        responses=model_errors,
    )
    def get_model(name: str, repository: deps.Repository) -> schemas.ModelStatus:
        """One model's state, served version, tasks, labels and last error."""
        [status] = repository.status(name)
        return _model_status(status)

    @app.post(
        "/v1/models/{name}/classify",
        response_model=schemas.ClassifyResponse,
        response_model_exclude_none=True,
        responses=_responses(*auth_errors, 400, 404, 413, 422, 503, 504),
        tags=["models"],
        dependencies=protected,
    )
    async def classify_with(
        name: str,
        body: deps.ClassifyBody,
        texts: deps.ClassifyTexts,
        request: Request,
    ) -> schemas.ClassifyResponse:
        """`/classify` with the named model (loaded first if it is not)."""
        return await classified(request, name, body, texts)

    @app.post(
        "/v1/models/{name}/summarize",
        response_model=schemas.SummarizeResponse,
        response_model_exclude_none=True,
        responses=_responses(*auth_errors, 400, 404, 413, 422, 503, 504),
        tags=["models"],
        dependencies=protected,
    )
    async def summarize_with(
        name: str,
        body: deps.SummarizeBody,
        texts: deps.SummarizeTexts,
        request: Request,
    ) -> schemas.SummarizeResponse:
        """`/summarize` with the named model (loaded first if it is not)."""
        return await summarized(request, name, body, texts)

    @app.post(
        "/v1/models/{name}/load",
        response_model=schemas.ModelStatus,
        tags=["models"],
        dependencies=protected,
        responses=_responses(*auth_errors, 400, 404, 409, 422, 503),
    )
    async def load_model(
        name: str, repository: deps.Repository, body: Annotated[schemas.LoadRequest | None, Body()] = None
    ) -> schemas.ModelStatus:
        """Load the model now: `version` pins that version folder, none serves the highest. The new
        version is checked beside the old one, which serves until the switch and keeps serving if
        the check fails (409)."""
        version = None if body is None else body.version
        return _model_status(await asyncio.to_thread(repository.load, name, version))

    @app.post(
        "/v1/models/{name}/unload",
        response_model=schemas.ModelStatus,
        tags=["models"],
        dependencies=protected,
        responses=model_errors,
    )
    async def unload_model(name: str, repository: deps.Repository) -> schemas.ModelStatus:
        """Stop serving the model until it is loaded again; requests in flight finish first."""
        return _model_status(await asyncio.to_thread(repository.unload, name))

    return app


def _model_status(status: Status) -> schemas.ModelStatus:
    return schemas.ModelStatus(
        name=status.name,
        state=status.state,
        ready=status.ready,
        default=status.default,
        version=status.version,
        number=status.number,
        pinned=status.pinned,
        versions=list(status.versions),
        tasks=list(status.tasks),
        labels=list(status.labels),
        error=status.error,
    )


def _classification(
    result: Classification, explanation: ClassExplanation | None, at: Callable[[int], int]
) -> schemas.ClassificationResult:
    return schemas.ClassificationResult(
        label=result.label,
        confidence=result.confidence,
        scores=result.scores,
        known_token_share=result.known_token_share,
        explanation=None
        if explanation is None
        else schemas.ClassExplanation(
            label=explanation.label,
            probability=explanation.probability,
            logit=explanation.logit,
            bias=explanation.bias,
            ngrams=_ngrams(explanation.ngrams, at),
        ),
    )


def _summary(
    result: Summary, explanations: Sequence[SentenceExplanation] | None, at: Callable[[int], int]
) -> schemas.SummaryResult:
    return schemas.SummaryResult(
        summary=result.text,
        sentences=[
            schemas.SentenceResult(
                index=s.index,
                text=s.text,
                score=s.score,
                start=at(s.start),
                end=at(s.end),
                explanation=None
                if explanations is None
                else _sentence_explanation(explanations[s.index], at),
            )
            for s in result.sentences
        ],
    )


def _sentence_explanation(
    explanation: SentenceExplanation, at: Callable[[int], int]
) -> schemas.SentenceExplanation:
    return schemas.SentenceExplanation(
        logit=explanation.logit,
        bias=explanation.bias,
        parts=explanation.parts,
        ngrams=_ngrams(explanation.ngrams, at),
    )


def _ngrams(ngrams: Sequence[NGram], at: Callable[[int], int]) -> list[schemas.NGramResult]:
    """The n-grams, their offsets mapped by `at` into the unit the request asked for."""
    return [
        schemas.NGramResult(
            text=n.text,
            start=at(n.start),
            end=at(n.end),
            sentence=n.sentence,
            tokens=list(n.tokens),
            contribution=n.contribution,
            features=n.features,
        )
        for n in ngrams
    ]
