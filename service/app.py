"""The FastAPI application: routes turn requests into plain values for the Predictor and back."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service import schemas
from service.limits import BodySizeLimit
from service.settings import Settings
from textcnn import __version__, artifact
from textcnn.errors import InputError, TextCNNError, UnsupportedTaskError
from textcnn.predict import Classification, Predictor, Summary

logger = logging.getLogger("service")


class TooLarge(TextCNNError):
    """A request within the byte limit that still exceeds a document or character limit."""


# The one place where errors become HTTP statuses; anything else from the library is a 400.
STATUS_FOR_ERROR: dict[type[TextCNNError], int] = {
    TooLarge: 413,
    InputError: 422,
    UnsupportedTaskError: 400,
}

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": schemas.ErrorResponse, "description": text}
    for code, text in [
        (400, "the model cannot do this task"),
        (413, "a size limit was exceeded"),
        (422, "the body is not valid"),
    ]
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the model is loaded when the app starts (lifespan), not at import."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        torch.set_num_threads(settings.torch_threads or max(1, (os.cpu_count() or 1) // settings.workers))
        app.state.predictor = Predictor.load(settings.model_dir, batch_size=settings.batch_size)
        app.state.model_version = artifact.fingerprint(settings.model_dir)
        logger.info("serving %s from %s", app.state.predictor.info.name, settings.model_dir)
        yield

    app = FastAPI(
        title="textcnn",
        version=__version__,
        lifespan=lifespan,
        description="Document classification and extractive summarization with a multi-task Kim CNN.",
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(TextCNNError)
    async def library_error(request: Request, error: TextCNNError) -> JSONResponse:
        status = next((code for kind, code in STATUS_FOR_ERROR.items() if isinstance(error, kind)), 400)
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()
        ]
        return JSONResponse({"detail": details}, status_code=422)

    def predictor(request: Request) -> Predictor:
        served: Predictor = request.app.state.predictor
        return served

    def checked(request: schemas.Documents) -> list[str]:
        texts = request.as_list()
        if len(texts) > settings.max_documents:
            raise TooLarge(f"{len(texts)} documents exceed the limit of {settings.max_documents} per request")
        for i, text in enumerate(texts):
            if len(text) > settings.max_characters:
                raise TooLarge(
                    f"document {i} has {len(text)} characters, over the limit of {settings.max_characters}"
                )
        return texts

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
        """Ready: the model is loaded and requests will be answered."""
        if getattr(request.app.state, "predictor", None) is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return schemas.Status(status="ready")

    @app.get("/v1/model", response_model=schemas.ModelResponse, tags=["operations"])
    def model_info(request: Request) -> schemas.ModelResponse:
        """The served model: name, version (weights fingerprint), labels, tasks and metrics."""
        served = predictor(request)
        tasks = [
            t for t, ok in [("classify", served.can_classify), ("summarize", served.can_summarize)] if ok
        ]
        return schemas.ModelResponse(
            name=served.info.name,
            version=request.app.state.model_version,
            labels=list(served.info.labels),
            tasks=tasks,
            metrics=artifact.read_extra(settings.model_dir, "metrics.json"),
        )

    @app.post("/classify", response_model=schemas.ClassifyResponse, responses=ERRORS, tags=["predict"])
    def classify(body: schemas.ClassifyRequest, request: Request) -> schemas.ClassifyResponse:
        """Label each document with its most probable class and the class probabilities."""
        served = predictor(request)
        results = served.classify(checked(body), top_k=body.top_k)
        return schemas.ClassifyResponse(model=served.info.name, results=[_classification(r) for r in results])

    @app.post("/summarize", response_model=schemas.SummarizeResponse, responses=ERRORS, tags=["predict"])
    def summarize(body: schemas.SummarizeRequest, request: Request) -> schemas.SummarizeResponse:
        """Pick each document's summary sentences, returned in document order with offsets."""
        served = predictor(request)
        results = served.summarize(
            checked(body),
            max_sentences=body.max_sentences,
            ratio=body.ratio,
            max_words=body.max_words,
        )
        return schemas.SummarizeResponse(model=served.info.name, results=[_summary(r) for r in results])

    return app


def _classification(result: Classification) -> schemas.ClassificationResult:
    return schemas.ClassificationResult(
        label=result.label, confidence=result.confidence, scores=result.scores
    )


def _summary(result: Summary) -> schemas.SummaryResult:
    return schemas.SummaryResult(
        summary=result.text,
        sentences=[
            schemas.SentenceResult(index=s.index, text=s.text, score=s.score, start=s.start, end=s.end)
            for s in result.sentences
        ],
    )
