"""The one place where errors become HTTP answers: a status and a machine-readable `type`.

Every error body is `{"detail": ..., "type": ...}`: `detail` says what went wrong for a person,
`type` says which kind of error it is for a program, and stays the same when the wording changes.
The types:

- `invalid_body` (422): the body does not match the request schema (`detail` lists each problem)
- `unparsable_body` (400): the body is not UTF-8, or not JSON the parser can read
- `invalid_input` (422): the library refused a value the schema let through
- `limit_exceeded` (413): a size limit was exceeded (body bytes, documents, characters, tokens,
  sentences)
- `unsupported_task` (400): the model was not trained for the task
- `bad_request` (400): any other error the library raises on purpose
- `unauthorized` (401): no valid API key (only when API keys are configured)
- `not_found` (404): no such route
- `method_not_allowed` (405): the route does not take this method
- `model_not_found` (404): no model of that name
- `load_failed` (409): the model directory failed its checks; the version served before keeps serving
- `model_unavailable` (503): the model is not loaded, or there is no room to load it
- `overloaded` (503): the queue is full, its wait ran out, the server is shutting down, or there are
  too many connections
- `cancelled` (503): the request's work was stopped before it finished
- `timed_out` (504): the model did not finish within the request timeout
- `request_timeout` (408): the request header did not arrive in time
- `header_too_large` (431): the request header has too many bytes or lines
- `http_error` (any other 4xx): an HTTP error the framework raises itself

The service's own errors are defined beside the code that raises them (service/auth.py,
service/backpressure.py, service/repository.py); the library's in textcnn/errors.py. An error takes
the answer of the most specific class in ERRORS that it is an instance of.
"""

import json
import logging

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.auth import Unauthorized
from service.backpressure import Cancelled, Overloaded, TimedOut
from service.repository import LoadFailed, ModelNotFound, ModelUnavailable
from textcnn import InputError, LimitExceeded, TextCNNError, UnsupportedTaskError

logger = logging.getLogger("service")

# Error class -> (HTTP status, type). TextCNNError itself is listed, so every error finds an answer.
ERRORS: dict[type[TextCNNError], tuple[int, str]] = {
    TextCNNError: (400, "bad_request"),
    InputError: (422, "invalid_input"),
    LimitExceeded: (413, "limit_exceeded"),  # the service's own limits and the Predictor's
    UnsupportedTaskError: (400, "unsupported_task"),
    Unauthorized: (401, "unauthorized"),
    ModelNotFound: (404, "model_not_found"),
    LoadFailed: (409, "load_failed"),
    ModelUnavailable: (503, "model_unavailable"),
    Overloaded: (503, "overloaded"),
    Cancelled: (503, "cancelled"),
    TimedOut: (504, "timed_out"),
}

INVALID_BODY = "invalid_body"
LIMIT_EXCEEDED = ERRORS[LimitExceeded][1]
OVERLOADED = ERRORS[Overloaded][1]
REQUEST_TIMEOUT = "request_timeout"
HEADER_TOO_LARGE = "header_too_large"
# What the framework raises itself (routing, static files, body parsing), by status.
HTTP_TYPES = {400: "unparsable_body", 404: "not_found", 405: "method_not_allowed"}
HTTP_ERROR = "http_error"

TYPES = (
    INVALID_BODY,
    *dict.fromkeys(kind for _, kind in ERRORS.values()),
    *HTTP_TYPES.values(),
    REQUEST_TIMEOUT,
    HEADER_TOO_LARGE,
    HTTP_ERROR,
)


def resolve(error: TextCNNError) -> tuple[int, str]:
    """The (status, type) of the most specific class of `error` in ERRORS."""
    return next(ERRORS[kind] for kind in type(error).__mro__ if kind in ERRORS)


def body(detail: str, kind: str) -> bytes:
    """An error body as bytes, for the answers sent below the app (ASGI middleware, the protocol)."""
    return json.dumps({"detail": detail, "type": kind}).encode()


async def library_error(request: Request, error: Exception) -> JSONResponse:
    """A TextCNNError as its status and type; 503s say when to retry, 401s how to authenticate."""
    assert isinstance(error, TextCNNError)  # registered for TextCNNError only
    status, kind = resolve(error)
    headers = {}
    if status == 503:
        headers["Retry-After"] = str(request.app.state.settings.retry_after_s)
    elif status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        logger.warning("answered %d: %s", status, error)
    return JSONResponse({"detail": str(error), "type": kind}, status_code=status, headers=headers)


async def invalid_body(request: Request, error: Exception) -> JSONResponse:
    """A body that does not match its schema: each problem's location, message and pydantic type."""
    assert isinstance(error, RequestValidationError)  # registered for RequestValidationError only
    details = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in error.errors()
    ]
    return JSONResponse({"detail": details, "type": INVALID_BODY}, status_code=422)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own answer to an HTTPException (its headers, such as Allow, kept), with a type."""
    assert isinstance(error, HTTPException)  # registered for HTTPException only
    kind = HTTP_TYPES.get(error.status_code, HTTP_ERROR)
    return JSONResponse(
        {"detail": error.detail, "type": kind}, status_code=error.status_code, headers=error.headers
    )


HANDLERS = {TextCNNError: library_error, RequestValidationError: invalid_body, HTTPException: http_error}
