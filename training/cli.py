"""`dcgan`: data / train / export / sample / presets.

Bad input never shows a traceback: it prints ``error: ...`` naming the problem and exits 2.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import os
import re
import shutil
import typing
from collections.abc import Callable
from inspect import Parameter
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from training.errors import UserError
from training.generators.model_card import record_quality
from training.nets.config import TrainConfig, literal_choices

KEYWORD_ONLY = Parameter.KEYWORD_ONLY

app = typer.Typer(
    help="Train DCGAN generators on an image folder and export them to ONNX for dcgan-serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Prepare data sets (decode once into a uint8 cache).", no_args_is_help=True
)
app.add_typer(data_app, name="data")

F = TypeVar("F", bound=Callable[..., Any])
RUNS_DIR = Path("runs")


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


# a user's mistake (UserError) and argument checks; anything else is a bug: a traceback
USER_ERRORS = (UserError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError)


def user_errors(func: F) -> F:
    """Turn the errors a user can cause into `error: ...` + exit 2 instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def slug(text: str) -> str:
    """A model/run name from a data spec: the folder name without Kaggle-style suffixes."""
    stem = Path(text.rstrip("/")).name.lower()
    stem = re.sub(r"\.gz$", "", stem)
    stem = re.sub(r"(_dataset|-dataset|_images|-idx3-ubyte)$", "", stem)
    stem = re.sub(r"^img_align_", "", stem)
    stem = re.sub(r"[^a-z0-9_-]+", "-", stem).strip("-_")
    return stem[:64] or "model"


# ---- presets ----------------------------------------------------------------------------


@app.command()
def presets() -> None:
    """List the architecture presets with their parameter counts."""
    from training.nets.models import PRESETS, Discriminator, Generator, count_parameters

    typer.echo(f"{'preset':<12} {'image':>9} {'G params':>12} {'D params':>11}  source")
    for name, cfg in PRESETS.items():
        g, _ = count_parameters(Generator(cfg))
        d, _ = count_parameters(Discriminator(cfg))
        size = f"{cfg.image_size}²×{cfg.channels}"
        typer.echo(f"{name:<12} {size:>9} {g:>12,} {d:>11,}  {cfg.source}")


# ---- data -------------------------------------------------------------------------------


@data_app.command("list")
def data_list() -> None:
    """Built-in data sets that need no download."""
    from training.data.images import BUILTIN_DATASETS

    for name, description in BUILTIN_DATASETS.items():
        typer.echo(f"{name:<20} {description}")


@data_app.command("prepare")
@user_errors
def data_prepare(
    spec: Annotated[str, typer.Argument(help="built-in name, image folder or idx file")],
    image_size: Annotated[int, typer.Option(help="side in pixels")] = 64,
    channels: Annotated[int, typer.Option(help="1 (gray) or 3 (RGB)")] = 3,
    cache_dir: Annotated[
        Path | None, typer.Option(help="default: $DCGAN_CACHE_DIR or ~/.cache/dcgan")
    ] = None,
) -> None:
    """Decode a data set once into the uint8 cache that training reads."""
    from training.data.images import load_images

    if channels not in (1, 3):
        raise ValueError(f"--channels must be 1 or 3, got {channels}")
    data = load_images(spec, image_size, channels, cache_dir=cache_dir)
    typer.echo(f"{data.description}: {tuple(data.images.shape)} uint8")


@data_app.command("cartoon-faces")
@user_errors
def data_cartoon_faces(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("data/cartoon-faces"),
    count: Annotated[int, typer.Option(min=1, max=1_000_000, help="number of faces")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, help="same seed, same faces")] = 0,
    image_size: Annotated[int, typer.Option(min=8, max=512)] = 64,
    node: Annotated[str, typer.Option(help="Node.js binary")] = "node",
    cache_dir: Annotated[Path | None, typer.Option(help="decode cache folder")] = None,
) -> None:
    """Draw an offline cartoon-faces set with facesjs (needs Node.js; see README)."""
    from training.data.cartoon_faces import build_cartoon_faces
    from training.data.images import load_images

    setup_logging(False)
    info = build_cartoon_faces(out, count, seed=seed, image_size=image_size, node=node)
    typer.echo(
        f"{info.count} faces (facesjs {info.facesjs_version}) in {info.out_dir} "
        f"({info.seconds:.0f} s)"
    )
    data = load_images(out / "faces", image_size, 3, cache_dir=cache_dir)  # warm the cache
    typer.echo(f"cached: {data.description}")


