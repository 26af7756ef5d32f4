"""The labelled data sets the feature networks learn from, and each network's input.

* ``fashion``: Fashion-MNIST's 10 classes (train split; accuracy on the test split);
* ``digits``: scikit-learn's 10 digit classes (a seeded 80/20 split);
* ``cartoon-faces``: the facesjs attributes written beside a ``dcgan data cartoon-faces``
  folder (``attributes.jsonl``): hair, eyes, glasses, facial hair, ... one head each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data.provenance import DATASET_RECORD


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
    from training.data.images import (
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

    from training.data.images import from_gray_array, load_digits_gray

    images = from_gray_array(load_digits_gray(), spec.image_size, spec.channels, None)
    labels = {"digit": sklearn_digits().target.astype(np.int64)}
    data = LabelledSet(images, labels, {"digit": [str(d) for d in range(10)]}, "digits")
    return split(data, 0.2, seed=0)


def load_cartoon_faces(spec: FeatureSpec, folder: Path | None) -> tuple[LabelledSet, LabelledSet]:
    from training.data.cartoon_faces import ATTRIBUTES_FILE
    from training.data.images import decode_file

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
    built = folder / DATASET_RECORD  # how `dcgan data cartoon-faces` drew them
    made_by = json.loads(built.read_text()).get("command") if built.is_file() else None
    description = f"cartoon faces in {folder}" + (f", drawn by `{made_by}`" if made_by else "")
    data = LabelledSet(np.stack(images), labels, classes, description)
    return split(data, 0.2, seed=0)


FEATURE_SPECS = {
    "fashion": FeatureSpec("fashion", 28, 1, 4, load_fashion),
    "digits": FeatureSpec("digits", 28, 1, 15, load_digits),
    "cartoon-faces": FeatureSpec("cartoon-faces", 64, 3, 12, load_cartoon_faces),
}
