"""A finished training run -> an exported version: what `dcgan export` does with a run folder.

The run folder gives the generator (``checkpoint.pt`` or ``best.pt``), the training record
(``run.json``) and the artefacts shipped beside the model: a compact training GIF and the
loss plot. ``training/export/onnx_export.py`` turns them into a version folder.
"""

from __future__ import annotations

from pathlib import Path

from contract.manifest import Manifest, TrainingRecord
from training.data.provenance import dataset_provenance, portable_spec
from training.export.onnx_export import ExportOptions, export_generator, next_version
from training.generators.checkpoints import BEST_FILE, CHECKPOINT_FILE, load_generator
from training.loop.run_outputs import GIF_FILE, LOSS_PLOT, RUN_FILE, epoch_frames


def latest_run(runs_dir: Path) -> Path:
    """The run folder under ``runs_dir`` whose checkpoint was written last."""
    checkpoints = sorted(runs_dir.glob(f"*/{CHECKPOINT_FILE}"), key=lambda p: p.stat().st_mtime)
    if not checkpoints:
        raise FileNotFoundError(
            f"no training runs under {runs_dir.resolve()}; run `dcgan train` first"
        )
    return checkpoints[-1].parent


def find_checkpoint(run: Path) -> Path:
    """A run folder's checkpoint, or ``run`` itself when it is a checkpoint file."""
    checkpoint = run / CHECKPOINT_FILE if run.is_dir() else run
    if not checkpoint.exists():
        raise FileNotFoundError(f"no checkpoint at {checkpoint}")
    return checkpoint


def training_record(run_folder: Path, *, ema: bool) -> TrainingRecord:
    """The run's run.json as the manifest records it (``ema``: the EMA generator is shipped)."""
    record_path = run_folder / RUN_FILE
    if not record_path.exists():
        raise FileNotFoundError(f"{record_path} is missing: was the run finished?")
    record = TrainingRecord.model_validate_json(record_path.read_text())
    record.ema = ema
    # the manifest names the data without host paths, and with the record of how it was built
    # when there is one; a run.json without them gets them here, while its data can be read
    record.dataset = portable_spec(record.dataset)
    extra = record.model_extra
    build = dataset_provenance(record.dataset)
    if extra is not None and "dataset_build" not in extra and build is not None:
        extra["dataset_build"] = build
    return record


def preview_gif(run_folder: Path, image_size: int) -> Path:
    """A compact training GIF to ship with the model (the run keeps its full one)."""
    from training.loop.report import preview_crop, write_training_gif

    frames = epoch_frames(run_folder)
    if not frames:
        return run_folder / GIF_FILE
    preview = run_folder / "training-preview.gif"
    write_training_gif(frames, preview, crop=preview_crop(image_size))
    return preview


def export_run(
    checkpoint: Path,
    models_dir: Path,
    name: str,
    version: int | None = None,
    *,
    use_ema: bool = True,
    fp16: bool = False,
) -> tuple[Manifest, Path]:
    """Export the checkpoint's generator to models_dir/name/version (default: the next free
    version); return the manifest and the version folder."""
    run_folder = checkpoint.parent
    generator, state = load_generator(checkpoint, ema=use_ema)
    record = training_record(run_folder, ema=use_ema and state.get("ema") is not None)
    if checkpoint.name == BEST_FILE and record.model_extra is not None:
        # the record's steps and losses are the run's end; these weights are from earlier
        record.model_extra["exported"] = {"checkpoint": BEST_FILE, **state.get("best", {})}
    version = version or next_version(models_dir, name)
    version_dir = models_dir / name / str(version)
    manifest = export_generator(
        generator,
        version_dir,
        name=name,
        version=version,
        preset=state["train_config"]["preset"],
        training=record,
        options=ExportOptions(fp16=fp16),
        extra_files={
            GIF_FILE: preview_gif(run_folder, generator.config.image_size),
            LOSS_PLOT: run_folder / LOSS_PLOT,
        },
    )
    return manifest, version_dir
