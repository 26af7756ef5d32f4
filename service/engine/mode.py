"""Which engine DCGAN_ENGINE=auto picks, and the reason the start-up log gives.

The shared engine pays one hop a batch (a Unix socket round trip and a copy through shared
memory) and one more process; it wins whenever several processes would otherwise each hold
sessions: several workers (each would run its own small batches on a share of the cores),
or a GPU (each would hold a CUDA context, and the GPU time-slices between them). One worker
on a CPU keeps its sessions in process: nothing to share, and no hop
(docs/benchmarks.md, "Shared engine").
"""

from __future__ import annotations

import onnxruntime as ort

from contract.exports import CUDA
from service.registry import choose_providers
from service.settings import Settings, env_name


def choose_engine(settings: Settings, available: list[str] | None = None) -> tuple[str, str]:
    """("shared" | "inprocess", why)."""
    if settings.engine != "auto":
        return settings.engine, f"{env_name('engine')}={settings.engine}"
    if settings.workers > 1:
        return "shared", f"auto: {settings.workers} workers share one engine"
    providers = choose_providers(
        settings, ort.get_available_providers() if available is None else available
    )
    if CUDA in providers:
        return "shared", "auto: the CUDA provider is available"
    return "inprocess", "auto: one worker on the CPU runs onnxruntime itself"
