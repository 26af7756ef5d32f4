"""Every serving knob in one place: environment variables with the DCGAN_ prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DCGAN_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    models_dir: Path = Path("models")
    default_model: str = Field(
        default="cartoon-faces",
        description="model for requests without ?model=; when absent, the first ready model",
    )
    batching: bool = Field(default=True, description="merge concurrent requests into one run")
    max_batch_size: int = Field(default=32, ge=1, le=1024, description="images per run")
    max_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="extra wait to fill a batch (0: take what is queued)",
    )
    queue_size: int = Field(default=256, ge=1, description="waiting requests before 503")
    watch: bool = Field(default=False, description="reload when files under models_dir change")
    api_key: str | None = Field(
        default=None, description="when set, all routes but health/metrics need X-API-Key"
    )
    max_count: int = Field(default=64, ge=1, le=1024, description="images per /generate request")
    providers: list[str] = Field(
        default_factory=list, description="onnxruntime providers in order; empty: CUDA then CPU"
    )
    require_cuda: bool = Field(
        default=False, description="fail at start-up when CUDA is not available"
    )
    intra_op_threads: int = Field(default=0, ge=0, description="0: onnxruntime's default")
    enable_cpu_mem_arena: bool = Field(default=True, description="onnxruntime's CPU arena")
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = "all"
    log_level: str = "info"
