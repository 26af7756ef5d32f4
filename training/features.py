"""Feature networks trained on the project's own labelled data, for the quality metrics.

Inception (FID's network) cannot be downloaded here, and on faces it mostly tracks ImageNet
classes anyway (Kynkäänniemi et al., ICLR 2023). As TF-GAN does for MNIST, each data set gets a
small CNN trained on its own labels instead: its penultimate layer is the embedding that
Fréchet distance, KID, precision/recall and density/coverage are computed on
(``training/quality.py``), and its heads give per-image labels for the distribution match.

* ``fashion``: Fashion-MNIST's 10 classes (train split; accuracy on the test split);
* ``digits``: scikit-learn's 10 digit classes (a seeded 80/20 split);
* ``cartoon-faces``: the facesjs attributes written beside a ``dcgan data cartoon-faces``
  folder (``attributes.jsonl``): hair, eyes, glasses, facial hair, ... one head each.

Each network is exported to ONNX (a few hundred KB) with ``feature.json`` beside it: input
size, heads and their classes, held-out accuracy, and how it was trained.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image
from torch import nn

from training.train import machine_description

log = logging.getLogger(__name__)

FEATURE_ONNX = "feature.onnx"
FEATURE_JSON = "feature.json"


def default_features_dir() -> Path:
    """$DCGAN_FEATURES_DIR, else the shipped folder beside the code (found from any working
    directory in a checkout), else ./features (an installed package, e.g. the train image)."""
    if env := os.environ.get("DCGAN_FEATURES_DIR"):
        return Path(env)
    beside = Path(__file__).resolve().parents[1] / "features"
    return beside if beside.is_dir() else Path("features")


FEATURES_DIR = default_features_dir()


@dataclass
class LabelledSet:
    """uint8 images [N, C, S, S] with one integer label array per head."""

    images: np.ndarray
    labels: dict[str, np.ndarray]
    classes: dict[str, list[str]]
    description: str

    def subset(self, index: np.ndarray) -> LabelledSet:
        labels = {h: y[index] for h, y in self.labels.items()}
        return LabelledSet(self.images[index], labels, self.classes, self.description)


@dataclass(frozen=True)
class FeatureSpec:
    """How one feature network is built: its input, data and training length."""

    name: str
    image_size: int
    channels: int
    epochs: int
    load: Callable[[FeatureSpec, Path | None], tuple[LabelledSet, LabelledSet]]


# ---- the labelled data sets -----------------------------------------------------------------

FASHION_CLASSES = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
]


def load_fashion(spec: FeatureSpec, _: Path | None) -> tuple[LabelledSet, LabelledSet]:
    from training.data import (
        fashion_mnist_file,
        from_gray_array,
        read_idx_images,
        read_idx_labels,
    )

    sets = []
    for split in ("train", "t10k"):
        images_path = fashion_mnist_file(split)
        labels_path = images_path.with_name(f"{split}-labels-idx1-ubyte.gz")
        gray = read_idx_images(images_path)
        images = from_gray_array(gray, spec.image_size, spec.channels, None)
        labels = {"class": read_idx_labels(labels_path)}
        sets.append(
            LabelledSet(images, labels, {"class": FASHION_CLASSES}, f"Fashion-MNIST {split}")
        )
    return sets[0], sets[1]


def split(data: LabelledSet, held_out: float, seed: int) -> tuple[LabelledSet, LabelledSet]:
    order = np.random.default_rng(seed).permutation(len(data.images))
    cut = int(len(order) * (1 - held_out))
    train, test = data.subset(np.sort(order[:cut])), data.subset(np.sort(order[cut:]))
    train.description += f" ({1 - held_out:.0%}, seed {seed})"
    test.description += f" (the other {held_out:.0%})"
    return train, test


def load_digits(spec: FeatureSpec, _: Path | None) -> tuple[LabelledSet, LabelledSet]:
    from sklearn.datasets import load_digits as sklearn_digits

    from training.data import from_gray_array, load_digits_gray

    images = from_gray_array(load_digits_gray(), spec.image_size, spec.channels, None)
    labels = {"digit": sklearn_digits().target.astype(np.int64)}
    data = LabelledSet(images, labels, {"digit": [str(d) for d in range(10)]}, "digits")
    return split(data, 0.2, seed=0)


def load_cartoon_faces(spec: FeatureSpec, folder: Path | None) -> tuple[LabelledSet, LabelledSet]:
    from training.cartoon_faces import ATTRIBUTES_FILE
    from training.data import decode_file

    if folder is None:
        raise ValueError("cartoon-faces needs --data: a `dcgan data cartoon-faces` folder")
    attributes = folder / ATTRIBUTES_FILE
    if not attributes.is_file():
        raise FileNotFoundError(
            f"{attributes} not found: rebuild the folder with `dcgan data cartoon-faces`"
        )
    rows = [json.loads(line) for line in attributes.read_text().splitlines() if line.strip()]
    images, values = [], []
    for row in rows:
        image = decode_file(folder / row["file"], spec.image_size, spec.channels)
        if image is not None:
            images.append(image)
            values.append({k: str(v) for k, v in row["attributes"].items()})
    heads = sorted(values[0]) if values else []
    classes = {h: sorted({v[h] for v in values}) for h in heads}
    # a head needs at least two values to be learnable
    classes = {h: c for h, c in classes.items() if len(c) > 1}
    labels = {h: np.array([c.index(v[h]) for v in values]) for h, c in classes.items()}
    built = folder / "dataset.json"  # how `dcgan data cartoon-faces` drew them
    made_by = json.loads(built.read_text()).get("command") if built.is_file() else None
    description = f"cartoon faces in {folder}" + (f", drawn by `{made_by}`" if made_by else "")
    data = LabelledSet(np.stack(images), labels, classes, description)
    return split(data, 0.2, seed=0)


FEATURE_SPECS = {
    "fashion": FeatureSpec("fashion", 28, 1, 4, load_fashion),
    "digits": FeatureSpec("digits", 28, 1, 15, load_digits),
    "cartoon-faces": FeatureSpec("cartoon-faces", 64, 3, 12, load_cartoon_faces),
}

# data set specs (`--data`) whose feature network is known without asking
DATA_TO_FEATURES = {"fashion-mnist": "fashion", "fashion-mnist-test": "fashion", "digits": "digits"}


# ---- the network --------------------------------------------------------------------------


class FeatureNet(nn.Module):
    """Five 3×3 conv blocks (three of them stride 2), global average pool, a 128-d embedding,
    and one linear head per attribute."""

    def __init__(self, channels: int, head_sizes: list[int], width: int = 32, embed: int = 128):
        super().__init__()

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        w = width
        self.body = nn.Sequential(
            *block(channels, w, 1),
            *block(w, w, 2),
            *block(w, 2 * w, 1),
            *block(2 * w, 2 * w, 2),
            *block(2 * w, 4 * w, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * w, embed),
            nn.ReLU(inplace=True),
        )
        self.heads = nn.ModuleList(nn.Linear(embed, k) for k in head_sizes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        embedding = self.body(x)
        return (embedding, *(head(embedding) for head in self.heads))


def to_input(images_u8: np.ndarray) -> torch.Tensor:
    # torch.tensor copies: the images may be a read-only memmap (the decode cache)
    return torch.tensor(images_u8, dtype=torch.float32).div_(127.5).sub_(1.0)


@dataclass
class FeatureRecord:
    """What goes into feature.json."""

    name: str
    image_size: int
    channels: int
    embedding: int
    heads: dict[str, list[str]]
    accuracy: dict[str, float]
    training: dict[str, Any] = field(default_factory=dict)


def held_out_accuracy(net: FeatureNet, data: LabelledSet, batch: int = 512) -> dict[str, float]:
    net.eval()
    correct = {h: 0 for h in data.labels}
    with torch.no_grad():
        for start in range(0, len(data.images), batch):
            outputs = net(to_input(data.images[start : start + batch]))[1:]
            for (head, labels), logits in zip(data.labels.items(), outputs, strict=True):
                predicted = logits.argmax(1).numpy()
                correct[head] += int((predicted == labels[start : start + batch]).sum())
    return {h: c / len(data.images) for h, c in correct.items()}


def train_feature_net(
    spec: FeatureSpec, train: LabelledSet, epochs: int, seed: int = 0, batch: int = 128
) -> FeatureNet:
    torch.manual_seed(seed)
    heads = list(train.labels)
    net = FeatureNet(spec.channels, [len(train.classes[h]) for h in heads])
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * max(1, len(train.images) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    rng = np.random.default_rng(seed)
    labels = {h: torch.from_numpy(y) for h, y in train.labels.items()}
    step = 0
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(train.images))
        for start in range(0, len(order) - batch + 1, batch):
            idx = np.sort(order[start : start + batch])
            x = to_input(train.images[idx])
            if spec.channels == 3:  # mirrored faces are the same faces
                flip = torch.rand(len(x)) < 0.5
                x[flip] = x[flip].flip(-1)
            outputs = net(x)[1:]
            loss = sum(
                nn.functional.cross_entropy(logits, labels[h][idx])
                for h, logits in zip(heads, outputs, strict=True)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            opt.step()
            sched.step()
            step += 1
        log.info("feature net %s: epoch %d/%d done", spec.name, epoch + 1, epochs)
    return net.eval()


def export_feature_net(net: FeatureNet, record: FeatureRecord, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(2, record.channels, record.image_size, record.image_size)
    names = ["embedding", *(f"logits_{i}" for i in range(len(record.heads)))]
    axes = {n: {0: "batch"} for n in ["images", *names]}
    torch.onnx.export(
        net,
        (x,),
        str(out_dir / FEATURE_ONNX),
        input_names=["images"],
        output_names=names,
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    (out_dir / FEATURE_JSON).write_text(json.dumps(asdict(record), indent=2) + "\n")
    return out_dir


def build_feature_net(
    name: str, out_dir: Path, *, data: Path | None = None, epochs: int | None = None
) -> FeatureRecord:
    """Train ``name``'s feature network on its labels, export it; return its record."""
    if name not in FEATURE_SPECS:
        raise ValueError(f"unknown feature network {name!r}: one of {', '.join(FEATURE_SPECS)}")
    spec = FEATURE_SPECS[name]
    epochs = epochs or spec.epochs
    start = time.perf_counter()
    train, test = spec.load(spec, data)
    net = train_feature_net(spec, train, epochs)
    accuracy = held_out_accuracy(net, test)
    command = f"dcgan features {name}" + (f" --data {data}" if data else "")
    command += f" --epochs {epochs}" if epochs != spec.epochs else ""
    record = FeatureRecord(
        name=name,
        image_size=spec.image_size,
        channels=spec.channels,
        embedding=128,
        heads=train.classes,
        accuracy=accuracy,
        training={
            "command": command,
            "data": train.description,
            "train_images": len(train.images),
            "held_out_images": len(test.images),
            "held_out": test.description,
            "epochs": epochs,
            "wall_time_s": round(time.perf_counter() - start, 1),
            "machine": f"{machine_description(torch.device('cpu'))}, torch {torch.__version__}",
        },
    )
    export_feature_net(net, record, out_dir)
    return record


# ---- using a shipped network --------------------------------------------------------------


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
