"""The training loop: ``dcgan train``'s steps, losses, EMA, DiffAugment, the recipe, the
data order, the in-run quality probe, and what a run leaves in its folder.

``train.Trainer`` drives it; ``run_outputs`` and ``report`` write run.json, sample grids,
training.gif and losses.png. May import ``training.generators`` (checkpoints, sampling) and
everything below it; never ``training.export`` or the CLI.
"""
