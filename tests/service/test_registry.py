import pytest

from service.registry import CPU, CUDA, ProviderError, choose_providers
from service.settings import Settings


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
    from service.registry import session_options

    opts = session_options(
        Settings(intra_op_threads=1, enable_cpu_mem_arena=False, graph_optimization_level="basic")
    )
    assert opts.intra_op_num_threads == 1 and opts.enable_cpu_mem_arena is False
    assert str(opts.graph_optimization_level).endswith("ENABLE_BASIC")


def test_cuda_libraries_are_preloaded_once_and_only_for_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service import registry

    calls: list[int] = []
    monkeypatch.setattr(registry, "_preloaded", [])
    monkeypatch.setattr(registry.ort, "preload_dlls", lambda: calls.append(1), raising=False)
    registry.preload_cuda_libraries([CPU])
    assert calls == []
    registry.preload_cuda_libraries([CUDA, CPU])
    registry.preload_cuda_libraries([CUDA, CPU])
    assert calls == [1]


def test_a_failed_cuda_preload_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from service import registry

    def missing() -> None:
        raise OSError("libcudart.so.13: cannot open shared object file")

    monkeypatch.setattr(registry, "_preloaded", [])
    monkeypatch.setattr(registry.ort, "preload_dlls", missing, raising=False)
    registry.preload_cuda_libraries([CUDA, CPU])
    assert "libcudart.so.13" in caplog.text
