from pathlib import Path

from contract.manifest import Manifest
from tests.helpers import digits_run, run_record
from training.export.from_run import export_run
from training.generators.checkpoints import BEST_FILE, CHECKPOINT_FILE
from training.generators.model_card import model_card
from training.loop.train import Trainer


def test_an_exported_best_checkpoint_says_which_step_its_weights_are_from(tmp_path: Path) -> None:
    """run.json's steps and losses are the run's end; best.pt's weights are from its best
    probe, and the manifest and the card must say so (a final checkpoint says nothing)."""
    run = tmp_path / "run"
    Trainer(digits_run(run, max_steps=24, keep_best=True)).fit()
    best = run_record(run)["best"]
    manifest, folder = export_run(run / BEST_FILE, tmp_path / "models", "digits")
    exported = (manifest.training.model_extra or {})["exported"]
    assert exported["checkpoint"] == BEST_FILE
    assert (exported["step"], exported["epoch"], exported["fd"]) == (
        best["step"],
        best["epoch"],
        best["fd"],
    )
    assert (
        Manifest.load(folder / "manifest.json").training.model_extra
        == manifest.training.model_extra
    )
    card = model_card(manifest)
    assert f"- weights: `best.pt` (`--keep-best`), step {best['step']:,} " in card
    final, _ = export_run(run / CHECKPOINT_FILE, tmp_path / "models", "digits")
    assert "exported" not in (final.training.model_extra or {})
    assert "- weights:" not in model_card(final)