@app.command()
@user_errors
def features(
    name: Annotated[str, typer.Argument(help="fashion, digits or cartoon-faces")],
    data: Annotated[
        Path | None,
        typer.Option(help="cartoon-faces: a `dcgan data cartoon-faces` folder (attributes.jsonl)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="default: features/NAME")] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, max=1000, help="default: per network")
    ] = None,
) -> None:
    """Train the feature network that `dcgan evaluate` embeds images with, on NAME's labels."""
    from training.quality.feature_files import FEATURES_DIR
    from training.quality.feature_training import build_feature_net

    setup_logging(False)
    record = build_feature_net(name, out or FEATURES_DIR / name, data=data, epochs=epochs)
    accuracy = ", ".join(f"{h} {a:.1%}" for h, a in record.accuracy.items())
    typer.echo(
        f"{name}: held-out accuracy {accuracy} ({record.training['held_out_images']} images); "
        f"wrote {out or FEATURES_DIR / name}"
    )


# ---- train ------------------------------------------------------------------------------


# CLI-only types and defaults where a field's own would not do for a command line
CLI_OVERRIDES: dict[str, tuple[Any, Any, str]] = {
    "run_dir": (Path | None, None, "default: runs/<data name>"),
}


def _cli_type(hint: Any) -> Any:
    """typer has no Literal: its choices become a str that TrainConfig.validate checks."""
    if literal_choices(hint) is None:
        return hint
    return str if typing.get_origin(hint) is typing.Literal else str | None


def config_parameters(config: type) -> list[inspect.Parameter]:
    """One keyword option per dataclass field: its type, default and metadata help."""
    hints = typing.get_type_hints(config)
    params = []
    for f in dataclasses.fields(config):
        hint, default, help_text = _cli_type(hints[f.name]), f.default, f.metadata.get("help")
        if f.name in CLI_OVERRIDES:
            hint, default, help_text = CLI_OVERRIDES[f.name]
        annotation = Annotated[hint, typer.Option(help=help_text)]  # type: ignore[valid-type]
        params.append(
            inspect.Parameter(f.name, KEYWORD_ONLY, default=default, annotation=annotation)
        )
    return params


def train(overwrite: bool = False, verbose: bool = False, **options: Any) -> None:
    """Train a DCGAN (GPU when available); checkpoints, samples, GIF, loss plot in --run-dir."""
    from training.loop.train import Trainer

    setup_logging(verbose)
    run = options["run_dir"] or RUNS_DIR / (
        "dry-run" if options["dry_run"] else slug(options["data"])
    )
    cfg = TrainConfig(**(options | {"run_dir": run}))
    cfg.validate()  # before anything is deleted
    is_main = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 touches files
    if overwrite and not cfg.resume and run.exists() and is_main:
        shutil.rmtree(run)
    if is_main:  # loading the data and building the models take seconds: say what runs
        typer.echo(starting_line(cfg, defaults_only=all_defaults(options)))
    from tqdm.contrib.logging import logging_redirect_tqdm

    # log lines (the epoch's FD) print above the progress bar, not glued to its end
    with logging_redirect_tqdm():
        result = Trainer(cfg).fit()
    if not is_main:
        return
    typer.echo(summary(result))
    if result.interrupted:
        raise typer.Exit(130)
    typer.echo(f"next: dcgan export {result.run_dir}")


def all_defaults(options: dict[str, Any]) -> bool:
    """Whether every option of `dcgan train` was left at its default."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return all(options[k] == defaults.get(k, options[k]) for k in options)


def starting_line(cfg: TrainConfig, *, defaults_only: bool) -> str:
    line = (
        f"training {cfg.preset} at width {cfg.width:g} on {cfg.data} into {cfg.run_dir}: "
        "loading the data and building the models..."
    )
    if defaults_only:  # `dcgan train` alone is a real run, not a demo: say so before it starts
        line += (
            "\nthis is the full default run (about 40 minutes on 2 CPU cores; Ctrl-C saves a "
            "checkpoint): --epochs 1, --width 0.25 or --dry-run make it short"
        )
    return line


def summary(result: Any) -> str:
    """What the run did and left, in words: steps, speed, losses, the last FD, the pictures."""
    from training.loop.run_outputs import GIF_FILE, LOSS_PLOT, RUN_FILE, SAMPLES_DIR

    losses = ", ".join(f"{k.upper()} {v:.3f}" for k, v in result.final_losses.items())
    lines = [
        f"{result.steps} steps ({result.epochs:.2f} epochs) in {result.wall_time_s:.0f} s, "
        f"{result.images_per_s:.0f} images/s; final losses {losses}"
    ]
    record = result.run_dir / RUN_FILE
    history = json.loads(record.read_text()).get("quality_history", []) if record.exists() else []
    if history:
        lines.append(f"feature FD at the end: {history[-1]['fd']:.1f} (lower is better)")
    pictures = [
        p.name for p in (result.run_dir / GIF_FILE, result.run_dir / LOSS_PLOT) if p.exists()
    ]
    grids = len(list((result.run_dir / SAMPLES_DIR).glob("epoch_*.png")))
    lines.append(
        f"run folder {result.run_dir}: checkpoint.pt, {grids} sample grid(s) in {SAMPLES_DIR}/, "
        + ", ".join(pictures)
    )
    return "\n".join(lines)


# `dcgan train`'s options are TrainConfig's fields (training/nets/config.py), plus two of its own
train.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        *config_parameters(TrainConfig),
        inspect.Parameter(
            "overwrite",
            KEYWORD_ONLY,
            default=False,
            annotation=Annotated[bool, typer.Option(help="delete an existing --run-dir first")],
        ),
        inspect.Parameter(
            "verbose",
            KEYWORD_ONLY,
            default=False,
            annotation=Annotated[bool, typer.Option("--verbose", "-v")],
        ),
    ]
)
train = app.command()(user_errors(train))


# ---- export -----------------------------------------------------------------------------


@app.command()
@user_errors
def export(
    run: Annotated[
        Path | None, typer.Argument(help="run folder or checkpoint.pt (default: latest run)")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="model name (default: the run folder's name)")
    ] = None,
    version: Annotated[int | None, typer.Option(min=1, help="default: next free version")] = None,
    models_dir: Annotated[Path, typer.Option(help="where dcgan-serve looks")] = Path("models"),
    use_ema: Annotated[
        bool, typer.Option("--ema/--no-ema", help="export the EMA generator when present")
    ] = True,
    fp16: Annotated[
        bool, typer.Option(help="store weights as float16 (I/O stays float32)")
    ] = False,
    quality_data: Annotated[
        str | None,
        typer.Option(
            help="held-out real images to measure quality on (default: known for "
            "fashion-mnist and digits); 'none' to skip"
        ),
    ] = None,
    quality_samples: Annotated[int, typer.Option(min=16, max=20_000)] = 500,
) -> None:
    """Export a trained generator to models/<name>/<version>/ (ONNX + manifest + samples)."""
    from training.export.from_run import export_run, find_checkpoint, latest_run

    setup_logging(False)
    checkpoint = find_checkpoint(run or latest_run(RUNS_DIR))
    manifest, version_dir = export_run(
        checkpoint,
        models_dir,
        name or slug(checkpoint.parent.name),
        version,
        use_ema=use_ema,
        fp16=fp16,
    )
    typer.echo(
        f"exported {manifest.name} v{manifest.version} ({manifest.dtype}, parity max |Δ| "
        f"{manifest.parity.max_abs_diff:.2g}) to {version_dir}"
    )
    measure_export_quality(version_dir, manifest.training.dataset, quality_data, quality_samples)


def measure_export_quality(
    version_dir: Path, dataset: str, quality_data: str | None, samples: int
) -> None:
    """Measure a fresh export on held-out data (known ones by default) into its manifest."""
    from training.generators.evaluation import evaluate_source
    from training.quality.scorecard import HELD_OUT_DATA

    spec = quality_data or HELD_OUT_DATA.get(dataset)
    if spec == "none":
        typer.echo("quality: not measured (--quality-data none)")
        return
    if spec is None:
        typer.echo(
            f"quality: not measured (no held-out set known for {dataset}); run "
            f"`dcgan evaluate {version_dir} --data HELD_OUT --record`"
        )
        return
    quality = evaluate_source(version_dir, spec, samples, "auto", None)
    record_quality(version_dir, quality)
    fd = quality["metrics"]["fd"]
    typer.echo(
        f"quality on {spec} ({quality['features']}): FD {fd['value']:.3g} (real-vs-real floor "
        f"{fd['floor']:.3g}), {quality['samples']} samples each; recorded in the manifest"
    )


# ---- sample and evaluate ----------------------------------------------------------------


@app.command()
@user_errors
def sample(
    source: Annotated[
        Path, typer.Argument(help="exported version folder, run folder or checkpoint.pt")
    ],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("samples.png"),
    seeds: Annotated[str, typer.Option(help="e.g. 0-63 or 1,5,9")] = "0-63",
    nrow: Annotated[int, typer.Option(min=1, max=64)] = 8,
    truncation: Annotated[
        float | None,
        typer.Option(
            help="ψ in [0, 1]: latents turned toward the truncation center, as the service's "
            "truncation (1: off; lower: more typical, less varied)"
        ),
    ] = None,
    upscale: Annotated[
        int, typer.Option(min=1, max=8, help="enlarge each image (nearest neighbour)")
    ] = 1,
    labels: Annotated[bool, typer.Option(help="write each image's seed under it")] = False,
) -> None:
    """Write a grid for the given seeds (the same latents the service uses)."""
    from contract.latents import TRUNCATION_MAX, TRUNCATION_MIN
    from training.generators.sampling import write_seed_grid

    if truncation is not None and not TRUNCATION_MIN <= truncation <= TRUNCATION_MAX:
        raise UserError(f"--truncation must be in [{TRUNCATION_MIN:g}, {TRUNCATION_MAX:g}]")
    count = write_seed_grid(
        source,
        parse_seeds(seeds),
        out,
        nrow,
        truncation=truncation,
        upscale_by=upscale,
        labels=labels,
    )
    typer.echo(f"wrote {count} images to {out}")


@app.command()
@user_errors
def evaluate(
    source: Annotated[
        Path, typer.Argument(help="exported version folder, run folder or checkpoint.pt")
    ],
    data: Annotated[str, typer.Option(help="real images to compare with (a held-out set)")],
    samples: Annotated[
        int, typer.Option(min=16, max=20_000, help="generated images; 2× as many real ones")
    ] = 1000,
    first_seed: Annotated[
        int,
        typer.Option(
            min=0,
            help="generated images use seeds from this one on; another value is a second "
            "draw, to see how much the numbers move",
        ),
    ] = 0,
    features: Annotated[
        str,
        typer.Option(
            help="auto (the data's own network), a name under features/, a folder, or pixels"
        ),
    ] = "auto",
    truncation: Annotated[
        str | None, typer.Option(help="also measure these ψ, e.g. 0.5,0.7,0.85 (truncated latents)")
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="write the numbers into the version's manifest")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="decode cache folder")] = None,
    inception_weights: Annotated[
        Path | None,
        typer.Option(
            help="also standard FID/KID from this InceptionV3 .pth (torch-fidelity's; the "
            "`fid` extra); nothing is downloaded"
        ),
    ] = None,
    pictures: Annotated[
        Path | None,
        typer.Option(
            help="folder for the pictures (real-vs-generated, nearest-real, the ψ plot); "
            "default evaluations/NAME"
        ),
    ] = None,
    no_pictures: Annotated[
        bool, typer.Option("--no-pictures", help="numbers only, no pictures")
    ] = False,
) -> None:
    """Quality numbers with their real-vs-real floors: feature-space FD, KID, precision/recall,
    density/coverage, attribute shares; plus pixel-space diversity and copying checks, and
    pictures to judge by eye: real beside generated, the generated images nearest to real
    ones (copies show as twins), and precision/recall/FD against ψ."""
    import json

    from contract.manifest import MANIFEST_FILE
    from training.generators.evaluation import evaluate_source

    if record and not (source / MANIFEST_FILE).is_file():
        raise ValueError(f"--record needs an exported version folder; {source} has no manifest")
    truncations = parse_truncations(truncation) if truncation else None
    folder = None if no_pictures else pictures or evaluation_folder(source)
    quality = evaluate_source(
        source,
        data,
        samples,
        features,
        cache_dir,
        truncations,
        inception_weights,
        folder,
        first_seed=first_seed,
    )
    if record:
        record_quality(source, quality)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in quality.items() if k != "table"}, indent=2))
        return
    print_quality(quality)
    if record:
        typer.echo(f"recorded in {source / MANIFEST_FILE}")


def print_quality(quality: dict[str, Any]) -> None:
    """The evaluation's table, its pixel checks and where its pictures went."""
    checks = quality["pixel_checks"]
    typer.echo(quality["table"])
    typer.echo(
        f"\npixel checks ({checks['samples']} each): diversity ratio "
        f"{checks['diversity_ratio']:.3f} (near 1 is healthy), nearest-real ratio "
        f"{checks['nearest_real_ratio']:.3f} (far below 1: copies training images)"
    )
    if quality.get("pictures"):
        typer.echo("pictures: " + ", ".join(quality["pictures"]))


@app.command("truncation-center")
@user_errors
def truncation_center(
    version: Annotated[Path, typer.Argument(help="exported version folder, e.g. models/faces/1")],
) -> None:
    """Find the direction truncation ψ turns latents toward and write it into the version's
    manifest (`dcgan export` does this; for versions exported before it did)."""
    from contract.manifest import MANIFEST_FILE
    from training.generators.truncation_center import add_center

    if not (version / MANIFEST_FILE).is_file():
        raise UserError(f"{version} is not an exported version folder (no {MANIFEST_FILE})")
    record = add_center(version)
    typer.echo(f"wrote the truncation center ({len(record.center)} numbers) to {version}")


# ---- argument parsing -------------------------------------------------------------------


def evaluation_folder(source: Path) -> Path:
    """Where `dcgan evaluate` puts its pictures by default: evaluations/ and a name for the
    source (models/faces/2 -> faces-v2, runs/faces or runs/faces/checkpoint.pt -> faces)."""
    from contract.manifest import MANIFEST_FILE

    source = source.resolve()
    if source.is_file():
        source = source.parent
    if (source / MANIFEST_FILE).is_file():
        return Path("evaluations") / f"{source.parent.name}-v{source.name}"
    return Path("evaluations") / (source.name or "source")


SEED_RANGE_RE = re.compile(r"([0-9]+)(?:-([0-9]+))?")  # ASCII digits: "²".isdigit() is True


def parse_truncations(text: str) -> list[float]:
    from contract.latents import TRUNCATION_MAX, TRUNCATION_MIN

    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--truncation must look like 0.5,0.7,0.85, got {text!r}") from None
    if not all(TRUNCATION_MIN <= v <= TRUNCATION_MAX for v in values):
        raise ValueError(
            f"--truncation values must be in [{TRUNCATION_MIN:g}, {TRUNCATION_MAX:g}], got {text!r}"
        )
    return values


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        match = SEED_RANGE_RE.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"--seeds must look like 0-63 or 1,5,9, got {text!r}")
        first, last = match.group(1), match.group(2)
        seeds.extend(range(int(first), int(last) + 1) if last is not None else [int(first)])
    if not 1 <= len(seeds) <= 1024:
        raise ValueError(f"--seeds must select 1..1024 seeds, got {len(seeds)}")
    return seeds
