"""Optional API keys: off unless TEXTCNN_API_KEYS or TEXTCNN_API_KEYS_FILE gives some.

A key is sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Keys are compared as sha256
digests with `hmac.compare_digest`, against every configured key, so the time taken says nothing
about how much of a key was right.
"""

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.settings import Settings
from textcnn import TextCNNError

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <key>`")


class Unauthorized(TextCNNError):
    """No API key, or not one of the configured keys (401)."""


class BadKeyConfig(TextCNNError):
    """The API key settings cannot be used (unreadable file, no keys in it)."""


def enabled(settings: Settings) -> bool:
    """Whether auth is configured at all; the keys themselves are read at start-up."""
    return settings.api_keys is not None or settings.api_keys_file is not None


def load_keys(settings: Settings) -> tuple[bytes, ...]:
    """The sha256 digests of the configured keys; raises BadKeyConfig if auth is on without keys."""
    keys = settings.api_keys.get_secret_value().split(",") if settings.api_keys is not None else []
    if settings.api_keys_file is not None:
        try:
            lines = settings.api_keys_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise BadKeyConfig(
                f"cannot read TEXTCNN_API_KEYS_FILE {settings.api_keys_file}: {error}"
            ) from None
        keys += [line for line in lines if not line.lstrip().startswith("#")]
    digests = tuple(_digest(k.strip()) for k in keys if k.strip())
    if enabled(settings) and not digests:
        raise BadKeyConfig("API keys are configured but none is given; set TEXTCNN_API_KEYS or fill the file")
    return digests


def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    key: Annotated[str | None, Depends(api_key_header)],
) -> None:
    """Route dependency: passes with a configured key, raises Unauthorized otherwise."""
    given = credentials.credentials if credentials is not None else key
    if given is None:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    digest = _digest(given)
    matched = False
    for known in request.app.state.api_keys:
        matched |= hmac.compare_digest(digest, known)
    if not matched:
        raise Unauthorized("the API key is not valid")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
