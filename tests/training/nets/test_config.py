"""TrainConfig's checks: the allowed choices come from the fields' own Literal types."""

from __future__ import annotations

import typing

import pytest

from training.nets.config import TrainConfig, choice_fields, literal_choices


def test_choices_are_read_from_the_literal_types() -> None:
    assert choice_fields() == {
        "optimizer": ("adam", "rmsprop"),
        "loss": ("bce", "hinge"),
        "amp": ("auto", "bf16", "fp16", "off"),
    }


def test_literal_choices_looks_inside_optional_and_ignores_other_hints() -> None:
    assert literal_choices(typing.Literal["a", "b"]) == ("a", "b")
    assert literal_choices(typing.Literal["a"] | None) == ("a",)
    assert literal_choices(int | None) is None
    assert literal_choices(str) is None


@pytest.mark.parametrize(("field", "value"), [("optimizer", "sgd"), ("loss", "l2"), ("amp", "on")])
def test_a_value_outside_the_literal_is_refused_with_the_choices(field: str, value: str) -> None:
    allowed = ", ".join(choice_fields()[field])
    with pytest.raises(ValueError, match=f"--{field} must be one of {allowed}, got '{value}'"):
        TrainConfig(**{field: value}).validate()  # type: ignore[arg-type]


def test_none_keeps_the_presets_choice() -> None:
    TrainConfig(optimizer=None, loss=None).validate()
