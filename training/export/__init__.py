"""Export: a run's generator to ONNX with its manifest, parity check and truncation center,
as a new version under models/<name>/.

``onnx_export`` writes one version from a generator; ``from_run`` finds a run's checkpoint
and copies its record, GIF and loss plot beside it. May import the loop's run-folder names
and everything below; only the CLI imports it.
"""
