"""DiffAugment: the transforms do what the paper's code does, stay differentiable and seeded."""

from __future__ import annotations

import pytest
import torch

from training.loop.augment import (
    brightness,
    contrast,
    cutout,
    diff_augment,
    parse_policy,
    saturation,
    translation,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_all_policies_keep_shape_and_let_gradients_through() -> None:
    x = torch.rand(6, 3, 16, 16, generator=gen(1)).mul(2).sub(1).requires_grad_()
    y = diff_augment(x, parse_policy("color,translation,cutout"), gen())
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G is trained through them


def test_same_generator_state_same_augmentation() -> None:
    x = torch.rand(4, 3, 8, 8, generator=gen(2))
    policy = parse_policy("color,translation,cutout")
    assert torch.equal(diff_augment(x, policy, gen(5)), diff_augment(x, policy, gen(5)))
    assert not torch.equal(diff_augment(x, policy, gen(5)), diff_augment(x, policy, gen(6)))


def test_translation_moves_a_pixel_by_at_most_an_eighth_of_the_side() -> None:
    x = torch.zeros(200, 1, 16, 16)
    x[:, 0, 8, 8] = 1
    y = translation(x, gen())
    assert torch.all(y.sum(dim=[1, 2, 3]) == 1)  # never pushed off a 16-px image by <= 2 px
    where = y[:, 0].flatten(1).argmax(1)
    rows, cols = where // 16, where % 16
    assert rows.min() == 6 and rows.max() == 10 and cols.min() == 6 and cols.max() == 10


def test_translation_pads_with_zeros() -> None:
    y = translation(torch.ones(100, 1, 16, 16), gen())
    shifted = y.flatten(1).min(1).values == 0
    assert shifted.any() and torch.all((y == 0) | (y == 1))


def test_cutout_zeroes_a_square_of_half_the_side() -> None:
    y = cutout(torch.ones(300, 3, 16, 16), gen())
    zeroed = (y[:, 0] == 0).flatten(1).sum(1)
    assert zeroed.max() == 64  # 8×8 when the square is fully inside
    assert zeroed.min() > 0 and torch.equal(y[:, 0], y[:, 2])  # same mask on every channel


def test_colour_transforms_follow_the_paper() -> None:
    x = torch.rand(50, 3, 8, 8, generator=gen(3)) * 2 - 1
    shift = (brightness(x, gen()) - x).flatten(1)
    assert torch.allclose(shift.min(1).values, shift.max(1).values)  # one offset per image
    assert shift.abs().max() <= 0.5
    gray = x[:, :1].expand(-1, 3, -1, -1)
    assert torch.allclose(saturation(gray, gen()), gray)  # no colour to scale
    means = contrast(x, gen()).mean(dim=[1, 2, 3])
    assert torch.allclose(means, x.mean(dim=[1, 2, 3]), atol=1e-6)  # contrast keeps the mean


@pytest.mark.parametrize(
    ("text", "names"), [("", []), ("none", []), ("color, cutout", ["color", "cutout"])]
)
def test_policy_parsing(text: str, names: list[str]) -> None:
    assert parse_policy(text) == names
    assert torch.equal(diff_augment(torch.ones(1, 1, 4, 4), []), torch.ones(1, 1, 4, 4))


def test_an_unknown_policy_names_the_flag() -> None:
    with pytest.raises(ValueError, match="--augment must be a comma list of color, translation"):
        parse_policy("color,flip")
