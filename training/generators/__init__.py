"""A trained generator wherever it lives (a run's checkpoint or an exported ONNX version):
load it, draw images for seeds, find its truncation center, evaluate it, write its card.

``checkpoints`` and ``run_state`` are the checkpoint format, ``sampling`` the seeded grids
and ``dcgan sample``, ``truncation_center`` the ψ center, ``evaluation`` ``dcgan evaluate``,
``model_card`` the manifest's quality section and card. May import ``training.quality``,
``training.nets``, ``training.data``; never the training loop or the export.
"""
