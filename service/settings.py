"""Serving configuration, read from TEXTCNN_* environment variables. It never changes the model."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from textcnn.predict import DEFAULT_MODEL_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEXTCNN_")

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="model directory to serve")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    torch_threads: int | None = Field(None, ge=1, description="per worker; default: cores / workers")
    batch_size: int = Field(32, ge=1, description="documents per forward pass")
    max_body_bytes: int = Field(5_000_000, ge=1, description="larger request bodies get 413")
    max_documents: int = Field(64, ge=1, description="documents per request")
    max_characters: int = Field(100_000, ge=1, description="characters per document")
