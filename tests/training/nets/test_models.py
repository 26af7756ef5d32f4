import dataclasses

import pytest
import torch

from training.nets.models import (
    PRESETS,
    DCGANConfig,
    Discriminator,
    Generator,
    build_config,
    count_parameters,
    init_weights,
)

# (G trainable, G BN stats, D trainable, D BN stats) from the seed documents' Keras summaries
SEED_COUNTS = {
    "simpsons64": (19_118_371, 1_984, 4_315_585, 1_792),
    "simpsons128": (12_890_627, 1_920, 6_340_097, 3_968),
    "dcgan64": (12_658_432, 3_840, 2_765_568, 1_792),
    "celeba64": (12_658_432, 3_840, 2_765_568, 1_792),
    "mnist28": (840_321, 384, 212_865, 0),
}


@pytest.mark.parametrize("preset", sorted(SEED_COUNTS))
def test_preset_parameter_counts_match_the_seeds(preset: str) -> None:
    cfg = PRESETS[preset]
    g_train, g_stats, d_train, d_stats = SEED_COUNTS[preset]
    assert count_parameters(Generator(cfg)) == (g_train, g_stats)
    assert count_parameters(Discriminator(cfg)) == (d_train, d_stats)


def test_dcgan64_at_half_generator_width_is_pytorch_examples_dcgan() -> None:
    cfg = PRESETS["dcgan64"].scaled(g_width=0.5)  # ngf = ndf = 64
    assert count_parameters(Generator(cfg))[0] == 3_576_704
    assert count_parameters(Discriminator(cfg))[0] == 2_765_568


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_shapes_and_value_range(preset: str) -> None:
    cfg = PRESETS[preset].scaled(0.125)
    g, d = Generator(cfg).eval(), Discriminator(cfg).eval()
    z = torch.randn(3, cfg.nz)
    with torch.no_grad():
        images = g(z)
        logits = d(images)
    assert images.shape == (3, cfg.channels, cfg.image_size, cfg.image_size)
    assert images.abs().max() <= 1.0
    assert logits.shape == (3,)


@pytest.mark.parametrize("preset", ["simpsons64", "simpsons128", "dcgan64"])
@pytest.mark.parametrize("size", [32, 64, 128])
def test_resolution_scaling(preset: str, size: int) -> None:
    cfg = build_config(preset, width=0.125, image_size=size)
    images = Generator(cfg)(torch.randn(2, cfg.nz))
    assert images.shape[-1] == size
    assert Discriminator(cfg)(images).shape == (2,)


def test_width_multiplier_scales_hidden_layers_only() -> None:
    cfg = PRESETS["simpsons64"].scaled(0.5)
    assert cfg.g_channels == (512, 256, 128, 64, 32)
    assert cfg.g_extra_channels == (16,)
    assert cfg.d_channels == (32, 64, 128, 256)
    assert (cfg.channels, cfg.nz, cfg.image_size) == (3, 100, 64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 0}, "width must be in"),
        ({"width": 5}, "width must be in"),
        ({"image_size": 48}, "power of two"),
    ],
)
def test_bad_scaling_names_the_argument(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_config("dcgan64", **kwargs)  # type: ignore[arg-type]


def test_unknown_preset_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="simpsons64"):
        build_config("nope")


def test_mnist28_cannot_change_to_a_non_multiple_resolution() -> None:
    with pytest.raises(ValueError, match="28 times a power of two"):
        build_config("mnist28", image_size=32)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_config_round_trips_through_a_dict(preset: str) -> None:
    cfg = PRESETS[preset].scaled(0.25)
    assert DCGANConfig.from_dict(dataclasses.asdict(cfg)) == cfg


def test_preset_training_defaults_follow_the_seeds() -> None:
    assert PRESETS["simpsons128"].train.optimizer == "rmsprop"
    assert PRESETS["celeba64"].train.batch_size == 128
    assert PRESETS["celeba64"].train.epochs == 50
    assert PRESETS["dcgan64"].train.betas == (0.5, 0.999)


@pytest.mark.parametrize("preset", sorted(SEED_COUNTS))
def test_spectral_norm_bounds_every_discriminator_layer_and_replaces_batchnorm(
    preset: str,
) -> None:
    config = build_config(preset, width=0.25, spectral_norm=True)
    assert config.d_spectral_norm and not PRESETS[preset].d_spectral_norm
    d = Discriminator(config)
    d.apply(init_weights)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    layers = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    # the DCGAN init reaches the stored weight (module.weight is recomputed from it)
    for layer in layers:
        assert 0.015 < layer.parametrizations.weight.original.std().item() < 0.025
    x = torch.randn(16, config.channels, config.image_size, config.image_size)
    for _ in range(30):  # each training-mode forward runs one power iteration
        d(x)
    d.eval()
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.05), layer
    assert d(x).shape == (16,)
    # the preset itself is untouched: its D keeps the BatchNorm statistics the seed counts
    assert count_parameters(Discriminator(PRESETS[preset]))[1] == SEED_COUNTS[preset][3]
