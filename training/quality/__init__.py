"""Measuring images: Fréchet distance, KID, precision/recall, density/coverage, the label
checks, the feature networks they are measured with, and the evaluation pictures.

Works on arrays of images, not on generators: ``metrics`` is the maths, ``scorecard`` the
scorecard against held-out images, ``feature_*`` the small per-data-set feature networks
(their data, training and ONNX files), ``inception`` the optional Inception features.
May import ``training.data``, ``training.nets`` and the leaves (``errors``, ``distributed``).
"""
