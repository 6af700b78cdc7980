"""The error map: every error answers its status with a machine-readable type, the most specific
class's, and the OpenAPI error schema lists every type."""

import pytest
from fastapi.testclient import TestClient

from service import errors
from service.app import create_app
from service.settings import Settings
from textcnn.errors import InputError, LimitExceeded, TextCNNError


class NarrowInput(InputError):
    """A subclass of InputError with an answer of its own."""


@pytest.fixture(scope="module")
def client() -> TestClient:
    """The app without its lifespan (no model), with a route that raises the error it is told."""
    app = create_app(Settings(retry_after_s=3))
    raised: dict[str, TextCNNError] = {}

    def fail(name: str) -> None:
        raise raised[name]

    app.add_api_route("/fail/{name}", fail)
    app.state.raised = raised
    return TestClient(app)


def raise_through(client: TestClient, error: TextCNNError) -> tuple[int, dict[str, object], str | None]:
    client.app.state.raised["it"] = error  # type: ignore[attr-defined]
    response = client.get("/fail/it")
    return response.status_code, response.json(), response.headers.get("retry-after")


@pytest.mark.parametrize(("kind", "answer"), errors.ERRORS.items(), ids=lambda k: getattr(k, "__name__", ""))
def test_every_error_answers_its_status_and_type(
    client: TestClient, kind: type[TextCNNError], answer: tuple[int, str]
) -> None:
    status, body, retry_after = raise_through(client, kind("what went wrong"))
    assert (status, body) == (answer[0], {"detail": "what went wrong", "type": answer[1]})
    assert retry_after == ("3" if status == 503 else None)


def test_the_most_specific_class_wins_whatever_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # The subclass listed after its base: a first-isinstance-match would answer InputError's 422.
    monkeypatch.setitem(errors.ERRORS, NarrowInput, (418, "narrow_input"))
    assert list(errors.ERRORS).index(NarrowInput) > list(errors.ERRORS).index(InputError)
    assert errors.resolve(NarrowInput("x")) == (418, "narrow_input")
    assert errors.resolve(InputError("x")) == (422, "invalid_input")
    assert errors.resolve(LimitExceeded("x")) == (413, "limit_exceeded")


def test_an_unlisted_subclass_takes_its_nearest_listed_base(client: TestClient) -> None:
    class Unlisted(LimitExceeded):
        pass

    class Plain(TextCNNError):
        pass

    assert raise_through(client, Unlisted("over"))[:2] == (413, {"detail": "over", "type": "limit_exceeded"})
    assert raise_through(client, Plain("no"))[:2] == (400, {"detail": "no", "type": "bad_request"})


def test_the_error_schema_documents_every_type() -> None:
    schema = create_app(Settings()).openapi()["components"]["schemas"]["ErrorResponse"]
    assert schema["required"] == ["detail", "type"]
    described = schema["properties"]["type"]["description"]
    assert all(kind in described for kind in errors.TYPES)
    assert len(set(errors.TYPES)) == len(errors.TYPES) == 18
    assert all(f"`{kind}`" in (errors.__doc__ or "") for kind in errors.TYPES)
