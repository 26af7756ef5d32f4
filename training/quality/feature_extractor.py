"""A shipped feature network at work: embeddings and head predictions through onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from training.quality.feature_files import FEATURE_JSON, FEATURE_ONNX, FeatureRecord
from training.quality.feature_net import to_input


class FeatureExtractor:
    """A shipped feature network in onnxruntime: embeddings and head predictions."""

    def __init__(self, folder: Path) -> None:
        meta = json.loads((folder / FEATURE_JSON).read_text())
        self.record = FeatureRecord(**meta)
        self.session = ort.InferenceSession(
            str(folder / FEATURE_ONNX), providers=["CPUExecutionProvider"]
        )

    def fit_images(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 [N, C, H, W] at any size/channels -> the network's input size and channels."""
        size, channels = self.record.image_size, self.record.channels
        n, c, h, w = images_u8.shape
        if (c, h, w) == (channels, size, size):
            return images_u8
        out = np.empty((n, channels, size, size), dtype=np.uint8)
        mode = "L" if channels == 1 else "RGB"
        for i, img in enumerate(images_u8):
            pil = Image.fromarray(img[0] if c == 1 else img.transpose(1, 2, 0))
            pil = pil.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(pil)
            out[i] = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
        return out

    def __call__(
        self, images_u8: np.ndarray, batch: int = 256
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(embeddings float64 [N, 128], {head: predicted class names [N]})."""
        images = self.fit_images(images_u8)
        embeddings: list[np.ndarray] = []
        predicted: dict[str, list[str]] = {h: [] for h in self.record.heads}
        for start in range(0, len(images), batch):
            x = to_input(images[start : start + batch]).numpy()
            embedding, *logits = self.session.run(None, {"images": x})
            embeddings.append(embedding)
            for (head, classes), scores in zip(self.record.heads.items(), logits, strict=True):
                predicted[head].extend(classes[i] for i in scores.argmax(1))
        labels = {h: np.array(v) for h, v in predicted.items()}
        return np.concatenate(embeddings).astype(np.float64), labels
