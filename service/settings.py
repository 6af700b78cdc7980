"""Serving configuration, read from TEXTCNN_* environment variables. It never changes the model."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from textcnn.lookup import DEFAULT_BUDGET_MB
from textcnn.predict import DEFAULT_MODEL_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEXTCNN_")

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="model directory to serve")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    torch_threads: int | None = Field(None, ge=1, description="per worker; default: cores / workers")
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
    log_level: str = Field("INFO", description="root log level")
    log_texts: bool = Field(False, description="debug only: log the submitted document texts")
    malloc_mmap_threshold: int = Field(
        128 * 1024,
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

    def requests_at_once(self) -> int:
        """`concurrency`, or its default: enough requests to fill a shared pass, else one at a time."""
        if self.concurrency is not None:
            return self.concurrency
        return self.batch_size if self.micro_batching else 1

    def origins(self) -> list[str]:
        """The configured CORS origins; empty means CORS stays off."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
