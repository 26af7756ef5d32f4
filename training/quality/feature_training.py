"""Feature networks trained on the project's own labelled data, for the quality metrics.

Inception (FID's network) cannot be downloaded here, and on faces it mostly tracks ImageNet
classes anyway (Kynkäänniemi et al., ICLR 2023). As TF-GAN does for MNIST, each data set gets a
small CNN trained on its own labels instead (``training/quality/feature_net.py``): its penultimate
layer is the embedding that Fréchet distance, KID, precision/recall and density/coverage are
computed on (``training/quality/metrics.py``), and its heads give per-image labels for the
distribution match. The labelled sets are in ``training/quality/feature_data.py``.

Each network is exported to ONNX with ``feature.json`` beside it (``feature_files``) and
read back by ``training/quality/feature_extractor.py``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.distributed import machine_description
from training.quality.feature_data import FEATURE_SPECS, FeatureSpec, LabelledSet
from training.quality.feature_files import FEATURE_JSON, FEATURE_ONNX, FeatureRecord
from training.quality.feature_net import EMBEDDING, FeatureNet, to_input

log = logging.getLogger(__name__)


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
        embedding=EMBEDDING,
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
