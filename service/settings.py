"""Serving configuration, read from TEXTCNN_* environment variables. It never changes the model.

The request limits bound the work a request causes, not only its bytes. A document within its own
limits must fit the request's (checked at start-up, so no limit is moot), and the defaults also keep
the per-request characters inside the body limit, so the worst legal request is the one measured in
RELIABILITY.md.
"""

import ipaddress
import os
import socket
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from textcnn import DEFAULT_BUDGET_MB, DEFAULT_MODEL_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEXTCNN_")

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="model directory to serve")
    model_repository: Path | None = Field(
        None, description="a folder of model folders to serve them all (instead of TEXTCNN_MODEL_DIR)"
    )
    default_model: str | None = Field(
        None,
        description="the repository's model of /classify, /summarize and /v1/model; default: the only one",
    )
    model_versions: str = Field(
        "", description="pinned versions in the repository as name=version pairs (name=2,other=1)"
    )
    load_models: Literal["eager", "lazy"] = Field(
        "eager", description="load every repository model at start-up, or each on its first request"
    )
    max_loaded_models: int | None = Field(
        None, ge=1, description="models kept loaded at once; the least recently used beyond are unloaded"
    )
    poll_interval_s: float = Field(
        10.0, ge=0, description="how often the repository is checked for new or changed models; 0: never"
    )
    host: str = Field("127.0.0.1", description="address to listen on: an IP address or a resolvable name")
    port: int = Field(8000, ge=0, le=65535, description="TCP port; 0 picks a free one")
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    torch_threads: int | None = Field(
        None, ge=1, description="per worker; default: cores / workers - 1, at least 1"
    )
    batch_size: int = Field(32, ge=1, description="documents per forward pass")
    micro_batching: bool = Field(True, description="share forward passes between concurrent requests")
    batch_wait_ms: float = Field(2.0, ge=0, description="longest wait for more requests to join a pass")
    bf16: bool = Field(False, description="bfloat16 autocast, where the CPU computes it natively")
    table_budget_mb: float = Field(
        DEFAULT_BUDGET_MB, ge=0, description="largest lookup tables (MB) to replace the convolution with"
    )
    max_body_bytes: int = Field(5_000_000, ge=1, description="larger request bodies get 413")
    max_documents: int = Field(64, ge=1, description="documents per request")
    max_characters: int = Field(100_000, ge=1, description="characters per document")
    max_sentences_per_document: int = Field(5_000, ge=1, description="sentences per document")
    max_tokens_per_document: int = Field(25_000, ge=1, description="tokens per document")
    max_characters_per_request: int = Field(
        2_000_000, ge=1, description="characters of all documents of a request together"
    )
    max_sentences_per_request: int = Field(20_000, ge=1, description="sentences of all documents together")
    max_tokens_per_request: int = Field(250_000, ge=1, description="tokens of all documents together")
    concurrency: int | None = Field(
        None, ge=1, description="requests in progress at once, per worker; default: batch_size, 1 unbatched"
    )
    queue_size: int = Field(64, ge=0, description="requests waiting for the model; beyond them 503")
    request_timeout_s: float = Field(30.0, gt=0, description="queue wait + model time before 503/504")
    retry_after_s: int = Field(1, ge=0, description="the Retry-After header of a 503")
    api_keys: SecretStr | None = Field(None, description="comma-separated keys; any key turns auth on")
    api_keys_file: Path | None = Field(None, description="a file of keys, one a line (# comments)")
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS; none by default")
    log_format: Literal["json", "text"] = Field("json", description="log lines as JSON or plain text")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="root log level"
    )
    log_texts: bool = Field(False, description="debug only: log the submitted document texts")
    malloc_mmap_threshold: int = Field(
        2 * 1024 * 1024,
        ge=0,
        le=32 * 1024 * 1024,
        description="glibc: allocations from this many bytes are mmapped and handed back when freed, "
        "which keeps RSS flat; 0 leaves glibc's adaptive threshold",
    )
    keep_alive_s: int = Field(
        75,
        ge=1,
        description="idle keep-alive connections are closed after this; keep it above the load "
        "balancer's idle timeout (60 s on common ones), so that the proxy, not the server, closes them",
    )
    shutdown_timeout_s: int = Field(30, ge=1, description="drain in-flight requests on SIGTERM")
    max_connections: int = Field(
        512, ge=1, description="open connections per worker; beyond them new requests get 503"
    )
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576, description="a request's header, all lines")
    max_headers: int = Field(100, ge=1, le=1000, description="header lines per request")
    arrival_timeout_s: float = Field(
        10.0, gt=0, description="a request, header and body, must arrive within this"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("host")
    @classmethod
    def _listenable(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            try:
                socket.getaddrinfo(value, None)
            except (OSError, UnicodeError):
                raise ValueError(
                    f"{value!r} is neither an IP address nor a name this host resolves"
                ) from None
        return value

    @field_validator("model_versions")
    @classmethod
    def _pins(cls, value: str) -> str:
        for pair in (p.strip() for p in value.split(",")):
            name, _, number = pair.partition("=")
            if pair and (not name.strip() or not number.strip().isdigit()):
                raise ValueError(f"{pair!r} is not name=version (a version is a folder number such as 2)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.model_repository is not None and "model_dir" in self.model_fields_set:
            raise ValueError("set TEXTCNN_MODEL_DIR or TEXTCNN_MODEL_REPOSITORY, not both")
        return self

    def pins(self) -> dict[str, int]:
        """TEXTCNN_MODEL_VERSIONS as model name -> pinned version."""
        pairs = (p.partition("=") for p in self.model_versions.split(",") if p.strip())
        return {name.strip(): int(number) for name, _, number in pairs}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        pairs = [
            ("max_characters", "max_characters_per_request"),
            ("max_sentences_per_document", "max_sentences_per_request"),
            ("max_tokens_per_document", "max_tokens_per_request"),
        ]
        for smaller, larger in pairs:
            if getattr(self, smaller) > getattr(self, larger):
                raise ValueError(
                    f"TEXTCNN_{smaller.upper()} ({getattr(self, smaller)}) is over "
                    f"TEXTCNN_{larger.upper()} ({getattr(self, larger)}), so it could never be reached"
                )
        return self

    def requests_at_once(self) -> int:
        """`concurrency`, or its default: enough requests to fill a shared pass, else one at a time."""
        if self.concurrency is not None:
            return self.concurrency
        return self.batch_size if self.micro_batching else 1

    def origins(self) -> list[str]:
        """The configured CORS origins; empty means CORS stays off."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """TEXTCNN_* names in the environment that no setting reads (a misspelling is otherwise silent)."""
    known = {f"TEXTCNN_{name.upper()}" for name in Settings.model_fields}
    return sorted(
        n for n in (os.environ if environ is None else environ) if n.startswith("TEXTCNN_") and n not in known
    )
