"""The contract between training and serving, torch-free: what an export is and how its
images are made.

- ``manifest``: the schema of ``manifest.json`` beside every ``generator.onnx``;
- ``latents``: seed -> latent vector, truncation, interpolation paths;
- ``imaging``: [-1, 1] images -> uint8, grids, PNG/WebP/GIF encoding;
- ``folders``: reading an export's folder safely (paths stay inside, regular files only);
- ``exports``: opening a checked export (manifest, checksum, ONNX signature) in onnxruntime.

``training`` writes exports and ``service`` serves them; both import this package and
neither imports the other.
"""
