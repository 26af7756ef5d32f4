"""HTTP serving of exported DCGAN generators (onnxruntime, no torch)."""

__version__ = "0.1.0"
