"""Settings: bounds, key checks, log level, combinations (the docs' settings page is generated
from the class: tests/docs/test_reference_pages.py)."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from service.core.settings import Settings, env_name


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the DCGAN_ variables they set themselves."""
    for name in list(os.environ):
        if name.startswith("DCGAN_"):
            monkeypatch.delenv(name)


def error_fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {str(e["loc"][0]) if e["loc"] else "" for e in exc.value.errors()}


BOUNDS = [
    # field, valid values, invalid values
    ("shutdown_grace_s", [0, 3600], [-1, 3600.5]),
    ("max_body_bytes", [1024, 64 * 1024 * 1024], [1023, 64 * 1024 * 1024 + 1]),
    ("max_output_pixels", [4096, 2**27], [4095, 2**27 + 1]),
    ("limit_concurrency", [1], [0]),
    ("timeout_keep_alive_s", [0.5, 600], [0, 601]),
    ("backlog", [1, 65535], [0, 65536]),
]


@pytest.mark.parametrize(("field", "valid", "invalid"), BOUNDS)
def test_bounds_of_the_new_settings(field: str, valid: list[float], invalid: list[float]) -> None:
    for value in valid:
        assert getattr(Settings.model_validate({field: value}), field) == value
    for value in invalid:
        with pytest.raises(ValidationError) as exc:
            Settings.model_validate({field: value})
        assert error_fields(exc) == {field}


def test_bounds_apply_to_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCGAN_BACKLOG", "0")
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert error_fields(exc) == {"backlog"}


def test_default_output_pixels_allow_the_heaviest_default_request() -> None:
    settings = Settings()
    # max_count images of a 64x64 model upscaled 8x
    assert settings.max_output_pixels >= settings.max_count * (64 * 8) ** 2


@pytest.mark.parametrize("field", ["api_key", "admin_api_key"])
@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_an_empty_key_is_an_error_not_auth_off(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(env_name(field), value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert error_fields(exc) == {field}
    message = exc.value.errors()[0]["msg"]
    assert f"unset {env_name(field)}" in message


@pytest.mark.parametrize("value", ["two words", "tab\tkey", "nl\nkey", "nul\x00", "clé"])
def test_keys_are_visible_ascii(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(api_key=value)
    assert error_fields(exc) == {"api_key"}
    assert value not in str(exc.value)  # a key is never echoed in an error


def test_a_good_key_and_a_separate_admin_key() -> None:
    settings = Settings(api_key="s3cret-Key_1", admin_api_key="admin-key")
    assert (settings.api_key, settings.admin_api_key) == ("s3cret-Key_1", "admin-key")
    assert Settings().admin_api_key is None


def test_the_admin_key_must_differ_from_the_api_key() -> None:
    with pytest.raises(ValidationError, match="DCGAN_ADMIN_API_KEY equals DCGAN_API_KEY"):
        Settings(api_key="same", admin_api_key="same")


@pytest.mark.parametrize(
    ("given", "level"), [("INFO", "info"), ("Debug", "debug"), ("trace", "trace")]
)
def test_log_level_in_any_case(monkeypatch: pytest.MonkeyPatch, given: str, level: str) -> None:
    monkeypatch.setenv("DCGAN_LOG_LEVEL", given)
    assert Settings().log_level == level


def test_an_unknown_log_level_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings.model_validate({"log_level": "verbose"})
    assert error_fields(exc) == {"log_level"}


def test_default_model_must_be_a_model_name() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(default_model="Bad Name")
    assert error_fields(exc) == {"default_model"}


def test_require_cuda_with_providers_that_leave_cuda_out_cannot_work() -> None:
    with pytest.raises(ValidationError, match="DCGAN_PROVIDERS"):
        Settings(require_cuda=True, providers=["CPUExecutionProvider"])
    Settings(require_cuda=True, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    Settings(require_cuda=True)  # empty list: CUDA first


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CPUExecutionProvider", ["CPUExecutionProvider"]),
        (
            "CUDAExecutionProvider, CPUExecutionProvider",
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        ('["CPUExecutionProvider"]', ["CPUExecutionProvider"]),
        ("", []),
    ],
)
def test_providers_variable_is_a_comma_list_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("DCGAN_PROVIDERS", value)
    assert Settings().providers == expected


def test_a_broken_providers_list_names_the_variable_and_the_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: 'error parsing value for field "providers" from source "EnvSettingsSource"'."""
    monkeypatch.setenv("DCGAN_PROVIDERS", "[oops")
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert error_fields(exc) == {"providers"}
    assert "CUDAExecutionProvider,CPUExecutionProvider" in str(exc.value)


def test_unknown_dcgan_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCGAN_NOT_A_SETTING", "whatever")
    assert Settings().port == 8000


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []
