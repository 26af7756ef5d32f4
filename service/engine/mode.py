"""Which engine DCGAN_ENGINE=auto picks, and the reason the start-up log gives.

The shared engine pays one hop a batch (a Unix socket round trip and a copy through shared
memory) and one more process. On a GPU it is what keeps the device fed: without it each
worker holds its own CUDA context and its own small batches, and the GPU time-slices between
them. On a CPU the hop is not paid back: with 2 workers on 2 cores, per-worker sessions
served 1.22x (fashion) and 1.13x (cartoon-faces) the shared engine's requests at less CPU
per request, and with one worker the hop adds ~0.3 ms at one connection (docs/benchmarks.md,
"Shared engine"). So auto picks it for the CUDA provider only; DCGAN_ENGINE=shared asks for
it anywhere (one copy of each model in memory, one place that batches).
"""

from __future__ import annotations

import onnxruntime as ort

from contract.exports import CUDA
from service.core.settings import Settings, env_name
from service.inference.registry import choose_providers


def choose_engine(settings: Settings, available: list[str] | None = None) -> tuple[str, str]:
    """("shared" | "inprocess", why)."""
    if settings.engine != "auto":
        return settings.engine, f"{env_name('engine')}={settings.engine}"
    providers = choose_providers(
        settings, ort.get_available_providers() if available is None else available
    )
    if CUDA in providers:
        return "shared", "auto: the CUDA provider is available"
    return "inprocess", "auto: on the CPU each worker runs onnxruntime itself"
