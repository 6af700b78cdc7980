"""The operations routes: the demo page, health and readiness, Prometheus metrics, the default model's
card and examples, and the model repository (list, get, load, unload).

`probes` stay open whatever the API key settings; the other routers get the API key check where
create_app includes them.
"""

import asyncio
import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from service import deps, schemas
from service.repository import Status
from service.routes import responses
from textcnn import TextCNNError, artifact

logger = logging.getLogger("service")

STATIC = Path(__file__).parents[1] / "static"

probes = APIRouter()
default_model = APIRouter(tags=["operations"])
models = APIRouter(tags=["models"])
model_swaps = APIRouter(tags=["models"])


@probes.get("/", include_in_schema=False)
def demo() -> FileResponse:
    """The demo page: classify and summarize a pasted article, with explanations highlighted."""
    return FileResponse(STATIC / "index.html")


@probes.get("/health", response_model=schemas.Status, tags=["operations"])
def health() -> schemas.Status:
    """Alive: the process answers."""
    return schemas.Status(status="ok")


@probes.get(
    "/ready",
    response_model=schemas.Status,
    tags=["operations"],
    responses={503: {"model": schemas.Status}},
)
def ready(request: Request) -> schemas.Status | JSONResponse:
    """Ready: the default model is loaded and requests will be answered."""
    repository = getattr(request.app.state, "repository", None)  # none before the lifespan has run
    if repository is None or repository.serving() is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    return schemas.Status(status="ready")


@probes.get("/metrics", include_in_schema=False)
def prometheus_metrics(metrics: deps.AppMetrics) -> Response:
    """Prometheus metrics: requests by route and status, latencies, batch sizes, queue depth, model."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


@default_model.get("/v1/model", response_model=schemas.ModelResponse)
def model_info(served: deps.DefaultModel) -> schemas.ModelResponse:
    """The default model: name, version (weights fingerprint), labels, tasks and metrics."""
    info = served.predictor.info
    return schemas.ModelResponse(
        name=info.name,
        version=served.fingerprint,
        labels=list(info.labels),
        tasks=served.tasks,
        multi_label=served.predictor.multi_label,
        thresholds=dict(zip(info.labels, info.thresholds, strict=True)) if info.thresholds else None,
        metrics=artifact.read_extra(served.directory, "metrics.json"),
        encoder=vars(served.predictor.inference),
        description=artifact.card_description(served.directory),
    )


@default_model.get(
    "/v1/model/examples", response_model=list[schemas.Example], response_model_exclude_none=True
)
def model_examples(repository: deps.Repository) -> list[schemas.Example]:
    """Texts to try the served model on, kept in its directory (examples.json); often none."""
    try:
        examples = artifact.read_examples(deps.serving(repository).directory)
    except TextCNNError as error:  # no default model loaded counts too: the page then offers none
        logger.warning("no examples served: %s", error)
        return []
    return [schemas.Example(**e) for e in examples]


@models.get("/v1/models", response_model=list[schemas.ModelStatus])
def list_models(repository: deps.Repository) -> list[schemas.ModelStatus]:
    """Every model of the repository: its state, served version, tasks, labels and last error."""
    return [_model_status(s) for s in repository.status()]


@models.get("/v1/models/{name}", response_model=schemas.ModelStatus, responses=responses(404))
def get_model(name: str, repository: deps.Repository) -> schemas.ModelStatus:
    """One model's state, served version, tasks, labels and last error."""
    [status] = repository.status(name)
    return _model_status(status)


@model_swaps.post(
    "/v1/models/{name}/load", response_model=schemas.ModelStatus, responses=responses(400, 404, 409, 422, 503)
)
async def load_model(
    name: str, repository: deps.Repository, body: Annotated[schemas.LoadRequest | None, Body()] = None
) -> schemas.ModelStatus:
    """Load the model now: `version` pins that version folder, none serves the highest. The new
    version is checked beside the old one, which serves until the switch and keeps serving if
    the check fails (409)."""
    version = None if body is None else body.version
    return _model_status(await asyncio.to_thread(repository.load, name, version))


@model_swaps.post("/v1/models/{name}/unload", response_model=schemas.ModelStatus, responses=responses(404))
async def unload_model(name: str, repository: deps.Repository) -> schemas.ModelStatus:
    """Stop serving the model until it is loaded again; requests in flight finish first."""
    return _model_status(await asyncio.to_thread(repository.unload, name))


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
