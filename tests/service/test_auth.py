"""Optional API keys and opt-in CORS: who gets in, what stays open, and start-up with bad key settings."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.auth import BadKeyConfig
from service.settings import Settings

OPEN = ["/health", "/ready", "/metrics", "/", "/docs", "/openapi.json", "/static/demo.css"]


@pytest.fixture(scope="module")
def client(bbc_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    key_file = tmp_path_factory.mktemp("keys") / "keys"
    key_file.write_text("# rotated monthly\nfrom-file\n\n")
    settings = Settings(model_dir=bbc_model_dir, api_keys=SecretStr("alpha, beta"), api_keys_file=key_file)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer alpha"},
        {"Authorization": "bearer beta"},
        {"X-API-Key": "from-file"},
        {"Authorization": "Basic YWxwaGE6", "X-API-Key": "alpha"},
    ],
)
def test_a_configured_key_opens_the_predict_routes(client: TestClient, headers: dict[str, str]) -> None:
    assert client.post("/classify", json={"text": "a"}, headers=headers).status_code == 200
    assert client.post("/summarize", json={"text": "a"}, headers=headers).status_code == 200
    assert client.get("/v1/model", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer alph"},
        {"Authorization": "Bearer alpha, beta"},
        {"Authorization": "alpha"},
        {"Authorization": "Basic YWxwaGE6"},
        {"X-API-Key": ""},
        {"X-API-Key": "# rotated monthly"},
        {"X-API-Key": "ALPHA"},
    ],
)
def test_no_valid_key_gets_401(client: TestClient, headers: dict[str, str]) -> None:
    for response in (
        client.post("/classify", json={"text": "a"}, headers=headers),
        client.post("/summarize", json={"text": "a"}, headers=headers),
        client.get("/v1/model", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "API key" in response.json()["detail"] and response.json()["type"] == "unauthorized"


def test_a_bad_key_is_refused_before_the_body_is_checked(client: TestClient) -> None:
    assert client.post("/classify", json={"no": "text"}).status_code == 401


@pytest.mark.parametrize("path", OPEN)
def test_operations_docs_and_demo_stay_open(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_the_openapi_document_declares_the_keys(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert "401" in spec["paths"]["/classify"]["post"]["responses"]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_without_keys_there_is_no_auth(bbc_model_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=bbc_model_dir))) as open_client:
        assert open_client.post("/classify", json={"text": "a"}).status_code == 200
        spec = open_client.get("/openapi.json").json()
        assert "securitySchemes" not in spec.get("components", {})
        assert "401" not in spec["paths"]["/classify"]["post"]["responses"]


@pytest.mark.parametrize("content", [None, "# only a comment\n\n"])
def test_unusable_key_settings_stop_start_up(
    bbc_model_dir: Path, tmp_path: Path, content: str | None
) -> None:
    key_file = tmp_path / "keys"
    if content is not None:
        key_file.write_text(content)
    app = create_app(Settings(model_dir=bbc_model_dir, api_keys_file=key_file))
    with pytest.raises(BadKeyConfig, match="TEXTCNN_API_KEYS"), TestClient(app):
        pass


def test_cors_is_off_unless_configured(bbc_model_dir: Path) -> None:
    preflight = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(Settings(model_dir=bbc_model_dir))) as closed:
        response = closed.options("/classify", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    settings = Settings(model_dir=bbc_model_dir, cors_origins="https://example.org, https://other.org")
    with TestClient(create_app(settings)) as cors:
        response = cors.options("/classify", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://example.org"
        denied = cors.options("/classify", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in denied.headers
        answer = cors.post("/classify", json={"text": "a"}, headers={"Origin": "https://other.org"})
        assert answer.headers["access-control-allow-origin"] == "https://other.org"
        assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
