"""Every serving knob in one place: environment variables with the DCGAN_ prefix.

Values are checked here, at start-up, so a bad one is an error naming its variable rather
than a surprise under load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.exports import CUDA
from contract.manifest import NAME_PATTERN, is_valid_model_name

ENV_PREFIX = "DCGAN_"
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


def env_name(field: str) -> str:
    """The environment variable that sets a field: port -> DCGAN_PORT."""
    return f"{ENV_PREFIX}{field.upper()}"


class Settings(BaseSettings):
    # unknown DCGAN_ variables are ignored: other tools (training) share the prefix
    # hide_input_in_errors: an error must never print an API key
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", hide_input_in_errors=True
    )

    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8000, ge=1, le=65535, description="port to listen on")
    models_dir: Path = Field(default=Path("models"), description="models/<name>/<version>/")
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
    render_threads: int = Field(
        default=0, ge=0, le=256, description="threads for heavy renders; 0: one per core"
    )
    render_queue_size: int = Field(
        default=8,
        ge=1,
        le=4096,
        description="heavy requests (large grids, upscales, animations) admitted at once, "
        "rendering or waiting to; more get 503",
    )
    watch: bool = Field(default=False, description="reload when files under models_dir change")
    api_key: str | None = Field(
        default=None, description="when set, all routes but health/metrics need X-API-Key"
    )
    admin_api_key: str | None = Field(
        default=None,
        description="when set, /admin/* needs this key (not api_key); unset: api_key guards it",
    )
    max_count: int = Field(
        default=64,
        ge=1,
        le=1024,
        description="images per request: count and seeds of /generate, frames (steps) of "
        "/interpolate",
    )
    max_body_bytes: int = Field(
        # 64 explicit latents of nz 100 as JSON text are ~130 kB
        default=1_048_576,
        ge=1024,
        le=64 * 1024 * 1024,
        description="larger request bodies get 413 before they are parsed",
    )
    max_output_pixels: int = Field(
        default=16_777_216,
        ge=4096,
        le=2**27,
        description="pixels one request may produce, images x (size x upscale)^2, checked "
        "before any work; the default allows 64 images of 64x64 upscaled 8x",
    )
    cache_mb: float = Field(
        default=64.0,
        ge=0,
        le=65536,
        description="memory for seeded responses, kept least recently used first out; 0: off",
    )
    # NoDecode: the variable is read by _provider_list, comma-separated or a JSON list
    providers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="onnxruntime providers in order, comma-separated or a JSON list; "
        "empty: CUDA then CPU",
    )
    require_cuda: bool = Field(
        default=False, description="fail at start-up when CUDA is not available"
    )
    intra_op_threads: int = Field(default=0, ge=0, description="0: onnxruntime's default")
    intra_op_spinning: bool = Field(
        default=True,
        description="onnxruntime's intra-op threads spin while waiting for work (lower latency, "
        "but a spinning thread takes CPU from the event loop)",
    )
    enable_cpu_mem_arena: bool = Field(default=True, description="onnxruntime's CPU arena")
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = Field(
        default="all", description="onnxruntime's graph optimizations"
    )
    log_level: LogLevel = Field(default="info", description="any case; uvicorn's levels")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="server processes; each loads every model; with more than one, "
        "onnxruntime threads default to cores / workers",
    )
    engine: Literal["auto", "inprocess", "shared"] = Field(
        default="auto",
        description="where onnxruntime runs: inprocess (each worker its own sessions), shared "
        "(one engine process per device, fed by every worker), or auto: shared with a CUDA "
        "provider, else inprocess",
    )
    engine_socket: str | None = Field(
        default=None,
        description="set by dcgan-serve for its workers: the shared engine's Unix socket "
        "(@name: Linux's abstract namespace)",
    )
    engine_runners: int = Field(
        default=0,
        ge=0,
        le=256,
        description="batches the shared engine runs at once; 0: one on a GPU, one per core on "
        "a CPU (each with cores / runners onnxruntime threads)",
    )
    engine_watchdog_s: float = Field(
        default=30.0,
        ge=0.5,
        le=3600,
        description="the shared engine is killed and restarted when one batch runs, or its "
        "heartbeat is silent, for longer than this",
    )
    engine_start_timeout_s: float = Field(
        default=300.0,
        ge=1,
        le=3600,
        description="how long a worker waits for the shared engine at start-up",
    )
    reload_signal_file: Path | None = Field(
        default=None,
        description="set by dcgan-serve for its workers: a reload in one worker writes this "
        "file and the others reload too",
    )
    shutdown_grace_s: float = Field(
        default=20.0,
        ge=0,
        le=3600,
        description="on SIGTERM, how long in-flight requests get before the process exits",
    )
    limit_concurrency: int = Field(
        default=1024,
        ge=1,
        description="requests in flight; more get a JSON 503 (health, readiness and metrics "
        "are always answered)",
    )
    max_connections: int = Field(
        default=10_000,
        ge=1,
        description="open connections; a new one beyond this is closed at once (keep it under "
        "the process's file descriptor limit)",
    )
    timeout_keep_alive_s: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="silent connections, new or idle keep-alive ones, close after this",
    )
    timeout_headers_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="a request's headers must arrive within this of its first byte, or the "
        "connection is closed (slowloris)",
    )
    timeout_body_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="a request's body must arrive within this of its headers, or the "
        "connection is closed",
    )
    timeout_send_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="a client that reads nothing of a response for this long is dropped, "
        "and the memory its response held is freed",
    )
    backlog: int = Field(default=2048, ge=1, le=65535, description="listen backlog")

    @field_validator("providers", mode="before")
    @classmethod
    def _provider_list(cls, value: object) -> object:
        """``A,B`` or ``["A", "B"]``: what a person writes in a variable, either way."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError(
                    'is not a valid JSON list; write ["CUDAExecutionProvider", '
                    '"CPUExecutionProvider"] or CUDAExecutionProvider,CPUExecutionProvider'
                ) from None
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("default_model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not is_valid_model_name(value):
            raise ValueError(f"{value!r} is not a valid model name (pattern {NAME_PATTERN})")
        return value

    @field_validator("api_key", "admin_api_key")
    @classmethod
    def _key(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        name = env_name(info.field_name or "")
        if not value.strip():
            # an empty key (a typo in a secret, an unfilled template) must not switch auth off
            unset = (
                "to serve without a key"
                if name == env_name("api_key")
                else f"to guard /admin/* with {env_name('api_key')}"
            )
            raise ValueError(f"is empty: unset {name} {unset}, or set a key")
        # keys travel in HTTP headers, which carry visible ASCII only; never echo the key
        if not all("!" <= ch <= "~" for ch in value):
            raise ValueError(
                "may contain only visible ASCII characters (no whitespace or control characters)"
            )
        return value

    @model_validator(mode="after")
    def _combinations(self) -> Self:
        if self.require_cuda and self.providers and CUDA not in self.providers:
            raise ValueError(
                f"{env_name('require_cuda')} is set but {env_name('providers')} "
                f"does not list {CUDA}"
            )
        if self.admin_api_key is not None and self.admin_api_key == self.api_key:
            raise ValueError(
                f"{env_name('admin_api_key')} equals {env_name('api_key')}: use a different "
                "key, or unset it to guard /admin/* with the API key"
            )
        return self
