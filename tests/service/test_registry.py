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
