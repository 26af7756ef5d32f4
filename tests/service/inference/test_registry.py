from pathlib import Path

import pytest

from service.core.settings import Settings
from service.inference.registry import CPU, CUDA, ProviderError, choose_providers


def test_cuda_first_when_offered() -> None:
    assert choose_providers(Settings(), [CUDA, CPU, "AzureExecutionProvider"]) == [CUDA, CPU]


def test_cpu_when_cuda_is_missing() -> None:
    assert choose_providers(Settings(), [CPU, "AzureExecutionProvider"]) == [CPU]


def test_require_cuda_without_cuda_is_a_start_up_error() -> None:
    with pytest.raises(ProviderError, match="DCGAN_REQUIRE_CUDA"):
        choose_providers(Settings(require_cuda=True), [CPU])


def test_explicit_provider_order_is_respected() -> None:
    assert choose_providers(Settings(providers=[CPU, CUDA]), [CUDA, CPU]) == [CPU, CUDA]


def test_session_options_come_from_settings() -> None:
    from service.inference.registry import session_options

    opts = session_options(
        Settings(intra_op_threads=1, enable_cpu_mem_arena=False, graph_optimization_level="basic")
    )
    assert opts.intra_op_num_threads == 1 and opts.enable_cpu_mem_arena is False
    assert str(opts.graph_optimization_level).endswith("ENABLE_BASIC")


def test_cuda_libraries_are_preloaded_once_and_only_for_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.inference import registry

    calls: list[int] = []
    registry._preload_once.cache_clear()
    monkeypatch.setattr(registry.ort, "preload_dlls", lambda: calls.append(1), raising=False)
    registry.preload_cuda_libraries([CPU])
    assert calls == []
    registry.preload_cuda_libraries([CUDA, CPU])
    registry.preload_cuda_libraries([CUDA, CPU])
    assert calls == [1]


def test_a_failed_cuda_preload_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from service.inference import registry

    def missing() -> None:
        raise OSError("libcudart.so.13: cannot open shared object file")

    registry._preload_once.cache_clear()
    monkeypatch.setattr(registry.ort, "preload_dlls", missing, raising=False)
    registry.preload_cuda_libraries([CUDA, CPU])
    assert "libcudart.so.13" in caplog.text


def test_require_cuda_refuses_a_silent_cpu_fallback(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path
) -> None:
    """onnxruntime-gpu lists CUDA yet runs on the CPU when the GPU is missing: start-up fails."""
    from fastapi.testclient import TestClient

    from service.http.app import create_app
    from service.inference import registry

    # the CPU wheel plays onnxruntime-gpu on a host without a GPU: CUDA listed, CPU used
    monkeypatch.setattr(registry.ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(registry.ort, "preload_dlls", lambda: None, raising=False)
    settings = Settings(models_dir=models_dir, require_cuda=True)
    found = registry.discover(settings)
    tiny = found.models["tiny"][1]
    assert tiny.status == "unavailable" and tiny.reason.startswith(registry.NOT_ON_CUDA)
    with pytest.raises(ProviderError, match=r"model \w+ v1: .* is the GPU visible"):
        registry.check_required_cuda(settings, found)
    with pytest.raises(ProviderError), TestClient(create_app(settings)):
        pass
    # without the setting the same host serves on the CPU and says so
    relaxed = registry.discover(Settings(models_dir=models_dir))
    assert relaxed.models["tiny"][1].provider == CPU


def test_a_version_is_warmed_up_before_it_is_ready(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path
) -> None:
    """The first runs allocate and tune: they happen at load (batch 1, then 8), not on the
    first requests; a warm-up that fails leaves the version unavailable."""
    from service.inference import registry

    runs: list[int] = []
    real_run = registry.ModelVersion.run

    def counting(self: registry.ModelVersion, latents: object) -> object:
        runs.append(len(latents))  # type: ignore[arg-type]
        return real_run(self, latents)  # type: ignore[arg-type]

    monkeypatch.setattr(registry.ModelVersion, "run", counting)
    entry = registry.load_version("tiny", models_dir / "tiny" / "1", Settings(), [CPU])
    assert entry.status == "ready" and runs == [1, 8]

    def failing(self: registry.ModelVersion, latents: object) -> object:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(registry.ModelVersion, "run", failing)
    broken = registry.load_version("tiny", models_dir / "tiny" / "1", Settings(), [CPU])
    assert broken.status == "unavailable" and "warm-up failed: out of memory" in broken.reason
