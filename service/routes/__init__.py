"""The API's routers (service/routes/predict.py, service/routes/operations.py), and the error
responses their OpenAPI entries document."""

from service import schemas

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


def responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """The OpenAPI responses of these error statuses: the error schema and what each status means."""
    return {code: {"model": schemas.ErrorResponse, "description": ERROR_TEXTS[code]} for code in codes}
