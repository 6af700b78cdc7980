"""What the routes depend on, as `Annotated` dependencies read from `request.app.state`.

create_app puts the settings and metrics there, and the lifespan the model repository, the gate and
the API keys, so a route names what it needs in its signature and holds no state of its own. The
dependencies are coroutines: they only read the state (or check sizes), so they run on the event
loop, as cheap as a call, instead of taking a trip through the thread pool. The predict routes, the
hot path, take the request and call `model_work` instead (see there).
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Body, Depends, Request, params

from service import auth, schemas
from service.backpressure import ModelGate
from service.budget import check_characters
from service.observability import Metrics
from service.repository import ModelRepository, ModelUnavailable, Served
from service.settings import Settings

logger = logging.getLogger("service")


async def metrics(request: Request) -> Metrics:
    recorded: Metrics = request.app.state.metrics
    return recorded


async def repository(request: Request) -> ModelRepository:
    models: ModelRepository = request.app.state.repository
    return models


AppMetrics = Annotated[Metrics, Depends(metrics)]
Repository = Annotated[ModelRepository, Depends(repository)]


def serving(models: ModelRepository) -> Served:
    """The default model as it serves now; ModelUnavailable while it is not loaded."""
    served = models.serving()
    if served is None:
        raise ModelUnavailable(f"the default model {models.default!r} is not loaded")
    return served


async def default_model(models: Repository) -> Served:
    return serving(models)


DefaultModel = Annotated[Served, Depends(default_model)]


def protection(configured: Settings) -> Sequence[params.Depends]:
    """The API key check, for the routes that need a key, once keys are configured; else nothing,
    so that the OpenAPI schema shows no security scheme either."""
    return [Depends(auth.require_api_key)] if auth.enabled(configured) else []


ClassifyBody = Annotated[schemas.ClassifyRequest, Body(openapi_examples=schemas.CLASSIFY_EXAMPLES)]
SummarizeBody = Annotated[schemas.SummarizeRequest, Body(openapi_examples=schemas.SUMMARIZE_EXAMPLES)]


def _checked(body: schemas.Documents, route: str, configured: Settings, recorded: Metrics) -> list[str]:
    """The documents, within the count and character limits (cheap: checked before the queue)."""
    texts = body.as_list()
    check_characters(texts, configured)
    recorded.documents.labels(route).observe(len(texts))
    if configured.log_texts:
        logger.info("documents: %s", json.dumps(texts, ensure_ascii=False))
    return texts


@dataclass(frozen=True)
class ModelWork:
    """What a predict route needs to run model work: its checked documents, the models, the gate in
    front of them, and the metrics that count the requests each model answers."""

    texts: list[str]
    repository: ModelRepository
    gate: ModelGate
    metrics: Metrics


# The predict routes are the hot path, and FastAPI resolves (and validates the body for) every
# dependency of a route on every request, so they take the request and call this themselves. The
# metrics label documents by the route's path template.
def model_work(body: schemas.Documents, request: Request) -> ModelWork:
    """The checked documents of `body` and what running them takes, from app.state."""
    state = request.app.state
    texts = _checked(body, request.scope["route"].path, state.settings, state.metrics)
    return ModelWork(texts, state.repository, state.gate, state.metrics)
