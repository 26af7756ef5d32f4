"""HTTP serving of exported DCGAN generators (onnxruntime, no torch)."""
